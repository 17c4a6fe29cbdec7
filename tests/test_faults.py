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
* the exit code is the documented one, an error is one line (an impossible resolution adds
  indented explanation lines), and stderr holds no traceback (the ``resolve`` run uses ``-v``, so
  that credentials are also looked for in debug logs; debug records may carry tracebacks).

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
import functools
import html
import json
import os
import re
import signal
import struct
import subprocess
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
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from packaging.pylock import Pylock
from packaging.specifiers import SpecifierSet
from packaging.utils import (
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from index.faults import (
    BadContentRange,
    CutBody,
    Delay,
    Encoded,
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
    Stall,
    Trickle,
    When,
    all_paths,
    gzip_bomb,
    is_file,
    path_endswith,
    path_is,
    path_startswith,
    serve_faulty,
)
from index.graphs import SECOND_INDEX_DISTS, write_graph
from index.server import JSON_V1, Format, LoggedRequest, Middleware, Server, serve_index
from index.tree import IndexTree, Mode
from index.wheels import build_wheel, wheel_filename
from skimlock import cli
from skimlock.candidates import Candidate, ProjectFiles
from skimlock.coremeta import parse_metadata
from skimlock.errors import InputError, InvalidMetadataError, MetadataMismatchError, WheelError
from skimlock.fetch import FetchedMetadata, FetchOptions
from skimlock.inputs import collect_inputs
from skimlock.provider import Indexes, Provider, ResolverCandidate
from skimlock.simple import CoreMetadata, IndexFile, ProjectPage, parse_project_page
from skimlock.stats import Category, MetadataSource
from skimlock.target import Target
from skimlock.zipread import MAX_ROUNDS, MetadataLocator

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
#: Odd credentials: an e-mail user name (Artifactory style), ``@`` and ``/`` in passwords.
EMAIL_USER = "me@corp.example"
AT_TAIL, SLASH_TAIL = "aTtAiL", "sLaShTaIl"
NETRC_USER, NETRC_PASSWORD = "nuser", "n3tpass"
SECOND_USER, SECOND_PASSWORD = "other", "t0ken"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


#: Every form in which a credential could leak.
SECRETS = (
    PASSWORD,
    NETRC_PASSWORD,
    SECOND_PASSWORD,
    basic(USER, PASSWORD).split()[1],
    basic(NETRC_USER, NETRC_PASSWORD).split()[1],
    basic(SECOND_USER, SECOND_PASSWORD).split()[1],
    basic(EMAIL_USER, PASSWORD).split()[1],
    AT_TAIL,
    SLASH_TAIL,
)
OLD_LOCK = (
    "# a lock from an earlier run: a failed run must leave it alone\n"
    'lock-version = "1.0"\ncreated-by = "old"\npackages = []\n'
)
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
    #: A second index with a newer ``alpha`` (dependency confusion bait) and ``onlysecond``.
    second: Server
    #: Where crafted files may be written.
    workdir: Path

    @property
    def tree(self) -> IndexTree:
        assert self.server.tree is not None
        return self.server.tree

    @property
    def second_url(self) -> str:
        """The second index's URL, with credentials of its own."""
        return self.second.simple_url.replace(
            "http://", f"http://{SECOND_USER}:{SECOND_PASSWORD}@"
        )

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

    def file_requests(self, filename: str = TINY) -> list[LoggedRequest]:
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
    #: More arguments that depend on the servers (e.g. ``--extra-index-url``).
    more_args: Callable[[Ctx], Sequence[str]] = lambda _ctx: ()
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


def _zip_bomb(ctx: Ctx, *, lying: bool) -> Path:
    """tiny with a METADATA over the 16 MiB cap (a huge Summary) that deflates to a few dozen
    KB: 17 MiB declared honestly, or (``lying``) 64 MiB with both headers declaring 100 bytes,
    so that a reader trusting neither the headers nor the stream would hold 64 MiB."""
    label = "lying-bomb" if lying else "bomb"
    if (ctx.workdir / label / TINY).exists():
        return ctx.workdir / label / TINY
    size = 64 * MiB if lying else 17 * MiB
    metadata = b"Metadata-Version: 2.1\nName: tiny\nVersion: 1.0\nSummary: " + b"a" * size
    path = _wheel_with_metadata(ctx, label, metadata + b"\n")
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
    """The index got credentials; the host it redirected to got none."""
    assert all("authorization" in e.request_headers for e in run.ctx.server.log.entries)
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


def _indexes_of(run: Run) -> dict[str, str]:
    """Package name -> the index the lock says it came from (nothing for a report)."""
    if run.command == "lock":
        assert run.written is not None
        return {p["name"]: p["index"] for p in tomllib.loads(run.written)["packages"]}
    return {}


def _first_index_wins(run: Run) -> None:
    first, second = run.ctx.server.simple_url, run.ctx.second.simple_url
    if run.command == "lock":
        assert _indexes_of(run) == {"alpha": first, "beta": first, "onlysecond": second}
    assert run.ctx.second.log.matching("/simple/alpha/") == ()  # never even asked
    assert run.ctx.second.log.matching("/files/alpha") == ()


def _merged(run: Run) -> None:
    if run.command == "lock":
        assert _indexes_of(run) == {"alpha": run.ctx.second.simple_url}
    assert run.ctx.server.log.matching("/simple/alpha/")  # both indexes were read
    assert run.ctx.second.log.matching("/simple/alpha/")


def _holds(predicate: Callable[[Run], object], what: str) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        assert predicate(run), what

    return check


def _userinfo_url(userinfo: str) -> Callable[[Ctx], str]:
    """The faulty server's index URL with ``userinfo@`` written as is (not percent-encoded)."""
    return lambda ctx: ctx.server.simple_url.replace("http://", f"http://{userinfo}@")


@functools.cache
def _bomb(size: int, layers: int) -> bytes:
    return gzip_bomb(size, layers=layers)


def _tiny_page(ctx: Ctx, *links: str, metadata: bool = False) -> bytes:
    """An HTML page for tiny listing ``links`` (each an href, or ``{url}`` for tiny's file at
    its absolute URL on this server, with its sha256)."""
    file = ctx.tree.file(TINY)
    extra = ' data-core-metadata="true"' if metadata else ""
    anchors = [
        f'<a href="{html.escape(link.format(url=ctx.server.base_url + file.url_path))}'
        f'#sha256={file.sha256}"{extra}>{TINY}</a>' if "{url}" in link else
        f'<a href="{html.escape(link)}">{TINY}</a>'
        for link in links
    ]
    return ("<!DOCTYPE html><html><body>\n" + "\n".join(anchors) + "\n</body></html>\n").encode()


def _serve_page(
    build: Callable[[Ctx], bytes], *, auth: When | None = None
) -> Callable[[Ctx], Sequence[Middleware]]:
    """tiny's page answers ``build(ctx)``; with ``auth``, those paths need the URL's
    credentials."""
    def make(ctx: Ctx) -> Sequence[Middleware]:
        page = partial(Respond, when=path_is(TINY_PAGE), body=build(ctx), headers=HTML_TYPE)
        if auth is None:
            return [page]
        return [partial(RequireAuth, when=auth, authorization=basic(USER, PASSWORD)), page]

    return make


def _no_401(run: Run) -> None:
    entries = run.ctx.server.log.entries
    assert entries
    assert all(e.status != 401 for e in entries), entries
    assert all(e.request_headers.get("authorization") == basic(USER, PASSWORD)
               for e in entries), entries


def _files_without_authorization(run: Run) -> None:
    files = run.ctx.server.log.matching("/files/")
    assert files, "no file was asked"
    for entry in files:
        assert "authorization" not in entry.request_headers, entry


def _hops_recorded(run: Run) -> None:
    """Each redirect hop is recorded under the URL it asked: the 302 under the listed URL,
    the answer under the other host's."""
    log = [r for r in run.stats["request_log"] if "/files/" in r["url"]]
    other = run.ctx.other_url("/files/")
    assert any(r["status"] == 302 and r["url"].startswith("http://***@127.0.0.1")
               for r in log), log
    assert any(r["status"] == 206 and r["url"].startswith(other) for r in log), log
    assert not any(r["status"] == 206 and "127.0.0.1" in r["url"] for r in log), log


def _lock_size(expected: Callable[[Ctx], int]) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        if run.command == "lock":
            assert run.written is not None
            (package,) = tomllib.loads(run.written)["packages"]
            assert package["wheels"][0]["size"] == expected(run.ctx)

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
    ),
    Fault(
        name="range-ignored-accept-ranges",
        mode=Mode.NO_METADATA,
        middleware=lambda _ctx: [IgnoreRanges],
        expect=Expect(exit=0, warning=("ignores Range requests",), pins=TINY_PIN),
        check=_all(
            _strategy("full-download"),
            _holds(lambda run: run.file_requests()[0].response_headers["accept-ranges"]
                   == "bytes", "the server advertises Accept-Ranges"),
        ),
    ),
    Fault(
        name="range-ignored-huge-file",
        mode=Mode.NO_METADATA,
        middleware=lambda _ctx: [partial(HugeBody, size=3 * 1024 * MiB)],
        expect=Expect(exit=3, error=(f"over the {DEFAULT_CAP}-byte cap",),
                      warning=("ignores Range requests",)),
        check=_huge_stopped_early(64 * MiB),
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
        expect=Expect(exit=0, warning=("refuses range requests (HTTP 416)", "whole wheels"),
                      pins=TINY_PIN),
        check=_strategy("full-download"),
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
    ),
    Fault(
        name="reset-mid-body",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(CutBody, when=path_endswith(".metadata"), after=20,
                                         how="reset")],
        expect=Expect(exit=0, pins=TINY_PIN, warning=(
            f"{TINY}.metadata is advertised but failed (connection reset",
            "reading metadata from the wheels")),
        check=_all(_path_attempts(f"{TINY_PATH}.metadata", 4), _strategy("metadata-range")),
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
            _holds(lambda run: run.seconds < 4, "retries of a timeout are bounded in time"),
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
        expect=Expect(exit=3, error=(TINY, "corrupt zip", "compressed bytes for 100 bytes")),
        check=_memory_bounded(48 * MiB),  # what the cap allows, not the 64 MiB inside
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
            _holds(lambda run: 2 <= len(run.file_requests(wheel_filename("bigdir", "1.0"))) <= 3,
                   "two or three range requests"),
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
        check=_holds(lambda run: run.ctx.server.log.matching("/Index/Mixed_Case.Name/"),
                     "the page was read at its non-normalized URL"),
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
                                        location=ctx.other_url)],
        expect=Expect(exit=0, pins=ALPHA_PINS),
        check=_all(_no_authorization_on_other, _hops_recorded,
                   _strategy("metadata-range", wheel_filename("alpha", "2.0"))),
    ),
    Fault(
        name="redirect-files-other-port",
        mode=Mode.NO_METADATA,
        middleware=lambda ctx: [partial(Redirect, when=is_file, status=307,
                                        location=partial(ctx.other_url, host="127.0.0.1"))],
        expect=Expect(exit=0, pins=TINY_PIN),
        check=_no_authorization_on_other,
    ),
    Fault(
        name="redirect-page-other-host",
        mode=Mode.PEP658_SHA256,
        middleware=lambda ctx: [partial(Redirect, when=path_startswith("/simple/"),
                                        location=ctx.other_url)],
        expect=Expect(exit=0, pins=TINY_PIN),
        check=_no_authorization_on_other,
    ),
    Fault(
        name="plain-http-index",
        mode=Mode.PEP658_SHA256,
        index=lambda ctx: creds_url(ctx.server, host="127.1"),
        expect=Expect(exit=2, error=("refusing plain-HTTP index", "--trusted-host 127.1")),
        check=_holds(lambda run: run.ctx.server.log.entries == (), "no request was sent"),
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
        check=_other_host_not_asked,
    ),
    Fault(
        name="redirect-files-to-plain-http",
        mode=Mode.NO_METADATA,
        middleware=lambda ctx: [partial(Redirect, when=is_file, status=302,
                                        location=lambda p: ctx.other_url(p, host="127.1"))],
        expect=Expect(exit=2, error=("refusing plain-HTTP index", "127.1")),
        check=_other_host_not_asked,
    ),
    # -- credentials of unusual shape (issue 9, item 1) --
    Fault(
        name="credentials-email-user",
        mode=Mode.PEP658_SHA256,
        index=_userinfo_url(f"{EMAIL_USER}:{PASSWORD}"),
        expect=Expect(exit=0, pins=TINY_PIN),
    ),
    Fault(
        name="credentials-email-user-error",
        mode=Mode.PEP658_SHA256,
        index=_userinfo_url(f"{EMAIL_USER}:{PASSWORD}"),
        middleware=lambda _ctx: [partial(FailFirst, when=path_is(TINY_PAGE), times=1000)],
        expect=Expect(exit=3, error=("http://***@127.0.0.1:", TINY_PAGE, "HTTP 503")),
    ),
    Fault(
        name="credentials-at-in-password",
        mode=Mode.PEP658_SHA256,
        index=_userinfo_url(f"{USER}:x@{AT_TAIL}"),
        middleware=lambda _ctx: [partial(FailFirst, when=path_is(TINY_PAGE), times=1000)],
        expect=Expect(exit=3, error=("http://***@127.0.0.1:", TINY_PAGE, "HTTP 503")),
    ),
    Fault(
        name="credentials-slash-in-password",
        mode=Mode.PEP658_SHA256,
        index=_userinfo_url(f"{USER}:x/{SLASH_TAIL}"),
        expect=Expect(exit=3, error=("http://***@127.0.0.1:", "invalid URL")),
    ),
    # -- credentials per origin (item 5) --
    Fault(
        name="files-absolute-same-origin-auth",
        mode=Mode.PEP658_SHA256,
        middleware=_serve_page(lambda ctx: _tiny_page(ctx, "{url}", metadata=True),
                               auth=all_paths),
        expect=Expect(exit=0, pins=TINY_PIN),
        check=_all(_no_401, _strategy("metadata-pep658")),
    ),
    Fault(
        name="files-absolute-same-origin-auth-ranges",
        mode=Mode.NO_METADATA,
        middleware=_serve_page(lambda ctx: _tiny_page(ctx, "{url}"), auth=all_paths),
        expect=Expect(exit=0, pins=TINY_PIN),
        check=_all(_no_401, _strategy("metadata-range")),
    ),
    Fault(
        name="files-absolute-other-origin",
        mode=Mode.NO_METADATA,
        middleware=_serve_page(
            lambda ctx: _tiny_page(ctx, "{url}").replace(b"127.0.0.1", b"localhost"),
            auth=path_startswith("/simple/")),
        expect=Expect(exit=0, pins=TINY_PIN),
        check=_files_without_authorization,
    ),
    # -- Content-Encoding bombs (item 2) --
    Fault(
        name="page-gzip-stacked",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(Encoded, when=path_is(TINY_PAGE),
                                         body=_bomb(256 * MiB, 2), encoding="gzip, gzip",
                                         content_type="text/html")],
        trace_memory=True,
        lock_only=True,
        expect=Expect(exit=3, error=(TINY_PAGE, "refusing stacked Content-Encoding")),
        check=_memory_bounded(16 * MiB),
    ),
    Fault(
        name="metadata-gzip-stacked",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(Encoded, when=path_endswith(".metadata"),
                                         body=_bomb(256 * MiB, 2), encoding="gzip, gzip")],
        trace_memory=True,
        lock_only=True,
        expect=Expect(exit=0, pins=TINY_PIN, warning=(
            f"{TINY}.metadata is advertised but failed (refusing stacked Content-Encoding",
            "reading metadata from the wheels")),
        check=_all(_memory_bounded(16 * MiB), _strategy("metadata-range")),
    ),
    Fault(
        name="metadata-gzip-bomb",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(Encoded, when=path_endswith(".metadata"),
                                         body=_bomb(256 * MiB, 1), encoding="gzip")],
        trace_memory=True,
        lock_only=True,
        expect=Expect(exit=3, error=(f"{TINY}.metadata", "over the 16777216-byte cap")),
        check=_memory_bounded(40 * MiB),
    ),
    Fault(
        name="page-unknown-encoding",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(Encoded, when=path_is(TINY_PAGE), body=b"\x0b\x02",
                                         encoding="br", content_type="text/html")],
        expect=Expect(exit=3, error=(TINY_PAGE, "refusing unsupported Content-Encoding 'br'")),
    ),
    # -- deadlines (item 6) --
    Fault(
        name="trickling-page",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(Trickle, when=path_is(TINY_PAGE), interval=0.05,
                                         limit=6.0)],
        options={"request_deadline": 0.5, "retry_window": 1.0},
        lock_only=True,
        expect=Expect(exit=3, error=(TINY_PAGE, "over the 0.5 s deadline of one request")),
        check=_holds(lambda run: run.seconds < 3, "the deadline and retry window hold"),
    ),
    Fault(
        name="stalled-page-retry-window",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(Stall, when=path_is(TINY_PAGE), limit=10.0)],
        options={"retry_window": 0.2},
        args=("--timeout", "0.3"),
        lock_only=True,
        expect=Expect(exit=3, error=(TINY_PAGE, "server too slow")),
        check=_all(_holds(lambda run: run.installed[0].arrived == 1, "one attempt only"),
                   _holds(lambda run: run.seconds < 2, "no retry after the window")),
    ),
    # -- fallbacks that must be taken (item 12) --
    Fault(
        name="metadata-503-persistent",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(FailFirst, when=path_endswith(".metadata"),
                                         times=1000)],
        expect=Expect(exit=0, pins=TINY_PIN, warning=(
            f"{TINY}.metadata is advertised but failed (HTTP 503)",
            "reading metadata from the wheels")),
        check=_all(_path_attempts(f"{TINY_PATH}.metadata", 4), _strategy("metadata-range")),
    ),
    Fault(
        name="metadata-stall",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(CutBody, when=path_endswith(".metadata"), after=20,
                                         how="stall", seconds=5.0)],
        args=("--timeout", "0.3"),
        lock_only=True,
        expect=Expect(exit=0, pins=TINY_PIN, warning=(
            f"{TINY}.metadata is advertised but failed (server too slow",
            "reading metadata from the wheels")),
        check=_strategy("metadata-range"),
    ),
    Fault(
        name="metadata-html",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(Respond, when=path_endswith(".metadata"),
                                         headers=HTML_TYPE,
                                         body=b"<!DOCTYPE html><html>Sign in</html>")],
        expect=Expect(exit=0, pins=TINY_PIN, warning=(
            f"{TINY}.metadata is advertised but answers an HTML page (text/html)",)),
        check=_strategy("metadata-range"),
    ),
    Fault(
        name="metadata-html-as-text",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(Respond, when=path_endswith(".metadata"),
                                         headers={"Content-Type": "text/plain"},
                                         body=b"\n  <html><body>Sign in</body></html>")],
        expect=Expect(exit=0, pins=TINY_PIN, warning=(
            f"{TINY}.metadata is advertised but answers an HTML page, not metadata",)),
        check=_strategy("metadata-range"),
    ),
    Fault(
        name="javascript-link-first",
        mode=Mode.NO_METADATA,
        middleware=_serve_page(lambda ctx: _tiny_page(ctx, "javascript:alert(1)", "{url}")),
        expect=Expect(exit=0, pins=TINY_PIN),
        check=_strategy("metadata-range"),
    ),
    # -- the size the server shows wins over the index's (item 11) --
    Fault(
        name="size-contradicts-content-range",
        mode=Mode.NO_METADATA,
        middleware=lambda ctx: [partial(
            Respond, when=path_is(TINY_PAGE), headers=JSON_TYPE,
            body=json.dumps({"meta": {"api-version": "1.1"}, "name": "tiny", "files": [{
                "filename": TINY, "url": f"../../files/{TINY}", "size": 12345,
                "hashes": {"sha256": ctx.tree.file(TINY).sha256}}]}).encode())],
        expect=Expect(exit=0, pins=TINY_PIN, warning=(
            f"the index says {TINY} has 12345 bytes", "the lock records")),
        check=_all(_strategy("metadata-range"),
                   _lock_size(lambda ctx: ctx.tree.file(TINY).size)),
    ),
    # -- several indexes: a project comes from the first index that has it --
    Fault(
        name="extra-index-newer-version",
        mode=Mode.PEP658_SHA256,
        requirements=("alpha", "onlysecond"),
        more_args=lambda ctx: ("--extra-index-url", ctx.second_url),
        expect=Expect(exit=0, pins={**ALPHA_PINS, "onlysecond": "1.0"}),
        check=_first_index_wins,
    ),
    Fault(
        name="extra-index-merge-opt-in",
        mode=Mode.PEP658_SHA256,
        requirements=("alpha",),
        args=("--index-strategy", "merge"),
        more_args=lambda ctx: ("--extra-index-url", ctx.second_url),
        expect=Expect(exit=0, pins={"alpha": "9.0"}),
        check=_merged,
    ),
    # -- metadata content --
    *(
        Fault(
            name=f"invalid-{label}",
            mode=Mode.PEP658_TRUE,
            middleware=_serve_metadata(_metadata(line)),
            # Skipped with a warning, as pip does; tiny has no other version: impossible.
            expect=Expect(exit=1, error=("cannot be satisfied",),
                          warning=("ignoring tiny 1.0", f"invalid metadata in {TINY}", *words)),
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
        name="dependency-on-no-index",
        mode=Mode.PEP658_TRUE,
        middleware=_serve_metadata(_metadata("Requires-Dist: nosuchproject>=1")),
        expect=Expect(exit=1, error=("cannot be satisfied",)),
        check=_holds(lambda run: "  nosuchproject was not found on http://***@127.0.0.1:"
                     in run.err, "the explanation names the index, redacted"),
    ),
    Fault(
        name="invalid-version-field",
        mode=Mode.PEP658_TRUE,
        middleware=_serve_metadata(_metadata(version="1.0.x")),
        expect=Expect(exit=1, error=("cannot be satisfied",),
                      warning=("ignoring tiny 1.0", f"invalid metadata in {TINY}",
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
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No proxies; a netrc with a password for the test host; short backoff (conftest
    restores the ``skimlock`` logger)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy", "NO_PROXY", "no_proxy", "SKIMLOCK_INDEX_URL", "COLUMNS", "LINES"):
        monkeypatch.delenv(name, raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {NETRC_USER} password {NETRC_PASSWORD}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setattr(cli, "FetchOptions", partial(FetchOptions, backoff=0.01))


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
def second_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tree = write_graph(tmp_path_factory.mktemp("second"), SECOND_INDEX_DISTS,
                       mode=Mode.PEP658_SHA256)
    with serve_index(tree, fmt="html") as server:
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
    ctx.second.log.clear()
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
    # Cold runs: each command meets the fault itself (the on-disk cache has tests of its own).
    argv = ["-i", index, *LINUX, "--timeout", TIMEOUT, "--stats", str(stats), "--no-cache",
            *fault.args,
            *fault.more_args(ctx)]
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
    if run.command == "lock":  # resolve runs with -v: debug records may carry a traceback
        assert_no_traceback(run.out + run.err)
    errors = [line for line in run.err.splitlines() if line.startswith("error:")]
    if expect.exit == 0:
        assert errors == [], run.err
    else:
        assert len(errors) == 1, run.err
        (error,) = errors
        for word in expect.error:
            assert word in error, f"{word!r} not in {error!r}"
        lines = run.err.splitlines()
        after = lines[lines.index(error) + 1:]
        explanation = [line for line in after if line.startswith("  ")]
        # Only an impossible resolution explains itself on more (indented) lines.
        assert not explanation or expect.exit == 1, run.err
        if run.stats["requests"]:
            assert after[len(explanation)].startswith("failed: fetched "), run.err
        else:  # nothing was fetched (refused before any request): no bandwidth line
            assert after[len(explanation):] == [], run.err
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
        listed = {f.filename: f.sha256 for t in (run.ctx.tree, run.ctx.second.tree)
                  if t is not None for f in t.files}
        for package in lock.packages:
            assert package.index is not None
            assert "@" not in package.index
            for wheel in package.wheels or ():
                assert wheel.url is not None
                assert "@" not in wheel.url
                assert wheel.name is not None
                assert wheel.hashes == {"sha256": listed[wheel.name]}
    else:
        report = json.loads(run.written)
        assert report["version"] == "1"
        assert {i["metadata"]["name"].lower().replace("_", "-").replace(".", "-"):
                i["metadata"]["version"] for i in report["install"]} == dict(expect.pins)


@dataclass(frozen=True, kw_only=True, slots=True)
class Servers:
    faulty: Callable[[Mode, Format], FaultyServer]
    other: Server
    second: Server
    workdir: Path

    def ctx(self, fault: Fault) -> tuple[FaultyServer, Ctx]:
        faulty = self.faulty(fault.mode, fault.fmt)
        return faulty, Ctx(server=faulty.server, other=self.other, second=self.second,
                           workdir=self.workdir)


@pytest.fixture(scope="module")
def hosts(
    servers: Callable[[Mode, Format], FaultyServer],
    other_server: Server,
    second_index: Server,
    workdir: Path,
) -> Servers:
    return Servers(faulty=servers, other=other_server, second=second_index, workdir=workdir)


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault(
    name: str,
    hosts: Servers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fault = FAULTS[name]
    faulty, ctx = hosts.ctx(fault)
    commands = ("lock",) if fault.lock_only else ("lock", "resolve")
    for command in commands:
        run = run_fault(fault, command, faulty=faulty, ctx=ctx, monkeypatch=monkeypatch,
                        capsys=capsys, directory=tmp_path / command)
        assert_invariants(run, fault)
        if fault.check is not None:
            fault.check(run)


# --- Ctrl-C (issue 9, item 4) ------------------------------------------------------------------


def test_ctrl_c_while_a_request_stalls(hosts: Servers, tmp_path: Path) -> None:
    """A real ``python -m skimlock lock`` process, its page request held by the server: one
    SIGINT ends it with exit 130 within about a second, sends no other request, and leaves the
    old lock alone."""
    fault = Fault(name="ctrl-c", mode=Mode.PEP658_SHA256,
                  middleware=lambda _ctx: [partial(Stall, when=path_is(TINY_PAGE), limit=30.0)],
                  expect=Expect(exit=130))
    faulty, ctx = hosts.ctx(fault)
    (stall,) = _install(faulty, fault, ctx)
    (tmp_path / "out").mkdir()
    lock = tmp_path / "out" / "pylock.toml"
    lock.write_text(OLD_LOCK)
    source = Path(cli.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(source), *sys.path]),
           "NETRC": str(tmp_path / "no-netrc")}
    # A test run started in the background (``cmd &`` in a script) has SIGINT ignored, which
    # a child inherits and Python then keeps: spawn it from a handled (so, after exec, default)
    # disposition instead.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "skimlock", "lock", "-i", creds_url(ctx.server), *LINUX,
             "--timeout", "1", "-o", str(lock), "tiny"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        deadline = time.monotonic() + 20
        while stall.arrived == 0 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.01)
        assert stall.arrived == 1, "the page request never arrived"
        time.sleep(0.2)
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=20)
        elapsed = time.monotonic() - interrupted
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        faulty.switch.clear()
    assert process.returncode == 130, err
    assert elapsed < 1.5, f"SIGINT -> exit took {elapsed:.2f} s"
    assert "interrupted" in err
    assert_no_traceback(err)
    assert_no_secret("stderr", err)
    assert stall.arrived == 1, "a request was sent after the interrupt"
    assert ctx.server.log.matching("/files/") == ()
    assert lock.read_text() == OLD_LOCK
    assert sorted(p.name for p in lock.parent.iterdir()) == ["pylock.toml"]


# --- credentials reach the index, and only the index ----------------------------------------------


def _auth_run(
    hosts: Servers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *,
    required: str,
    netrc: str | None,
    url_credentials: bool,
) -> Run:
    """Lock tiny from an index that answers 401 without the ``required`` Authorization."""
    fault = Fault(
        name="auth",
        mode=Mode.PEP658_SHA256,
        middleware=lambda _ctx: [partial(RequireAuth, authorization=required)],
        url_credentials=url_credentials,
        expect=Expect(exit=0, pins=TINY_PIN),
    )
    path = tmp_path / "auth-netrc"
    if netrc is None:
        monkeypatch.setenv("NETRC", str(tmp_path / "no-such-netrc"))
    else:
        path.write_text(netrc)
        path.chmod(0o600)
        monkeypatch.setenv("NETRC", str(path))
    faulty, ctx = hosts.ctx(fault)
    run = run_fault(fault, "lock", faulty=faulty, ctx=ctx, monkeypatch=monkeypatch,
                    capsys=capsys, directory=tmp_path / "lock", url_credentials=url_credentials)
    assert_invariants(run, fault)
    return run


def test_url_credentials_reach_the_index(
    hosts: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    run = _auth_run(hosts, tmp_path, monkeypatch, capsys, required=basic(USER, PASSWORD),
                    netrc=None, url_credentials=True)
    assert all(e.status == 200 for e in run.ctx.server.log.entries)


def test_netrc_credentials_reach_the_index(
    hosts: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    run = _auth_run(hosts, tmp_path, monkeypatch, capsys,
                    required=basic(NETRC_USER, NETRC_PASSWORD),
                    netrc=f"machine 127.0.0.1 login {NETRC_USER} password {NETRC_PASSWORD}\n",
                    url_credentials=False)
    assert all(e.status == 200 for e in run.ctx.server.log.entries)


def test_url_credentials_with_an_unrelated_netrc(
    hosts: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _auth_run(hosts, tmp_path, monkeypatch, capsys, required=basic(USER, PASSWORD),
              netrc="machine pypi.example.org login someone password elsewhere\n",
              url_credentials=True)


def test_missing_credentials_are_a_clear_error(
    hosts: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    with pytest.raises(AssertionError, match="HTTP 401"):
        _auth_run(hosts, tmp_path, monkeypatch, capsys, required=basic("someone", "else"),
                  netrc=None, url_credentials=True)
    assert (tmp_path / "lock" / "pylock.toml").read_text() == OLD_LOCK


# --- the registry and its documentation ---------------------------------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs" / "FAULTS.md"
_ROW = re.compile(r"^\|\s*`([a-z0-9-]+)`\s*\|(.*)\|\s*$")


def _docs_rows() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            assert match[1] not in rows, f"{match[1]} is listed twice"
            rows[match[1]] = [cell.strip() for cell in match[2].split("|")]
    return rows


def test_docs_list_every_fault() -> None:
    """docs/FAULTS.md has one row per registered fault (and no other), with its exit code."""
    rows = _docs_rows()
    assert sorted(rows) == sorted(FAULTS)
    for name, cells in rows.items():
        fault = FAULTS[name]
        server, outcome, code, test = cells
        assert server, name
        assert outcome, name
        assert code == str(fault.expect.exit), f"{name}: exit {code} in the docs"
        assert f"test_fault[{name}]" in test, name


# --- properties of the sans-I/O parsers: only skimlock's own errors escape ----------------------
# (tests/test_simple.py, test_zipread.py and test_coremeta.py fuzz whole pages, whole wheels and
# whole METADATA; these add PEP 714 values against a model, file names, requirement lines, sparse
# feeds into the zip reader, and dependencies read from fuzzed Requires-Dist.)

PAGE_URL = "https://index.example/simple/demo/"
DEMO_WHEEL = "demo-1.0-py3-none-any.whl"
TARGET = Target.from_options(python_version="3.12", platforms=["manylinux_2_28_x86_64"],
                             implementation="cp")
_HEX_DIGITS = "0123456789abcdefABCDEF"
#: PEP 714 attribute values: the valid forms, near misses, and anything at all.
PEP714_VALUES = st.one_of(
    st.sampled_from(["true", "TRUE", " True ", "false", "", "sha256=", "=abc", "sha256=xyz",
                     "sha256=ABCDEF", "sha256 = abc", "md5=abc;sha256=def"]),
    st.builds(lambda a, d, pad: f"{pad}{a}={d}{pad}",
              st.sampled_from(["sha256", "SHA256", "sha512", "blake2b", "x-y_z", "sha 256"]),
              st.text(_HEX_DIGITS, min_size=1, max_size=16), st.sampled_from(["", " ", "\t"])),
    st.text(max_size=24),
)


def _pep714_model(value: str | None) -> CoreMetadata | None:
    """What PEP 658/714 say an HTML attribute value means (None: no usable metadata)."""
    if value is None:
        return None
    value = value.strip()
    name, equals, digest = value.partition("=")
    if (equals and name and re.fullmatch(r"[A-Za-z0-9_-]+", name)
            and digest and all(c in _HEX_DIGITS for c in digest)):
        return CoreMetadata(hashes={name.lower(): digest.lower()})
    return CoreMetadata() if value.lower() == "true" else None


@settings(max_examples=250, deadline=None)
@given(new=st.none() | PEP714_VALUES, legacy=st.none() | PEP714_VALUES,
       quote=st.sampled_from(['"', "'"]))
def test_pep714_html_attribute_values(new: str | None, legacy: str | None, quote: str) -> None:
    """The new attribute wins whenever present, even unusable; values mean what PEP 658 says."""
    attributes = [f'href="../../files/{DEMO_WHEEL}"']
    for key, value in (("data-dist-info-metadata", legacy), ("data-core-metadata", new)):
        if value is not None:
            attributes.append(f"{key}={quote}{html.escape(value, quote=True)}{quote}")
    body = f"<html><body><a {' '.join(attributes)}>{DEMO_WHEEL}</a></body></html>"
    page = parse_project_page(body.encode(), content_type="text/html", url=PAGE_URL,
                              name="demo")
    (file,) = page.files
    expected = _pep714_model(new if new is not None else legacy)
    assert file.core_metadata == expected


JSON_ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12)
    | st.text(_HEX_DIGITS, min_size=1, max_size=12),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=8) | st.sampled_from(["sha256", "SHA512"]), inner,
                      max_size=3),
    max_leaves=8,
)


def _pep714_json_model(value: object) -> CoreMetadata | None:
    if value is True:
        return CoreMetadata()
    if not isinstance(value, dict):
        return None
    return CoreMetadata(hashes={
        k.lower(): v.lower() for k, v in value.items()
        if isinstance(v, str) and v and all(c in _HEX_DIGITS for c in v)
    })


_MISSING = object()


@settings(max_examples=250, deadline=None)
@given(new=st.just(_MISSING) | JSON_ANY, legacy=st.just(_MISSING) | JSON_ANY)
def test_pep714_json_values(new: object, legacy: object) -> None:
    entry: dict[str, object] = {"filename": DEMO_WHEEL, "url": f"../../files/{DEMO_WHEEL}",
                                "hashes": {}}
    if new is not _MISSING:
        entry["core-metadata"] = new
    if legacy is not _MISSING:
        entry["dist-info-metadata"] = legacy
    content = json.dumps({"meta": {"api-version": "1.1"}, "name": "demo", "files": [entry]})
    page = parse_project_page(content.encode(), content_type=JSON_V1, url=PAGE_URL, name="demo")
    (file,) = page.files
    assert file.core_metadata == _pep714_json_model(new if new is not _MISSING else legacy)


_NAME_PARTS = st.sampled_from(["demo", "Demo", "de_mo", "demo.x", "other", "", "-", "demo-"])
_VERSION_PARTS = st.sampled_from(["1.0", "2.0rc1", "1!2.0", "1.0.post1", "1.0-1", "1..0", "x",
                                  "", "1.0+local", "٣"])
_TAG_PARTS = st.sampled_from(["py3-none-any", "cp312-cp312-manylinux_2_28_x86_64",
                              "cp312-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64",
                              "cp27-cp27mu-manylinux1_x86_64", "py3-none", "1-py3-none-any",
                              "x-py3-none-any", "py2.py3-none-any", "--"])
FILENAMES = st.one_of(
    st.builds(lambda n, v, t: f"{n}-{v}-{t}.whl", _NAME_PARTS, _VERSION_PARTS, _TAG_PARTS),
    st.builds(lambda n, v, ext: f"{n}-{v}{ext}", _NAME_PARTS, _VERSION_PARTS,
              st.sampled_from([".tar.gz", ".zip", ".tar.bz2", ".whl", ""])),
    st.text(max_size=30),
)
REQUIRES_PYTHON = st.none() | st.sampled_from([">=3.8", "<3", ">=3.x", "~=3", "", ">=3.13",
                                               "==3.12.*", ">=3.8,<4"]) | st.text(max_size=10)


@settings(max_examples=250, deadline=None)
@given(entries=st.lists(st.tuples(FILENAMES, REQUIRES_PYTHON, st.booleans()), max_size=8),
       specifier=st.sampled_from(["", ">=1", "==1.0", "<2", "===x", "!=1.0.*"]),
       pinned=st.booleans())
def test_candidates_from_arbitrary_file_names(
    entries: list[tuple[str, str | None, bool]], specifier: str, pinned: bool
) -> None:
    """Any file names and Requires-Python on a page: no error, and every candidate file is a
    wheel or sdist of this project, at that version, usable in the target."""
    files = tuple(
        IndexFile(filename=name, url=f"https://files.example/{index}", requires_python=rp,
                  yanked=yanked)
        for index, (name, rp, yanked) in enumerate(entries)
    )
    page = ProjectPage(name=canonicalize_name("demo"), url=PAGE_URL, api_version="1.1",
                       files=files)
    project = ProjectFiles(page, index_url="https://index.example/simple/")
    spec = SpecifierSet(specifier)
    for candidate in project.candidates(TARGET, specifier=spec, pinned=pinned):
        assert candidate.files
        assert spec.contains(candidate.version, prereleases=True)
        for file in candidate.files:
            if file.is_wheel:
                name, version, _build, tags = parse_wheel_filename(file.filename)
                assert TARGET.tag_rank(tags) is not None
            else:
                name, version = parse_sdist_filename(file.filename)
            assert canonicalize_name(name) == "demo"
            assert version == candidate.version
        assert project.usable(candidate.version, TARGET, allow_yanked=True)


REQUIREMENT_TEXT = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda name, extras, spec, marker: f"{name}{extras}{spec}{marker}",
        st.sampled_from(["demo", "Demo_X", "a.b", "-x", "1", "déjà", ""]),
        st.sampled_from(["", "[x]", "[x,y]", "[", "[]"]),
        st.sampled_from(["", ">=1", "==1.*", " (>=1)", "===x", ">=1.0.x", "~=1", "@ https://x"]),
        st.sampled_from(["", '; python_version >= "3"', "; os_nam == 'x'", '; extra == "a"',
                         "; python_version ~= 'abc'", ";"]),
    ),
)


