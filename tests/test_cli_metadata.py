"""``skimlock metadata`` end to end: :func:`skimlock.cli.main` against real servers on loopback.

stdout carries the METADATA (or its JSON form), stderr a one-line bandwidth summary or a
one-line error; exit codes follow :mod:`skimlock.errors`.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from index import DistSet
from index.server import Server, serve_index
from index.tree import Mode, write_index
from index.wheels import build_wheel
from skimlock.cli import main

MakeIndex = Callable[..., Server]
Output = tuple[int, str, str]
PLATFORM_TAGS = (
    "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "cp312-cp312-win_amd64",
    "cp312-cp312-macosx_11_0_arm64",
    "py3-none-any",
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No proxies, no ~/.netrc, a fixed console width (conftest restores the logger)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy", "SKIMLOCK_INDEX_URL", "COLUMNS", "LINES"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Output:
    code = main(["metadata", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text
        assert 'File "' not in text


def joined(text: str) -> str:
    """``text`` with every run of whitespace (line breaks included) as one space."""
    return " ".join(text.split())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def pep658(make_index: MakeIndex) -> Server:
    server = make_index(Mode.PEP658_SHA256, "negotiate")
    server.log.clear()
    return server


# -- success ------------------------------------------------------------------------------------


def test_prints_metadata(
    capsys: pytest.CaptureFixture[str], pep658: Server, dist_set: DistSet
) -> None:
    code, out, err = run(capsys, "alpha==2.0", "--index-url", pep658.simple_url)
    assert code == 0, err
    assert out.encode() == dist_set.find("alpha", "2.0").metadata
    summary = joined(err)
    assert "alpha-2.0-py3-none-any.whl via metadata-pep658" in summary
    assert "in 2 requests" in summary  # the page and the .metadata
    assert len(pep658.log) == 2
    wheel_path = "/files/alpha-2.0-py3-none-any.whl"
    assert [e.path for e in pep658.log.entries] == ["/simple/alpha/", f"{wheel_path}.metadata"]
    assert_no_traceback(out, err)


def test_summary_is_one_line(capsys: pytest.CaptureFixture[str], pep658: Server) -> None:
    code, _out, err = run(capsys, "alpha==2.0", "--index-url", pep658.simple_url)
    assert code == 0
    assert len(err.splitlines()) == 1, err
    assert err.startswith("alpha-2.0-py3-none-any.whl via metadata-pep658: fetched ")


def test_json_output(capsys: pytest.CaptureFixture[str], pep658: Server) -> None:
    code, out, err = run(capsys, "alpha==2.0", "--index-url", pep658.simple_url, "--json")
    assert code == 0, err
    document = json.loads(out)
    assert set(document) == {"filename", "url", "strategy", "metadata"}
    assert document["filename"] == "alpha-2.0-py3-none-any.whl"
    assert document["url"] == pep658.file_url("alpha-2.0-py3-none-any.whl")
    assert document["strategy"] == "metadata-pep658"
    metadata = document["metadata"]
    assert metadata["name"] == "alpha"
    assert metadata["version"] == "2.0"
    assert metadata["metadata_version"] == "2.1"
    assert metadata["provides_extra"] == ["fast"]
    assert metadata["requires_dist"] == ["beta>=1.0", 'gamma; extra == "fast"']


def test_json_output_by_ranges(
    capsys: pytest.CaptureFixture[str], make_index: MakeIndex, dist_set: DistSet
) -> None:
    server = make_index(Mode.NO_METADATA, "html")
    code, out, err = run(capsys, "bigfile", "--index-url", server.simple_url, "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["strategy"] == "metadata-range"
    assert document["metadata"]["name"] == "bigfile"
    assert "metadata-range" in joined(err)
    assert "saved" in joined(err)


def test_stats_file(
    capsys: pytest.CaptureFixture[str], make_index: MakeIndex, dist_set: DistSet, tmp_path: Path
) -> None:
    server = make_index(Mode.NO_METADATA, "json")
    server.log.clear()
    stats_path = tmp_path / "stats.json"
    code, out, err = run(
        capsys, "bigdir==1.0", "--index-url", server.simple_url, "--stats", str(stats_path)
    )
    assert code == 0, err
    dist = dist_set.find("bigdir", "1.0")
    assert out.encode() == dist.metadata
    stats = json.loads(stats_path.read_text(encoding="utf-8"))
    assert set(stats) >= {
        "schema", "requests", "body_bytes", "by_category", "wheel_bytes",
        "bytes_not_downloaded", "files", "request_log", "cache",
    }  # fmt: skip
    assert stats["schema"] == 3
    assert set(stats["by_category"]) == {
        "index-page", "metadata-pep658", "metadata-range", "full-download", "input",
        "metadata-sdist", "build",
    }  # fmt: skip
    for totals in stats["by_category"].values():
        assert set(totals) == {"requests", "body_bytes"}
    (file,) = stats["files"]
    assert set(file) == {
        "filename", "strategy", "file_size", "spent_bytes", "requests", "metadata_bytes",
        "cached",
    }  # fmt: skip
    assert file["filename"] == dist.filename
    assert file["strategy"] == "metadata-range"
    assert file["file_size"] == dist.size
    assert file["metadata_bytes"] == len(dist.metadata)
    assert 2 <= file["requests"] <= 3
    assert stats["wheel_bytes"] == dist.size
    assert stats["bytes_not_downloaded"] == dist.size - file["spent_bytes"]
    # The numbers agree with what the server saw.
    assert stats["requests"] == len(server.log) == 1 + file["requests"]
    assert stats["body_bytes"] == server.log.bytes_sent()
    assert stats["by_category"]["metadata-range"]["body_bytes"] == server.log.bytes_sent("/files/")
    for entry in stats["request_log"]:
        assert set(entry) == {"category", "method", "url", "status", "body_bytes", "range",
                              "seconds"}  # fmt: skip
    assert [e["range"] for e in stats["request_log"]] == [e.range for e in server.log.entries]


# -- target selection ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def platform_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``plat 1.0`` as CPython 3.12 wheels for three platforms and a pure wheel."""
    root = tmp_path_factory.mktemp("platform")
    dists = [build_wheel(root / "dists", "plat", "1.0", tag=tag) for tag in PLATFORM_TAGS]
    with serve_index(write_index(root / "tree", dists, mode=Mode.NO_METADATA)) as server:
        yield server


