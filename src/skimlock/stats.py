"""Bandwidth accounting: every request the fetch layer makes, and the wheels it did not download.

Sans-I/O. The fetch layer records into a :class:`Stats` (thread-safe); everything else reads a
:class:`Summary`. ``--stats FILE`` writes :meth:`Summary.to_json` (schema in README.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = ["Category", "MetadataSource", "RequestRecord", "Stats", "Summary", "human_bytes"]

SCHEMA_VERSION = 1


class Category(str, Enum):
    """Why a request was made."""

    INDEX_PAGE = "index-page"
    METADATA_PEP658 = "metadata-pep658"
    METADATA_RANGE = "metadata-range"
    FULL_DOWNLOAD = "full-download"
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


@dataclass(frozen=True, kw_only=True, slots=True)
class CategoryTotal:
    requests: int = 0
    body_bytes: int = 0


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

    @property
    def saved_fraction(self) -> float:
        return self.bytes_not_downloaded / self.wheel_bytes if self.wheel_bytes else 0.0

    def line(self) -> str:
        """The bandwidth line printed after every run.

        e.g. ``fetched 412 KB in 61 requests (300 KB index pages, 112 KB metadata) instead of
        241 MB of wheels (99.8 % saved)``: the saving compares what reading metadata cost with
        the wheels it came from (index pages are needed by every tool).
        """
        pages = self.by_category.get(Category.INDEX_PAGE, CategoryTotal())
        build = self.by_category.get(Category.BUILD, CategoryTotal())
        metadata = self.body_bytes - pages.body_bytes - build.body_bytes
        text = (
            f"fetched {human_bytes(self.body_bytes)} in {self.requests} requests "
            f"({human_bytes(pages.body_bytes)} index pages, {human_bytes(metadata)} metadata)"
        )
        if self.wheel_bytes:
            text += (
                f" instead of {human_bytes(self.wheel_bytes)} of wheels"
                f" ({self.saved_fraction:.1%} saved)"
            )
        full = self.by_category.get(Category.FULL_DOWNLOAD)
        if full and full.requests:
            text += f"; {full.requests} whole downloads ({human_bytes(full.body_bytes)})"
        built = [f.filename for f in self.files if f.category is Category.BUILD]
        if built:
            text += (
                f"; built {len(built)} sdists ({human_bytes(build.body_bytes)} for builds): "
                f"{', '.join(built)}"
            )
        return text

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
                }
                for f in self.files
            ],
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
        self.requests = 0
        self.body_bytes = 0

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)
            self.requests += 1
            self.body_bytes += record.body_bytes

    def metadata_obtained(self, source: MetadataSource) -> None:
        with self._lock:
            self._files.append(source)

    def summary(self) -> Summary:
        with self._lock:
            records = tuple(self._records)
            files = tuple(self._files)
        by_category: dict[Category, CategoryTotal] = {}
        for cat in Category:
            chosen = [r for r in records if r.category is cat]
            by_category[cat] = CategoryTotal(
                requests=len(chosen), body_bytes=sum(r.body_bytes for r in chosen)
            )
        skimmed = [
            f for f in files
            if f.category not in (Category.FULL_DOWNLOAD, Category.BUILD)
            and f.file_size is not None
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
        )


def human_bytes(n: float) -> str:
    """``1536`` -> ``1.5 KB`` (decimal units, like pip and uv print sizes)."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover
