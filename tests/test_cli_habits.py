"""What pip/uv users expect of the CLI: honest summaries, -q/-v, hashes, inputs, dry-run installs.
All against the loopback index (``index.graphs.CLI_DISTS``)."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from index.graphs import CLI_DISTS, serve_graph, write_graph
from index.server import Server
from index.tree import Mode
from skimlock import cli
from skimlock.cli import main

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LINUX = ["--python-version", "3.12", "--platform", "manylinux_2_28_x86_64"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve_graph(tmp_path_factory.mktemp("habits-graph"), CLI_DISTS) as running:
        yield running


@pytest.fixture(autouse=True)
def _isolated(cli_isolated: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def lock(server: Server, *args: str) -> int:
    return main(["lock", "-i", server.simple_url, *LINUX, *args])


# --- item 10: the bandwidth line -------------------------------------------------------------


def test_singular_and_honest_bandwidth_line(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lock(server, "tiny", "-o", "-") == 0
    err = capsys.readouterr().err
    assert err.startswith("1 package for CPython 3.12.0")
    assert " in 2 requests: index pages " in err
    assert "B in 1 request; metadata of 1 file " in err
    assert "B in 1 request instead of downloading their " in err


def test_no_bandwidth_line_after_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lock", "--python-version", "3.12"]) == 2
    err = capsys.readouterr().err
    assert "nothing to resolve" in err
    assert "fetched" not in err


# --- item 11: -q and -v ----------------------------------------------------------------------


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """stderr as a terminal: rich console, pins table."""
    from rich.console import Console

    buffer = io.StringIO()
    monkeypatch.setattr(cli, "_stderr_console",
                        lambda: Console(file=buffer, force_terminal=True, no_color=True,
                                        width=200))
    monkeypatch.setattr(cli, "_live", lambda progress, console, args: _nothing())
    return buffer


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_quiet_hides_the_pins_table(
    server: Server, terminal: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lock(server, "tiny", "-o", "-") == 0
    shown = capsys.readouterr().err + terminal.getvalue()
    assert "Pinned for" in shown
    terminal.truncate(0)
    assert lock(server, "tiny", "-o", "-", "-q") == 0
    shown = capsys.readouterr().err + terminal.getvalue()
    assert "Pinned for" not in shown
    assert "fetched" not in shown


def test_verbose_logs_each_request_and_strategy(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lock(server, "tiny", "-o", "-") == 0
    assert "GET " not in capsys.readouterr().err
    assert lock(server, "tiny", "-o", "-", "-v", "--no-cache") == 0
    err = capsys.readouterr().err
    assert f"GET {server.simple_url}tiny/ -> 200" in err
    assert "metadata-pep658" in err
    assert "metadata of tiny-1.0-py3-none-any.whl from the index's .metadata file" in err
    assert "resolver:" not in err
    assert lock(server, "tiny", "-o", "-", "-vv") == 0
    err = capsys.readouterr().err
    assert "resolver: pinned tiny 1.0" in err
    assert "resolver: looking up tiny (from command line)" in err


def test_progress_line_names_the_step(server: Server) -> None:
    from skimlock.stats import Stats
    from skimlock.target import Target

    stats = Stats()
    progress = cli._Progress(stats, Target.from_options(python_version="3.12"))
    assert "fetching index pages" in progress.text()
    progress.pin("pinned tiny 1.0")
    stats.last = f"{server.simple_url}tiny/"
    text = progress.text()
    assert text.endswith("; pinned tiny 1.0; last fetched tiny")
    assert "0 projects seen" in text
    assert "0 requests" in text


# --- item 8: --hash and --require-hashes ------------------------------------------------------


def sha256(server: Server, filename: str) -> str:
    assert server.tree is not None
    return server.tree.file(filename).sha256


def test_a_matching_hash_locks_only_the_matching_file(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sdist = next(f.filename for f in server.tree.projects["alpha"]  # type: ignore[union-attr]
                 if f.filename.endswith(".tar.gz") and "2.0" in f.filename)
    (tmp_path / "req.txt").write_text(
        f"alpha==2.0 --hash=sha256:{'0' * 64} --hash=sha256:{sha256(server, sdist)}\n"
    )
    assert lock(server, "-r", "req.txt", "-o", "pylock.toml") == 0, capsys.readouterr().err
    text = (tmp_path / "pylock.toml").read_text()
    assert sdist in text
    assert "alpha-2.0-py3-none-any.whl" not in text
    assert "beta-1.1-py3-none-any.whl" in text  # unhashed dependencies are locked as usual


def test_a_wrong_hash_is_an_integrity_error(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "pylock.toml").write_text("old\n")
    (tmp_path / "req.txt").write_text(f"tiny==1.0 --hash=sha256:{'ab' * 32}\n")
    assert lock(server, "-r", "req.txt") == 4
    err = capsys.readouterr().err
    assert f"tiny 1.0: no file matches the --hash given in req.txt:1 (sha256:{'ab' * 32})" in err
    assert f"the index lists sha256:{sha256(server, 'tiny-1.0-py3-none-any.whl')}" in err
    assert (tmp_path / "pylock.toml").read_text() == "old\n"
    # Also through a constraints file.
    (tmp_path / "c.txt").write_text(f"tiny==1.0 --hash=sha256:{'cd' * 32}\n")
    assert lock(server, "tiny", "-c", "c.txt") == 4
    assert "given in c.txt:1" in capsys.readouterr().err


def test_require_hashes_covers_dependencies(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    tiny = f"tiny==1.0 --hash=sha256:{sha256(server, 'tiny-1.0-py3-none-any.whl')}\n"
    (tmp_path / "req.txt").write_text(tiny)
    assert lock(server, "-r", "req.txt", "--require-hashes", "-o", "-") == 0
    capsys.readouterr()
    (tmp_path / "req.txt").write_text(
        "--require-hashes\n" + tiny
        + f"alpha==2.0 --hash=sha256:{sha256(server, 'alpha-2.0-py3-none-any.whl')}\n"
    )
    assert lock(server, "-r", "req.txt", "-o", "-") == 2
    err = capsys.readouterr().err
    assert "these have none: beta 1.1" in err
    assert lock(server, "-r", "req.txt", "beta", "-o", "-") == 2
    assert "'beta' must pin one version with ==" in capsys.readouterr().err


# --- item 14: inputs -------------------------------------------------------------------------


def locked(path: Path) -> dict[str, str]:
    data = tomllib.loads(path.read_text())
    return {p["name"]: p["version"] for p in data["packages"]}


def test_requirements_file_by_url_is_fetched_and_counted(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert server.tree is not None
    (server.tree.root / "files" / "req.txt").write_text("alpha\n-r more.txt\n")
    (server.tree.root / "files" / "more.txt").write_text("tiny\n")
    code = lock(server, "-r", f"{server.base_url}/files/req.txt", "--stats", "s.json")
    assert code == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert locked(tmp_path / "pylock.toml") == {"alpha": "2.0", "beta": "1.1", "tiny": "1.0"}
    assert "; requirement files " in err
    assert "B in 2 requests" in err.split("requirement files")[1]
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["by_category"]["input"]["requests"] == 2
    assert {r["url"] for r in stats["request_log"] if r["category"] == "input"} == {
        f"{server.base_url}/files/req.txt", f"{server.base_url}/files/more.txt"
    }
    assert lock(server, "-r", f"{server.base_url}/files/none.txt") == 3
    assert "HTTP 404" in capsys.readouterr().err


def test_requirements_from_stdin(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"tiny\n")))
    assert lock(server, "-r", "-") == 0, capsys.readouterr().err
    assert locked(tmp_path / "pylock.toml") == {"tiny": "1.0"}


@pytest.mark.parametrize("mode", ["pep658", "ranges"])
def test_local_pep503_tree_as_index(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, server: Server, mode: str,
) -> None:
    tree = write_graph(tmp_path / "g", CLI_DISTS,
                       mode=Mode.PEP658_SHA256 if mode == "pep658" else Mode.NO_METADATA)
    simple = tree.root / "simple"
    for index in (str(simple), simple.as_uri()):
        code = main(["lock", "-i", index, *LINUX, "alpha", "--stats", "s.json"])
        assert code == 0, capsys.readouterr().err
        err = capsys.readouterr().err
        assert locked(tmp_path / "pylock.toml") == {"alpha": "2.0", "beta": "1.1"}
        stats = json.loads((tmp_path / "s.json").read_text())
        strategy = "metadata-pep658" if mode == "pep658" else "metadata-range"
        assert {f["strategy"] for f in stats["files"]} == {strategy}, err
        assert stats["by_category"]["full-download"]["requests"] == 0
        assert "file://localhost/" in (tmp_path / "pylock.toml").read_text()


def test_flat_directory_of_distributions_as_index(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    write_graph(tmp_path / "g", CLI_DISTS, mode=Mode.NO_METADATA)
    dists = tmp_path / "g" / "dists"
    assert main(["lock", "-i", str(dists), *LINUX, "alpha", "tiny"]) == 0, capsys.readouterr()
    assert locked(tmp_path / "pylock.toml") == {"alpha": "2.0", "beta": "1.1", "tiny": "1.0"}
    assert main(["lock", "-i", str(tmp_path / "nowhere"), "tiny"]) == 2
    assert "is neither a URL nor a directory" in capsys.readouterr().err
