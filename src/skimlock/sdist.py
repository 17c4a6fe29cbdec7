"""Static metadata of a source distribution, read from a stream of its bytes (sans-I/O).

Owns the sdist side of "metadata without a build": PEP 643 says that a ``PKG-INFO`` with
Metadata-Version 2.2 or later is authoritative for every field it does not list in ``Dynamic``.
A resolver needs ``Requires-Dist``, ``Requires-Python`` and ``Provides-Extra``; when none of them
is dynamic the sdist's ``<name>-<version>/PKG-INFO`` is its metadata, and no build is needed
(uv and nab use the same rule; trusting older PKG-INFO gave wrong locks, uv#7842).

* :func:`pkg_info_from_tar_stream` reads a ``.tar.gz`` from an iterator of byte chunks and stops
  as soon as the top-level ``PKG-INFO`` has been read, so the caller stops receiving (setuptools
  writes it at ~20-30 % of the stream; hatchling, flit-core, pdm and poetry write it last).
  Decompression is bounded (``max_unpacked``); nothing is ever written to disk.
* :func:`pkg_info_by_ranges` reads it from a ``.zip`` (a legacy sdist format) through byte ranges:
  a suffix (end of central directory and the directory), then the member, planned by
  :class:`ZipPkgInfoLocator` over :class:`skimlock.zipread.SparseFile`;
  :func:`pkg_info_from_zip` reads it from a whole, seekable ``.zip``.
* :func:`static_metadata` decides whether those bytes may stand for the sdist's metadata.

Every failure is a :class:`~skimlock.errors.SdistError` (the version is then a rejected candidate);
:class:`~skimlock.errors.DynamicMetadataError` means "readable, but only a build can tell".
"""

from __future__ import annotations

import io
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import IO, cast

from packaging.metadata import parse_email
from packaging.utils import (
    InvalidSdistFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
)
from packaging.version import InvalidVersion, Version

from . import zipread
from .errors import DynamicMetadataError, SdistError

__all__ = [
    "REQUIRED_STATIC",
    "ZipPkgInfoLocator",
    "is_sdist",
    "pkg_info_by_ranges",
    "pkg_info_from_tar_stream",
    "pkg_info_from_zip",
    "sdist_identity",
    "static_metadata",
]

#: Fields a resolver reads; PEP 643 metadata may be used only when none of them is dynamic.
REQUIRED_STATIC = frozenset({"requires-dist", "requires-python", "provides-extra"})
#: Decompressed bytes read at most before giving up on finding PKG-INFO (a gzip bomb guard).
DEFAULT_MAX_UNPACKED = 2 * 1024**3
_CHUNK = 64 * 1024
#: The first suffix asked of a ``.zip`` sdist, and the least any later span is widened to (a
#: local header, its name and the member's data then come in one round).
ZIP_SPAN = 64 * 1024
#: Spans after the first before giving up on a ``.zip``.
MAX_ZIP_ROUNDS = 8

#: ``get(start, end)`` returns ``(first byte offset, bytes, total size)`` for the inclusive range
#: ``start..end`` (``start`` None: the last ``end`` bytes), or None when ranges are refused.
GetRange = Callable[[int | None, int], "tuple[int, bytes, int] | None"]


def is_sdist(filename: str) -> bool:
    return filename.endswith((".tar.gz", ".zip"))


def sdist_identity(filename: str) -> tuple[NormalizedName, Version]:
    """Project name and version from an sdist file name (``.zip`` read like ``.tar.gz``)."""
    base = filename.removesuffix(".zip") + ".tar.gz" if filename.endswith(".zip") else filename
    try:
        return parse_sdist_filename(base)
    except (InvalidSdistFilename, InvalidVersion) as exc:
        raise SdistError(filename, f"invalid sdist file name: {exc}") from None


def _is_pkg_info(path: str, name: NormalizedName, version: Version) -> bool:
    """``<name>-<version>/PKG-INFO`` at the top of the archive (name and version compared
    normalized, so that ``Django-1.0/`` or ``foo_bar-1.0/`` match)."""
    directory, slash, leaf = path.removeprefix("./").partition("/")
    if not slash or leaf != "PKG-INFO":
        return False
    project, dash, text = directory.rpartition("-")
    if not dash or canonicalize_name(project) != name:
        return False
    try:
        return Version(text) == version
    except InvalidVersion:
        return False


