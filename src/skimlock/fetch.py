"""The fetch layer: the only module that does network I/O.

It wraps one injected :class:`httpx.Client` and offers two operations, each synchronous or as a
future (so the resolver can prefetch):

* :meth:`Fetcher.page` — a project page from a Simple Repository API index;
* :meth:`Fetcher.metadata` — the core metadata of one listed file, by the cheapest strategy that
  works: PEP 658 ``.metadata`` (hash verified) → HTTP range requests into the wheel's zip →
  a whole download (streamed to a spooled temp file, capped).

Every request is recorded in :class:`~skimlock.stats.Stats`. httpx exceptions are converted to
:mod:`skimlock.errors` here and nowhere else. Results are memoized per URL for the run, and each
host's range capabilities are remembered for the run.

Range protocol (no HEAD): one suffix request ``Range: bytes=-N`` with ``Accept-Encoding: identity``.
N is learned per project (the tail that sufficed for another version) or a default. The response
must be a 206 whose Content-Range matches the request, in identity encoding. Then
:class:`~skimlock.zipread.MetadataLocator` says which single span is still missing (the rest of
the central directory, then the METADATA member) until METADATA can be read.

Fallbacks, remembered per host: a 200 answer to a range is a whole body (it is used, not thrown
away, and the host is marked "no ranges"); 400/403/404/405/501 to a suffix range marks the host
"no suffix ranges" and a ``bytes=0-0`` probe learns the size for absolute ranges; 416 teaches the
size from ``Content-Range: bytes */N``.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import netrc
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
from packaging.metadata import Metadata

from . import coremeta, sdist, zipread
from .errors import (
    FetchError,
    HashMismatchError,
    HTTPStatusError,
    InsecureIndexError,
    RangeNotSatisfiedError,
    WheelError,
    redact,
)
from .simple import ACCEPT, IndexFile, ProjectPage, parse_project_page, project_url
from .stats import Category, MetadataSource, RequestRecord, Stats

__all__ = ["FetchedMetadata", "Fetcher", "FetchOptions", "make_client"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

KiB = 1024
MiB = 1024 * KiB

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", re.IGNORECASE)
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
#: Statuses with which servers refuse a suffix range they do not support.
_SUFFIX_REFUSED = frozenset({400, 403, 404, 405, 416, 501})
_MAX_REDIRECTS = 10
#: Unread bodies up to this size are read before the response is closed (see _drain).
_DRAIN_MAX = 64 * KiB
#: Largest project page read (numpy's is 1.6 MB as HTML).
_MAX_PAGE = 64 * MiB


@dataclass(frozen=True, kw_only=True, slots=True)
class FetchOptions:
    """Tunables of the fetch layer (defaults are what the CLI uses)."""

    #: Requests in flight at once.
    max_in_flight: int = 16
    #: Attempts after the first for connection errors, timeouts, 429 and 5xx.
    retries: int = 3
    #: First backoff in seconds (doubles each attempt; Retry-After is honoured up to 10 s).
    backoff: float = 0.25
    #: The first suffix request when nothing was learned for the project.
    initial_tail: int = 24 * KiB
    #: Extra bytes asked before the central directory when it must be fetched, to catch METADATA.
    learned_margin: float = 0.25
    #: Largest whole file read (a 200 answer to a range, or a full download).
    max_download: int = 2048 * MiB
    #: Largest METADATA accepted (a zip bomb guard).
    max_metadata: int = 16 * MiB
    #: Hosts allowed over plain HTTP (loopback is always allowed).
    trusted_hosts: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True, slots=True)
class FetchedMetadata:
    """The core metadata of one file and how it was obtained."""

    file: IndexFile
    data: bytes
    metadata: Metadata
    source: MetadataSource


@dataclass(kw_only=True, slots=True)
class _HostCaps:
    """What a host has shown it can do during this run (None = not yet known)."""

    suffix: bool | None = None
    ranges: bool | None = None


@dataclass(kw_only=True, slots=True)
class _Spent:
    """Bytes and requests spent on one file."""

    bytes: int = 0
    requests: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class _Partial:
    start: int
    data: bytes
    total: int


@dataclass(frozen=True, kw_only=True, slots=True)
class _Refused:
    status: int
    #: Total size when the server told it (a 416 with ``bytes */N``).
    total: int | None = None


@dataclass(kw_only=True, slots=True)
class _Memo:
    lock: threading.Lock = field(default_factory=threading.Lock)
    futures: dict[object, Future[object]] = field(default_factory=dict)


def make_client(*, timeout: float = 30.0, http2: bool = False) -> httpx.Client:
    """The client the CLI injects: pooled keep-alive connections, proxies from the environment,
    credentials from the URL or else from ``~/.netrc`` (see :class:`_Credentials`).

    HTTP/1.1 by default: with httpcore's synchronous HTTP/2 shared by the fetch threads, 2 of 8
    locks of ~150 packages against PyPI failed (stream resets, and a KeyError inside httpcore),
    while HTTP/1.1 over a pool of connections failed none and took the same time (2026-11).
    The pool holds as many connections as requests in flight: httpcore checks every pooled
    connection on each request, and 32 instead of 16 cost ~25 % more CPU on a 91-package lock.
    """
    from . import __version__

    netrc_file = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
    auth = _Credentials(netrc_file if os.path.isfile(netrc_file) else None)
    return httpx.Client(
        http2=http2,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        headers={"User-Agent": f"skimlock/{__version__}"},
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        auth=auth,
        trust_env=True,
    )


class _Credentials(httpx.Auth):
    """Basic auth from the request URL's ``user:password@``, else from netrc for its host.

    (httpx's own ``NetRCAuth`` as the client's auth would shadow URL credentials.) Redirects are
    sent as new requests by :meth:`Fetcher._send`; httpx has already dropped the Authorization
    header of a redirect to another origin, and a new host gets only its own netrc entry.
    """

    def __init__(self, netrc_file: str | None) -> None:
        self._netrc: netrc.netrc | None = None
        if netrc_file is not None:
            try:
                self._netrc = netrc.netrc(netrc_file)
            except (netrc.NetrcParseError, OSError) as exc:
                logger.warning("ignoring %s: %s", netrc_file, exc)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "authorization" not in request.headers:
            url = request.url
            user, password = url.username, url.password
            if not (user or password) and self._netrc is not None:
                entry = self._netrc.authenticators(url.host)
                if entry is not None:
                    user, password = entry[0] or "", entry[2] or ""
            if user or password:
                token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
                request.headers["Authorization"] = f"Basic {token}"
        yield request


class Fetcher:
    """All HTTP of a run. Construct cheaply (no I/O); close with :meth:`close` or ``with``."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        stats: Stats | None = None,
        options: FetchOptions | None = None,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.stats = stats if stats is not None else Stats()
        self.options = options or FetchOptions()
        self._on_event = on_event
        self._executor: ThreadPoolExecutor | None = None
        self._memo = _Memo()
        self._lock = threading.Lock()
        self._hosts: dict[str, _HostCaps] = {}
        self._learned_tail: dict[str, int] = {}
        self._warned: set[str] = set()

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    # -- public API ---------------------------------------------------------------------------

    def page(self, index_url: str, name: str) -> ProjectPage | None:
        """The project page of ``name`` on ``index_url``; None when the index does not have it."""
        return self.submit_page(index_url, name).result()

    def submit_page(self, index_url: str, name: str) -> Future[ProjectPage | None]:
        url = project_url(index_url, name)
        return self._submit(("page", url), lambda: self._again(lambda: self._fetch_page(url, name)))

    def metadata(self, file: IndexFile) -> FetchedMetadata:
        """Core metadata of ``file`` (a wheel, or any file whose ``.metadata`` is served)."""
        return self.submit_metadata(file).result()

    def submit_metadata(self, file: IndexFile) -> Future[FetchedMetadata]:
        return self._submit(
            ("metadata", file.url), lambda: self._again(lambda: self._fetch_metadata(file))
        )

    # -- memo and executor --------------------------------------------------------------------

    def _submit(self, key: object, work: Callable[[], _T]) -> Future[_T]:
        with self._memo.lock:
            existing = self._memo.futures.get(key)
            if existing is not None:
                return existing  # type: ignore[return-value]
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.options.max_in_flight, thread_name_prefix="skimlock-fetch"
                )
            future = self._executor.submit(work)
            self._memo.futures[key] = future  # type: ignore[assignment]
            return future

    # -- pages --------------------------------------------------------------------------------

    def _fetch_page(self, url: str, name: str) -> ProjectPage | None:
        self._check_secure(url)
        with self._request(
            "GET", url, Category.INDEX_PAGE, headers={"Accept": ACCEPT}
        ) as exchange:
            response = exchange.response
            if response.status_code in (404, 410):
                return None
            if response.status_code != 200:
                raise HTTPStatusError(url, response.status_code)
            content = b"".join(exchange.body(_MAX_PAGE))
            final_url = str(response.url)
            self._check_secure(final_url)
            page = parse_project_page(
                content,
                content_type=response.headers.get("content-type", ""),
                url=final_url,
                name=name,
            )
        self._event("page")
        return page

    # -- metadata -----------------------------------------------------------------------------

    def _fetch_metadata(self, file: IndexFile) -> FetchedMetadata:
        self._check_secure(file.url)
        spent = _Spent()
        data: bytes | None = None
        category = Category.METADATA_PEP658
        size = file.size
        if file.core_metadata is not None:
            data = self._pep658(file, spent)
        if data is None:
            if sdist.is_sdist(file.filename):
                data, size = self._from_sdist(file, spent)
                category = Category.METADATA_SDIST
            elif not file.is_wheel:
                raise WheelError(file.filename, "not a wheel, and the index serves no metadata")
            else:
                data, category, size = self._from_wheel(file, spent)
        metadata = coremeta.parse_metadata(
            data, filename=file.filename, max_size=self.options.max_metadata
        )
        source = MetadataSource(
            filename=file.filename,
            category=category,
            file_size=size,
            spent_bytes=spent.bytes,
            requests=spent.requests,
            metadata_bytes=len(data),
        )
        self.stats.metadata_obtained(source)
        self._event("metadata")
        return FetchedMetadata(file=file, data=data, metadata=metadata, source=source)

    def _pep658(self, file: IndexFile, spent: _Spent) -> bytes | None:
        """PEP 658: the served ``.metadata``; None when advertised but missing (404/410)."""
        assert file.core_metadata is not None
        url = file.metadata_url
        with self._request("GET", url, Category.METADATA_PEP658, spent=spent) as exchange:
            resp = exchange.response
            if resp.status_code in (404, 410):
                self._warn_once(
                    _host(url),
                    f"{redact(url)} is advertised but answers {resp.status_code}; "
                    "reading metadata from the wheels of this index instead",
                )
                return None
            if resp.status_code != 200:
                raise HTTPStatusError(url, resp.status_code)
            data = b"".join(exchange.body(self.options.max_metadata))
        _verify(url, data, file.core_metadata.hashes)
        return data

    def _from_sdist(self, file: IndexFile, spent: _Spent) -> tuple[bytes, int | None]:
        """An sdist's static PKG-INFO (see :mod:`skimlock.sdist`): a ``.tar.gz`` is read from
        the start and the response closed once PKG-INFO is seen; a ``.zip`` through ranges (read
        whole when the host refuses them). Raises :class:`~skimlock.errors.DynamicMetadataError`
        when only a build can tell."""
        cap = self.options.max_metadata
        data: bytes | None = None
        if file.filename.endswith(".zip"):
            data = sdist.pkg_info_by_ranges(
                lambda start, end: self._sdist_range(file, spent, start, end),
                filename=file.filename, max_metadata=cap,
            )
        if data is None:
            with self._request(
                "GET", file.url, Category.METADATA_SDIST, spent=spent
            ) as exchange:
                if exchange.response.status_code != 200:
                    raise HTTPStatusError(file.url, exchange.response.status_code)
                chunks = exchange.body(self.options.max_download)
                if file.filename.endswith(".zip"):
                    with tempfile.SpooledTemporaryFile(max_size=8 * MiB) as spool:
                        for chunk in chunks:
                            spool.write(chunk)
                        spool.seek(0)
                        data = sdist.pkg_info_from_zip(
                            spool, filename=file.filename, max_metadata=cap
                        )
                else:
                    data = sdist.pkg_info_from_tar_stream(
                        chunks, filename=file.filename, max_metadata=cap
                    )
        return sdist.static_metadata(data, filename=file.filename), file.size

    def _sdist_range(
        self, file: IndexFile, spent: _Spent, start: int | None, end: int
    ) -> tuple[int, bytes, int] | None:
        """One range of an sdist: ``(offset, bytes, total)``; a 200 is the whole file; None
        when the range is refused (the caller reads the file whole)."""
        header = f"bytes=-{end}" if start is None else f"bytes={start}-{end}"
        headers = {"Range": header, "Accept-Encoding": "identity"}
        with self._request(
            "GET", file.url, Category.METADATA_SDIST, headers=headers, spent=spent
        ) as exchange:
            resp = exchange.response
            if resp.status_code == 200:
                whole = b"".join(exchange.body(self.options.max_download))
                return 0, whole, len(whole)
            encoding = resp.headers.get("content-encoding", "identity").strip().lower()
            got = _content_range(resp.headers.get("content-range"))
            if resp.status_code != 206 or encoding not in ("", "identity") or got is None:
                return None
            first, last, total = got
            data = b"".join(exchange.body(last - first + 1, raw=True))
        return first, data, total

    def download(self, file: IndexFile, destination: str, category: Category) -> int:
        """Stream ``file`` into the path ``destination`` (hash verified, capped); its size."""
        self._check_secure(file.url)
        digests = {name: hashlib.new(name) for name in file.hashes if _supported(name)}
        size = 0
        with (
            self._request("GET", file.url, category) as exchange,
            open(destination, "wb") as out,
        ):
            if exchange.response.status_code != 200:
                raise HTTPStatusError(file.url, exchange.response.status_code)
            for chunk in exchange.body(self.options.max_download):
                out.write(chunk)
                size += len(chunk)
                for digest in digests.values():
                    digest.update(chunk)
        for name, digest in digests.items():
            if digest.hexdigest() != file.hashes[name].lower():
                raise HashMismatchError(
                    file.url, name, file.hashes[name].lower(), digest.hexdigest()
                )
        return size

    def _from_wheel(self, file: IndexFile, spent: _Spent) -> tuple[bytes, Category, int | None]:
        caps = self._caps(file.url)
        if caps.ranges is not False:
            try:
                found = self._by_ranges(file, caps, spent)
            except RangeNotSatisfiedError as exc:
                self._mark(file.url, ranges=False)
                self._warn_once(
                    f"ranges:{_host(file.url)}",
                    f"{exc}; downloading whole wheels from this host",
                )
            else:
                if found is not None:
                    return found
        data, size = self._whole(file, spent)
        return data, Category.FULL_DOWNLOAD, size

    def _by_ranges(
        self, file: IndexFile, caps: _HostCaps, spent: _Spent
    ) -> tuple[bytes, Category, int | None] | None:
        """METADATA through range requests; None when the host turned out not to do ranges."""
        project = _project_of(file.filename)
        guess = self._tail_guess(project, file.size)
        total = file.size
        first: _Partial | _Refused | _Whole | None = None
        #: The suffix request was refused: the host is marked once an absolute range works
        #: (a 404 may only mean that this file is missing).
        suspect_suffix = False
        if caps.suffix is not False:
            first = self._range(file, spent, suffix=guess)
            if isinstance(first, _Refused):
                if first.status not in _SUFFIX_REFUSED:
                    raise HTTPStatusError(file.url, first.status)
                if first.status == 416:
                    total = first.total or total  # e.g. a suffix longer than the file
                else:
                    suspect_suffix = True
                first = None
        if first is None:
            # No suffix ranges here: learn the size, then ask for an absolute tail.
            if total is None:
                probe = self._range(file, spent, start=0, end=0)
                if isinstance(probe, _Refused):
                    if probe.status in (404, 410):
                        raise HTTPStatusError(file.url, probe.status)
                    self._refused(file.url, probe.status)
                    return None
                if isinstance(probe, _Whole):
                    return probe.metadata, Category.FULL_DOWNLOAD, probe.size
                total = probe.total
            first = self._range(file, spent, start=max(0, total - guess), end=total - 1)
            if isinstance(first, _Refused):
                self._refused(file.url, first.status)
                return None
            if suspect_suffix and isinstance(first, _Partial):
                self._mark(file.url, suffix=False)
        if isinstance(first, _Whole):
            return first.metadata, Category.FULL_DOWNLOAD, first.size
        assert isinstance(first, _Partial)  # every _Refused was handled above
        locator = zipread.MetadataLocator(
            filename=file.filename, size=first.total, max_metadata_size=self.options.max_metadata
        )
        locator.feed(first.start, first.data)
        while (span := locator.next_span()) is not None:
            more = self._range(file, spent, start=span.start, end=span.end - 1)
            if isinstance(more, _Whole):
                return more.metadata, Category.FULL_DOWNLOAD, more.size
            if isinstance(more, _Refused):
                raise RangeNotSatisfiedError(
                    file.url, f"range refused with HTTP {more.status} after earlier ranges worked"
                )
            locator.feed(more.start, more.data)
        data = locator.metadata()
        self._learn(project, locator.tail_needed)
        self._mark(file.url, ranges=True)
        return data, Category.METADATA_RANGE, first.total

    def _refused(self, url: str, status: int) -> None:
        """The host refuses range requests: remember it, say so once, use whole downloads."""
        self._mark(url, ranges=False)
        self._warn_once(
            f"ranges:{_host(url)}",
            f"{_host(url)} refuses range requests (HTTP {status}); reading whole wheels from it",
        )

    def _range(
        self,
        file: IndexFile,
        spent: _Spent,
        *,
        suffix: int | None = None,
        start: int | None = None,
        end: int | None = None,
    ) -> _Partial | _Refused | _Whole:
        """One range GET, validated. A 200 answer is read as a whole download (and counted so)."""
        header = f"bytes=-{suffix}" if suffix is not None else f"bytes={start}-{end}"
        headers = {"Range": header, "Accept-Encoding": "identity"}
        url = file.url
        with self._request(
            "GET", url, Category.METADATA_RANGE, headers=headers, spent=spent
        ) as exchange:
            resp = exchange.response
            status = resp.status_code
            if status == 200:
                # The server ignored the range: this body is the whole file. Use it.
                self._mark(url, ranges=False)
                self._warn_once(
                    f"ranges:{_host(url)}",
                    f"{_host(url)} ignores Range requests; reading whole wheels from it",
                )
                exchange.category = Category.FULL_DOWNLOAD
                metadata, size = self._read_whole(file, exchange)
                return _Whole(metadata=metadata, size=size)
            if status == 416:
                return _Refused(status=status, total=_unsatisfied_total(resp))
            if status != 206:
                return _Refused(status=status)
            encoding = resp.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                raise RangeNotSatisfiedError(
                    url, f"range answered with Content-Encoding {encoding}"
                )
            got = _content_range(resp.headers.get("content-range"))
            if got is None:
                raise RangeNotSatisfiedError(
                    url, f"206 without a usable Content-Range for {header}"
                )
            first, last, total = got
            if suffix is not None:
                expected = (max(0, total - suffix), total - 1)
            else:
                assert start is not None
                assert end is not None
                expected = (start, min(end, total - 1))
            if (first, last) != expected:
                raise RangeNotSatisfiedError(
                    url, f"asked {header}, got Content-Range bytes {first}-{last}/{total}"
                )
            length = last - first + 1
            data = b"".join(exchange.body(length, raw=True))
            if len(data) != length:
                raise RangeNotSatisfiedError(
                    url, f"range body has {len(data)} bytes, Content-Range says {length}"
                )
        return _Partial(start=first, data=data, total=total)

    def _whole(self, file: IndexFile, spent: _Spent) -> tuple[bytes, int]:
        """Download the whole file (last resort) and read METADATA from it."""
        with self._request("GET", file.url, Category.FULL_DOWNLOAD, spent=spent) as exchange:
            if exchange.response.status_code != 200:
                raise HTTPStatusError(file.url, exchange.response.status_code)
            return self._read_whole(file, exchange)

    def _read_whole(self, file: IndexFile, exchange: _Exchange) -> tuple[bytes, int]:
        """Stream a whole file to a spooled temp file (bounded memory), verify, read METADATA."""
        digests = {name: hashlib.new(name) for name in file.hashes if _supported(name)}
        size = 0
        with tempfile.SpooledTemporaryFile(max_size=8 * MiB) as spool:
            for chunk in exchange.body(self.options.max_download):
                spool.write(chunk)
                size += len(chunk)
                for digest in digests.values():
                    digest.update(chunk)
            for name, digest in digests.items():
                if digest.hexdigest() != file.hashes[name].lower():
                    raise HashMismatchError(
                        file.url, name, file.hashes[name].lower(), digest.hexdigest()
                    )
            spool.seek(0)
            metadata = zipread.metadata_from_zip(
                spool, filename=file.filename, max_size=self.options.max_metadata
            )
        return metadata, size

    # -- HTTP ---------------------------------------------------------------------------------

    @contextmanager
    def _request(
        self,
        method: str,
        url: str,
        category: Category,
        *,
        headers: dict[str, str] | None = None,
        spent: _Spent | None = None,
    ) -> Iterator[_Exchange]:
        """Send with retries and yield the exchange; record it when the block ends.

        Retries (connection errors, timeouts, 429, 5xx) happen before anything is yielded; each
        attempt is recorded. httpx errors raised while the block reads the body become
        :class:`~skimlock.errors.FetchError`.
        """
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                request = self.client.build_request(method, url, headers=headers)
            except (httpx.InvalidURL, ValueError) as exc:
                raise FetchError(url, f"invalid URL ({exc})") from None
            try:
                response = self._send(request, category, headers, spent)
            except httpx.HTTPError as exc:
                self._record(category, url, status=None, nbytes=0, headers=headers,
                             started=started, spent=spent)
                if attempt < self.options.retries and _retryable(exc):
                    attempt += 1
                    time.sleep(self._backoff(attempt, None))
                    continue
                raise FetchError(url, _describe(exc)) from None
            if response.status_code in _RETRY_STATUS and attempt < self.options.retries:
                response.close()
                self._record(category, url, status=response.status_code,
                             nbytes=response.num_bytes_downloaded, headers=headers,
                             started=started, spent=spent)
                attempt += 1
                time.sleep(self._backoff(attempt, response.headers.get("retry-after")))
                continue
            break
        exchange = _Exchange(response=response, url=url, category=category)
        try:
            yield exchange
        except httpx.TransportError as exc:
            raise _Interrupted(url, _describe(exc)) from None
        except httpx.HTTPError as exc:
            raise FetchError(url, _describe(exc)) from None
        finally:
            _drain(response)
            response.close()
            self._record(exchange.category, url, status=response.status_code,
                         nbytes=response.num_bytes_downloaded, headers=headers,
                         started=started, spent=spent)

    def _send(
        self,
        request: httpx.Request,
        category: Category,
        headers: dict[str, str] | None,
        spent: _Spent | None,
    ) -> httpx.Response:
        """Send, following redirects one hop at a time: each hop is checked like a listed URL
        (no plain HTTP to an untrusted host) and recorded as its own request."""
        for hop in range(_MAX_REDIRECTS + 1):
            started = time.monotonic()
            # Credentials are chosen for the listed URL only: on later hops httpx has kept the
            # Authorization header for the same origin and dropped it for another one.
            response = self.client.send(
                request, stream=True, follow_redirects=False,
                **({} if hop == 0 else {"auth": None}),
            )
            target = response.next_request
            if target is None:
                return response
            _drain(response)
            response.close()
            self._record(category, str(request.url), status=response.status_code,
                         nbytes=response.num_bytes_downloaded, headers=headers,
                         started=started, spent=spent)
            self._check_secure(str(target.url))
            request = target
        raise FetchError(str(request.url), f"too many redirects (more than {_MAX_REDIRECTS})")

    def _again(self, operation: Callable[[], _T]) -> _T:
        """Run ``operation``; when a body was cut off (reset, truncated, timed out while
        reading), run it again, at most ``retries`` more times, with backoff."""
        attempt = 0
        while True:
            try:
                return operation()
            except _Interrupted as exc:
                if attempt >= self.options.retries:
                    raise FetchError(exc.url, exc.reason) from None
                attempt += 1
                logger.debug("retrying after %s", exc)
                time.sleep(self._backoff(attempt, None))

    def _record(
        self,
        category: Category,
        url: str,
        *,
        status: int | None,
        nbytes: int,
        headers: dict[str, str] | None,
        started: float,
        spent: _Spent | None,
    ) -> None:
        if spent is not None:
            spent.bytes += nbytes
            spent.requests += 1
        self.stats.record(
            RequestRecord(
                category=category,
                method="GET",
                url=redact(url),
                status=status,
                body_bytes=nbytes,
                range=(headers or {}).get("Range"),
                seconds=time.monotonic() - started,
            )
        )

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        if retry_after and retry_after.strip().isdigit():
            return min(10.0, float(retry_after.strip()))
        return float(self.options.backoff * (2 ** (attempt - 1)))

    # -- policy and memory --------------------------------------------------------------------

    def _tail_guess(self, project: str, size: int | None) -> int:
        learned = self._learned_tail.get(project)
        if learned is not None:
            guess = learned + max(4 * KiB, int(learned * self.options.learned_margin))
        else:
            guess = self.options.initial_tail
        return min(guess, size) if size else guess

    def _learn(self, project: str, tail: int) -> None:
        with self._lock:
            self._learned_tail[project] = max(tail, self._learned_tail.get(project, 0))

    def _caps(self, url: str) -> _HostCaps:
        host = _host(url)
        with self._lock:
            return self._hosts.setdefault(host, _HostCaps())

    def _mark(self, url: str, *, suffix: bool | None = None, ranges: bool | None = None) -> None:
        caps = self._caps(url)
        with self._lock:
            if suffix is not None:
                caps.suffix = suffix
            if ranges is not None and caps.ranges is not False:
                caps.ranges = ranges

    def _check_secure(self, url: str) -> None:
        """Refuse plain HTTP unless the host is loopback or trusted; refuse other schemes."""
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            port = parts.port
        except ValueError as exc:
            raise FetchError(url, f"invalid URL ({exc})") from None
        if parts.scheme == "https":
            return
        if parts.scheme != "http":
            raise FetchError(url, f"unsupported URL scheme {parts.scheme!r}")
        trusted = self.options.trusted_hosts
        if _is_loopback(host) or host in trusted or f"{host}:{port}" in trusted:
            return
        raise InsecureIndexError(url, host)

    def _warn_once(self, key: str, message: str) -> None:
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        logger.warning(message)

    def _event(self, kind: str) -> None:
        if self._on_event is not None:
            self._on_event(kind)


