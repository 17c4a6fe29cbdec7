"""Hostile servers and bad input: every fault ends in a fallback or one clear error, and nothing
is lost, leaked or wrongly locked.

The faults are a named registry, :data:`FAULTS`: each names what the server does (middlewares
from :mod:`index.faults` in front of the real test server), what is locked, and the defined
outcome (exit code, the words of the error or warning, the pins). :func:`test_fault` runs
``skimlock lock`` and ``skimlock resolve --report`` through :func:`skimlock.cli.main` against the
faulty server and checks, for every fault, the invariants in :func:`assert_invariants`:

* the lock is complete and valid (``tomllib`` + ``Pylock.from_dict``) or not written, and a lock
  already at the output path is untouched on failure (no temporary file left either);
* no credential, from the index URL or from netrc, appears in the lock, the report, the
  ``--stats`` file, stdout or stderr (debug logs included);
* the exit code is the documented one, an error is one line, and stderr holds no traceback.

Faults whose behaviour is a known bug of ``skimlock.fetch`` carry a ``bug``: the run checks the
current behaviour and :func:`test_fault_bug` (``xfail(strict=True)``) checks the right one.
``docs/FAULTS.md`` lists every fault; :func:`test_docs_list_every_fault` keeps it complete.

The rest of the module: multi-index safety at the CLI level, credentials really reaching the
index, and property-based tests of the sans-I/O parsers (only skimlock's own errors may escape).

Speed: the CLI's ``--timeout 0.5`` (0.3 for persistent timeouts), and the retry backoff is
shortened to 10 ms by patching ``skimlock.cli.FetchOptions`` (the number of retries is the
default one).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import struct
import sys
import tempfile
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.pylock import Pylock

from index.faults import (
    BadContentRange,
    CutBody,
    Delay,
    FailFirst,
    FaultyServer,
    GzipRanges,
    HugeBody,
    IgnoreRanges,
    RangeLiar,
    Redirect,
    RefuseRanges,
    RefuseSuffixRanges,
    RequireAuth,
    Respond,
    Rewrite,
    ServeFile,
    is_file,
    path_endswith,
    path_is,
    path_startswith,
    serve_faulty,
)
from index.graphs import SECOND_INDEX_DISTS, write_graph
from index.server import JSON_V1, Format, Middleware, Server, serve_index
from index.tree import IndexTree, Mode
from index.wheels import build_wheel, wheel_filename
from skimlock import cli
from skimlock.fetch import FetchOptions

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MakeTree = Callable[[Mode], IndexTree]

LINUX = ("--python-version", "3.12", "--platform", "manylinux_2_28_x86_64")
TIMEOUT = "0.5"
TINY = wheel_filename("tiny", "1.0")
TINY_PATH = f"/files/{TINY}"
TINY_PAGE = "/simple/tiny/"
MiB = 1024 * 1024
#: What the CLI caps a whole download at (FetchOptions' default).
DEFAULT_CAP = FetchOptions().max_download

USER, PASSWORD = "user", "s3cret"
NETRC_USER, NETRC_PASSWORD = "nuser", "n3tpass"
#: Every form in which a credential could leak.
SECRETS = (
    PASSWORD,
    NETRC_PASSWORD,
    base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
    base64.b64encode(f"{NETRC_USER}:{NETRC_PASSWORD}".encode()).decode(),
)
#: A fetch.py bug that several faults hit (see test_fault_bug).
LEAK = (
    "the warning \"<host> ignores Range requests\" names the host with the index URL's "
    "credentials: Fetcher._range formats urlsplit(url).netloc, which keeps user:password@"
)
OLD_LOCK = "# a lock from an earlier run: a failed run must leave it alone\n"
OLD_REPORT = '{"note": "an earlier report"}\n'
TINY_PIN = {"tiny": "1.0"}
ALPHA_PINS = {"alpha": "2.0", "beta": "1.1"}
HTML_TYPE = {"Content-Type": "text/html; charset=utf-8"}
JSON_TYPE = {"Content-Type": JSON_V1}


# --- the registry ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Ctx:
    """What a fault's middleware factory may use."""

    #: The faulty server (its tree is the standard set for the fault's mode).
    server: Server
    #: Another host (``localhost`` on another port) serving the standard set without metadata.
    other: Server
    #: Where crafted files may be written.
    workdir: Path

    @property
    def tree(self) -> IndexTree:
        assert self.server.tree is not None
        return self.server.tree

    def other_url(self, path: str, host: str = "localhost") -> str:
        """``path`` on the other server, reached through ``host``."""
        return self.other.base_url.replace("127.0.0.1", host) + path


@dataclass(frozen=True, kw_only=True, slots=True)
class Expect:
    """A defined outcome."""

    exit: int
    #: Words of the one-line error (``exit != 0``).
    error: tuple[str, ...] = ()
    #: Words of one warning line; empty: no warning at all.
    warning: tuple[str, ...] = ()
    #: What the lock pins (``exit == 0``).
    pins: Mapping[str, str] = field(default_factory=dict)