class _Gunzip(io.RawIOBase):
    """A readable stream of the decompressed bytes of gzip ``chunks`` (members concatenated),
    that never holds or returns more than ``max_unpacked`` bytes in all."""

    def __init__(self, chunks: Iterator[bytes], *, filename: str, max_unpacked: int) -> None:
        self._chunks = chunks
        self._filename = filename
        self._max = max_unpacked
        self._inflate = zlib.decompressobj(wbits=31)
        self._pending = b""
        self._buffer = b""
        self._unpacked = 0
        self._eof = False
        self._started = False

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer and not self._eof:
            self._fill(len(target))
        count = min(len(target), len(self._buffer))
        target[:count] = self._buffer[:count]
        self._buffer = self._buffer[count:]
        return count

    def _fill(self, wanted: int) -> None:
        if not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                if self._started and not self._inflate.eof:
                    raise SdistError(self._filename, "truncated archive (gzip stream cut off)")
                self._eof = True
                return
            self._pending = chunk
        if self._inflate.eof:  # another gzip member follows
            if not self._pending.strip(b"\0"):
                self._pending = b""
                return
            self._inflate = zlib.decompressobj(wbits=31)
        self._started = True
        try:
            out = self._inflate.decompress(self._pending, max(wanted, _CHUNK))
        except zlib.error as exc:
            raise SdistError(self._filename, f"not a gzip-compressed tar archive ({exc})") from None
        self._pending = self._inflate.unconsumed_tail or self._inflate.unused_data
        self._unpacked += len(out)
        if self._unpacked > self._max:
            raise SdistError(
                self._filename, f"more than {self._max} bytes unpacked before PKG-INFO"
            )
        self._buffer = out


def pkg_info_from_tar_stream(
    chunks: Iterator[bytes],
    *,
    filename: str,
    max_metadata: int,
    max_unpacked: int = DEFAULT_MAX_UNPACKED,
) -> bytes:
    """The top-level ``PKG-INFO`` of the ``.tar.gz`` whose bytes ``chunks`` yields, in order.

    Stops pulling chunks once PKG-INFO has been read. Members are only looked at, never
    extracted; a PKG-INFO that is a link, a device or larger than ``max_metadata`` is an error.
    """
    name, version = sdist_identity(filename)
    raw = _Gunzip(chunks, filename=filename, max_unpacked=max_unpacked)
    stream = io.BufferedReader(raw, buffer_size=_CHUNK)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                if not _is_pkg_info(member.name, name, version):
                    continue
                if not member.isreg():
                    raise SdistError(filename, f"{member.name} is not a regular file")
                if member.size > max_metadata:
                    raise SdistError(
                        filename, f"PKG-INFO is {member.size} bytes, over the "
                        f"{max_metadata}-byte cap"
                    )
                handle = archive.extractfile(member)
                assert handle is not None  # a regular file
                data = handle.read(member.size)
                if len(data) != member.size:
                    raise SdistError(filename, "truncated archive (PKG-INFO cut off)")
                return data
    except tarfile.TarError as exc:
        raise SdistError(filename, f"not a readable tar archive ({exc})") from None
    except EOFError:
        raise SdistError(filename, "truncated archive") from None
    raise SdistError(filename, f"no {name}-{version}/PKG-INFO in the archive")