@pytest.mark.parametrize(
    ("python", "platform", "expected_tag"),
    [
        ("3.12", "win_amd64", "cp312-cp312-win_amd64"),
        ("3.12", "manylinux_2_28_x86_64", PLATFORM_TAGS[0]),
        ("3.12", "macosx_14_0_arm64", "cp312-cp312-macosx_11_0_arm64"),
        ("3.12", "musllinux_1_2_x86_64", "py3-none-any"),
        ("3.11", "win_amd64", "py3-none-any"),
    ],
)
def test_target_chooses_the_platform_wheel(
    capsys: pytest.CaptureFixture[str],
    platform_index: Server,
    python: str,
    platform: str,
    expected_tag: str,
) -> None:
    platform_index.log.clear()
    code, out, err = run(
        capsys, "plat", "--index-url", platform_index.simple_url, "--json",
        "--python-version", python, "--platform", platform,
    )  # fmt: skip
    requested = [e.path for e in platform_index.log.matching("/files/")]
    assert code == 0, err
    filename = f"plat-1.0-{expected_tag}.whl"
    assert json.loads(out)["filename"] == filename
    assert requested == [f"/files/{filename}"]  # only the chosen wheel was touched


@pytest.mark.parametrize(
    "target",
    [
        ("--python-version", "3.11", "--platform", "manylinux1_x86_64"),
        ("--python-version", "3.12", "--platform", "linux_x86_64"),
        ("--python-version", "3.10", "--platform", "manylinux_2_17_x86_64"),
    ],
)
def test_cp27_only_version_is_never_chosen(
    capsys: pytest.CaptureFixture[str], pep658: Server, dist_set: DistSet, target: tuple[str, ...]
) -> None:
    code, out, err = run(capsys, "gamma", "--index-url", pep658.simple_url, "--json", *target)
    assert code == 0, err
    assert json.loads(out)["filename"] == "gamma-0.9-py3-none-any.whl"
    code, out, err = run(capsys, "gamma==1.0", "--index-url", pep658.simple_url, *target)
    assert code == 1
    assert out == ""
    assert "gamma" in err
    assert "no file" in joined(err)
    assert_no_traceback(out, err)


# -- errors -------------------------------------------------------------------------------------


def test_unknown_project(capsys: pytest.CaptureFixture[str], pep658: Server) -> None:
    code, out, err = run(capsys, "no-such-project", "--index-url", pep658.simple_url)
    assert code == 1
    assert out == ""
    assert f"error: project 'no-such-project' was not found on {pep658.simple_url}" in joined(err)
    assert_no_traceback(out, err)


def test_invalid_requirement(capsys: pytest.CaptureFixture[str], pep658: Server) -> None:
    code, out, err = run(capsys, "alpha >= = 2", "--index-url", pep658.simple_url)
    assert code == 2
    assert out == ""
    assert "invalid requirement 'alpha >= = 2'" in joined(err)
    assert len(pep658.log) == 0  # rejected before any request
    assert_no_traceback(out, err)


def test_connection_refused(capsys: pytest.CaptureFixture[str]) -> None:
    index = f"http://127.0.0.1:{free_port()}/simple/"
    code, out, err = run(capsys, "alpha", "--index-url", index, "--timeout", "2")
    assert code == 3
    assert out == ""
    assert f"error: could not fetch {index}alpha/: connection failed" in joined(err)
    assert_no_traceback(out, err)


def test_plain_http_index_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "alpha", "--index-url", "http://example.invalid/simple/")
    assert code == 2
    assert "--trusted-host example.invalid" in joined(err)
    assert_no_traceback(out, err)


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_invalid_requirement_message_is_one_line(
    capsys: pytest.CaptureFixture[str], pep658: Server
) -> None:
    code, _out, err = run(capsys, "alpha >= = 2", "--index-url", pep658.simple_url)
    assert code == 2
    line = _error_line(err)
    assert line.startswith("error: invalid requirement 'alpha >= = 2': ")
    assert not any(line.strip() == "^" for line in err.splitlines()), err


def test_long_error_message_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    index = f"http://127.0.0.1:{free_port()}/a/rather/long/path/to/make/the/message/long/simple/"
    code, _out, err = run(capsys, "alpha", "--index-url", index, "--timeout", "2")
    assert code == 3
    line = _error_line(err)
    assert line.startswith(f"error: could not fetch {index}alpha/: connection failed")
    assert line.endswith(")")
