"""The fetch layer: run-level coordination of what is fetched (all HTTP goes through
:mod:`skimlock.transport`).

It offers two operations, each synchronous or as a future (so the resolver can prefetch):

* :meth:`Fetcher.page` — a project page from a Simple Repository API index;
* :meth:`Fetcher.metadata` — the core metadata of one listed file, by the cheapest strategy that
  works: PEP 658 ``.metadata`` (hash verified) → HTTP range requests into the wheel's zip →
  a whole download (streamed to a spooled temp file, capped).

Results are memoized per URL for the run, and each host's range capabilities are remembered for
the run. Requests, retries, redirects, credentials and accounting are the transport's.

Range protocol (no HEAD): one suffix request ``Range: bytes=-N`` with ``Accept-Encoding: identity``.
N comes from :class:`~skimlock.rangeplan.RangePlan` (learned per project, capped by the PEP 700
size). The response must be a 206 whose Content-Range matches the request, in identity encoding.
Then :class:`~skimlock.zipread.MetadataLocator` says which single span is still missing (the rest of
the central directory, then the METADATA member) until METADATA can be read.

Fallbacks, remembered per host: a 200 answer to a range is a whole body (it is used, not thrown
away, and the host is marked "no ranges"); 400/403/404/405/501 to a suffix range marks the host
"no suffix ranges" and a ``bytes=0-0`` probe learns the size for absolute ranges; 416 teaches the
size from ``Content-Range: bytes */N``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import tempfile
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, TypeVar

from packaging.metadata import Metadata

from . import coremeta, pagedigest, sdist, zipread
from .cache import Cache, StoredPage, metadata_key
from .errors import (
    BodyTooLargeError,
    FetchCancelledError,
    FetchError,
    HashMismatchError,
    HTTPStatusError,
    OfflineError,
    RangeNotSatisfiedError,
    SkimlockError,
    WheelError,
    redact,
)
from .rangeplan import DEFAULT_INITIAL_TAIL, RangePlan
from .simple import ACCEPT, IndexFile, ProjectPage, normalize, parse_project_page, project_url
from .stats import Category, MetadataSource, Stats
from .transport import Exchange, Spent, Transport, TransportOptions, host_of, make_client

if TYPE_CHECKING:
    import httpx

__all__ = ["FetchedMetadata", "Fetcher", "FetchOptions", "make_client"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

KiB = 1024
MiB = 1024 * KiB

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$", re.IGNORECASE)
#: Statuses with which servers refuse a suffix range they do not support.
_SUFFIX_REFUSED = frozenset({400, 403, 404, 405, 416, 501})
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
    #: The first suffix request when nothing was learned for the project (see rangeplan).
    initial_tail: int = DEFAULT_INITIAL_TAIL
    #: Margin (fraction, at least 4 KiB) on a learned tail, for a later, larger version.
    learned_margin: float = 0.25
    #: Largest whole file read (a 200 answer to a range, or a full download).
    max_download: int = 2048 * MiB
    #: Largest METADATA accepted (a zip bomb guard).
    max_metadata: int = 16 * MiB
    #: Hosts allowed over plain HTTP (loopback is always allowed).
    trusted_hosts: frozenset[str] = frozenset()
    #: Seconds one request may take in all, redirects, headers and body (``--timeout`` bounds
    #: each read); see :class:`~skimlock.transport.TransportOptions`.
    request_deadline: float | None = 300.0
    #: No retry of a request starts this many seconds after its first attempt.
    retry_window: float = 120.0
    #: ``--offline``: answer from the cache only; nothing goes over the network.
    offline: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class FetchedMetadata:
    """The core metadata of one file and how it was obtained."""

    #: The file as listed, except ``size``: the size the server showed when it contradicted
    #: the index's (a Content-Range total, or the length of a whole download).
    file: IndexFile
    data: bytes
    metadata: Metadata
    source: MetadataSource


@dataclass(kw_only=True, slots=True)
class _HostCaps:
    """What a host has shown it can do during this run (None = not yet known)."""

    suffix: bool | None = None
    ranges: bool | None = None


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


class Fetcher:
    """All HTTP of a run. Construct cheaply (no I/O); close with :meth:`close` or ``with``."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        stats: Stats | None = None,
        options: FetchOptions | None = None,
        on_event: Callable[[str], None] | None = None,
        cache: Cache | None = None,
    ) -> None:
        self.client = client
        #: The on-disk cache (pages, metadata, host capabilities); None: every run is cold.
        self.cache = cache
        self.stats = stats if stats is not None else Stats()
        self.options = options or FetchOptions()
        self.transport = Transport(
            client,
            stats=self.stats,
            options=TransportOptions(
                retries=self.options.retries,
                backoff=self.options.backoff,
                trusted_hosts=self.options.trusted_hosts,
                request_deadline=self.options.request_deadline,
                retry_window=self.options.retry_window,
                offline=self.options.offline,
            ),
        )
        self._on_event = on_event
        self._executor: ThreadPoolExecutor | None = None
        self._memo = _Memo()
        self._lock = threading.Lock()
        self._hosts: dict[str, _HostCaps] = {}
        self._plan = RangePlan(
            initial_tail=self.options.initial_tail, margin=self.options.learned_margin
        )
        self._warned: set[str] = set()

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None:
            self.cancel()  # Ctrl-C, or an error: nothing fetched from now on has a use
        self.close()

    def cancel(self) -> None:
        """Stop at once: queued work is cancelled, no new request is sent, in-flight requests
        are aborted (see :meth:`Transport.cancel`)."""
        self.transport.cancel()
        with self._memo.lock:
            executor = self._executor
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        if self.cache is not None:
            self.cache.flush()  # every entry of this run is on disk when the fetcher closes

    # -- public API ---------------------------------------------------------------------------

    def page(self, index_url: str, name: str) -> ProjectPage | None:
        """The project page of ``name`` on ``index_url``; None when the index does not have it."""
        return self.submit_page(index_url, name).result()

    def submit_page(self, index_url: str, name: str) -> Future[ProjectPage | None]:
        url = project_url(index_url, name)
        return self._submit(
            ("page", url), lambda: self.transport.again(lambda: self._fetch_page(url, name))
        )

    def document(self, url: str) -> bytes:
        """A requirements or constraints file named by URL (``-r https://...``), recorded as
        :attr:`~skimlock.stats.Category.INPUT`."""
        self.transport.check(url)
        with self.transport.get(url, Category.INPUT) as exchange:
            if exchange.status != 200:
                raise HTTPStatusError(url, exchange.status)
            return exchange.read(_MAX_PAGE)

    def metadata(self, file: IndexFile) -> FetchedMetadata:
        """Core metadata of ``file`` (a wheel, or any file whose ``.metadata`` is served)."""
        return self.submit_metadata(file).result()

    def submit_metadata(self, file: IndexFile) -> Future[FetchedMetadata]:
        return self._submit(("metadata", file.url), lambda: self._fetch_metadata(file))

    # -- memo and executor --------------------------------------------------------------------

    def _submit(self, key: object, work: Callable[[], _T]) -> Future[_T]:
        with self._memo.lock:
            existing = self._memo.futures.get(key)
            if existing is not None:
                return existing  # type: ignore[return-value]
            if self.transport.cancelled:
                raise FetchCancelledError(str(key[1]) if isinstance(key, tuple) else "?")
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.options.max_in_flight, thread_name_prefix="skimlock-fetch"
                )
            future = self._executor.submit(work)
            self._memo.futures[key] = future  # type: ignore[assignment]
            return future

    # -- pages --------------------------------------------------------------------------------

    def _fetch_page(self, url: str, name: str) -> ProjectPage | None:
        """A project page: from the cache while fresh (RFC 9111, see :mod:`skimlock.cache`),
        else over the network (conditionally when the cached copy has validators)."""
        self.transport.check(url)
        self.transport.remember_credentials(url)
        cache = self.cache
        headers = {"Accept": ACCEPT}
        stale: StoredPage | None = None
        if cache is not None:
            if self.options.offline:
                stored = cache.page(name, url, ACCEPT)
                if stored is None:
                    raise OfflineError(url, f"the index page of {name}")
                return self._stored_page(stored, name, "pages")
            plan = cache.page_plan(name, url, ACCEPT)
            if plan.fresh is not None:
                return self._stored_page(plan.fresh, name, "pages")
            stale = plan.stored
            headers |= {k: v for k, v in plan.headers.items() if k.lower() != "accept"}
        with self.transport.get(url, Category.INDEX_PAGE, headers=headers) as exchange:
            if exchange.status == 304 and stale is not None and cache is not None:
                fresh = cache.freshen_page(name, stale, ACCEPT, exchange.headers)
                return self._stored_page(fresh, name, "revalidated")
            if exchange.status in (404, 410):
                return None
            if exchange.status != 200:
                raise HTTPStatusError(url, exchange.status)
            content = exchange.read(_MAX_PAGE)
            final_url = exchange.final_url
            self.transport.check(final_url)
            content_type = exchange.headers.get("content-type", "")
            page = parse_project_page(content, content_type=content_type, url=final_url,
                                      name=name)
            if cache is not None:
                # The pre-digested form is written by the first run that reads the page from
                # the cache (_stored_page), not here: a cold run writes each page once.
                cache.store_page(name, url, ACCEPT, status=200, headers=exchange.headers,
                                 body=content, final_url=final_url)
        self._event("page")
        return page

    def _stored_page(self, stored: StoredPage, name: str, kind: str) -> ProjectPage:
        """Parse a page the cache answered with, and count what it saved (``kind``: a page
        used while fresh, or one a 304 confirmed)."""
        self.transport.check(stored.final_url)
        page = None
        if self.cache is not None:
            digested = self.cache.digested(name, stored.digest, pagedigest.KIND)
            page = pagedigest.load(digested) if digested is not None else None
        if page is None or page.url != stored.final_url or page.name != normalize(name):
            page = parse_project_page(stored.body, content_type=stored.content_type,
                                      url=stored.final_url, name=name)
            digested = pagedigest.dump(page)
            if self.cache is not None and digested is not None:
                self.cache.store_digested(name, stored.digest, pagedigest.KIND, digested)
        self.stats.from_cache(kind, len(stored.body))
        self._event("page")
        return page

    # -- metadata -----------------------------------------------------------------------------

    def _fetch_metadata(self, file: IndexFile) -> FetchedMetadata:
        self.transport.check(file.url)
        cached = self._cached_metadata(file)
        if cached is not None:
            return cached
        if self.options.offline:
            raise OfflineError(file.url, f"the metadata of {file.filename}")
        fetched = self._fetch_metadata_now(file)
        if self.cache is not None:
            self.cache.store_metadata(
                _project_of(file.filename), _cache_key(file), fetched.data,
                strategy=fetched.source.category.value, file_size=fetched.source.file_size,
                spent_bytes=fetched.source.spent_bytes,
            )
        return fetched

    def _cached_metadata(self, file: IndexFile) -> FetchedMetadata | None:
        """The metadata of ``file`` from the cache, re-verified against the digest the page
        advertises for its ``.metadata`` (an entry that fails any check is not used)."""
        if self.cache is None:
            return None
        stored = self.cache.metadata(_project_of(file.filename), _cache_key(file))
        if stored is None:
            return None
        try:
            if file.core_metadata is not None:
                _verify(file.metadata_url, stored.data, file.core_metadata.hashes)
            category = Category(stored.strategy)
            metadata = coremeta.parse_metadata(
                stored.data, filename=file.filename, max_size=self.options.max_metadata
            )
        except (HashMismatchError, ValueError, SkimlockError) as exc:
            logger.debug("not using the cached metadata of %s: %s", file.filename, exc)
            return None
        if stored.file_size is not None and stored.file_size != file.size and file.size:
            file = dataclasses.replace(file, size=stored.file_size)
        source = MetadataSource(
            filename=file.filename, category=category, file_size=stored.file_size or file.size,
            spent_bytes=stored.spent_bytes, requests=0, metadata_bytes=len(stored.data),
            cached=True,
        )
        self.stats.metadata_obtained(source)
        self._event("metadata")
        return FetchedMetadata(file=file, data=stored.data, metadata=metadata, source=source)

    def _fetch_metadata_now(self, file: IndexFile) -> FetchedMetadata:
        spent = Spent()
        data: bytes | None = None
        category = Category.METADATA_PEP658
        size = file.size
        if file.core_metadata is not None:
            data = self._pep658(file, spent)
        if data is None:
            if sdist.is_sdist(file.filename):
                data, size = self.transport.again(lambda: self._from_sdist(file, spent))
                category = Category.METADATA_SDIST
            elif not file.is_wheel:
                raise WheelError(file.filename, "not a wheel, and the index serves no metadata")
            else:
                data, category, size = self.transport.again(
                    lambda: self._from_wheel(file, spent)
                )
            if size is not None and file.size is not None and size != file.size:
                logger.warning(
                    "the index says %s has %d bytes, but %s serves %d; the lock records %d",
                    file.filename, file.size, host_of(file.url), size, size,
                )
                file = dataclasses.replace(file, size=size)
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

    def _pep658(self, file: IndexFile, spent: Spent) -> bytes | None:
        """PEP 658: the served ``.metadata`` (hash verified); None when the wheel must be read
        instead: advertised but missing (404/410) or an HTML page in place of metadata, or (for
        a wheel only) failing after retries (5xx, stalls, resets) or in an encoding refused."""
        assert file.core_metadata is not None
        url = file.metadata_url
        try:
            data = self.transport.again(lambda: self._pep658_once(file, url, spent))
        except _NoMetadata as exc:
            reason = exc.reason
        except (BodyTooLargeError, FetchCancelledError):
            raise
        except FetchError as exc:
            if not file.is_wheel:
                raise
            reason = f"failed ({exc.reason})"
        else:
            if data is not None:
                _verify(url, data, file.core_metadata.hashes)
            return data
        self._warn_once(
            f"pep658:{host_of(url)}:{reason.partition(' ')[0]}",
            f"{redact(url)} is advertised but {reason}; "
            "reading metadata from the wheels of this index instead",
        )
        return None

    def _pep658_once(self, file: IndexFile, url: str, spent: Spent) -> bytes | None:
        with self.transport.get(url, Category.METADATA_PEP658, spent=spent) as exchange:
            if exchange.status in (404, 410):
                raise _NoMetadata(url, f"answers {exchange.status}")
            if exchange.status != 200:
                raise HTTPStatusError(url, exchange.status)
            content_type = exchange.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type in ("text/html", "application/xhtml+xml"):
                raise _NoMetadata(url, f"answers an HTML page ({content_type})")
            data = exchange.read(self.options.max_metadata)
        if data.lstrip()[:1] == b"<":
            raise _NoMetadata(url, "answers an HTML page, not metadata")
        return data

    def _from_sdist(self, file: IndexFile, spent: Spent) -> tuple[bytes, int | None]:
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
            with self.transport.get(file.url, Category.METADATA_SDIST, spent=spent) as exchange:
                if exchange.status != 200:
                    raise HTTPStatusError(file.url, exchange.status)
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
        self, file: IndexFile, spent: Spent, start: int | None, end: int
    ) -> tuple[int, bytes, int] | None:
        """One range of an sdist: ``(offset, bytes, total)``; a 200 is the whole file; None
        when the range is refused (the caller reads the file whole)."""
        header = f"bytes=-{end}" if start is None else f"bytes={start}-{end}"
        headers = {"Range": header, "Accept-Encoding": "identity"}
        with self.transport.get(
            file.url, Category.METADATA_SDIST, headers=headers, spent=spent
        ) as exchange:
            if exchange.status == 200:
                whole = exchange.read(self.options.max_download)
                return 0, whole, len(whole)
            encoding = exchange.headers.get("content-encoding", "identity").strip().lower()
            got = _content_range(exchange.headers.get("content-range"))
            if exchange.status != 206 or encoding not in ("", "identity") or got is None:
                return None
            first, last, total = got
            data = exchange.read(last - first + 1, raw=True)
        return first, data, total

    def download(self, file: IndexFile, destination: str, category: Category) -> int:
        """Stream ``file`` into the path ``destination`` (hash verified, capped); its size."""
        self.transport.check(file.url)
        with (
            self.transport.get(file.url, category) as exchange,
            open(destination, "wb") as out,
        ):
            if exchange.status != 200:
                raise HTTPStatusError(file.url, exchange.status)
            return self._copy_verified(file, exchange, out)

    def _copy_verified(self, file: IndexFile, exchange: Exchange, out: IO[bytes]) -> int:
        """Copy a whole body into ``out`` (capped) and check every digest the index gives for
        ``file``; its size."""
        digests = {name: hashlib.new(name) for name in file.hashes if _supported(name)}
        size = 0
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

    def _from_wheel(self, file: IndexFile, spent: Spent) -> tuple[bytes, Category, int | None]:
        caps = self._caps(file.url)
        if caps.ranges is not False:
            try:
                found = self._by_ranges(file, caps, spent)
            except RangeNotSatisfiedError as exc:
                self._mark(file.url, ranges=False)
                self._warn_once(
                    f"ranges:{host_of(file.url)}",
                    f"{exc}; downloading whole wheels from this host",
                )
            else:
                if found is not None:
                    return found
        data, size = self._whole(file, spent)
        return data, Category.FULL_DOWNLOAD, size

    def _by_ranges(
        self, file: IndexFile, caps: _HostCaps, spent: Spent
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
        self._learn(project, locator.layout)
        self._mark(file.url, ranges=True)
        return data, Category.METADATA_RANGE, first.total

    def _refused(self, url: str, status: int) -> None:
        """The host refuses range requests: remember it, say so once, use whole downloads."""
        self._mark(url, ranges=False)
        self._warn_once(
            f"ranges:{host_of(url)}",
            f"{host_of(url)} refuses range requests (HTTP {status}); reading whole wheels from it",
        )

    def _range(
        self,
        file: IndexFile,
        spent: Spent,
        *,
        suffix: int | None = None,
        start: int | None = None,
        end: int | None = None,
    ) -> _Partial | _Refused | _Whole:
        """One range GET, validated. A 200 answer is read as a whole download (and counted so)."""
        header = f"bytes=-{suffix}" if suffix is not None else f"bytes={start}-{end}"
        headers = {"Range": header, "Accept-Encoding": "identity"}
        url = file.url
        with self.transport.get(
            url, Category.METADATA_RANGE, headers=headers, spent=spent
        ) as exchange:
            status = exchange.status
            if status == 200:
                # The server ignored the range: this body is the whole file. Use it.
                self._mark(url, ranges=False)
                self._warn_once(
                    f"ranges:{host_of(url)}",
                    f"{host_of(url)} ignores Range requests; reading whole wheels from it",
                )
                exchange.category = Category.FULL_DOWNLOAD
                metadata, size = self._read_whole(file, exchange)
                return _Whole(metadata=metadata, size=size)
            if status == 416:
                return _Refused(status=status, total=_unsatisfied_total(exchange.headers))
            if status != 206:
                return _Refused(status=status)
            encoding = exchange.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                raise RangeNotSatisfiedError(
                    url, f"range answered with Content-Encoding {encoding}"
                )
            got = _content_range(exchange.headers.get("content-range"))
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
            data = exchange.read(length, raw=True)
            if len(data) != length:
                raise RangeNotSatisfiedError(
                    url, f"range body has {len(data)} bytes, Content-Range says {length}"
                )
        return _Partial(start=first, data=data, total=total)

    def _whole(self, file: IndexFile, spent: Spent) -> tuple[bytes, int]:
        """Download the whole file (last resort) and read METADATA from it."""
        with self.transport.get(file.url, Category.FULL_DOWNLOAD, spent=spent) as exchange:
            if exchange.status != 200:
                raise HTTPStatusError(file.url, exchange.status)
            return self._read_whole(file, exchange)

    def _read_whole(self, file: IndexFile, exchange: Exchange) -> tuple[bytes, int]:
        """Stream a whole file to a spooled temp file (bounded memory), verify, read METADATA."""
        with tempfile.SpooledTemporaryFile(max_size=8 * MiB) as spool:
            size = self._copy_verified(file, exchange, spool)
            spool.seek(0)
            metadata = zipread.metadata_from_zip(
                spool, filename=file.filename, max_size=self.options.max_metadata
            )
        return metadata, size

    # -- policy and memory --------------------------------------------------------------------

    def _tail_guess(self, project: str, size: int | None) -> int:
        return self._plan.first_request(project, size)

    def _learn(self, project: str, layout: zipread.WheelLayout | None) -> None:
        if layout is not None:
            self._plan.learn(project, layout)

    def _caps(self, url: str) -> _HostCaps:
        """What the host of ``url`` can do: learned this run, else remembered by the cache."""
        host = host_of(url)
        with self._lock:
            caps = self._hosts.get(host)
            if caps is not None:
                return caps
        remembered = self.cache.host(host) if self.cache is not None else None
        with self._lock:
            caps = self._hosts.get(host)
            if caps is None:
                caps = _HostCaps(**remembered) if remembered else _HostCaps()
                self._hosts[host] = caps
            return caps

    def _mark(self, url: str, *, suffix: bool | None = None, ranges: bool | None = None) -> None:
        """Record what a host showed; the cache remembers it across runs (a later contradiction
        overwrites it)."""
        caps = self._caps(url)
        with self._lock:
            before = (caps.suffix, caps.ranges)
            if suffix is not None:
                caps.suffix = suffix
            if ranges is not None and caps.ranges is not False:
                caps.ranges = ranges
            after = (caps.suffix, caps.ranges)
        if after != before and self.cache is not None:
            self.cache.store_host(host_of(url), suffix=after[0], ranges=after[1])

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


class _NoMetadata(FetchError):
    """The ``.metadata`` is not usable; the wheel is read instead."""


@dataclass(frozen=True, kw_only=True, slots=True)
class _Whole:
    """A whole file was read (the server ignored a range)."""

    metadata: bytes
    size: int


# --- helpers -----------------------------------------------------------------------------------


def _cache_key(file: IndexFile) -> str:
    return metadata_key(sha256=file.hashes.get("sha256"), url=file.url)


def _verify(url: str, data: bytes, hashes: Mapping[str, str]) -> None:
    """Check every advertised digest hashlib can compute; a mismatch is a hard error."""
    for name, expected in hashes.items():
        if not _supported(name):
            continue
        actual = hashlib.new(name, data).hexdigest()
        if actual != expected.lower():
            raise HashMismatchError(url, name, expected.lower(), actual)


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


def _unsatisfied_total(headers: Mapping[str, str]) -> int | None:
    match = _CONTENT_RANGE.match(headers.get("content-range", ""))
    if match and match.group(3) not in (None, "*"):
        return int(match.group(3))
    return None


def _project_of(filename: str) -> str:
    return filename.split("-", 1)[0].lower().replace(".", "_")
