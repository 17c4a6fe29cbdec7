"""Bandwidth accounting: every request the fetch layer makes, and the wheels it did not download.

Sans-I/O. The fetch layer records into a :class:`Stats` (thread-safe); everything else reads a
:class:`Summary`. ``--stats FILE`` writes :meth:`Summary.to_json` (schema in README.md).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = [
    "Category", "MetadataSource", "RequestRecord", "Stats", "Summary", "human_bytes", "plural",
]

SCHEMA_VERSION = 3

#: ``-v`` shows one line per request and per metadata outcome (INFO).
logger = logging.getLogger("skimlock.http")


class Category(str, Enum):
    """Why a request was made."""

    INDEX_PAGE = "index-page"
    METADATA_PEP658 = "metadata-pep658"
    METADATA_RANGE = "metadata-range"
    FULL_DOWNLOAD = "full-download"
    #: A requirements or constraints file named by URL (``-r https://...``).
    INPUT = "input"
    #: An sdist's PKG-INFO read from the start of its stream (PEP 643 static metadata).
    METADATA_SDIST = "metadata-sdist"
    #: Building an sdist's metadata: the sdist, and the pages, metadata and wheels of its build
    #: requirements.
    BUILD = "build"


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestRecord:
    """One HTTP exchange (a retry is a separate record)."""

    category: Category
    method: str
    #: URL without credentials.
    url: str
    #: HTTP status, or None when no response arrived (connection error, timeout).
    status: int | None
    #: Body bytes received (not headers).
    body_bytes: int
    #: The Range header sent, if any.
    range: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class MetadataSource:
    """How the metadata of one file was obtained."""

    filename: str
    category: Category
    #: The file's full size (PEP 700 size, Content-Range total or Content-Length); None if unknown.
    file_size: int | None
    #: Bytes spent on this file's metadata (all its requests, bodies only).
    spent_bytes: int
    requests: int
    #: Length of the METADATA itself.
    metadata_bytes: int
    #: Answered from the on-disk cache: nothing crossed the wire this run (``spent_bytes`` and
    #: ``requests`` are 0; ``category`` says how it was first obtained).
    cached: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class CategoryTotal:
    requests: int = 0
    body_bytes: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class CacheTotal:
    """What the on-disk cache answered: ``hits`` of it, and the ``bytes`` they would have cost
    over the wire (a page's body; a metadata file's original cost)."""

    hits: int = 0
    bytes: int = 0


#: Keys of :attr:`Summary.cache`: pages used while fresh, pages a 304 confirmed, metadata.
CACHE_KINDS = ("pages", "revalidated", "metadata")


@dataclass(frozen=True, kw_only=True, slots=True)
class Summary:
    """Totals of one run."""

    requests: int
    body_bytes: int
    by_category: dict[Category, CategoryTotal]
    files: tuple[MetadataSource, ...]
    #: Sum of the full sizes of every file whose metadata was read without a full download.
    wheel_bytes: int
    #: ``wheel_bytes`` minus what reading their metadata cost.
    bytes_not_downloaded: int
    records: tuple[RequestRecord, ...] = field(default=(), repr=False)
    #: What the on-disk cache answered, by :data:`CACHE_KINDS`.
    cache: dict[str, CacheTotal] = field(default_factory=dict)

    @property
    def saved_fraction(self) -> float:
        return self.bytes_not_downloaded / self.wheel_bytes if self.wheel_bytes else 0.0

    def line(self) -> str:
        """The bandwidth line printed after every run, one part per kind of request, e.g.

        ``fetched 1.7 MB in 19 requests: index pages 1.5 MB in 9 requests; metadata of 10 files
        207.7 KB in 10 requests instead of downloading their 2.4 MB (91.2% saved)``

        Index pages are what any installer fetches; the saving compares what reading metadata
        cost with the size of the very files it came from (never pages against wheels).
        """
        parts = [self._pages_part(), *self._metadata_parts(), self._build_part(),
                 self._cache_part()]
        for category, label in (
            (Category.FULL_DOWNLOAD, "whole downloads"), (Category.INPUT, "requirement files"),
        ):
            total = self.by_category.get(category, CategoryTotal())
            if total.requests:
                parts.append(
                    f"{label} {human_bytes(total.body_bytes)} in "
                    f"{plural(total.requests, 'request')}"
                )
        head = f"fetched {human_bytes(self.body_bytes)} in {plural(self.requests, 'request')}"
        shown = [part for part in parts if part]
        return f"{head}: {'; '.join(shown)}" if shown else head

    def _pages_part(self) -> str:
        pages = self.by_category.get(Category.INDEX_PAGE, CategoryTotal())
        if not pages.requests:
            return ""
        return f"index pages {human_bytes(pages.body_bytes)} in {plural(pages.requests, 'request')}"

    def _build_part(self) -> str:
        built = [f.filename for f in self.files if f.category is Category.BUILD]
        if not built:
            return ""
        build = self.by_category.get(Category.BUILD, CategoryTotal())
        return (
            f"built {plural(len(built), 'sdist')} ({human_bytes(build.body_bytes)} in "
            f"{plural(build.requests, 'request')} for builds): {', '.join(built)}"
        )

    def _cache_part(self) -> str:
        pages, revalidated, metadata = (self.cache.get(k, CacheTotal()) for k in CACHE_KINDS)
        used = []
        if pages.hits:
            used.append(f"{plural(pages.hits, 'page')} ({human_bytes(pages.bytes)})")
        if metadata.hits:
            used.append(f"metadata of {plural(metadata.hits, 'file')} "
                        f"({human_bytes(metadata.bytes)})")
        text = f"from the cache {' and '.join(used)}" if used else ""
        if revalidated.hits:
            text += ("; " if text else "") + (
                f"{plural(revalidated.hits, 'page')} unchanged (HTTP 304, "
                f"{human_bytes(revalidated.bytes)} not fetched again)"
            )
        return text

    def _metadata_parts(self) -> list[str]:
        totals = [
            self.by_category.get(c, CategoryTotal())
            for c in (Category.METADATA_PEP658, Category.METADATA_RANGE, Category.METADATA_SDIST)
        ]
        requests = sum(t.requests for t in totals)
        spent = sum(t.body_bytes for t in totals)
        read = [
            f for f in self.files
            if f.category not in (Category.FULL_DOWNLOAD, Category.BUILD) and not f.cached
        ]
        if not requests and not read:
            return []
        text = (
            f"metadata of {plural(len(read), 'file')} {human_bytes(spent)} in "
            f"{plural(requests, 'request')}"
        )
        skimmed = [f for f in read if f.file_size is not None]
        if not skimmed:
            return [text]
        cost = sum(f.spent_bytes for f in skimmed)
        if len(skimmed) < len(read):
            text += f"; for the {len(skimmed)} of known size, {human_bytes(cost)}"
        if cost <= self.wheel_bytes:
            text += (
                f" instead of downloading their {human_bytes(self.wheel_bytes)} "
                f"({self.saved_fraction:.1%} saved)"
            )
        else:
            text += (
                f", more than downloading their {human_bytes(self.wheel_bytes)} "
                "(small files: nothing saved)"
            )
        return [text]

    def to_json(self, *, include_requests: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "requests": self.requests,
            "body_bytes": self.body_bytes,
            "by_category": {
                cat.value: {"requests": t.requests, "body_bytes": t.body_bytes}
                for cat, t in self.by_category.items()
            },
            "wheel_bytes": self.wheel_bytes,
            "bytes_not_downloaded": self.bytes_not_downloaded,
            "files": [
                {
                    "filename": f.filename,
                    "strategy": f.category.value,
                    "file_size": f.file_size,
                    "spent_bytes": f.spent_bytes,
                    "requests": f.requests,
                    "metadata_bytes": f.metadata_bytes,
                    "cached": f.cached,
                }
                for f in self.files
            ],
            "cache": {
                kind: {"hits": total.hits, "bytes": total.bytes}
                for kind in CACHE_KINDS
                for total in (self.cache.get(kind, CacheTotal()),)
            },
        }
        if include_requests:
            data["request_log"] = [
                {
                    "category": r.category.value,
                    "method": r.method,
                    "url": r.url,
                    "status": r.status,
                    "body_bytes": r.body_bytes,
                    "range": r.range,
                    "seconds": round(r.seconds, 4),
                }
                for r in self.records
            ]
        return data


class Stats:
    """Thread-safe collector; the fetch layer is the only writer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._files: list[MetadataSource] = []
        self._cache: dict[str, CacheTotal] = {}
        self.requests = 0
        self.body_bytes = 0
        #: URL of the last request recorded (for a progress line).
        self.last = ""

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)
            self.requests += 1
            self.body_bytes += record.body_bytes
            self.last = record.url
        if logger.isEnabledFor(logging.INFO):
            status = record.status if record.status is not None else "no response"
            ranged = f" (Range: {record.range})" if record.range else ""
            logger.info(
                "%s %s -> %s, %s, %s%s, %.2f s", record.method, record.url, status,
                human_bytes(record.body_bytes), record.category.value, ranged, record.seconds,
            )

    def from_cache(self, kind: str, nbytes: int) -> None:
        """The on-disk cache answered (``kind`` one of :data:`CACHE_KINDS`) where fetching
        would have cost ``nbytes``. Metadata hits are recorded by :meth:`metadata_obtained`."""
        with self._lock:
            total = self._cache.get(kind, CacheTotal())
            self._cache[kind] = CacheTotal(hits=total.hits + 1, bytes=total.bytes + nbytes)

    def metadata_obtained(self, source: MetadataSource) -> None:
        if source.cached:
            self.from_cache("metadata", source.spent_bytes)
            source = MetadataSource(
                filename=source.filename, category=source.category,
                file_size=source.file_size, spent_bytes=0, requests=0,
                metadata_bytes=source.metadata_bytes, cached=True,
            )
        with self._lock:
            self._files.append(source)
        if logger.isEnabledFor(logging.INFO):
            size = human_bytes(source.file_size) if source.file_size is not None else "unknown"
            how = {
                Category.METADATA_PEP658: "from the index's .metadata file (PEP 658)",
                Category.METADATA_RANGE: "by range requests into the file",
                Category.FULL_DOWNLOAD: "by downloading the whole file (ranges not usable)",
            }.get(source.category, source.category.value)
            if source.cached:
                how = "from the cache (first read " + how + ")"
            logger.info(
                "metadata of %s %s: %s in %s, file size %s", source.filename, how,
                human_bytes(source.spent_bytes), plural(source.requests, "request"), size,
            )

    def summary(self) -> Summary:
        with self._lock:
            records = tuple(self._records)
            files = tuple(self._files)
            cache = dict(self._cache)
        by_category: dict[Category, CategoryTotal] = {}
        for cat in Category:
            chosen = [r for r in records if r.category is cat]
            by_category[cat] = CategoryTotal(
                requests=len(chosen), body_bytes=sum(r.body_bytes for r in chosen)
            )
        skimmed = [
            f for f in files
            if f.category not in (Category.FULL_DOWNLOAD, Category.BUILD)
            and f.file_size is not None and not f.cached
        ]
        wheel_bytes = sum(f.file_size or 0 for f in skimmed)
        return Summary(
            requests=len(records),
            body_bytes=sum(r.body_bytes for r in records),
            by_category=by_category,
            files=files,
            wheel_bytes=wheel_bytes,
            bytes_not_downloaded=max(0, wheel_bytes - sum(f.spent_bytes for f in skimmed)),
            records=records,
            cache=cache,
        )


def plural(count: int, noun: str) -> str:
    """``1 request``, ``2 requests`` (nouns with a plain ``s`` plural only)."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def human_bytes(n: float) -> str:
    """``1536`` -> ``1.5 KB`` (decimal units, like pip and uv print sizes)."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover
