"""The on-disk cache: index pages under HTTP caching rules, immutable metadata, host capabilities.

Layout (one versioned bucket; a schema change bumps :data:`BUCKET`, never migrates in place)::

    <root>/v2/pages/<project>+<key>.entry       a project page: response headers + body
    <root>/v2/digested/<project>+<key>.<kind>   a pre-digested form of a page, bound to its body
    <root>/v2/metadata/<project>+<key>.entry    core metadata of one file (immutable)
    <root>/v2/hosts/<host>.json                 range capabilities of a host, with an expiry

One flat directory per kind (``+`` never occurs in a project segment, so a project's files are
those named ``<project>+*``): a cold lock creates one file per page and per metadata, and no
directory per project. (``v1`` had a directory per project: on this machine's ext4 creating a
directory costs as much as creating a file, ~1 ms, and half of a cold run's creations were
directories.)

Every ``.entry`` file is one JSON header line followed by the payload bytes; the header carries
the payload's length and SHA-256, checked on every read, so a truncated or corrupt entry is seen
and treated as missing (and removed), never used. Writes go to a temporary file in the same
directory and are renamed into place, so concurrent runs share a cache without locks: a reader
sees an old entry or a new one, whole.

Writes are behind the run: a store hands its bytes to one writer thread and returns, and a read
in the same process sees pending bytes before the disk (:meth:`Cache.flush` waits for the
writer; the fetch layer flushes when it closes, and the writer is not a daemon thread, so the
process waits for it at exit). Creating a file costs a journaled metadata update, ~1 ms on this
machine's ext4: done in the fetch threads, the ~140 files of a cold 70-package lock made the
run 1.4x slower than without a cache; behind it, 1.2x.

Pages follow RFC 9111 through the sans-I/O state machine of ``hishel`` (freshness from
``Cache-Control``/``Expires``, conditional requests with ``ETag``/``Last-Modified``, 304
freshening, ``Vary``). A response with no freshness information at all (this machine's PyPI
gateway, many private indexes) is stored as if it said ``max-age`` = ``default_max_age`` (600 s,
PyPI's own). Metadata is keyed by the file's SHA-256 from the index (by its URL when the index
gives no hash), so it is shared by every index and run that lists the same file; the fetch layer
re-verifies a PEP 658 entry against the digest the page advertises before using it.

No HTTP here: :mod:`skimlock.fetch` asks :meth:`Cache.page_plan` what to send and hands back what
it received.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

if TYPE_CHECKING:
    import hishel

__all__ = [
    "BUCKET",
    "DEFAULT_MAX_AGE",
    "Cache",
    "CacheInfo",
    "PagePlan",
    "StoredMetadata",
    "StoredPage",
    "default_cache_dir",
    "metadata_key",
]

logger = logging.getLogger(__name__)

#: The bucket every entry of this schema lives in.
BUCKET = "v2"
#: Freshness given to a page whose response carries no freshness information (PyPI's max-age).
DEFAULT_MAX_AGE = 600
#: How long a host's range capabilities are trusted; a refusal only for an hour (trusting a
#: wrong "no ranges" costs whole downloads, a wrong "ranges" one failed request).
HOST_TTL = 7 * 24 * 3600
HOST_REFUSAL_TTL = 3600
#: Largest header line read from an entry.
_MAX_HEADER = 64 * 1024
#: Response headers kept with a page (what caching and parsing need).
_KEPT_HEADERS = (
    "content-type", "etag", "last-modified", "cache-control", "expires", "date", "vary", "age",
)
_SAFE = re.compile(r"[^a-z0-9._-]")


def default_cache_dir() -> Path:
    """``$SKIMLOCK_CACHE_DIR``, else the platform's user cache directory for skimlock."""
    configured = os.environ.get("SKIMLOCK_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("skimlock", appauthor=False))


def metadata_key(*, sha256: str | None, url: str) -> str:
    """The cache key of a file's metadata: its SHA-256 from the index, else its URL's digest."""
    if sha256:
        return f"sha256-{sha256.lower()}"
    return "url-" + hashlib.sha256(url.encode("utf-8")).hexdigest()


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredPage:
    """A project page as stored: enough to answer from, revalidate, or parse again."""

    url: str
    #: Where the page was finally served from (after redirects): relative links resolve
    #: against it.
    final_url: str
    headers: Mapping[str, str]
    body: bytes
    #: SHA-256 of ``body`` (binds pre-digested forms to it).
    digest: str
    #: When it was stored or last freshened (seconds since the epoch).
    stored_at: float

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass(frozen=True, kw_only=True, slots=True)
class PagePlan:
    """What to do for a page: use ``fresh``, or send a request with ``headers`` (conditional
    when ``stored`` is set: a 304 answer means ``stored`` is still good)."""

    fresh: StoredPage | None = None
    stored: StoredPage | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredMetadata:
    """Core metadata of one file as stored, with how it was first obtained."""

    data: bytes
    #: The stats category of the strategy that fetched it ("metadata-range", ...).
    strategy: str
    #: The file's full size when it was known.
    file_size: int | None
    #: What fetching it cost the first time (bytes of response bodies).
    spent_bytes: int


@dataclass(frozen=True, kw_only=True, slots=True)
class CacheInfo:
    """What ``skimlock cache info`` prints."""

    root: Path
    bucket: Path
    pages: int
    metadata: int
    hosts: int
    bytes: int


class Cache:
    """One cache directory. Cheap to construct (no I/O until used); thread-safe.

    ``refresh``: revalidate every page (``--refresh``); ``refresh_projects``: those projects'
    pages only (``--refresh-package``). A cache that cannot be written (read-only directory, full
    disk) warns once and goes on without storing; reads keep working.
    """

    def __init__(
        self,
        root: Path,
        *,
        default_max_age: int = DEFAULT_MAX_AGE,
        refresh: bool = False,
        refresh_projects: Iterable[str] = (),
    ) -> None:
        self.root = Path(root)
        self.bucket = self.root / BUCKET
        self.default_max_age = default_max_age
        self.refresh = refresh
        self.refresh_projects = frozenset(canonicalize_name(n) for n in refresh_projects)
        self._lock = threading.Lock()
        self._writable = True
        # Write-behind state, under _lock: bytes not yet on disk by path, the order they came
        # in (a path may repeat; its latest bytes are written once), whether the writer runs.
        self._pending: dict[Path, tuple[bytes, ...]] = {}  # the file's bytes, in pieces
        self._queue: deque[Path] = deque()
        self._writer: threading.Thread | None = None
        self._written = threading.Condition(self._lock)
        self._made: set[Path] = set()  # directories known to exist (writer thread only)

    # -- pages --------------------------------------------------------------------------------

    def page(self, project: str, url: str, accept: str) -> StoredPage | None:
        """The stored page for ``url`` (requested with ``accept``), whatever its age."""
        found = self._read(self._page_path(project, url, accept))
        if found is None:
            return None
        header, body = found
        if header.get("url") != url:
            return None
        headers = header.get("headers")
        stored_at = header.get("stored_at")
        final_url = header.get("final_url", url)
        if not isinstance(headers, dict) or not isinstance(stored_at, (int, float)) \
                or not isinstance(final_url, str):
            return None
        return StoredPage(
            url=url,
            final_url=final_url,
            headers={str(k): str(v) for k, v in headers.items()},
            body=body,
            digest=str(header["sha256"]),
            stored_at=float(stored_at),
        )

    def page_plan(self, project: str, url: str, accept: str) -> PagePlan:
        """Decide from the stored page (if any) under RFC 9111: fresh, revalidate, or fetch."""
        stored = self.page(project, url, accept)
        request_headers = {"accept": accept}
        if stored is None:
            return PagePlan(headers=request_headers)
        import hishel

        if self.refresh or canonicalize_name(project) in self.refresh_projects:
            request_headers["cache-control"] = "no-cache"
        state = hishel.IdleClient(options=_options()).next(
            hishel.Request(method="GET", url=url, headers=hishel.Headers(request_headers)),
            [_entry(url, accept, stored)],
        )
        if isinstance(state, hishel.FromCache):
            return PagePlan(fresh=stored)
        if isinstance(state, hishel.NeedRevalidation):
            conditional = {
                key: value for key, value in _items(state.request.headers)
                if key.lower() in ("if-none-match", "if-modified-since")
            }
            if conditional:
                return PagePlan(stored=stored, headers={"accept": accept, **conditional})
        return PagePlan(headers={"accept": accept})

    def store_page(
        self, project: str, url: str, accept: str, *, status: int,
        headers: Mapping[str, str], body: bytes, final_url: str | None = None,
    ) -> StoredPage | None:
        """Store a 200 answer if RFC 9111 allows it (a response without any freshness
        information gets ``default_max_age``); returns what was stored."""
        if status != 200:
            return None
        import hishel

        kept = _normalized_headers(headers, self.default_max_age)
        request = hishel.Request(method="GET", url=url, headers=hishel.Headers({"accept": accept}))
        state = hishel.CacheMiss(
            request=request,
            options=_options(),
        ).next(hishel.Response(status_code=status, headers=hishel.Headers(dict(kept))))
        if not isinstance(state, hishel.StoreAndUse):
            logger.debug("not caching %s: the response may not be stored", url)
            return None
        return self._write_page(project, url, accept, headers=kept, body=body,
                                final_url=final_url or url)

    def freshen_page(
        self, project: str, stored: StoredPage, accept: str, headers: Mapping[str, str]
    ) -> StoredPage:
        """A 304 answered a revalidation: keep the body, take the new freshness headers."""
        merged = dict(stored.headers)
        fresh = _normalized_headers(headers, self.default_max_age, keep_missing=False)
        merged.update(fresh)
        if "date" not in fresh:
            merged["date"] = email.utils.formatdate(usegmt=True)
        written = self._write_page(
            project, stored.url, accept, headers=merged, body=stored.body,
            final_url=stored.final_url,
        )
        return written if written is not None else stored

    def _write_page(
        self, project: str, url: str, accept: str, *, headers: Mapping[str, str], body: bytes,
        final_url: str,
    ) -> StoredPage | None:
        stored_at = time.time()
        digest = self._write(
            self._page_path(project, url, accept),
            {"url": url, "final_url": final_url, "accept": accept, "headers": dict(headers),
             "stored_at": stored_at},
            body,
        )
        if digest is None:
            return None
        return StoredPage(url=url, final_url=final_url, headers=dict(headers), body=body,
                          digest=digest, stored_at=stored_at)

    # -- pre-digested pages -------------------------------------------------------------------

    def digested(self, project: str, page_digest: str, kind: str) -> bytes | None:
        """A pre-digested form (``kind``) of the page whose body has SHA-256 ``page_digest``."""
        found = self._read(self._digest_path(project, page_digest, kind))
        if found is None or found[0].get("page") != page_digest:
            return None
        return found[1]

    def store_digested(self, project: str, page_digest: str, kind: str, data: bytes) -> None:
        self._write(self._digest_path(project, page_digest, kind), {"page": page_digest}, data)

    # -- metadata -----------------------------------------------------------------------------

    def metadata(self, project: str, key: str) -> StoredMetadata | None:
        found = self._read(self._metadata_path(project, key))
        if found is None:
            return None
        header, data = found
        strategy = header.get("strategy")
        size = header.get("file_size")
        spent = header.get("spent_bytes", 0)
        if header.get("key") != key or not isinstance(strategy, str):
            return None
        return StoredMetadata(
            data=data,
            strategy=strategy,
            file_size=size if isinstance(size, int) else None,
            spent_bytes=spent if isinstance(spent, int) else 0,
        )

    def store_metadata(
        self, project: str, key: str, data: bytes, *, strategy: str, file_size: int | None,
        spent_bytes: int,
    ) -> None:
        self._write(
            self._metadata_path(project, key),
            {"key": key, "strategy": strategy, "file_size": file_size, "spent_bytes": spent_bytes},
            data,
        )

    # -- hosts --------------------------------------------------------------------------------

    def host(self, host: str) -> dict[str, bool | None] | None:
        """What ``host`` showed it can do (``suffix``, ``ranges``), unless expired."""
        raw = self._load(self._host_path(host))
        try:
            data = json.loads(raw) if raw is not None else None
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("host") != host:
            return None
        expires = data.get("expires")
        if not isinstance(expires, (int, float)) or expires < time.time():
            return None
        caps: dict[str, bool | None] = {}
        for name in ("suffix", "ranges"):
            value = data.get(name)
            caps[name] = value if isinstance(value, bool) else None
        return caps

    def store_host(self, host: str, *, suffix: bool | None, ranges: bool | None) -> None:
        ttl = HOST_REFUSAL_TTL if False in (suffix, ranges) else HOST_TTL
        document = {"host": host, "suffix": suffix, "ranges": ranges,
                    "expires": time.time() + ttl}
        self._write_raw(self._host_path(host), json.dumps(document).encode("utf-8"))

    # -- maintenance --------------------------------------------------------------------------

    def flush(self) -> None:
        """Wait until every stored entry is on disk (or dropped, when the cache could not be
        written)."""
        with self._lock:
            while self._writer is not None:
                self._written.wait()

    def info(self) -> CacheInfo:
        self.flush()
        counts = {"pages": 0, "metadata": 0, "hosts": 0}
        size = 0
        for kind in counts:
            base = self.bucket / kind
            if not base.is_dir():
                continue
            for path in base.rglob("*"):
                if path.is_file() and not path.name.startswith("."):
                    counts[kind] += 1
                    with contextlib.suppress(OSError):
                        size += path.stat().st_size
        digested = self.bucket / "digested"
        if digested.is_dir():
            for path in digested.rglob("*"):
                with contextlib.suppress(OSError):
                    size += path.stat().st_size if path.is_file() else 0
        return CacheInfo(root=self.root, bucket=self.bucket, bytes=size, **counts)

    def clean(self, project: str | None = None) -> int:
        """Remove everything (every bucket) or one project's pages and metadata; returns the
        number of files removed."""
        self.flush()
        removed = 0
        if project is None:
            for name in _listdir(self.root):
                target = self.root / name
                if _is_bucket(name) and target.is_dir():
                    removed += sum(1 for p in target.rglob("*") if p.is_file())
                    shutil.rmtree(target, ignore_errors=True)
        else:
            prefix = _project_prefix(project)
            for kind in ("pages", "digested", "metadata"):
                for name in _listdir(self.bucket / kind):
                    if name.startswith(prefix):
                        with contextlib.suppress(OSError):
                            (self.bucket / kind / name).unlink()
                            removed += 1
        self._made.clear()
        return removed

    # -- paths --------------------------------------------------------------------------------

    def _page_path(self, project: str, url: str, accept: str) -> Path:
        key = hashlib.sha256(f"{url}\n{accept}".encode()).hexdigest()
        return self.bucket / "pages" / f"{_project_prefix(project)}{key}.entry"

    def _digest_path(self, project: str, page_digest: str, kind: str) -> Path:
        return (self.bucket / "digested"
                / f"{_project_prefix(project)}{page_digest}.{_segment(kind)}")

    def _metadata_path(self, project: str, key: str) -> Path:
        return self.bucket / "metadata" / f"{_project_prefix(project)}{_segment(key)}.entry"

    def _host_path(self, host: str) -> Path:
        return self.bucket / "hosts" / f"{_segment(host.lower())}.json"

    # -- entries ------------------------------------------------------------------------------

    def _load(self, path: Path) -> bytes | None:
        """The bytes of ``path``: pending ones first, else the file's (None if absent)."""
        with self._lock:
            pending = self._pending.get(path)
        if pending is not None:
            return b"".join(pending)
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except OSError:
            return None

    def _read(self, path: Path) -> tuple[dict[str, object], bytes] | None:
        """An entry's header and payload, or None when absent, corrupt or truncated (a bad
        entry is removed so that the next run refetches it)."""
        data = self._load(path)
        if data is None:
            return None
        line, newline, payload = data.partition(b"\n")
        try:
            if not newline or len(line) >= _MAX_HEADER:
                raise ValueError("no header line")
            header = json.loads(line)
            if not isinstance(header, dict) or header.get("bucket") != BUCKET:
                raise ValueError("not an entry of this bucket")
            if header.get("length") != len(payload):
                raise ValueError("truncated")
            if header.get("sha256") != hashlib.sha256(payload).hexdigest():
                raise ValueError("digest mismatch")
        except ValueError as exc:
            logger.warning("ignoring corrupt cache entry %s (%s); it will be fetched again",
                           path, exc)
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        return header, payload

    def _write(self, path: Path, header: dict[str, object], payload: bytes) -> str | None:
        digest = hashlib.sha256(payload).hexdigest()
        full = {**header, "bucket": BUCKET, "length": len(payload), "sha256": digest}
        line = json.dumps(full, separators=(",", ":")).encode("utf-8") + b"\n"
        return digest if self._write_raw(path, line, payload) else None  # no joined copy

    def _write_raw(self, path: Path, *data: bytes) -> bool:
        """Queue ``data`` for ``path``; False once the cache is known not to be writable."""
        with self._lock:
            if not self._writable:
                return False
            self._pending[path] = data
            self._queue.append(path)
            if self._writer is None:
                # Not a daemon: the interpreter waits for it at exit, so no entry is lost; it
                # ends as soon as the queue is empty.
                self._writer = threading.Thread(
                    target=self._drain, name="skimlock-cache-writer", daemon=False)
                self._writer.start()
        return True

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._writer = None
                    self._written.notify_all()
                    return
                path = self._queue.popleft()
                data = self._pending.get(path)
            if data is None:
                continue  # a repeated path whose latest bytes were written already
            error = self._write_file(path, data)
            with self._lock:
                if self._pending.get(path) is data:
                    del self._pending[path]
                if error is not None:
                    first, self._writable = self._writable, False
                    self._pending.clear()
                    self._queue.clear()
            if error is not None and first:
                logger.warning("cannot write to the cache in %s (%s); going on without storing",
                               self.root, error.strerror or error)

    def _write_file(self, path: Path, data: tuple[bytes, ...]) -> OSError | None:
        temporary = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            if path.parent not in self._made:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._made.add(path.parent)
            try:
                _create(temporary, data)
            except FileNotFoundError:  # the directory went away (``cache clean`` elsewhere)
                path.parent.mkdir(parents=True, exist_ok=True)
                _create(temporary, data)
            os.replace(temporary, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink()
            return exc
        return None


def _create(path: Path, data: tuple[bytes, ...]) -> None:
    with open(path, "xb") as handle:
        for piece in data:
            handle.write(piece)


def _options() -> hishel.CacheOptions:
    import hishel

    return hishel.CacheOptions(shared=False, supported_methods=["GET"], allow_stale=False)


def _entry(url: str, accept: str, stored: StoredPage) -> hishel.Entry:
    import hishel

    return hishel.Entry(
        id=uuid.uuid4(),
        request=hishel.Request(method="GET", url=url, headers=hishel.Headers({"accept": accept})),
        response=hishel.Response(status_code=200, headers=hishel.Headers(dict(stored.headers))),
    )


def _items(headers: object) -> list[tuple[str, str]]:
    """(name, value) pairs of a hishel Headers (a mapping of names to values)."""
    mapping = dict(headers)  # type: ignore[call-overload]
    return [(str(k), str(v)) for k, v in mapping.items()]


def _normalized_headers(
    headers: Mapping[str, str], default_max_age: int, *, keep_missing: bool = True
) -> dict[str, str]:
    """The headers a page entry keeps, with a ``Date`` (the time of receipt when the server sent
    none, minus any ``Age``, as RFC 9111 computes an initial age) and, when the response says
    nothing about freshness, ``Cache-Control: max-age=<default>``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    kept = {k: lowered[k] for k in _KEPT_HEADERS if k in lowered}
    now = time.time()
    date = email.utils.parsedate_to_datetime(kept["date"]).timestamp() \
        if _valid_date(kept.get("date")) else now
    age = kept.pop("age", "")
    if age.strip().isdigit():
        date -= int(age.strip())
    kept["date"] = email.utils.formatdate(min(date, now), usegmt=True)
    if keep_missing:
        control = kept.get("cache-control", "").lower()
        if "max-age" not in control and "s-maxage" not in control and "expires" not in kept \
                and "no-cache" not in control and "no-store" not in control:
            kept["cache-control"] = (
                f"{kept['cache-control']}, max-age={default_max_age}"
                if kept.get("cache-control") else f"max-age={default_max_age}"
            )
    return kept


def _valid_date(value: str | None) -> bool:
    if not value:
        return False
    try:
        email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return False
    return True


def _segment(text: str) -> str:
    """A safe single path segment (never ``..``, never a separator)."""
    cleaned = _SAFE.sub("_", text.lower())[:120]
    return cleaned if cleaned.strip(".") else "_"


def _project_prefix(project: str) -> str:
    """The start of every file name of ``project`` in a kind's directory."""
    return f"{_segment(canonicalize_name(project))}+"


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _is_bucket(name: str) -> bool:
    return re.fullmatch(r"v\d+", name) is not None