@dataclass(kw_only=True, slots=True)
class Run:
    """One CLI run against a fault."""

    command: str
    #: Where the run wrote: the output (lock or report) and ``stats.json``.
    directory: Path
    code: int
    out: str
    err: str
    #: The text at the output path afterwards.
    written: str | None
    #: The ``--stats`` JSON.
    stats: dict[str, Any]
    ctx: Ctx
    #: The middleware instances of the fault, outermost first.
    installed: tuple[Any, ...]
    #: tracemalloc's peak during the run (when the fault asks for it).
    peak: int | None = None
    seconds: float = 0.0

    def file_requests(self, filename: str = TINY) -> list[Any]:
        return [e for e in self.ctx.server.log.entries if e.path == f"/files/{filename}"]

    def strategies(self) -> dict[str, str]:
        return {f["filename"]: f["strategy"] for f in self.stats["files"]}


@dataclass(frozen=True, kw_only=True, slots=True)
class Fault:
    """One named fault: the server's behaviour and skimlock's defined outcome."""

    name: str
    #: The tree the faulty server serves, and its page format.
    mode: Mode
    fmt: Format = "html"
    middleware: Callable[[Ctx], Sequence[Middleware]] = lambda _ctx: ()
    requirements: tuple[str, ...] = ("tiny",)
    args: tuple[str, ...] = ()
    #: The index URL (default: the faulty server's, with credentials).
    index: Callable[[Ctx], str] | None = None
    #: Put ``user:s3cret@`` in the default index URL (netrc credentials are always there).
    url_credentials: bool = True
    expect: Expect
    #: More checks on the run.
    check: Callable[[Run], None] | None = None
    #: FetchOptions overrides for this fault (besides the short backoff).
    options: Mapping[str, Any] = field(default_factory=dict)
    #: Measure tracemalloc's peak during the lock run.
    trace_memory: bool = False
    #: Skip the ``resolve --report`` run (slow faults).
    lock_only: bool = False
    #: A known bug of ``skimlock.fetch``: what is wrong, and a check that the right behaviour
    #: would pass (run by :func:`test_fault_bug`, expected to fail). Without ``bug_check`` the
    #: right behaviour is :func:`assert_invariants` with credentials in the index URL.
    bug: str | None = None
    bug_check: Callable[[Run], None] | None = None


def creds_url(server: Server, host: str = "127.0.0.1") -> str:
    """The server's index URL with ``user:s3cret@`` (and ``host`` for 127.0.0.1)."""
    return server.simple_url.replace("http://127.0.0.1", f"http://{USER}:{PASSWORD}@{host}")


# -- crafted files (built on demand into the fault's workdir) --


