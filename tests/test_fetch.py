"""The fetch layer against real HTTP servers on loopback (no mocks).

Every strategy (PEP 658, ranges, whole download) for every index mode and page format, checked
byte for byte against the built distributions and against the server's own request log; learning
per project, concurrency and memoization; and faults injected with :mod:`index.faults`, each of
which must end in a fallback or one clear :class:`~skimlock.errors.SkimlockError`.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
import random
import socket
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import wait
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from index import DistSet
from index.faults import (
    Delay,
    Encoded,
    FailFirst,
    GzipRanges,
    RangeLiar,
    RefuseSuffixRanges,
    Respond,
    ServeFile,
    gzip_bomb,
    is_file,
    path_endswith,
    path_is,
)
from index.server import (
    HTML_LEGACY,
    JSON_V1,
    Format,
    LoggedRequest,
    Middleware,
    Server,
    serve_index,
)
from index.thirdparty import ThirdPartyServer
from index.tree import IndexTree, Mode, write_index
from index.wheels import build_wheel, wheel_filename
from skimlock.errors import (
    ApiVersionError,
    BodyTooLargeError,
    ContentEncodingError,
    DynamicMetadataError,
    FetchError,
    HashMismatchError,
    HTTPStatusError,
    IndexPageError,
    InsecureIndexError,
    SkimlockError,
    WheelError,
)
from skimlock.fetch import FetchedMetadata, Fetcher, FetchOptions
from skimlock.simple import IndexFile, ProjectPage
from skimlock.stats import Category, Stats, Summary

MakeIndex = Callable[..., Server]
MakeTree = Callable[[Mode], IndexTree]

PEP658_MODES = (Mode.PEP658_SHA256, Mode.PEP658_TRUE, Mode.LEGACY_ONLY, Mode.BOTH_KEYS_DIFFER)
DEFAULT_TAIL = FetchOptions().initial_tail
TINY = wheel_filename("tiny", "1.0")
ALPHA_1 = wheel_filename("alpha", "1.0")
ALPHA_2 = wheel_filename("alpha", "2.0")
FAST = {"retries": 1, "backoff": 0.01}


# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def fetch_warnings() -> Iterator[list[str]]:
    """Warnings logged by skimlock.fetch (a handler on that logger: independent of propagation
    settings another test's CLI run may have left on the ``skimlock`` logger)."""
    messages: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                messages.append(record.getMessage())

    handler = _Collect()
    log = logging.getLogger("skimlock.fetch")
    old_level = log.level
    log.addHandler(handler)
    log.setLevel(logging.WARNING)
    try:
        yield messages
    finally:
        log.removeHandler(handler)
        log.setLevel(old_level)


def new_fetcher(client: httpx.Client, **options: Any) -> Fetcher:
    return Fetcher(client, stats=Stats(), options=FetchOptions(**options))


def page_of(fetcher: Fetcher, server: Server | ThirdPartyServer, project: str) -> ProjectPage:
    page = fetcher.page(server.simple_url, project)
    assert page is not None, f"{project} missing on {server.simple_url}"
    return page


def file_of(page: ProjectPage, filename: str) -> IndexFile:
    for file in page.files:
        if file.filename == filename:
            return file
    raise AssertionError(f"{filename} not on {page.url}: {[f.filename for f in page.files]}")


def fetch_file(fetcher: Fetcher, server: Server, filename: str) -> FetchedMetadata:
    project = filename.split("-", 1)[0]
    return fetcher.metadata(file_of(page_of(fetcher, server, project), filename))


def assert_one_line(error: BaseException, *needles: str) -> None:
    """A skimlock error whose message is one non-empty line naming every needle."""
    assert isinstance(error, SkimlockError)
    text = str(error)
    assert text, "empty error message"
    assert "\n" not in text, text
    assert "\r" not in text, text
    for needle in needles:
        assert needle in text, f"{needle!r} not in {text!r}"


def server_category(entry: LoggedRequest) -> Category:
    """What skimlock should have counted this request as, judged from the server side."""
    if entry.path.startswith("/simple/"):
        return Category.INDEX_PAGE
    if entry.path.endswith(".metadata"):
        return Category.METADATA_PEP658
    if entry.path.endswith((".tar.gz", ".zip")) and entry.range is None:
        return Category.METADATA_SDIST  # an sdist read until its PKG-INFO
    if entry.status == 200:
        return Category.FULL_DOWNLOAD  # a whole body, asked for or not
    return Category.METADATA_RANGE if entry.range is not None else Category.FULL_DOWNLOAD


def settle(server: Server, count: int) -> None:
    """Wait (briefly) until the server has logged ``count`` requests: an answer the client
    closes unread (an error status) can reach the client before the server logs it."""
    deadline = time.monotonic() + 2.0
    while len(server.log) < count and time.monotonic() < deadline:
        time.sleep(0.005)


def assert_log_agrees(server: Server, summary: Summary, *, check_bytes: bool = True) -> None:
    """The server's request log and skimlock's Stats tell the same story, per category: the
    same requests, and the same body bytes for 2xx answers (an error body is not read, so the
    client never counts it; ``check_bytes=False`` when a 2xx answer is rejected unread)."""
    settle(server, summary.requests)
    server_side: dict[Category, list[int]] = {}
    for entry in server.log.entries:
        totals = server_side.setdefault(server_category(entry), [0, 0])
        totals[0] += 1
        totals[1] += entry.body_bytes if entry.status in (200, 206) else 0
    ours: dict[Category, list[int]] = {}
    for record in summary.records:
        totals = ours.setdefault(record.category, [0, 0])
        totals[0] += 1
        totals[1] += record.body_bytes if record.status in (200, 206) else 0
    if not check_bytes:
        server_side = {cat: [n, 0] for cat, (n, _) in server_side.items()}
        ours = {cat: [n, 0] for cat, (n, _) in ours.items()}
    assert ours == server_side
    assert summary.requests == len(server.log)
    assert {
        c: [t.requests, t.body_bytes] for c, t in summary.by_category.items() if t.requests
    } == {
        c: [n, sum(r.body_bytes for r in summary.records if r.category is c)]
        for c, (n, _) in ours.items()
    }


def requests_for(server: Server, filename: str) -> list[LoggedRequest]:
    """Server log entries for the file itself (not its ``.metadata``)."""
    return [e for e in server.log.entries if e.path == f"/files/{filename}"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def metadata_tail(path: Path) -> int:
    """Bytes from the METADATA local header to the end of the wheel: what a suffix must hold."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(".dist-info/METADATA"))
        return path.stat().st_size - info.header_offset


@pytest.fixture
def fault_server(make_tree: MakeTree) -> Iterator[Callable[..., Server]]:
    """Start a server over a standard tree with fault middlewares; all stop after the test."""
    with ExitStack() as stack:

        def start(mode: Mode, *middleware: Middleware, fmt: Format = "html") -> Server:
            return stack.enter_context(
                serve_index(make_tree(mode), fmt=fmt, middleware=list(middleware))
            )

        yield start


# -- every mode and format: bytes, strategy, stats, server log ------------------------------------


MATRIX = [
    pytest.param(mode, fmt, id=f"{mode.value}-{fmt}") for mode in Mode for fmt in ("html", "json")
]


@pytest.mark.parametrize(("mode", "fmt"), MATRIX)
def test_every_file_every_mode(
    make_index: MakeIndex, dist_set: DistSet, http_client: httpx.Client, mode: Mode, fmt: str
) -> None:
    server = make_index(mode, fmt)
    server.log.clear()
    fetcher = new_fetcher(http_client)
    obtained: dict[str, FetchedMetadata] = {}
    refused: dict[str, WheelError | DynamicMetadataError] = {}
    pages = 0
    first_wheels: set[str] = set()
    for project in dist_set.projects():
        page = page_of(fetcher, server, project)
        pages += 1
        first_wheels.update([f.filename for f in page.files if f.is_wheel][:1])
        for file in page.files:
            try:
                obtained[file.filename] = fetcher.metadata(file)
            except (WheelError, DynamicMetadataError) as exc:
                refused[file.filename] = exc
    fetcher.close()

    sdists = {d.filename for d in dist_set.dists if d.spec.kind == "sdist"}
    wheels = {d.filename for d in dist_set.dists if d.spec.kind == "wheel"}
    if mode.serves_metadata:
        assert set(obtained) == wheels | sdists  # sdists through their served .metadata
        assert refused == {}
    else:
        assert set(obtained) == wheels
        assert set(refused) == sdists
        for filename, error in refused.items():
            # the test sdists' PKG-INFO is Metadata-Version 2.1: not static (PEP 643)
            assert isinstance(error, DynamicMetadataError)
            assert_one_line(error, filename, "older than 2.2")
            assert len(requests_for(server, filename)) == 1  # one GET, read until PKG-INFO

    for filename, fetched in obtained.items():
        dist = dist_set.get(filename)
        source = fetched.source
        assert fetched.data == dist.metadata, filename  # byte-identical
        assert fetched.metadata.name == dist.spec.name
        assert str(fetched.metadata.version) == dist.spec.version
        assert source.filename == filename
        assert source.metadata_bytes == len(dist.metadata)
        if mode.serves_metadata:
            assert source.category is Category.METADATA_PEP658, filename
            assert source.requests == 1
            assert source.spent_bytes == len(dist.metadata)
            assert requests_for(server, filename) == []  # the distribution itself: untouched
            # PEP 700 size comes with JSON pages only; HTML pages here carry none.
            assert source.file_size == (dist.size if fmt == "json" else None)
        elif mode is Mode.NO_METADATA:
            assert source.category is Category.METADATA_RANGE, filename
            assert source.file_size == dist.size  # from Content-Range in either format
            entries = requests_for(server, filename)
            assert len(entries) == source.requests
            assert all(e.status == 206 for e in entries)
            if filename in first_wheels:
                # The project's first wheel: the default suffix (later ones use what was learned).
                default = min(DEFAULT_TAIL, dist.size) if fmt == "json" else DEFAULT_TAIL
                assert entries[0].range == f"bytes=-{default}", filename
            if dist.spec.name == "bigdir":
                assert source.requests in (2, 3)
                assert source.spent_bytes < dist.size / 2
            else:
                assert source.requests == 1, filename
            if dist.spec.name == "bigfile":
                assert source.spent_bytes <= 64 * 1024 < dist.size // 40
            assert source.spent_bytes == sum(e.body_bytes for e in entries)
        else:
            assert source.category is Category.FULL_DOWNLOAD, filename
            assert source.requests == 1
            assert source.spent_bytes == dist.size
            assert source.file_size == dist.size

    summary = fetcher.stats.summary()
    assert summary.by_category[Category.INDEX_PAGE].requests == pages
    assert len(summary.files) == len(obtained)
    skimmed = [
        f.source
        for f in obtained.values()
        if f.source.category is not Category.FULL_DOWNLOAD and f.source.file_size is not None
    ]
    assert summary.wheel_bytes == sum(s.file_size or 0 for s in skimmed)
    assert summary.bytes_not_downloaded == summary.wheel_bytes - sum(s.spent_bytes for s in skimmed)
    if mode is Mode.NO_RANGES:
        assert summary.wheel_bytes == 0  # nothing was skimmed
        full = summary.by_category[Category.FULL_DOWNLOAD]
        assert full.requests == len(wheels)
        assert full.body_bytes == sum(dist_set.get(w).size for w in wheels)
    if mode is Mode.NO_METADATA:
        assert summary.bytes_not_downloaded > 3_000_000  # bigfile and bigdir were skimmed
    assert_log_agrees(server, summary)


# -- interop with third-party servers -----------------------------------------------------------


@pytest.mark.interop
def test_simple_repository_server_metadata(
    simple_repository_server: ThirdPartyServer, dist_set: DistSet, http_client: httpx.Client
) -> None:
    fetcher = new_fetcher(http_client)
    for name, version in [("alpha", "2.0"), ("bigdir", "1.0"), ("Mixed_Case.Name", "1.0")]:
        dist = dist_set.find(name, version)
        page = page_of(fetcher, simple_repository_server, name)
        file = file_of(page, dist.filename)
        assert file.core_metadata is not None  # "true": served, no hash
        fetched = fetcher.metadata(file)
        assert fetched.data == dist.metadata
        assert fetched.source.category is Category.METADATA_PEP658
        assert fetched.source.requests == 1
    assert fetcher.stats.summary().by_category[Category.FULL_DOWNLOAD].requests == 0


@pytest.mark.interop
def test_pypiserver_metadata_by_ranges(
    pypiserver: ThirdPartyServer, dist_set: DistSet, http_client: httpx.Client
) -> None:
    fetcher = new_fetcher(http_client)
    for name, version in [("alpha", "2.0"), ("bigdir", "1.0"), ("bigfile", "1.0")]:
        dist = dist_set.find(name, version)
        file = file_of(page_of(fetcher, pypiserver, name), dist.filename)
        assert file.core_metadata is None
        fetched = fetcher.metadata(file)
        assert fetched.data == dist.metadata
        assert fetched.source.category is Category.METADATA_RANGE
        assert fetched.source.file_size == dist.size
        assert fetched.source.requests <= 3
    big = dist_set.find("bigfile", "1.0")
    summary = fetcher.stats.summary()
    assert summary.by_category[Category.FULL_DOWNLOAD].requests == 0
    assert summary.bytes_not_downloaded > big.size - 64 * 1024
    sdist = file_of(
        page_of(fetcher, pypiserver, "alpha"), dist_set.find("alpha", "2.0", "sdist").filename
    )
    with pytest.raises(DynamicMetadataError) as info:
        fetcher.metadata(sdist)
    assert_one_line(info.value, sdist.filename)


# -- learning, concurrency, memo ------------------------------------------------------------------


def test_second_version_uses_the_learned_tail(
    make_index: MakeIndex, dist_set: DistSet, http_client: httpx.Client
) -> None:
    server = make_index(Mode.NO_METADATA, "html")
    server.log.clear()
    fetcher = new_fetcher(http_client)
    first = fetch_file(fetcher, server, ALPHA_1)
    second = fetch_file(fetcher, server, ALPHA_2)
    assert first.data == dist_set.metadata(ALPHA_1)
    assert second.data == dist_set.metadata(ALPHA_2)
    assert requests_for(server, ALPHA_1)[0].range == f"bytes=-{DEFAULT_TAIL}"
    ranges = [e.range for e in requests_for(server, ALPHA_2)]
    assert len(ranges) == 1
    assert ranges[0] is not None
    assert ranges[0] != f"bytes=-{DEFAULT_TAIL}"
    assert ranges[0].startswith("bytes=-")
    assert int(ranges[0].removeprefix("bytes=-")) >= metadata_tail(dist_set.get(ALPHA_1).path)


@pytest.fixture(scope="module")
def wide_tree(tmp_path_factory: pytest.TempPathFactory) -> IndexTree:
    """Two versions of a wheel whose central directory is bigger than the default tail."""
    root = tmp_path_factory.mktemp("wide")
    dists = [build_wheel(root / "dists", "wide", v, padding_files=400) for v in ("1.0", "1.1")]
    return write_index(root / "tree", dists, mode=Mode.NO_METADATA)


def test_learned_tail_saves_a_round_trip(wide_tree: IndexTree, http_client: httpx.Client) -> None:
    with serve_index(wide_tree, fmt="json") as server:
        fetcher = new_fetcher(http_client)
        page = page_of(fetcher, server, "wide")
        first_file, second_file = sorted(page.files, key=lambda f: f.filename)
        first = fetcher.metadata(first_file)
        second = fetcher.metadata(second_file)
    tail = metadata_tail(wide_tree.file(first_file.filename).path)
    assert tail > DEFAULT_TAIL  # the default suffix cannot be enough
    assert first.source.requests >= 2
    assert second.source.requests == 1
    assert first.data == wide_tree.metadata(first_file.filename)
    assert second.data == wide_tree.metadata(second_file.filename)
    (entry,) = requests_for(server, second_file.filename)
    assert entry.range is not None
    assert int(entry.range.removeprefix("bytes=-")) >= tail


def test_concurrent_submissions(
    make_index: MakeIndex, dist_set: DistSet, http_client: httpx.Client
) -> None:
    server = make_index(Mode.NO_METADATA, "json")
    server.log.clear()
    fetcher = new_fetcher(http_client, max_in_flight=8)
    page_futures = [fetcher.submit_page(server.simple_url, p) for p in dist_set.projects()]
    pages = [future.result() for future in page_futures]
    files = [f for page in pages if page is not None for f in page.files if f.is_wheel]
    assert len(files) == sum(1 for d in dist_set.dists if d.spec.kind == "wheel")
    futures = [fetcher.submit_metadata(f) for f in files]
    done, pending = wait(futures, timeout=30)
    assert not pending
    for file, future in zip(files, futures, strict=True):
        assert future.result().data == dist_set.metadata(file.filename)
        assert future.result().source.category is Category.METADATA_RANGE
    fetcher.close()
    assert len(done) == len(files)
    assert_log_agrees(server, fetcher.stats.summary())


def test_memo_fetches_each_url_once(
    make_index: MakeIndex, dist_set: DistSet, http_client: httpx.Client
) -> None:
    server = make_index(Mode.NO_METADATA, "html")
    server.log.clear()
    fetcher = new_fetcher(http_client)
    page = page_of(fetcher, server, "tiny")
    assert fetcher.page(server.simple_url, "tiny") is page
    assert fetcher.page(server.simple_url, "TINY") is page  # same normalized URL
    file = file_of(page, TINY)
    one, two = fetcher.submit_metadata(file), fetcher.submit_metadata(file)
    assert one is two
    assert fetcher.metadata(file) is one.result()
    assert one.result().data == dist_set.metadata(TINY)
    assert len(requests_for(server, TINY)) == 1
    assert len(server.log.matching("/simple/")) == 1
    assert len(fetcher.stats.summary().files) == 1


# -- bad pages ------------------------------------------------------------------------------------

ALPHA_PAGE = path_is("/simple/alpha/")
HTML_TYPE = {"Content-Type": "text/html; charset=utf-8"}
JSON_TYPE = {"Content-Type": JSON_V1}


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        pytest.param(b"<html>\xff\xfe<a href='x.whl'>", HTML_TYPE, (IndexPageError, "utf-8"),
                     id="html-not-utf8"),
        pytest.param(b'{"meta": {"api-version": "1.1"}, "files": [', JSON_TYPE, (IndexPageError,
                     "invalid JSON"), id="json-truncated"),
        pytest.param(b'{"meta": {"api-version": "1.1"}, "files": {}}', JSON_TYPE, (IndexPageError,
                     "files"), id="json-files-not-a-list"),
        pytest.param(b"[1, 2]", JSON_TYPE, (IndexPageError, "not an object"), id="json-array"),
        pytest.param(b"\x00\x01", {"Content-Type": "application/octet-stream"}, (IndexPageError,
                     "content type"), id="unknown-content-type"),
        pytest.param(b'<meta name="pypi:repository-version" content="2.0">', {
            "Content-Type": HTML_LEGACY}, (ApiVersionError, "2.0"), id="html-api-2"),
        pytest.param(b'{"meta": {"api-version": "2.0"}, "name": "alpha", "files": []}',
                     JSON_TYPE, (ApiVersionError, "2.0"), id="json-api-2"),
        pytest.param(b"busy", {}, (HTTPStatusError, "HTTP 500"), id="http-500"),
    ],
)  # fmt: skip
def test_bad_pages_are_clear_errors(
    fault_server: Callable[..., Server],
    http_client: httpx.Client,
    body: bytes,
    headers: dict[str, str],
    expected: tuple[type[SkimlockError], str],
) -> None:
    error, needle = expected
    status = 500 if error is HTTPStatusError else 200
    server = fault_server(
        Mode.PEP658_SHA256,
        partial(Respond, when=ALPHA_PAGE, status=status, body=body, headers=headers),
    )
    fetcher = new_fetcher(http_client, retries=0)
    with pytest.raises(error) as info:
        fetcher.page(server.simple_url, "alpha")
    assert_one_line(info.value, server.project_url("alpha"), needle)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param(b"<!DOCTYPE html><html><body></body></html>", HTML_TYPE, id="html"),
        pytest.param(b'{"meta": {"api-version": "1.1"}, "name": "alpha", "files": []}',
                     JSON_TYPE, id="json"),
    ],
)  # fmt: skip
def test_page_without_files_is_valid(
    fault_server: Callable[..., Server], http_client: httpx.Client, body: bytes,
    headers: dict[str, str],
) -> None:  # fmt: skip
    server = fault_server(
        Mode.PEP658_SHA256, partial(Respond, when=ALPHA_PAGE, body=body, headers=headers)
    )
    page = new_fetcher(http_client).page(server.simple_url, "alpha")
    assert page is not None
    assert page.files == ()
    assert page.name == "alpha"


def test_tag_soup_keeps_the_complete_anchors(
    fault_server: Callable[..., Server], dist_set: DistSet, http_client: httpx.Client
) -> None:
    good = dist_set.find("alpha", "1.0")
    body = (
        f'<html><body><a href="../../files/{good.filename}#sha256={good.sha256}">'
        f"{good.filename}</a><br><a href=<<<>>></a><a href='../../files/alpha-2.0-py3"
    ).encode()
    server = fault_server(
        Mode.NO_METADATA, partial(Respond, when=ALPHA_PAGE, body=body, headers=HTML_TYPE)
    )
    fetcher = new_fetcher(http_client)
    page = page_of(fetcher, server, "alpha")
    assert good.filename in [f.filename for f in page.files]
    assert fetcher.metadata(file_of(page, good.filename)).data == good.metadata


def test_missing_project_is_none(make_index: MakeIndex, http_client: httpx.Client) -> None:
    server = make_index(Mode.PEP658_SHA256, "html")
    assert new_fetcher(http_client).page(server.simple_url, "no-such-project") is None


# -- bad wheels and metadata ----------------------------------------------------------------------


def test_corrupt_zip_is_a_wheel_error(
    fault_server: Callable[..., Server], tmp_path: Path, http_client: httpx.Client
) -> None:
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(random.Random(1).randbytes(5000))
    server = fault_server(
        Mode.NO_METADATA, partial(ServeFile, when=path_is(f"/files/{TINY}"), source=garbage)
    )
    with pytest.raises(WheelError) as info:
        fetch_file(new_fetcher(http_client), server, TINY)
    assert_one_line(info.value, TINY)


def test_truncated_zip_is_a_wheel_error(
    fault_server: Callable[..., Server], dist_set: DistSet, tmp_path: Path,
    http_client: httpx.Client,
) -> None:  # fmt: skip
    half = tmp_path / "half.whl"
    half.write_bytes(dist_set.get(TINY).path.read_bytes()[:600])
    server = fault_server(
        Mode.NO_METADATA, partial(ServeFile, when=path_is(f"/files/{TINY}"), source=half)
    )
    with pytest.raises(WheelError) as info:
        fetch_file(new_fetcher(http_client), server, TINY)
    assert_one_line(info.value, TINY)


def test_wheel_without_metadata(
    fault_server: Callable[..., Server], tmp_path: Path, http_client: httpx.Client
) -> None:
    hollow = tmp_path / TINY
    with zipfile.ZipFile(hollow, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("tiny/__init__.py", "")
        archive.writestr("tiny-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
        archive.writestr("tiny-1.0.dist-info/RECORD", "")
    server = fault_server(
        Mode.NO_METADATA, partial(ServeFile, when=path_is(f"/files/{TINY}"), source=hollow)
    )
    with pytest.raises(WheelError) as info:
        fetch_file(new_fetcher(http_client), server, TINY)
    assert_one_line(info.value, TINY, "METADATA")


def test_whole_download_with_wrong_bytes_is_a_hash_mismatch(
    fault_server: Callable[..., Server], dist_set: DistSet, http_client: httpx.Client
) -> None:
    garbage = b"not the wheel you are looking for"
    server = fault_server(
        Mode.NO_RANGES, partial(Respond, when=path_is(f"/files/{TINY}"), body=garbage)
    )
    with pytest.raises(HashMismatchError) as info:
        fetch_file(new_fetcher(http_client), server, TINY)
    err = info.value
    assert err.algorithm == "sha256"
    assert err.expected == dist_set.get(TINY).sha256
    assert err.actual == hashlib.sha256(garbage).hexdigest()
    assert_one_line(err, server.file_url(TINY), err.expected, err.actual)


@pytest.mark.parametrize("mode", [Mode.PEP658_SHA256, Mode.NO_METADATA, Mode.NO_RANGES])
def test_metadata_over_the_cap(
    make_index: MakeIndex, http_client: httpx.Client, dist_set: DistSet, mode: Mode
) -> None:
    server = make_index(mode, "html")
    cap = len(dist_set.metadata(ALPHA_2)) - 1
    fetcher = new_fetcher(http_client, max_metadata=cap)
    with pytest.raises(SkimlockError) as info:
        fetch_file(fetcher, server, ALPHA_2)
    if mode is Mode.PEP658_SHA256:
        assert isinstance(info.value, FetchError)
        assert_one_line(info.value, server.file_url(ALPHA_2) + ".metadata", str(cap))
    else:
        assert isinstance(info.value, WheelError)
        assert_one_line(info.value, ALPHA_2)
    # Under the cap, the same fetcher settings work.
    ok = new_fetcher(http_client, max_metadata=cap + 1)
    assert fetch_file(ok, server, ALPHA_2).data == dist_set.metadata(ALPHA_2)


def test_metadata_hash_mismatch(
    fault_server: Callable[..., Server], make_tree: MakeTree, http_client: httpx.Client
) -> None:
    wrong = b"Metadata-Version: 2.1\nName: tiny\nVersion: 1.0\nSummary: evil\n"
    server = fault_server(
        Mode.PEP658_SHA256,
        partial(Respond, when=path_is(f"/files/{TINY}.metadata"), body=wrong),
    )
    with pytest.raises(HashMismatchError) as info:
        fetch_file(new_fetcher(http_client), server, TINY)
    err = info.value
    expected = make_tree(Mode.PEP658_SHA256).file(TINY).metadata_sha256
    actual = hashlib.sha256(wrong).hexdigest()
    assert (err.algorithm, err.expected, err.actual) == ("sha256", expected, actual)
    assert err.url == server.file_url(TINY) + ".metadata"
    assert_one_line(err, err.url, "sha256", expected, actual)


def test_advertised_metadata_missing_falls_back_to_ranges(
    fault_server: Callable[..., Server],
    dist_set: DistSet,
    http_client: httpx.Client,
    fetch_warnings: list[str],
) -> None:
    server = fault_server(
        Mode.PEP658_SHA256, partial(Respond, when=path_endswith(".metadata"), status=404)
    )
    fetcher = new_fetcher(http_client)
    for filename in (ALPHA_1, ALPHA_2):
        fetched = fetch_file(fetcher, server, filename)
        assert fetched.data == dist_set.metadata(filename)
        assert fetched.source.category is Category.METADATA_RANGE
        assert fetched.source.requests == 2  # the 404, then one range
    assert len(fetch_warnings) == 1, fetch_warnings
    assert "404" in fetch_warnings[0]
    assert server.file_url(ALPHA_1) + ".metadata" in fetch_warnings[0]
    assert_log_agrees(server, fetcher.stats.summary())


# -- servers that get ranges wrong ----------------------------------------------------------------


def _whole_download_fallback(
    server: Server, dist_set: DistSet, http_client: httpx.Client, warnings: list[str]
) -> Fetcher:
    """Two wheels from a host whose ranges cannot be used: both read whole, one warning."""
    fetcher = new_fetcher(http_client)
    for filename in (ALPHA_1, ALPHA_2):
        fetched = fetch_file(fetcher, server, filename)
        assert fetched.data == dist_set.metadata(filename)
        assert fetched.source.category is Category.FULL_DOWNLOAD
        assert fetched.source.file_size == dist_set.get(filename).size
    settle(server, fetcher.stats.requests)
    # The first wheel tried a range; then the host is known: the second is a plain GET.
    assert requests_for(server, ALPHA_1)[0].range == f"bytes=-{DEFAULT_TAIL}"
    assert [e.range for e in requests_for(server, ALPHA_2)] == [None]
    assert len(warnings) == 1, warnings
    summary = fetcher.stats.summary()
    assert (
        summary.by_category[Category.FULL_DOWNLOAD].body_bytes
        == dist_set.get(ALPHA_1).size + dist_set.get(ALPHA_2).size
    )
    return fetcher


def test_range_ignored_uses_the_whole_body(
    make_index: MakeIndex, dist_set: DistSet, http_client: httpx.Client,
    fetch_warnings: list[str],
) -> None:  # fmt: skip
    server = make_index(Mode.NO_RANGES, "html")
    server.log.clear()
    fetcher = _whole_download_fallback(server, dist_set, http_client, fetch_warnings)
    assert len(requests_for(server, ALPHA_1)) == 1  # the 200 answer to the range was used
    assert "ignores Range" in fetch_warnings[0]
    assert_log_agrees(server, fetcher.stats.summary())


def test_lying_content_range_falls_back_to_whole_download(
    fault_server: Callable[..., Server], dist_set: DistSet, http_client: httpx.Client,
    fetch_warnings: list[str],
) -> None:  # fmt: skip
    server = fault_server(Mode.NO_METADATA, RangeLiar)
    fetcher = _whole_download_fallback(server, dist_set, http_client, fetch_warnings)
    first = requests_for(server, ALPHA_1)
    assert [(e.range, e.status) for e in first] == [
        (f"bytes=-{DEFAULT_TAIL}", 206),
        (None, 200),
    ]
    assert "bytes 0-99" in fetch_warnings[0]
    assert server.file_url(ALPHA_1) in fetch_warnings[0]
    assert_log_agrees(server, fetcher.stats.summary())


def test_gzipped_range_falls_back_to_whole_download(
    fault_server: Callable[..., Server], dist_set: DistSet, http_client: httpx.Client,
    fetch_warnings: list[str],
) -> None:  # fmt: skip
    server = fault_server(Mode.NO_METADATA, GzipRanges)
    fetcher = _whole_download_fallback(server, dist_set, http_client, fetch_warnings)
    assert requests_for(server, ALPHA_1)[0].response_headers["content-encoding"] == "gzip"
    assert "gzip" in fetch_warnings[0]
    assert_log_agrees(server, fetcher.stats.summary(), check_bytes=False)  # gzip body unread


@pytest.mark.parametrize("status", [501, 404, 405])
@pytest.mark.parametrize("fmt", ["html", "json"])
def test_suffix_refused_uses_absolute_ranges(
    fault_server: Callable[..., Server], dist_set: DistSet, http_client: httpx.Client,
    status: int, fmt: str,
) -> None:  # fmt: skip
    server = fault_server(Mode.NO_METADATA, partial(RefuseSuffixRanges, status=status), fmt=fmt)
    fetcher = new_fetcher(http_client)
    for filename in (ALPHA_1, ALPHA_2, "bigfile-1.0-py3-none-any.whl"):
        fetched = fetch_file(fetcher, server, filename)
        assert fetched.data == dist_set.metadata(filename)
        assert fetched.source.category is Category.METADATA_RANGE
        assert fetched.source.file_size == dist_set.get(filename).size
    size1 = dist_set.get(ALPHA_1).size
    first = [(e.range, e.status) for e in requests_for(server, ALPHA_1)]
    if fmt == "html":  # no PEP 700 size: a one-byte probe learns it
        assert first == [
            (f"bytes=-{DEFAULT_TAIL}", status),
            ("bytes=0-0", 206),
            (f"bytes=0-{size1 - 1}", 206),
        ]
    else:
        assert first == [(f"bytes=-{size1}", status), (f"bytes=0-{size1 - 1}", 206)]
    # The host is known now: no more suffix requests.
    later = [e for e in server.log.matching("/files/") if e.path != f"/files/{ALPHA_1}"]
    assert all(e.range and not e.range.startswith("bytes=-") for e in later)
    assert all(e.status == 206 for e in later)
    big = dist_set.get("bigfile-1.0-py3-none-any.whl")
    big_spent = sum(e.body_bytes for e in requests_for(server, big.filename))
    assert big_spent < 64 * 1024
    assert_log_agrees(server, fetcher.stats.summary())


# -- transient failures, timeouts, refused connections, insecure URLs ---------------------------


def test_transient_503_is_retried(
    fault_server: Callable[..., Server], dist_set: DistSet, http_client: httpx.Client
) -> None:
    server = fault_server(
        Mode.PEP658_SHA256,
        partial(FailFirst, when=ALPHA_PAGE, times=2),
        partial(FailFirst, when=path_is(f"/files/{ALPHA_2}.metadata"), times=2,
                headers={"Retry-After": "0"}),
    )  # fmt: skip
    fetcher = new_fetcher(http_client, retries=3, backoff=0.01)
    fetched = fetch_file(fetcher, server, ALPHA_2)
    assert fetched.data == dist_set.metadata(ALPHA_2)
    assert fetched.source.requests == 3  # two 503s, then the body
    summary = fetcher.stats.summary()
    statuses = [(r.category, r.status) for r in summary.records]
    assert statuses == [
        (Category.INDEX_PAGE, 503),
        (Category.INDEX_PAGE, 503),
        (Category.INDEX_PAGE, 200),
        (Category.METADATA_PEP658, 503),
        (Category.METADATA_PEP658, 503),
        (Category.METADATA_PEP658, 200),
    ]
    assert_log_agrees(server, summary)


def test_retries_are_bounded(
    fault_server: Callable[..., Server], http_client: httpx.Client
) -> None:
    server = fault_server(Mode.PEP658_SHA256, partial(FailFirst, when=ALPHA_PAGE, times=100))
    fetcher = new_fetcher(http_client, retries=2, backoff=0.01)
    with pytest.raises(HTTPStatusError) as info:
        fetcher.page(server.simple_url, "alpha")
    assert info.value.status == 503
    assert_one_line(info.value, server.project_url("alpha"), "503")
    settle(server, 3)
    assert len(server.log) == 3  # the first attempt and two retries
    assert fetcher.stats.summary().requests == 3


@pytest.mark.parametrize("where", ["page", "file"])
def test_timeout_is_a_fetch_error(fault_server: Callable[..., Server], where: str) -> None:
    slow = ALPHA_PAGE if where == "page" else is_file
    server = fault_server(Mode.NO_METADATA, partial(Delay, when=slow, seconds=0.8))
    started = time.monotonic()
    with httpx.Client(trust_env=False, timeout=0.25) as quick:
        fetcher = new_fetcher(quick, **FAST)
        if where == "page":
            url = server.project_url("alpha")
            action: Callable[[], object] = partial(fetcher.page, server.simple_url, "alpha")
        else:
            url = server.file_url(ALPHA_1)
            action = partial(fetcher.metadata, file_of(page_of(fetcher, server, "alpha"), ALPHA_1))
        with pytest.raises(FetchError) as info:
            action()
    assert time.monotonic() - started < 3
    assert_one_line(info.value, url, "timed out")
    failed = [r for r in fetcher.stats.summary().records if r.status is None]
    assert len(failed) == 2  # one retry


def test_connection_refused(http_client: httpx.Client) -> None:
    index = f"http://127.0.0.1:{free_port()}/simple/"
    fetcher = new_fetcher(http_client, **FAST)
    with pytest.raises(FetchError) as info:
        fetcher.page(index, "alpha")
    assert_one_line(info.value, f"{index}alpha/", "connection failed")
    summary = fetcher.stats.summary()
    assert summary.requests == 2
    assert all(r.status is None for r in summary.records)


def _recording_client(attempts: list[str], *, fail: bool = False) -> httpx.Client:
    def hook(request: httpx.Request) -> None:
        attempts.append(str(request.url))
        if fail:
            raise httpx.ConnectError("blocked by the test", request=request)

    return httpx.Client(trust_env=False, event_hooks={"request": [hook]})


def test_plain_http_index_refused_before_any_request() -> None:
    attempts: list[str] = []
    with _recording_client(attempts) as client:
        fetcher = new_fetcher(client)
        with pytest.raises(InsecureIndexError) as info:
            fetcher.page("http://example.invalid/simple/", "alpha")
        file = IndexFile(filename=TINY, url=f"http://example.invalid/files/{TINY}")
        with pytest.raises(InsecureIndexError):
            fetcher.metadata(file)
    assert attempts == []
    assert fetcher.stats.summary().requests == 0
    assert_one_line(info.value, "http://example.invalid/simple/alpha/", "--trusted-host")
    assert info.value.exit_code == 2


def test_trusted_host_allows_plain_http() -> None:
    attempts: list[str] = []
    with _recording_client(attempts, fail=True) as client:
        fetcher = new_fetcher(client, retries=0, trusted_hosts=frozenset({"example.invalid"}))
        with pytest.raises(FetchError) as info:
            fetcher.page("http://example.invalid/simple/", "alpha")
    assert attempts == ["http://example.invalid/simple/alpha/"]
    assert not isinstance(info.value, InsecureIndexError)
    assert_one_line(info.value, "http://example.invalid/simple/alpha/")


def test_unsupported_scheme_is_a_fetch_error(http_client: httpx.Client) -> None:
    with pytest.raises(FetchError) as info:
        new_fetcher(http_client).page("ftp://127.0.0.1/simple/", "alpha")
    assert_one_line(info.value, "ftp://127.0.0.1/simple/alpha/", "scheme")


def test_416_to_a_suffix_teaches_the_size(
    fault_server: Callable[..., Server], dist_set: DistSet, http_client: httpx.Client
) -> None:
    size = dist_set.get(ALPHA_1).size
    server = fault_server(
        Mode.NO_METADATA,
        partial(RefuseSuffixRanges, when=path_is(f"/files/{ALPHA_1}"), status=416,
                headers={"Content-Range": f"bytes */{size}"}),
    )  # fmt: skip
    fetched = fetch_file(new_fetcher(http_client), server, ALPHA_1)
    assert fetched.data == dist_set.metadata(ALPHA_1)
    assert fetched.source.category is Category.METADATA_RANGE
    assert fetched.source.file_size == size
    # No probe: the 416 said how big the file is.
    assert [(e.range, e.status) for e in requests_for(server, ALPHA_1)] == [
        (f"bytes=-{DEFAULT_TAIL}", 416),
        (f"bytes=0-{size - 1}", 206),
    ]


def test_missing_wheel_is_an_http_error(
    fault_server: Callable[..., Server], http_client: httpx.Client
) -> None:
    server = fault_server(
        Mode.NO_METADATA, partial(Respond, when=path_is(f"/files/{ALPHA_1}"), status=404)
    )
    with pytest.raises(HTTPStatusError) as info:
        fetch_file(new_fetcher(http_client), server, ALPHA_1)
    assert info.value.status == 404
    assert_one_line(info.value, server.file_url(ALPHA_1), "404")


def test_missing_wheel_does_not_disable_suffix_ranges(
    fault_server: Callable[..., Server], dist_set: DistSet, http_client: httpx.Client
) -> None:
    server = fault_server(
        Mode.NO_METADATA, partial(Respond, when=path_is(f"/files/{ALPHA_1}"), status=404)
    )
    fetcher = new_fetcher(http_client)
    with pytest.raises(HTTPStatusError):
        fetch_file(fetcher, server, ALPHA_1)
    fetched = fetch_file(fetcher, server, TINY)
    assert fetched.data == dist_set.metadata(TINY)
    assert [e.range for e in requests_for(server, TINY)] == [f"bytes=-{DEFAULT_TAIL}"]


def test_range_retries_are_bounded(
    fault_server: Callable[..., Server], http_client: httpx.Client
) -> None:
    server = fault_server(
        Mode.NO_METADATA, partial(FailFirst, when=path_is(f"/files/{TINY}"), times=100)
    )
    fetcher = new_fetcher(http_client, **FAST)
    with pytest.raises(HTTPStatusError) as info:
        fetch_file(fetcher, server, TINY)
    assert info.value.status == 503
    assert_one_line(info.value, server.file_url(TINY), "503")
    settle(server, 3)  # the page, then the first attempt and one retry
    assert len(requests_for(server, TINY)) == 2


def test_whole_download_over_the_cap(make_index: MakeIndex, http_client: httpx.Client) -> None:
    server = make_index(Mode.NO_RANGES, "json")
    fetcher = new_fetcher(http_client, max_download=1_000_000)
    with pytest.raises(FetchError) as info:
        fetch_file(fetcher, server, "bigfile-1.0-py3-none-any.whl")
    assert_one_line(info.value, server.file_url("bigfile-1.0-py3-none-any.whl"), "cap")


@pytest.mark.parametrize("host", ["localhost.example.invalid", "127.example.invalid"])
def test_loopback_lookalike_hosts_are_not_trusted(host: str) -> None:
    attempts: list[str] = []
    with _recording_client(attempts, fail=True) as client:
        fetcher = new_fetcher(client, retries=0)
        with pytest.raises(InsecureIndexError):
            fetcher.page(f"http://{host}/simple/", "alpha")
    assert attempts == []


def test_broken_index_url_is_a_skimlock_error(http_client: httpx.Client) -> None:
    with pytest.raises(SkimlockError) as info:
        new_fetcher(http_client).page("http://[::1/simple/", "alpha")
    assert_one_line(info.value, "http://[::1/simple/")


def test_file_url_with_control_character_is_a_skimlock_error(
    fault_server: Callable[..., Server], http_client: httpx.Client
) -> None:
    page = (
        b'{"meta": {"api-version": "1.1"}, "name": "alpha", "files": [{"filename": '
        b'"alpha-1.0-py3-none-any.whl", "url": "../../files/alpha-1.0\\u0000-py3-none-any.whl", '
        b'"hashes": {}}]}'
    )
    server = fault_server(
        Mode.NO_METADATA, partial(Respond, when=ALPHA_PAGE, body=page, headers=JSON_TYPE)
    )
    fetcher = new_fetcher(http_client)
    (file,) = page_of(fetcher, server, "alpha").files
    with pytest.raises(SkimlockError) as info:
        fetcher.metadata(file)
    assert_one_line(info.value, "alpha-1.0")


# -- Content-Encoding: decoded here, one bounded layer ---------------------------------------------


def _deflate(data: bytes, *, raw: bool) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        pytest.param("gzip", lambda d: gzip.compress(d, mtime=0), id="gzip"),
        pytest.param("x-gzip", lambda d: gzip.compress(d, mtime=0), id="x-gzip"),
        pytest.param("gzip", lambda d: gzip.compress(d[:50], mtime=0)
                     + gzip.compress(d[50:], mtime=0), id="gzip-two-members"),
        pytest.param("deflate", partial(_deflate, raw=False), id="deflate-zlib"),
        pytest.param("deflate", partial(_deflate, raw=True), id="deflate-raw"),
        pytest.param("identity, gzip", lambda d: gzip.compress(d, mtime=0), id="identity-gzip"),
    ],
)  # fmt: skip
def test_encoded_pages_are_decoded(
    fault_server: Callable[..., Server],
    http_client: httpx.Client,
    encoding: str,
    encode: Callable[[bytes], bytes],
) -> None:
    page = (
        f'<!DOCTYPE html><html><body><a href="../../files/{ALPHA_2}">{ALPHA_2}</a>'
        + "<!-- padding -->" * 5000 + "</body></html>"
    ).encode()
    server = fault_server(
        Mode.PEP658_SHA256,
        partial(Encoded, when=ALPHA_PAGE, body=encode(page), encoding=encoding,
                content_type="text/html"),
    )
    fetcher = new_fetcher(http_client, retries=0)
    assert [f.filename for f in page_of(fetcher, server, "alpha").files] == [ALPHA_2]


@pytest.mark.parametrize(
    ("encoding", "body", "needle"),
    [
        pytest.param("gzip, gzip", gzip.compress(gzip.compress(b"x")), "stacked", id="stacked"),
        pytest.param("zstd", b"\x28\xb5\x2f\xfd", "unsupported Content-Encoding 'zstd'",
                     id="zstd"),
        pytest.param("gzip", b"not gzip at all", "corrupt gzip body", id="corrupt"),
    ],
)  # fmt: skip
def test_refused_encodings_are_clear_errors(
    fault_server: Callable[..., Server],
    http_client: httpx.Client,
    encoding: str,
    body: bytes,
    needle: str,
) -> None:
    server = fault_server(
        Mode.PEP658_SHA256,
        partial(Encoded, when=ALPHA_PAGE, body=body, encoding=encoding, content_type="text/html"),
    )
    fetcher = new_fetcher(http_client, retries=0)
    with pytest.raises(ContentEncodingError) as info:
        fetcher.page(server.simple_url, "alpha")
    assert_one_line(info.value, server.project_url("alpha"), needle)


def test_decoded_bytes_count_against_the_cap(
    fault_server: Callable[..., Server], http_client: httpx.Client
) -> None:
    """A 1 MiB .metadata gzipped to ~1 KB: the cap counts what decoding produces."""
    server = fault_server(
        Mode.PEP658_SHA256,
        partial(Encoded, when=path_endswith(".metadata"), body=gzip_bomb(1024 * 1024),
                encoding="gzip"),
    )
    fetcher = new_fetcher(http_client, retries=0, max_metadata=64 * 1024)
    with pytest.raises(BodyTooLargeError) as info:
        fetch_file(fetcher, server, ALPHA_2)
    assert_one_line(info.value, "over the 65536-byte cap")


# -- deadlines below httpx: headers trickled byte by byte ---------------------------------------


def test_trickled_headers_hit_the_request_deadline(http_client: httpx.Client) -> None:
    """A raw socket server sends its status line and headers one byte every 50 ms (no read ever
    times out); the request deadline bounds the whole exchange, headers included."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(5)
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000:
                    if stop.is_set():
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(0.05)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    fetcher = new_fetcher(http_client, retries=0, request_deadline=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(FetchError) as info:
            fetcher.page(f"http://127.0.0.1:{port}/simple/", "alpha")
    finally:
        stop.set()
        listener.close()
        thread.join(5)
    assert time.monotonic() - started < 2.0
    assert_one_line(info.value, "over the 0.5 s deadline of one request")