# --- body reading ------------------------------------------------------------------------------


@dataclass(kw_only=True, slots=True)
class _Exchange:
    """One response being read; ``category`` may be corrected before it is recorded."""

    response: httpx.Response
    url: str
    category: Category

    def body(self, cap: int, *, raw: bool = False) -> Iterator[bytes]:
        """The body in chunks; more than ``cap`` bytes is an error (checked before reading)."""
        declared = self.response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FetchError(self.url, f"body of {declared} bytes is over the {cap}-byte cap")
        seen = 0
        chunks = self.response.iter_raw() if raw else self.response.iter_bytes()
        for chunk in chunks:
            seen += len(chunk)
            if seen > cap:
                raise FetchError(self.url, f"body is over the {cap}-byte cap")
            yield chunk


class _Interrupted(FetchError):
    """A body cut off by the transport; :meth:`Fetcher._again` retries the operation."""


@dataclass(frozen=True, kw_only=True, slots=True)
class _Whole:
    """A whole file was read (the server ignored a range)."""

    metadata: bytes
    size: int


# --- helpers -----------------------------------------------------------------------------------


def _verify(url: str, data: bytes, hashes: Mapping[str, str]) -> None:
    """Check every advertised digest hashlib can compute; a mismatch is a hard error."""
    for name, expected in hashes.items():
        if not _supported(name):
            continue
        actual = hashlib.new(name, data).hexdigest()
        if actual != expected.lower():
            raise HashMismatchError(url, name, expected.lower(), actual)