def _hollow_wheel(ctx: Ctx) -> Path:
    """tiny's file name, but no METADATA inside."""
    path = ctx.workdir / "hollow" / TINY
    path.parent.mkdir(exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("tiny/__init__.py", "")
        archive.writestr("tiny-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
        archive.writestr("tiny-1.0.dist-info/RECORD", "")
    return path


def _wheel_with_metadata(ctx: Ctx, label: str, metadata: bytes) -> Path:
    return build_wheel(ctx.workdir / label, "tiny", "1.0", metadata=metadata)


_BOMB_SIZE = 17 * MiB  # over the 16 MiB METADATA cap, about 17 KB deflated


def _zip_bomb(ctx: Ctx, *, lying: bool) -> Path:
    """tiny with a 17 MiB METADATA (a huge Summary). ``lying``: both headers declare 100 bytes."""
    metadata = (b"Metadata-Version: 2.1\nName: tiny\nVersion: 1.0\nSummary: "
                + b"a" * _BOMB_SIZE + b"\n")
    path = _wheel_with_metadata(ctx, "lying-bomb" if lying else "bomb", metadata)
    if lying:
        data = bytearray(path.read_bytes())
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("tiny-1.0.dist-info/METADATA")
            start_dir = archive.start_dir
        struct.pack_into("<L", data, info.header_offset + 22, 100)  # local: uncompressed size
        position = start_dir
        while data[position:position + 4] == b"PK\x01\x02":
            name_length, extra_length, comment_length = struct.unpack_from("<3H", data,
                                                                           position + 28)
            name = bytes(data[position + 46:position + 46 + name_length])
            if name == b"tiny-1.0.dist-info/METADATA":
                struct.pack_into("<L", data, position + 24, 100)  # central: uncompressed size
            position += 46 + name_length + extra_length + comment_length
        path.write_bytes(bytes(data))
    return path


def _corrupt_central_directory(ctx: Ctx) -> Path:
    """tiny, with every central directory signature overwritten."""
    source = ctx.tree.file(TINY).path.read_bytes()
    path = ctx.workdir / "corrupt-cd" / TINY
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(source.replace(b"PK\x01\x02", b"XX\x01\x02"))
    return path


def _metadata(*lines: str, name: str = "tiny", version: str = "1.0") -> bytes:
    head = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    return ("\n".join([*head, *lines]) + "\n").encode()


def _serve_metadata(body: bytes) -> Callable[[Ctx], Sequence[Middleware]]:
    """tiny's ``.metadata`` answers ``body`` (a PEP658_TRUE tree: no hash to contradict)."""
    return lambda _ctx: [partial(Respond, when=path_is(f"{TINY_PATH}.metadata"), body=body)]


def _serve_file(build: Callable[[Ctx], Path]) -> Callable[[Ctx], Sequence[Middleware]]:
    """tiny's wheel URL serves a crafted file (ranges work: starlette's FileResponse)."""
    return lambda ctx: [partial(ServeFile, when=path_is(TINY_PATH), source=build(ctx))]


def _inflate_content_range(real: str) -> str:
    """``bytes A-B/N`` -> ``bytes A-(B+100)/(N+100)``: more bytes than the body has."""
    match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", real)
    assert match is not None, real
    first, last, total = (int(g) for g in match.groups())
    return f"bytes {first}-{last + 100}/{total + 100}"


# -- checks used by several faults --


def _strategy(expected: str, filename: str = TINY) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        assert run.strategies()[filename] == expected, run.stats["files"]

    return check


def _file_attempts(count: int, filename: str = TINY) -> Callable[[Run], None]:
    """The wheel (not its .metadata) was asked for ``count`` times: retries are bounded."""

    def check(run: Run) -> None:
        settle(run.ctx.server, len(run.stats["request_log"]))
        assert len(run.file_requests(filename)) == count

    return check


def _path_attempts(path: str, count: int) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        settle(run.ctx.server, len(run.stats["request_log"]))
        assert len(run.ctx.server.log.matching(path)) == count

    return check


def _all(*checks: Callable[[Run], None]) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        for one in checks:
            one(run)

    return check


def _huge_stopped_early(limit: int) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        (huge,) = [m for m in run.installed if isinstance(m, HugeBody)]
        time.sleep(0.05)  # the server notices the client went away
        assert huge.sent < limit, f"the server sent {huge.sent} bytes"

    return check


def _memory_bounded(limit: int) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        assert run.peak is not None
        assert run.peak < limit, f"peak {run.peak} bytes"

    return check


def _no_authorization_on_other(run: Run) -> None:
    entries = run.ctx.other.log.entries
    assert entries, "the other host was never asked"
    for entry in entries:
        assert "authorization" not in entry.request_headers, entry


def _other_host_not_asked(run: Run) -> None:
    assert run.ctx.other.log.entries == ()


def _one_suffix_then_absolute(run: Run) -> None:
    """One suffix request was refused; every other range was absolute and answered 206."""
    entries = run.ctx.server.log.matching("/files/")
    suffixes = [e for e in entries if e.range and e.range.startswith("bytes=-")]
    assert len(suffixes) == 1, entries
    assert all(e.status == 206 for e in entries if e is not suffixes[0]), entries


def _warns(*words: str) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        assert any(all(w in line for w in words) for line in warning_lines(run.err)), run.err

    return check


def _exit(code: int) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        assert run.code == code, run.err

    return check


def _faults(*items: Fault) -> dict[str, Fault]:
    registry: dict[str, Fault] = {}
    for item in items:
        assert item.name not in registry, item.name
        registry[item.name] = item
    return registry


FAULTS: dict[str, Fault] = _faults(
    # -- ranges: ignored, refused, lied about --
    Fault(
        name="range-ignored",
        mode=Mode.NO_RANGES,
        requirements=("alpha",),
        expect=Expect(exit=0, warning=("ignores Range requests",), pins=ALPHA_PINS),
        check=_strategy("full-download", wheel_filename("alpha", "2.0")),
        url_credentials=False,
        bug=LEAK,
    ),
    Fault(
        name="range-ignored-accept-ranges",
        mode=Mode.NO_METADATA,
        middleware=lambda _ctx: [IgnoreRanges],
        expect=Expect(exit=0, warning=("ignores Range requests",), pins=TINY_PIN),
        check=_all(
            _strategy("full-download"),
            lambda run: run.file_requests()[0].response_headers["accept-ranges"] == "bytes"
            or pytest.fail("the server should advertise Accept-Ranges"),
        ),
        url_credentials=False,
        bug=LEAK,
    ),
    Fault(
        name="range-ignored-huge-file",
        mode=Mode.NO_METADATA,
        middleware=lambda _ctx: [partial(HugeBody, size=3 * 1024 * MiB)],
        expect=Expect(exit=3, error=(f"over the {DEFAULT_CAP}-byte cap",),
                      warning=("ignores Range requests",)),
        check=_huge_stopped_early(64 * MiB),
        url_credentials=False,
        bug=LEAK,
    ),
    Fault(
        name="range-ignored-huge-chunked",
        mode=Mode.NO_METADATA,
        middleware=lambda _ctx: [partial(HugeBody, size=1024 * MiB, declare=False)],
        options={"max_download": 4 * MiB},
        trace_memory=True,
        lock_only=True,
        expect=Expect(exit=3, error=(f"over the {4 * MiB}-byte cap",),
                      warning=("ignores Range requests",)),
        check=_all(_huge_stopped_early(64 * MiB), _memory_bounded(32 * MiB)),
        url_credentials=False,
        bug=LEAK,
    ),
    Fault(
        name="content-range-wrong",
        mode=Mode.NO_METADATA,
        middleware=lambda _ctx: [RangeLiar],
        expect=Expect(exit=0, warning=("asked bytes=-", "got Content-Range bytes 0-99",
                                       "downloading whole wheels"), pins=TINY_PIN),
        check=_strategy("full-download"),
    ),
    Fault(
        name="content-range-garbage",
        mode=Mode.NO_METADATA,
        middleware=lambda _ctx: [partial(BadContentRange, value="bytes abc")],
        expect=Expect(exit=0, warning=("without a usable Content-Range",), pins=TINY_PIN),
        check=_strategy("full-download"),
    ),
    Fault(
        name="content-range-longer-than-body",
        mode=Mode.NO_METADATA,
        middleware=lambda _ctx: [partial(BadContentRange, value=_inflate_content_range)],
        expect=Expect(exit=0, warning=("range body has", "Content-Range says"), pins=TINY_PIN),
        check=_strategy("full-download"),
    ),
    Fault(
        name="range-416-always",
        mode=Mode.NO_METADATA,
        middleware=lambda _ctx: [partial(RefuseRanges, status=416)],
        expect=Expect(exit=0, pins=TINY_PIN),
        check=_strategy("full-download"),
        bug="a host that refuses every range (416/501 to suffix and absolute ranges) makes "
        "skimlock download whole wheels without a warning (the 200 fallback warns)",
        bug_check=_warns("whole"),
    ),
    *(
        Fault(
            name=f"suffix-range-{status}",
            mode=Mode.NO_METADATA,
            middleware=partial(lambda _ctx, s: [partial(RefuseSuffixRanges, status=s)],
                               s=status),
            requirements=("alpha",),
            expect=Expect(exit=0, pins=ALPHA_PINS),
            check=_all(_strategy("metadata-range", wheel_filename("alpha", "2.0")),
                       _one_suffix_then_absolute),
        )
        for status in (501, 400, 404)
    ),
    Fault(
        name="gzip-range",
        mode=Mode.NO_METADATA,
        middleware=lambda _ctx: [GzipRanges],
        expect=Expect(exit=0, warning=("Content-Encoding gzip",), pins=TINY_PIN),
        check=_strategy("full-download"),
    ),
    # -- broken connections, slow and failing servers --
    Fault(
        name="truncated-body",
        mode=Mode.NO_METADATA,
        middleware=lambda _ctx: [partial(CutBody, when=is_file, after=1000, statuses=(206,))],
        expect=Expect(exit=3, error=(TINY, "connection broken by the server")),
        check=_file_attempts(4),  # the first attempt and three retries
    ),
    Fault(
        name="truncated-body-once",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(CutBody, when=path_is(TINY_PAGE), after=100, times=1)],
        expect=Expect(exit=0, pins=TINY_PIN),
        check=_path_attempts(TINY_PAGE, 2),
    ),
    Fault(
        name="truncated-whole-download",
        mode=Mode.NO_RANGES,
        middleware=lambda _ctx: [partial(CutBody, when=is_file, after=500, times=1)],
        expect=Expect(exit=0, warning=("ignores Range requests",), pins=TINY_PIN),
        check=_all(_strategy("full-download"), _file_attempts(2)),
        url_credentials=False,
        bug=LEAK,
    ),
    Fault(
        name="reset-mid-body",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(CutBody, when=path_endswith(".metadata"), after=20,
                                         how="reset")],
        expect=Expect(exit=3, error=(f"{TINY}.metadata", "connection")),
        check=_path_attempts(f"{TINY_PATH}.metadata", 4),
    ),
    Fault(
        name="reset-mid-body-once",
        mode=Mode.NO_METADATA,
        middleware=lambda _ctx: [partial(CutBody, when=is_file, after=1000, how="reset",
                                         times=1)],
        expect=Expect(exit=0, pins=TINY_PIN),
        check=_all(_strategy("metadata-range"), _file_attempts(2)),
    ),
    Fault(
        name="stall-mid-body-once",
        mode=Mode.NO_METADATA,
        middleware=lambda _ctx: [partial(CutBody, when=is_file, after=1000, how="stall",
                                         times=1)],
        expect=Expect(exit=0, pins=TINY_PIN),
        check=_all(_strategy("metadata-range"), _file_attempts(2)),
    ),
    Fault(
        name="slow-server",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(Delay, when=path_is(TINY_PAGE), seconds=1.5)],
        args=("--timeout", "0.3"),
        lock_only=True,
        expect=Expect(exit=3, error=(TINY_PAGE, "server too slow (read timed out)")),
        check=_all(
            _path_attempts(TINY_PAGE, 4),
            lambda run: run.seconds < 4 or pytest.fail(f"took {run.seconds:.1f} s"),
        ),
    ),
    Fault(
        name="slow-server-once",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(Delay, when=path_is(TINY_PAGE), seconds=1.0, times=1)],
        expect=Expect(exit=0, pins=TINY_PIN),
        check=_path_attempts(TINY_PAGE, 2),
    ),
    Fault(
        name="http-503-transient",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(FailFirst, when=path_is(TINY_PAGE), times=2)],
        expect=Expect(exit=0, pins=TINY_PIN),
        check=_path_attempts(TINY_PAGE, 3),
    ),
    Fault(
        name="http-500-transient",
        mode=Mode.NO_METADATA,
        middleware=lambda _ctx: [partial(FailFirst, when=is_file, times=2, status=500)],
        expect=Expect(exit=0, pins=TINY_PIN),
        check=_all(_strategy("metadata-range"), _file_attempts(3)),
    ),
    Fault(
        name="http-429-retry-after",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(FailFirst, when=path_endswith(".metadata"), times=2,
                                         status=429, headers={"Retry-After": "0"})],
        expect=Expect(exit=0, pins=TINY_PIN),
        check=_path_attempts(f"{TINY_PATH}.metadata", 3),
    ),
    Fault(
        name="http-503-persistent",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(FailFirst, when=path_is(TINY_PAGE), times=1000)],
        expect=Expect(exit=3, error=(TINY_PAGE, "HTTP 503")),
        check=_path_attempts(TINY_PAGE, 4),
    ),
    # -- PEP 658 metadata --
    Fault(
        name="metadata-404",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(Respond, when=path_endswith(".metadata"), status=404)],
        requirements=("alpha",),
        expect=Expect(exit=0, warning=(".metadata is advertised but answers 404",),
                      pins=ALPHA_PINS),
        check=_strategy("metadata-range", wheel_filename("alpha", "2.0")),
    ),
    Fault(
        name="metadata-hash-mismatch",
        mode=Mode.PEP658_SHA256,
        middleware=_serve_metadata(_metadata("Summary: not what the index hashed")),
        expect=Expect(exit=4, error=("hash mismatch", f"{TINY}.metadata", "sha256")),
    ),
    Fault(
        name="metadata-name-mismatch",
        mode=Mode.PEP658_TRUE,
        middleware=_serve_metadata(_metadata(name="evil")),
        expect=Expect(exit=4, error=(TINY, "says Name 'evil'", "file name says 'tiny'")),
    ),
    Fault(
        name="metadata-version-mismatch",
        mode=Mode.PEP658_TRUE,
        middleware=_serve_metadata(_metadata(version="6.6.6")),
        expect=Expect(exit=4, error=(TINY, "says Version '6.6.6'", "file name says '1.0'")),
    ),
    Fault(
        name="wheel-metadata-name-mismatch",
        mode=Mode.NO_METADATA,
        middleware=_serve_file(lambda ctx: _wheel_with_metadata(
            ctx, "renamed", _metadata(name="evil"))),
        expect=Expect(exit=4, error=(TINY, "says Name 'evil'")),
    ),
    # -- wheels: zip structure --
    Fault(
        name="wheel-without-metadata",
        mode=Mode.NO_METADATA,
        middleware=_serve_file(_hollow_wheel),
        expect=Expect(exit=3, error=(TINY, "no tiny-1.0.dist-info/METADATA in the wheel")),
    ),
    Fault(
        name="zip-bomb-metadata",
        mode=Mode.NO_METADATA,
        middleware=_serve_file(partial(_zip_bomb, lying=False)),
        expect=Expect(exit=3, error=(TINY, "METADATA larger than 16 MiB")),
    ),
    Fault(
        name="zip-bomb-lying-size",
        mode=Mode.NO_METADATA,
        middleware=_serve_file(partial(_zip_bomb, lying=True)),
        trace_memory=True,
        lock_only=True,
        expect=Expect(exit=3, error=(TINY, "corrupt zip", "Bad CRC-32")),
        check=_memory_bounded(16 * MiB),
    ),
    Fault(
        name="corrupt-central-directory",
        mode=Mode.NO_METADATA,
        middleware=_serve_file(_corrupt_central_directory),
        expect=Expect(exit=3, error=(TINY, "corrupt zip")),
    ),
    Fault(
        name="central-directory-over-first-window",
        mode=Mode.NO_METADATA,
        requirements=("bigdir",),
        expect=Expect(exit=0, pins={"bigdir": "1.0"}),
        check=_all(
            _strategy("metadata-range", wheel_filename("bigdir", "1.0")),
            lambda run: 2 <= len(run.file_requests(wheel_filename("bigdir", "1.0"))) <= 3
            or pytest.fail("two or three range requests"),
        ),
    ),
    Fault(
        name="zip64-wheel",
        mode=Mode.NO_METADATA,
        requirements=("zipsixtyfour",),
        expect=Expect(exit=0, pins={"zipsixtyfour": "1.0"}),
        check=_strategy("metadata-range", wheel_filename("zipsixtyfour", "1.0")),
    ),
    Fault(
        name="whole-download-hash-mismatch",
        mode=Mode.NO_RANGES,
        middleware=lambda _ctx: [partial(Respond, when=path_is(TINY_PATH),
                                         body=b"not the wheel the index hashed")],
        expect=Expect(exit=4, error=("hash mismatch", TINY, "sha256"),
                      warning=("ignores Range requests",)),
        url_credentials=False,
        bug=LEAK,
    ),
    # -- index pages --
    Fault(
        name="page-malformed-html",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(Respond, when=path_is(TINY_PAGE), headers=HTML_TYPE,
                                         body=b"<html>\xff\xfe<a href='x.whl'>")],
        expect=Expect(exit=3, error=("malformed index page", TINY_PAGE, "utf-8")),
    ),
    Fault(
        name="page-malformed-json",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(Respond, when=path_is(TINY_PAGE), headers=JSON_TYPE,
                                         body=b'{"meta": {"api-version": "1.1"}, "files": [')],
        expect=Expect(exit=3, error=("malformed index page", TINY_PAGE, "invalid JSON")),
    ),
    Fault(
        name="page-huge",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(HugeBody, when=path_is(TINY_PAGE), size=1024 * MiB)],
        expect=Expect(exit=3, error=(TINY_PAGE, "over the 67108864-byte cap")),
        check=_huge_stopped_early(64 * MiB),
    ),
    Fault(
        name="metadata-huge",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(HugeBody, when=path_endswith(".metadata"),
                                         size=1024 * MiB)],
        expect=Expect(exit=3, error=(f"{TINY}.metadata", "over the 16777216-byte cap")),
        check=_huge_stopped_early(64 * MiB),
    ),
    *(
        Fault(
            name=f"api-version-2-{kind}",
            mode=Mode.PEP658_SHA256,
            middleware=partial(lambda _ctx, b, h: [partial(Respond, when=path_is(TINY_PAGE),
                                                          body=b, headers=h)], b=body, h=headers),
            expect=Expect(exit=3, error=(TINY_PAGE, "Simple API version 2.0")),
        )
        for kind, body, headers in (
            ("html", b'<meta name="pypi:repository-version" content="2.0">', HTML_TYPE),
            ("json", b'{"meta": {"api-version": "2.0"}, "name": "tiny", "files": []}',
             JSON_TYPE),
        )
    ),
    Fault(
        name="non-normalized-page-url",
        mode=Mode.PEP658_SHA256,
        requirements=("Mixed_Case.Name",),
        middleware=lambda _ctx: [
            partial(Redirect, when=path_is("/simple/mixed-case-name/"),
                    location=lambda _p: "/Index/Mixed_Case.Name/"),
            partial(Rewrite, when=path_startswith("/Index/"),
                    path=lambda _p: "/simple/mixed-case-name/"),
        ],
        expect=Expect(exit=0, pins={"mixed-case-name": "1.0"}),
        check=lambda run: run.ctx.server.log.matching("/Index/Mixed_Case.Name/")
        or pytest.fail("the page was read at its non-normalized URL"),
    ),
    Fault(
        name="redirect-loop",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(Redirect, when=path_is(TINY_PAGE),
                                         location=lambda p: p)],
        expect=Expect(exit=3, error=(TINY_PAGE, "too many redirects")),
    ),
    Fault(
        name="redirect-files-other-host",
        mode=Mode.NO_METADATA,
        requirements=("alpha",),
        middleware=lambda ctx: [partial(Redirect, when=is_file, status=302,
                                        location=lambda p: ctx.other_url(p))],
        expect=Expect(exit=0, pins=ALPHA_PINS),
        check=_all(_no_authorization_on_other,
                   _strategy("metadata-range", wheel_filename("alpha", "2.0"))),
    ),
    Fault(
        name="redirect-page-other-host",
        mode=Mode.PEP658_SHA256,
        middleware=lambda ctx: [partial(Redirect, when=path_startswith("/simple/"),
                                        location=lambda p: ctx.other_url(p))],
        expect=Expect(exit=0, pins=TINY_PIN),
        check=_no_authorization_on_other,
    ),
    Fault(
        name="plain-http-index",
        mode=Mode.PEP658_SHA256,
        index=lambda ctx: creds_url(ctx.server, host="127.1"),
        expect=Expect(exit=2, error=("refusing plain-HTTP index", "--trusted-host 127.1")),
        check=lambda run: run.ctx.server.log.entries == ()
        or pytest.fail("no request may be sent"),
    ),
    Fault(
        name="plain-http-index-trusted",
        mode=Mode.PEP658_SHA256,
        index=lambda ctx: creds_url(ctx.server, host="127.1"),
        args=("--trusted-host", "127.1"),
        expect=Expect(exit=0, pins=TINY_PIN),
    ),
    Fault(
        name="redirect-page-to-plain-http",
        mode=Mode.PEP658_SHA256,
        middleware=lambda ctx: [partial(Redirect, when=path_is(TINY_PAGE),
                                        location=lambda p: ctx.other_url(p, host="127.1"))],
        expect=Expect(exit=2, error=("refusing plain-HTTP index", "127.1")),
        bug="a redirect to an untrusted plain-HTTP host is followed (the request is sent) "
        "and only the final page URL is checked afterwards",
        bug_check=_other_host_not_asked,
    ),
    Fault(
        name="redirect-files-to-plain-http",
        mode=Mode.NO_METADATA,
        middleware=lambda ctx: [partial(Redirect, when=is_file, status=302,
                                        location=lambda p: ctx.other_url(p, host="127.1"))],
        expect=Expect(exit=0, pins=TINY_PIN),
        bug="file and metadata requests follow redirects to an untrusted plain-HTTP host "
        "without any check (only the listed URL is checked)",
        bug_check=_all(_exit(2), _other_host_not_asked),
    ),
    # -- metadata content --
    *(
        Fault(
            name=f"invalid-{label}",
            mode=Mode.PEP658_TRUE,
            middleware=_serve_metadata(_metadata(line)),
            expect=Expect(exit=3, error=(f"invalid metadata in {TINY}", *words)),
        )
        for label, line, words in (
            ("requires-dist-version", "Requires-Dist: beta (>=1.0.x)",
             ("Requires-Dist 'beta (>=1.0.x)' is not a valid requirement",)),
            ("requires-dist-specifier", "Requires-Dist: beta==1.0.*.2",
             ("Requires-Dist 'beta==1.0.*.2' is not a valid requirement",)),
            ("requires-dist-marker", 'Requires-Dist: beta; python_versio == "3"',
             ("Requires-Dist 'beta; python_versio == \"3\"' is not a valid requirement",)),
            ("requires-dist-marker-value", 'Requires-Dist: beta; python_version ~= "abc"',
             ("Requires-Dist 'beta; python_version ~= \"abc\"'",)),
            ("requires-python", "Requires-Python: >=3.x",
             ("Requires-Python '>=3.x' is not a valid version specifier",)),
        )
    ),
    Fault(
        name="invalid-version-field",
        mode=Mode.PEP658_TRUE,
        middleware=_serve_metadata(_metadata(version="1.0.x")),
        expect=Expect(exit=3, error=(f"invalid metadata in {TINY}",
                                     "Version '1.0.x' is not a valid version")),
    ),
)