def pkg_info_from_zip(file: IO[bytes], *, filename: str, max_metadata: int) -> bytes:
    """The top-level ``PKG-INFO`` of a ``.zip`` sdist held in a seekable file."""
    name, version = sdist_identity(filename)
    try:
        with zipfile.ZipFile(file) as archive:
            found = [i for i in archive.infolist() if _is_pkg_info(i.filename, name, version)]
            if len(found) != 1:
                raise SdistError(
                    filename, f"{len(found)} {name}-{version}/PKG-INFO members in the archive"
                )
            info = found[0]
            if info.file_size > max_metadata:
                raise SdistError(
                    filename, f"PKG-INFO is {info.file_size} bytes, over the "
                    f"{max_metadata}-byte cap"
                )
            with archive.open(info) as member:
                data = member.read(max_metadata + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise SdistError(filename, f"not a readable zip archive ({exc})") from None
    if len(data) > max_metadata:
        raise SdistError(filename, f"PKG-INFO is over the {max_metadata}-byte cap")
    return data


class ZipPkgInfoLocator:
    """Which byte span of a ``.zip`` sdist of ``size`` bytes to fetch next to read its
    top-level PKG-INFO: stdlib :mod:`zipfile` reads a :class:`~skimlock.zipread.SparseFile`, and
    the first bytes it lacks, widened to :data:`ZIP_SPAN`, are the next span."""

    def __init__(self, *, filename: str, size: int, max_metadata: int) -> None:
        self.filename = filename
        self._file = zipread.SparseFile(size)
        self._max = max_metadata
        self._data: bytes | None = None
        self.rounds = 0

    def feed(self, start: int, data: bytes) -> None:
        try:
            self._file.add(start, data)
        except ValueError as exc:
            raise SdistError(self.filename, f"inconsistent range data: {exc}") from None

    def next_span(self) -> zipread.ByteSpan | None:
        """The next span to fetch and :meth:`feed`; None once PKG-INFO has been read."""
        if self._data is not None:
            return None
        self._file.seek(0)
        try:
            self._data = pkg_info_from_zip(
                cast("IO[bytes]", self._file), filename=self.filename, max_metadata=self._max
            )
        except zipread._Missing as gap:  # what SparseFile raises for bytes it does not hold
            self.rounds += 1
            if self.rounds > MAX_ZIP_ROUNDS:
                raise SdistError(
                    self.filename, f"PKG-INFO not reached after {MAX_ZIP_ROUNDS} range requests"
                ) from None
            end = min(self._file.size, max(gap.end, gap.start + ZIP_SPAN))
            return zipread.ByteSpan(start=gap.start, end=end)
        return None

    def pkg_info(self) -> bytes:
        if self.next_span() is not None or self._data is None:
            raise SdistError(self.filename, "PKG-INFO needs bytes that were not fed")
        return self._data


def pkg_info_by_ranges(get: GetRange, *, filename: str, max_metadata: int) -> bytes | None:
    """The top-level PKG-INFO of a ``.zip`` sdist read through ``get``; None when the server
    refuses the first range (the caller then reads the file whole)."""
    first = get(None, ZIP_SPAN)
    if first is None:
        return None
    start, data, total = first
    locator = ZipPkgInfoLocator(filename=filename, size=total, max_metadata=max_metadata)
    locator.feed(start, data)
    while (span := locator.next_span()) is not None:
        more = get(span.start, span.end - 1)
        if more is None:
            raise SdistError(filename, "a range was refused after earlier ranges worked")
        locator.feed(more[0], more[1])
    return locator.pkg_info()


def static_metadata(data: bytes, *, filename: str) -> bytes:
    """``data`` (a PKG-INFO) when PEP 643 makes it authoritative for what a resolver reads;
    raises :class:`DynamicMetadataError` when only a build can tell."""
    try:
        raw, _unparsed = parse_email(data)
    except (ValueError, LookupError, TypeError) as exc:
        raise SdistError(filename, f"cannot parse PKG-INFO: {exc}") from None
    text = raw.get("metadata_version")
    try:
        declared = Version(text) if text else None
    except InvalidVersion:
        declared = None
    if declared is None or declared < Version("2.2"):
        raise DynamicMetadataError(
            filename, f"PKG-INFO has Metadata-Version {text or '(none)'}, older than 2.2 (PEP 643)"
        )
    dynamic = {field.lower() for field in raw.get("dynamic", ())}
    needed = sorted(dynamic & REQUIRED_STATIC)
    if needed:
        raise DynamicMetadataError(filename, f"PKG-INFO marks {', '.join(needed)} as Dynamic")
    return data