def _drain(response: httpx.Response) -> None:
    """Read what is left of a small body before closing: those bytes crossed the wire (so they
    are counted) and the connection can be reused. Large or broken bodies are just closed."""
    if response.is_stream_consumed or response.is_closed:
        return
    length = response.headers.get("content-length", "")
    if not length.isdigit() or int(length) > _DRAIN_MAX:
        return
    try:
        for _chunk in response.iter_raw():
            pass
    except httpx.HTTPError:
        pass


def _host(url: str) -> str:
    """``host[:port]`` of ``url``, never its credentials."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return "?"
    return f"{host}:{port}" if port else host


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _supported(name: str) -> bool:
    return name in hashlib.algorithms_guaranteed and not name.startswith("shake_")


def _content_range(value: str | None) -> tuple[int, int, int] | None:
    if not value:
        return None
    match = _CONTENT_RANGE.match(value)
    if not match or match.group(1) is None or match.group(3) == "*":
        return None
    first, last, total = int(match.group(1)), int(match.group(2)), int(match.group(3))
    if first > last or last >= total:
        return None
    return first, last, total


def _unsatisfied_total(response: httpx.Response) -> int | None:
    match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
    if match and match.group(3) not in (None, "*"):
        return int(match.group(3))
    return None


def _project_of(filename: str) -> str:
    return filename.split("-", 1)[0].lower().replace(".", "_")


def _retryable(exc: httpx.HTTPError) -> bool:
    return isinstance(exc, httpx.TransportError) and not isinstance(exc, httpx.UnsupportedProtocol)


def _describe(exc: httpx.HTTPError) -> str:
    kinds: list[tuple[type[httpx.HTTPError], str]] = [
        (httpx.ConnectTimeout, "connection timed out"),
        (httpx.ReadTimeout, "server too slow (read timed out)"),
        (httpx.TimeoutException, "timed out"),
        (httpx.ConnectError, "connection failed"),
        (httpx.RemoteProtocolError, "connection broken by the server"),
        (httpx.ReadError, "connection reset while reading"),
        (httpx.TooManyRedirects, "too many redirects"),
    ]
    for kind, text in kinds:
        if isinstance(exc, kind):
            detail = str(exc).strip()
            return f"{text} ({detail})" if detail else text
    return f"{type(exc).__name__}: {exc}"


