"""What a page lists, end to end against a real loopback index: contradicting or repeated
listings of one URL, links that are not http(s)/file URLs, and ``--exclude-newer``."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from index import DistSet, DistSpec, build_dist_set
from index.server import Format, Server, serve_index
from index.tree import IndexTree, Mode, write_index
from skimlock.cli import main
from skimlock.cooldown import parse_exclude_newer

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LINUX = ["--python-version", "3.12", "--platform", "manylinux_2_28_x86_64"]
ANY = "dup-1.0-py3-none-any.whl"
LINUX_WHEEL = "dup-1.0-py3-none-manylinux_2_28_x86_64.whl"
WRONG = "0" * 64
SPECS = (
    DistSpec(name="dup", version="1.0"),
    DistSpec(name="dup", version="1.0", tag="py3-none-manylinux_2_28_x86_64"),
    DistSpec(name="cool", version="1.0"),
    DistSpec(name="cool", version="2.0"),
)

Edit = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> DistSet:
    return build_dist_set(tmp_path_factory.mktemp("listing-dists"), SPECS, {})


@pytest.fixture
def serve(
    dists: DistSet, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Server]]:
    """``serve(fmt, project, edit_json=..., edit_html=...)``: a fresh tree whose page for
    ``project`` was edited, served in ``fmt``."""
    stack: list[Any] = []

    def start(fmt: Format, project: str, *, edit_json: Edit | None = None,
              edit_html: Callable[[str], str] | None = None) -> Server:
        tree = write_index(tmp_path_factory.mktemp("listing-tree"), dists.paths,
                           mode=Mode.PEP658_SHA256)
        page_dir = tree.root / "simple" / project
        if edit_json is not None:
            data = json.loads((page_dir / "index.json").read_text())
            edit_json(data)
            (page_dir / "index.json").write_text(json.dumps(data))
        if edit_html is not None:
            (page_dir / "index.html").write_text(edit_html((page_dir / "index.html").read_text()))
        context = serve_index(tree, fmt=fmt)
        stack.append(context)
        return context.__enter__()

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy", "SKIMLOCK_INDEX_URL", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.chdir(tmp_path)


def lock(server: Server, *args: str) -> int:
    return main(["lock", "-i", server.simple_url, *LINUX, *args])


def locked_wheels(project: str) -> list[dict[str, Any]]:
    data = tomllib.loads(Path("pylock.toml").read_text())
    (package,) = [p for p in data["packages"] if p["name"] == project]
    return list(package.get("wheels", []))


def tree_of(server: Server) -> IndexTree:
    assert server.tree is not None
    return server.tree


# --- one URL listed twice ---------------------------------------------------------------------


def _repeat_json(filename: str, sha256: str | None) -> Edit:
    """List ``filename`` a second time, first, with ``sha256`` (None: the same hashes)."""

    def edit(data: dict[str, Any]) -> None:
        entry = dict(next(f for f in data["files"] if f["filename"] == filename))
        if sha256 is not None:
            entry["hashes"] = {"sha256": sha256}
        data["files"].insert(0, entry)

    return edit


def _repeat_html(filename: str, sha256: str | None) -> Callable[[str], str]:
    def edit(text: str) -> str:
        (line,) = [x for x in text.splitlines() if f">{filename}</a>" in x]
        copy = line if sha256 is None else re.sub(r"sha256=[0-9a-f]{64}", f"sha256={sha256}",
                                                  line, count=1)
        return text.replace("<h1>", copy + "\n<h1>", 1)

    return edit


@pytest.mark.parametrize("fmt", ["json", "html"])
def test_contradicting_listings_of_one_url_drop_the_file_with_a_warning(
    serve: Callable[..., Server], fmt: Format, capsys: pytest.CaptureFixture[str]
) -> None:
    server = serve(fmt, "dup", edit_json=_repeat_json(LINUX_WHEEL, WRONG),
                   edit_html=_repeat_html(LINUX_WHEEL, WRONG))
    assert lock(server, "dup") == 0
    err = capsys.readouterr().err
    assert "more than once with different sha256 hashes" in err
    assert LINUX_WHEEL in err
    tree = tree_of(server)
    wheels = locked_wheels("dup")
    assert [(w["name"], w["hashes"]) for w in wheels] == [
        (ANY, {"sha256": tree.file(ANY).sha256})
    ]
    assert WRONG not in Path("pylock.toml").read_text()


@pytest.mark.parametrize("fmt", ["json", "html"])
def test_repeated_listing_with_the_same_hashes_is_locked_once(
    serve: Callable[..., Server], fmt: Format, capsys: pytest.CaptureFixture[str]
) -> None:
    server = serve(fmt, "dup", edit_json=_repeat_json(LINUX_WHEEL, None),
                   edit_html=_repeat_html(LINUX_WHEEL, None))
    assert lock(server, "dup") == 0
    assert "more than once" not in capsys.readouterr().err
    tree = tree_of(server)
    names = [(w["name"], w["hashes"]["sha256"]) for w in locked_wheels("dup")]
    assert sorted(names) == sorted(
        (name, tree.file(name).sha256) for name in (ANY, LINUX_WHEEL)
    )


# --- links that are not file URLs -------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "html"])
def test_javascript_link_does_not_shadow_the_good_link(
    serve: Callable[..., Server], fmt: Format, capsys: pytest.CaptureFixture[str]
) -> None:
    def edit_json(data: dict[str, Any]) -> None:
        entry = dict(next(f for f in data["files"] if f["filename"] == ANY))
        data["files"].insert(0, {**entry, "url": "javascript:alert(1)"})

    def edit_html(text: str) -> str:
        return text.replace("<h1>", f'<a href="javascript:alert(1)">{ANY}</a><br>\n<h1>', 1)

    server = serve(fmt, "dup", edit_json=edit_json, edit_html=edit_html)
    assert lock(server, "dup") == 0, capsys.readouterr().err
    tree = tree_of(server)
    urls = {w["name"]: w["url"] for w in locked_wheels("dup")}
    assert urls[ANY] == server.file_url(ANY)
    assert tree.file(ANY).sha256 in Path("pylock.toml").read_text()
    assert "javascript" not in Path("pylock.toml").read_text()


# --- --exclude-newer --------------------------------------------------------------------------


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("fmt", ["json", "html"])
def test_exclude_newer_hides_files_uploaded_after_the_cutoff(
    serve: Callable[..., Server], fmt: Format, capsys: pytest.CaptureFixture[str]
) -> None:
    server = serve(fmt, "cool")
    newest = tree_of(server).file("cool-2.0-py3-none-any.whl").upload_time
    assert lock(server, "cool", "--exclude-newer", _stamp(newest - timedelta(seconds=1))) == 0
    (wheel,) = locked_wheels("cool")
    assert wheel["name"] == "cool-1.0-py3-none-any.whl"
    older = tree_of(server).file(wheel["name"]).upload_time
    assert wheel["upload-time"] == older.astimezone(timezone.utc)
    # The cutoff itself is not "newer": a file uploaded at that moment stays visible.
    # (-U: a re-lock would otherwise keep the pin of the lock it replaces.)
    assert lock(server, "cool", "--exclude-newer", _stamp(newest), "-U") == 0
    assert [w["name"] for w in locked_wheels("cool")] == ["cool-2.0-py3-none-any.whl"]
    # Everything is older than a day ago (the tree's times are in 2024).
    assert lock(server, "cool", "--exclude-newer", "1d") == 0
    assert [w["name"] for w in locked_wheels("cool")] == ["cool-2.0-py3-none-any.whl"]
    assert lock(server, "cool", "--exclude-newer", "2023-12-31") == 1
    capsys.readouterr()


@pytest.mark.parametrize("fmt", ["json", "html"])
def test_exclude_newer_without_upload_times_is_a_one_line_error(
    serve: Callable[..., Server], fmt: Format, capsys: pytest.CaptureFixture[str]
) -> None:
    def edit_json(data: dict[str, Any]) -> None:
        for entry in data["files"]:
            entry.pop("upload-time", None)

    def edit_html(text: str) -> str:
        return re.sub(r' data-upload-time="[^"]*"', "", text)

    server = serve(fmt, "cool", edit_json=edit_json, edit_html=edit_html)
    assert lock(server, "cool", "--exclude-newer", "7d") == 3
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert "--exclude-newer needs upload times" in line
    assert "'cool-" in line
    assert "Traceback" not in err
    assert not Path("pylock.toml").exists()
    # Without the option the same index locks fine.
    assert lock(server, "cool") == 0


def test_exclude_newer_rejects_what_it_cannot_read(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lock", "cool", "--exclude-newer", "last tuesday"]) == 2
    assert "invalid --exclude-newer value 'last tuesday'" in capsys.readouterr().err


NOW = datetime(2026, 5, 10, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", NOW - timedelta(days=7)),
        ("7 days", NOW - timedelta(days=7)),
        ("24h", NOW - timedelta(hours=24)),
        ("1d12h", NOW - timedelta(days=1, hours=12)),
        ("90m", NOW - timedelta(minutes=90)),
        ("2w", NOW - timedelta(weeks=2)),
        ("P7D", NOW - timedelta(days=7)),
        ("p1w", NOW - timedelta(weeks=1)),
        ("PT24H", NOW - timedelta(hours=24)),
        ("P1DT2H30M", NOW - timedelta(days=1, hours=2, minutes=30)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=timezone.utc)),
        ("2024-05-01T12:30:00Z", datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc)),
        ("2024-05-01T12:30:00+02:00",
         datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc)),
        (" 2024-05-01T12:30:00.5Z ",
         datetime(2024, 5, 1, 12, 30, 0, 500000, tzinfo=timezone.utc)),
    ],
)
def test_parse_exclude_newer(text: str, expected: datetime) -> None:
    got = parse_exclude_newer(text, now=NOW)
    assert got == expected
    assert got.tzinfo is not None


@pytest.mark.parametrize(
    "text", ["", "7", "d", "7x", "P", "PT", "P1M", "P1Y", "2024-02-30", "2024-13-01",
             "yesterday", "7d ago", "-7d", "1e3d"],
)
def test_parse_exclude_newer_errors(text: str) -> None:
    with pytest.raises(ValueError, match="exclude-newer") as info:
        parse_exclude_newer(text, now=NOW)
    assert "\n" not in str(info.value)