# --- running a fault ----------------------------------------------------------------------------


def settle(server: Server, count: int) -> None:
    """Wait briefly until the server has logged ``count`` requests (an answer closed unread can
    reach the client before the server logs it)."""
    deadline = time.monotonic() + 2.0
    while len(server.log) < count and time.monotonic() < deadline:
        time.sleep(0.005)


def warning_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("WARNING:")]


@pytest.fixture(autouse=True)
def _isolated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[None]:
    """No proxies; a netrc with a password for the test host; short backoff; the ``skimlock``
    logger restored after the CLI replaced its handlers."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy", "NO_PROXY", "no_proxy", "SKIMLOCK_INDEX_URL", "COLUMNS", "LINES"):
        monkeypatch.delenv(name, raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {NETRC_USER} password {NETRC_PASSWORD}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setattr(cli, "FetchOptions", partial(FetchOptions, backoff=0.01))
    log = logging.getLogger("skimlock")
    saved = (list(log.handlers), log.propagate, log.level)
    try:
        yield
    finally:
        log.handlers[:], log.propagate, log.level = saved[0], saved[1], saved[2]


@pytest.fixture(scope="module")
def servers(make_tree: MakeTree) -> Iterator[Callable[[Mode, Format], FaultyServer]]:
    """A faulty server per (mode, format), started on first use, stopped with the module."""
    running: dict[tuple[Mode, Format], FaultyServer] = {}
    with ExitStack() as stack:

        def get(mode: Mode, fmt: Format) -> FaultyServer:
            if (mode, fmt) not in running:
                running[mode, fmt] = stack.enter_context(serve_faulty(make_tree(mode), fmt=fmt))
            return running[mode, fmt]

        yield get
        for faulty in running.values():
            faulty.server.request_stop()


@pytest.fixture(scope="module")
def other_server(make_tree: MakeTree) -> Iterator[Server]:
    with serve_index(make_tree(Mode.NO_METADATA), fmt="html") as server:
        yield server


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("crafted")


def assert_no_secret(what: str, text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into {what}:\n{text}"


def assert_no_traceback(text: str) -> None:
    assert "Traceback" not in text, text
    assert 'File "' not in text, text


def _install(faulty: FaultyServer, fault: Fault, ctx: Ctx) -> tuple[Any, ...]:
    faulty.server.log.clear()
    ctx.other.log.clear()
    return faulty.switch.install(fault.middleware(ctx))


def run_fault(
    fault: Fault,
    command: str,
    *,
    faulty: FaultyServer,
    ctx: Ctx,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    directory: Path,
    url_credentials: bool = False,
) -> Run:
    """Install the fault and run ``skimlock lock`` (or ``resolve --report -v``) against it."""
    directory.mkdir()
    installed = _install(faulty, fault, ctx)
    if fault.options:
        monkeypatch.setattr(cli, "FetchOptions",
                            partial(FetchOptions, backoff=0.01, **fault.options))
    if fault.index is not None:
        index = fault.index(ctx)
    elif fault.url_credentials or url_credentials:
        index = creds_url(ctx.server)
    else:
        index = ctx.server.simple_url
    output = directory / ("pylock.toml" if command == "lock" else "report.json")
    output.write_text(OLD_LOCK if command == "lock" else OLD_REPORT)
    stats = directory / "stats.json"
    argv = ["-i", index, *LINUX, "--timeout", TIMEOUT, "--stats", str(stats), *fault.args]
    if command == "lock":
        argv = ["lock", *argv, "-o", str(output)]
    else:
        argv = ["resolve", *argv, "--report", str(output), "-v"]
    argv += fault.requirements
    capsys.readouterr()
    if fault.trace_memory:
        tracemalloc.start()
    started = time.monotonic()
    try:
        code = cli.main(argv)
        peak = tracemalloc.get_traced_memory()[1] if fault.trace_memory else None
    finally:
        if fault.trace_memory:
            tracemalloc.stop()
    seconds = time.monotonic() - started
    out, err = capsys.readouterr()
    faulty.switch.clear()
    return Run(
        command=command,
        directory=directory,
        code=code,
        out=out,
        err=err,
        written=output.read_text() if output.exists() else None,
        stats=json.loads(stats.read_text()),
        ctx=ctx,
        installed=installed,
        peak=peak,
        seconds=seconds,
    )


def assert_invariants(run: Run, fault: Fault) -> None:
    """What must hold after any fault (see the module docstring), then the fault's outcome."""
    expect = fault.expect
    # Exit code, no traceback, the error on one line, then the bandwidth line.
    assert run.code == expect.exit, run.err
    assert_no_traceback(run.out + run.err)
    errors = [line for line in run.err.splitlines() if line.startswith("error:")]
    if expect.exit == 0:
        assert errors == [], run.err
    else:
        assert len(errors) == 1, run.err
        (error,) = errors
        for word in expect.error:
            assert word in error, f"{word!r} not in {error!r}"
        following = run.err.splitlines()[run.err.splitlines().index(error) + 1]
        assert following.startswith("failed: fetched "), run.err
    if run.command == "lock":  # resolve -v also logs at debug level
        warnings = warning_lines(run.err)
        if expect.warning:
            assert any(all(w in line for w in expect.warning) for line in warnings), run.err
        else:
            assert warnings == [], run.err
    # No credential anywhere.
    assert_no_secret("stderr", run.err)
    assert_no_secret("stdout", run.out)
    assert_no_secret("the stats file", json.dumps(run.stats))
    if run.written is not None:
        assert_no_secret(f"the {run.command} output", run.written)
    # The output is complete and valid, or the old one is untouched; no temporary file left.
    name = "pylock.toml" if run.command == "lock" else "report.json"
    assert sorted(p.name for p in run.directory.iterdir()) == sorted([name, "stats.json"])
    if expect.exit != 0:
        assert run.written == (OLD_LOCK if run.command == "lock" else OLD_REPORT)
        return
    assert run.written is not None
    if run.command == "lock":
        lock = Pylock.from_dict(tomllib.loads(run.written))
        assert {p.name: str(p.version) for p in lock.packages} == dict(expect.pins)
        tree = run.ctx.tree
        for package in lock.packages:
            assert package.index is not None
            assert "@" not in package.index
            for wheel in package.wheels or ():
                assert wheel.url is not None
                assert "@" not in wheel.url
                assert wheel.name is not None
                assert wheel.hashes == {"sha256": tree.file(wheel.name).sha256}
    else:
        report = json.loads(run.written)
        assert report["version"] == "1"
        assert {i["metadata"]["name"].lower().replace("_", "-").replace(".", "-"):
                i["metadata"]["version"] for i in report["install"]} == dict(expect.pins)


def _ctx(fault: Fault, servers: Callable[[Mode, Format], FaultyServer], other: Server,
         workdir: Path) -> tuple[FaultyServer, Ctx]:
    faulty = servers(fault.mode, fault.fmt)
    return faulty, Ctx(server=faulty.server, other=other, workdir=workdir)


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault(
    name: str,
    servers: Callable[[Mode, Format], FaultyServer],
    other_server: Server,
    workdir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fault = FAULTS[name]
    faulty, ctx = _ctx(fault, servers, other_server, workdir)
    commands = ("lock",) if fault.lock_only else ("lock", "resolve")
    for command in commands:
        run = run_fault(fault, command, faulty=faulty, ctx=ctx, monkeypatch=monkeypatch,
                        capsys=capsys, directory=tmp_path / command)
        assert_invariants(run, fault)
        if fault.check is not None:
            fault.check(run)


BUGS = [name for name, fault in FAULTS.items() if fault.bug is not None]


@pytest.mark.parametrize(
    "name",
    [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=f"BUG: {FAULTS[name].bug}"))
     for name in BUGS],
)
def test_fault_bug(
    name: str,
    servers: Callable[[Mode, Format], FaultyServer],
    other_server: Server,
    workdir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The right behaviour for faults that hit a known bug of skimlock.fetch."""
    fault = FAULTS[name]
    faulty, ctx = _ctx(fault, servers, other_server, workdir)
    run = run_fault(fault, "lock", faulty=faulty, ctx=ctx, monkeypatch=monkeypatch,
                    capsys=capsys, directory=tmp_path / "lock", url_credentials=True)
    if fault.bug_check is None:
        assert_invariants(run, fault)
    else:
        fault.bug_check(run)