@settings(max_examples=250, deadline=None)
@given(texts=st.lists(REQUIREMENT_TEXT, min_size=1, max_size=3))
def test_requirement_arguments_raise_only_input_errors(texts: list[str]) -> None:
    with contextlib.suppress(InputError):
        inputs = collect_inputs(requirements=texts)
        assert len(inputs.requirements) == len(texts)


REQUIREMENT_FILE_LINES = st.lists(
    REQUIREMENT_TEXT | st.sampled_from([
        "-r other.txt", "-c c.txt", "--index-url https://x/simple", "-i", "--pre",
        "--only-binary :all:", "--no-binary", "--hash=sha256:00", "-e .", "\\", "# comment",
        "${NOT_SET}", "--trusted-host", "--extra-index-url=https://u:p@x/simple",
    ]),
    max_size=6,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=REQUIREMENT_FILE_LINES, newline=st.sampled_from(["\n", "\r\n"]),
       raw=st.none() | st.binary(max_size=40))
def test_requirement_files_raise_only_input_errors(
    lines: list[str], newline: str, raw: bytes | None
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "requirements.txt"
        path.write_bytes(raw if raw is not None else newline.join(lines).encode("utf-8",
                                                                                 "surrogatepass"))
        with contextlib.suppress(InputError):
            collect_inputs(requirement_files=[path])
        with contextlib.suppress(InputError):
            collect_inputs(constraint_files=[path])


_SMALL_WHEEL_BYTES: bytes | None = None


def _small_wheel() -> bytes:
    global _SMALL_WHEEL_BYTES  # noqa: PLW0603 -- built once, lazily
    if _SMALL_WHEEL_BYTES is None:
        with tempfile.TemporaryDirectory() as directory:
            path = build_wheel(Path(directory), "demo", "1.0", padding_files=40)
            _SMALL_WHEEL_BYTES = path.read_bytes()
    return _SMALL_WHEEL_BYTES


@settings(max_examples=250, deadline=None)
@given(
    feeds=st.lists(
        st.tuples(st.integers(0, 6000), st.integers(0, 3000), st.booleans(), st.integers(0, 255)),
        min_size=1, max_size=6,
    ),
    size_delta=st.just(0) | st.integers(-200, 200),
)
def test_sparse_feeds_raise_only_wheel_errors(
    feeds: list[tuple[int, int, bool, int]], size_delta: int
) -> None:
    """Feed a MetadataLocator spans of a real wheel (or garbage) at arbitrary offsets, with a
    size that may be wrong, and follow its plan: only WheelError, and spans stay in the file."""
    wheel = _small_wheel()
    size = max(0, len(wheel) + size_delta)
    try:
        locator = MetadataLocator(filename=DEMO_WHEEL, size=size)
        for offset, length, real, byte in feeds:
            start = min(offset, size)
            end = min(size, start + length)
            data = wheel[start:end] if real else bytes([byte]) * (end - start)
            locator.feed(start, data)
            for _ in range(MAX_ROUNDS + 1):
                span = locator.next_span()
                if span is None:
                    break
                assert 0 <= span.start < span.end <= size
                locator.feed(span.start, wheel[span.start:span.end].ljust(span.length, b"\0"))
            else:
                pytest.fail("next_span did not stop after MAX_ROUNDS")
        data = locator.metadata()
        event("read METADATA")
        assert data.startswith(b"Metadata-Version")
    except WheelError as exc:
        event("WheelError")
        assert str(exc)  # noqa: PT017 -- any WheelError is a pass; it must have a message


class _StubFetcher:
    """Stands in for the fetch layer: hands out one parsed METADATA."""

    def __init__(self, fetched: FetchedMetadata) -> None:
        self.fetched = fetched

    def metadata(self, _file: IndexFile) -> FetchedMetadata:
        return self.fetched


REQUIRES_DIST = st.one_of(
    REQUIREMENT_TEXT,
    st.builds(lambda var, op, value: f'beta; {var} {op} "{value}"',
              st.sampled_from(["python_version", "python_full_version", "sys_platform",
                               "extra", "platform_release", "implementation_version"]),
              st.sampled_from(["==", "~=", "<", "===", "in", "not in", "!="]),
              st.sampled_from(["3.12", "abc", "", "3.*", "linux", "1!2", "fast"])),
)


@settings(max_examples=250, deadline=None)
@given(lines=st.lists(REQUIRES_DIST, max_size=4),
       extras=st.sampled_from([frozenset(), frozenset({"fast"})]))
def test_fuzzed_requires_dist_gives_dependencies_or_a_metadata_error(
    lines: list[str], extras: frozenset[NormalizedName]
) -> None:
    """Whatever Requires-Dist says, parsing it and turning it into the resolver's dependencies
    either works or raises InvalidMetadataError naming the file; nothing else escapes."""
    metadata = ("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nProvides-Extra: fast\n"
                + "".join(f"Requires-Dist: {line}\n" for line in lines
                          if "\n" not in line and "\r" not in line)).encode()
    try:
        parsed = parse_metadata(metadata, filename=DEMO_WHEEL)
        file = IndexFile(filename=DEMO_WHEEL, url=f"https://files.example/{DEMO_WHEEL}")
        fetched = FetchedMetadata(
            file=file, data=metadata, metadata=parsed,
            source=MetadataSource(filename=DEMO_WHEEL, category=Category.METADATA_PEP658,
                                  file_size=None, spent_bytes=0, requests=1,
                                  metadata_bytes=len(metadata)),
        )
        stub: Any = _StubFetcher(fetched)
        provider = Provider(indexes=Indexes(stub, ()), target=TARGET, prefetch=False)
        candidate = Candidate(name=canonicalize_name("demo"), version=Version("1.0"),
                              files=(file,), index_url="https://index.example/simple/")
        deps = list(provider.get_dependencies(ResolverCandidate(candidate=candidate,
                                                                extras=extras)))
    except (InvalidMetadataError, MetadataMismatchError) as exc:
        event(f"{type(exc).__name__}")
        assert DEMO_WHEEL in str(exc)  # noqa: PT017 -- the error names the file
        assert "\n" not in str(exc)  # noqa: PT017
    else:
        event(f"{len(deps)} dependencies")
        for dep in deps:
            assert isinstance(dep.specifier, SpecifierSet)


def test_metadata_command_keeps_credentials_out(
    hosts: Servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """``skimlock metadata``: the JSON names the file URL without credentials, and so does the
    error for a version without a usable file (gamma 1.0 has a cp27 wheel only)."""
    fault = Fault(name="metadata-command", mode=Mode.PEP658_SHA256, expect=Expect(exit=0))
    faulty, ctx = hosts.ctx(fault)
    _install(faulty, fault, ctx)
    index = creds_url(ctx.server)
    assert cli.main(["metadata", "tiny", "--json", "-i", index, *LINUX]) == 0
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert document["url"] == ctx.server.file_url(TINY).replace("http://", "http://***@")
    assert cli.main(["metadata", "gamma==1.0", "-i", index, *LINUX]) == 1
    out2, err2 = capsys.readouterr()
    assert "no file on http://***@127.0.0.1:" in err2
    for what, text in (("stdout", out + out2), ("stderr", err + err2)):
        assert_no_secret(what, text)
        assert_no_traceback(text)
