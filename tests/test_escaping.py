"""Untrusted text never steers the terminal (issue 9, item 7).

:func:`skimlock.text.printable` unit tests, then a real loopback index whose PEP 691 pages carry
a hostile yanked reason, file name and file URL: stderr must hold no raw ESC, BEL or CR, and
each message stays one line.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

import skimlock.cli
from index import DistSpec
from index.faults import Respond, path_is
from index.graphs import write_graph
from index.server import Server, serve_index
from index.tree import Mode
from skimlock.cli import main
from skimlock.errors import ResolutionError
from skimlock.text import printable

LINUX = ["--python-version", "3.12", "--platform", "manylinux_2_28_x86_64"]
#: Sets the terminal title, erases the line and forges a success message.
EVIL = "\x1b]0;owned\x07\x1b[2K\rwrote pylock.toml; all good"
EVIL_SHOWN = "\\x1b]0;owned\\x07\\x1b[2K\\rwrote pylock.toml; all good"
JSON_TYPE = {"content-type": "application/vnd.pypi.simple.v1+json"}


# --- printable -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text, é, 日本, emoji 🙂", "plain text, é, 日本, emoji 🙂"),
        (EVIL, EVIL_SHOWN),
        ("a\nb\tc\rd", "a\\nb\\tc\\rd"),
        ("\x00\x7f\x85\x9b", "\\x00\\x7f\\x85\\x9b"),  # NUL, DEL, NEL, CSI
        ("abc\u202edcba\u2066x\u2069", "abc\\u202edcba\\u2066x\\u2069"),  # bidi override/isolate
        ("line\u2028sep", "line\\u2028sep"),
        ("bad \udc80 byte", "bad \\udc80 byte"),
        ("C:\\path\\x1b", "C:\\path\\x1b"),  # a backslash is not a control character
    ],
)
def test_printable(raw: str, shown: str) -> None:
    assert printable(raw) == shown
    assert printable(shown) == shown
    printable(raw).encode("utf-8")  # always encodable


def test_multi_line_error_keeps_only_its_own_breaks(capsys: pytest.CaptureFixture[str]) -> None:
    error = ResolutionError("cannot:", details=(f"  evil{EVIL} required by x", "  second"))
    skimlock.cli._say(None, *error.lines, prefix="error: ")
    assert capsys.readouterr().err.splitlines() == [
        "error: cannot:", f"  evil{EVIL_SHOWN} required by x", "  second",
    ]
    assert str(error) == f"cannot:\n  evil{EVIL} required by x\n  second"


def test_rich_logging_and_messages_escape_and_never_read_markup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system=None, width=300,
                      highlight=False, markup=False, emoji=False)
    saved = logging.getLogger("skimlock").handlers[:]
    try:
        skimlock.cli._setup_logging(console, 0)
        logging.getLogger("skimlock.test").warning("reason: %s", f"[bold red]x[/] :smile: {EVIL}")
    finally:
        logging.getLogger("skimlock").handlers[:] = saved
    skimlock.cli._say(console, f"[link=x]y[/link]{EVIL}", prefix="error: ")
    text = re.sub(r"\x1b\[[0-9;]*m", "", buffer.getvalue())  # rich's own styling
    assert_no_control(text)
    assert f"reason: [bold red]x[/] :smile: {EVIL_SHOWN}" in text
    assert f"error: [link=x]y[/link]{EVIL_SHOWN}" in text


def test_tables_escape_cells(capsys: pytest.CaptureFixture[str]) -> None:
    skimlock.cli._print_table(f"title {EVIL}", ("a", "b"), [(f"[red]{EVIL}", "1\n2")],
                              stderr=True)
    err = capsys.readouterr().err
    assert_no_control(err)
    assert "[red]\\x1b]0;owned" in err
    assert "1\\n2" in err


# --- a hostile index on loopback ---------------------------------------------------------------


def _page(name: str, files: list[dict[str, object]]) -> bytes:
    return json.dumps({"meta": {"api-version": "1.1"}, "name": name, "files": files}).encode()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    specs = [DistSpec(name="evil", version="1.0"), DistSpec(name="badurl", version="1.0")]
    tree = write_graph(tmp_path_factory.mktemp("hostile"), specs, mode=Mode.NO_METADATA)
    evil = tree.file("evil-1.0-py3-none-any.whl")
    badurl = tree.file("badurl-1.0-py3-none-any.whl")
    evil_page = _page("evil", [
        # A PEP 691 file name with ESC and a line break (invalid: skipped, named in -v logs).
        {"filename": "evil-1.0-1\x1b[2K\n-py3-none-any.whl",
         "url": f"../..{evil.url_path}", "hashes": {"sha256": evil.sha256}},
        {"filename": evil.filename, "url": f"../..{evil.url_path}",
         "hashes": {"sha256": evil.sha256}, "yanked": EVIL},
    ])
    badurl_page = _page("badurl", [
        {"filename": badurl.filename, "url": f"../..{badurl.url_path}.gone\x1b[2K\rall good",
         "hashes": {"sha256": badurl.sha256}},
    ])
    middleware = [
        partial(Respond, when=path_is("/simple/evil/"), body=evil_page, headers=JSON_TYPE),
        partial(Respond, when=path_is("/simple/badurl/"), body=badurl_page, headers=JSON_TYPE),
    ]
    with serve_index(tree, fmt="json", middleware=middleware) as server:
        yield server


def assert_no_control(err: str) -> None:
    for char in ("\x1b", "\x07", "\r", "\u202e"):
        assert char not in err, repr(err)
    assert "Traceback" not in err


def test_yanked_reason_and_file_name_are_escaped(
    hostile: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["lock", "-i", hostile.simple_url, *LINUX, "evil==1.0", "-vv"]) == 0
    err = capsys.readouterr().err
    assert_no_control(err)
    lines = err.splitlines()
    yanked = [line for line in lines if "is yanked" in line]
    assert yanked == [f"WARNING: evil 1.0 is yanked: {EVIL_SHOWN}"]
    assert any("evil-1.0-1\\x1b[2K\\n-py3-none-any.whl" in line for line in lines)
    assert not any(line.startswith("wrote pylock.toml; all good") for line in lines)
    assert lines[-1].startswith("wrote pylock.toml; 1 package ")


def test_url_from_the_index_keeps_the_error_on_one_line(
    hostile: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["lock", "-i", hostile.simple_url, *LINUX, "badurl", "--timeout", "5"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert_no_control(err)
    first, last = err.splitlines()
    assert first.startswith("error: ")
    assert "\\x1b[2Kall good" in first  # (urllib drops the CR when joining URLs)
    assert last.startswith("failed: ")
