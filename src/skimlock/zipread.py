"""Read a wheel's ``*.dist-info/METADATA`` from sparse byte ranges (sans-I/O).

Owns the zip side of "metadata without downloading the wheel": given the bytes of a few ranges of
a wheel (typically a suffix from an HTTP range request), it says which range to fetch next and,
once everything needed is held, returns the decompressed, CRC-checked METADATA member.

The zip format itself is parsed by the standard library's :mod:`zipfile`, which reads a
:class:`SparseFile`: a file object of known size that holds only some spans of bytes and raises an
internal ``_Missing`` error when asked for bytes it does not hold. :class:`MetadataLocator` plans
the requests so that zipfile rarely needs to discover a gap itself:

1. End of central directory (EOCD): the last 22 bytes when the archive has no comment; otherwise
   the last ``65536 + 22`` bytes, which is the window zipfile searches (one byte more than the
   longest possible comment), asked for once.
2. Central directory (CD) shortcut: wheels write ``*.dist-info/`` last, so the END of the CD,
   which the first suffix nearly always holds, lists METADATA. When the held end of the CD
   parses as a chain of entries that ends exactly where the CD ends, and one of them is this
   wheel's METADATA, the locator skips the rest of the CD and asks only for the member (its CRC
   and sizes come from that CD entry). This saves a round and the bytes of large directories.
3. Otherwise the whole CD: one span from the CD start (plus the ZIP64 end records when present)
   up to the held tail. When the ZIP64 locator is not held yet, the span starts 76 bytes earlier
   than the 32-bit EOCD says so that a ZIP64 archive needs no extra round.
4. Member: one span from the METADATA local header up to the next local header (or the CD start,
   or the furthest the declared compressed size can reach if nearer), minus the bytes held.

Reading the member is the same code on every path (shortcut, whole CD, whole file) and never goes
through ``zipfile``'s member reader: only stored (0) and deflate (8) members are read (the methods
wheels use; bzip2, LZMA and others are refused before a byte is decompressed), a declared size
over the cap or a compressed size out of proportion to it is refused as declared, and deflate
output is asked for with ``max_length`` so that a stream expanding past its declared size stops
one byte later, with memory bounded by the declared size, whatever the stream would expand to.

When several entries name this wheel's METADATA (a repeated name, or two spellings of the
directory), the last one in the central directory wins on every path: that is the entry
``zipfile``'s name lookup returns, so the one pip, installer and PyPI's metadata extraction read.

If zipfile still hits a gap (corrupt or unusual archives), that gap is the next span; after
:data:`MAX_ROUNDS` spans the locator gives up with :class:`~skimlock.errors.WheelError`. Every
failure, for any input bytes, is a :class:`~skimlock.errors.WheelError`.

The member is exactly this wheel's ``<name>-<version>.dist-info/METADATA`` at the top level of the
archive, where name and version come from the wheel file name (PEP 427 / the binary distribution
format spec); the directory name is matched by normalized name and version so that older wheels
that wrote e.g. ``PyYAML-6.0.dist-info`` are found.
"""

from __future__ import annotations

import bisect
import errno
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO

from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from skimlock.errors import WheelError

__all__ = [
    "DEFAULT_MAX_METADATA_SIZE",
    "MAX_ROUNDS",
    "ByteSpan",
    "MetadataLocator",
    "SparseFile",
    "WheelLayout",
    "read_metadata_from_wheel_bytes",
]

#: Largest METADATA member accepted (uncompressed).
DEFAULT_MAX_METADATA_SIZE = 16 * 2**20
#: Most spans :meth:`MetadataLocator.next_span` hands out before giving up.
MAX_ROUNDS = 8

_EOCD = struct.Struct("<4s4H2LH")
_EOCD_SIG = b"PK\x05\x06"
_LOCATOR = struct.Struct("<4sLQL")
_LOCATOR_SIG = b"PK\x06\x07"
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_ZIP64_EOCD_SIG = b"PK\x06\x06"
_ZIP64_ENDS = _ZIP64_EOCD.size + _LOCATOR.size
#: zipfile looks for an EOCD followed by a comment in this many trailing bytes.
_COMMENT_WINDOW = (1 << 16) + _EOCD.size
_SATURATED_32 = 0xFFFFFFFF


@dataclass(frozen=True, kw_only=True, slots=True)
class ByteSpan:
    """Bytes ``start`` (inclusive) to ``end`` (exclusive) of a file; never empty.

    The HTTP header for it is ``Range: bytes={start}-{end - 1}``.
    """

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, kw_only=True, slots=True)
class WheelLayout:
    """Where the bytes that reading one wheel's METADATA needed lie (offsets in bytes).

    ``directory_start`` is the lowest byte of the end records and central directory that was
    needed (with the partial-directory shortcut: METADATA's own directory record); the member
    span is METADATA's local header up to the next member. A range reader needs at least
    ``size - directory_start`` trailing bytes plus the member span (when not inside them).
    """

    size: int
    directory_start: int
    member_start: int
    member_end: int

    @property
    def directory_tail(self) -> int:
        """Trailing bytes holding the needed directory and end records."""
        return self.size - self.directory_start

    @property
    def member_in_tail(self) -> int:
        """Trailing bytes that hold the directory *and* the member (the member's distance from
        the end of the file)."""
        return self.size - min(self.member_start, self.directory_start)

    @property
    def floor(self) -> int:
        """Fewest bytes a range reader can fetch: the directory tail and the member span."""
        member = max(0, min(self.member_end, self.directory_start) - self.member_start)
        return self.directory_tail + member


class _Missing(Exception):
    """A read touched bytes ``start``..``end`` (exclusive) that are not all held.

    Deliberately not an OSError: zipfile swallows OSError in places.
    """

    def __init__(self, start: int, end: int) -> None:
        super().__init__(f"bytes {start}-{end - 1} are not held")
        self.start = start
        self.end = end


class SparseFile:
    """A read-only, seekable file of known ``size`` that holds only some spans of its bytes.

    Reading bytes that are held behaves like a regular file (short reads at the end of file);
    reading any byte that is not held raises ``_Missing``. Adjacent and overlapping spans are
    merged; feeding bytes that contradict bytes already held raises ValueError.
    """

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError(f"negative file size {size}")
        self.size = size
        self._pos = 0
        # Sorted, disjoint, non-adjacent spans: parallel lists of starts and contents.
        self._starts: list[int] = []
        self._chunks: list[bytes] = []
        #: Lowest offset any successful read started at (None before the first read).
        self.lowest_read: int | None = None

    # -- holding bytes ---------------------------------------------------------------------

    def add(self, start: int, data: bytes) -> None:
        end = start + len(data)
        if start < 0 or end > self.size:
            raise ValueError(
                f"bytes {start}-{end - 1} are outside a file of {self.size} bytes"
            )
        if not data:
            return
        # Spans that overlap or touch [start, end).
        first = bisect.bisect_left(self._starts, start)
        if first > 0 and self._starts[first - 1] + len(self._chunks[first - 1]) >= start:
            first -= 1
        last = first
        while last < len(self._starts) and self._starts[last] <= end:
            last += 1
        union_start, union_end = start, end
        if last > first:
            union_start = min(start, self._starts[first])
            union_end = max(end, self._starts[last - 1] + len(self._chunks[last - 1]))
        buffer = bytearray(union_end - union_start)
        for s, chunk in zip(self._starts[first:last], self._chunks[first:last], strict=True):
            lo, hi = max(s, start), min(s + len(chunk), end)
            if lo < hi and chunk[lo - s : hi - s] != data[lo - start : hi - start]:
                raise ValueError(f"bytes {lo}-{hi - 1} differ from the bytes received before")
            buffer[s - union_start : s - union_start + len(chunk)] = chunk
        buffer[start - union_start : end - union_start] = data
        self._starts[first:last] = [union_start]
        self._chunks[first:last] = [bytes(buffer)]

    @property
    def held_bytes(self) -> int:
        return sum(len(chunk) for chunk in self._chunks)

    def missing(self, start: int, end: int) -> ByteSpan | None:
        """The one span from the first to the last byte of ``[start, end)`` not held, if any."""
        start, end = max(0, start), min(self.size, end)
        if start >= end:
            return None
        gaps: list[tuple[int, int]] = []
        cursor = start
        for s, chunk in zip(self._starts, self._chunks, strict=True):
            e = s + len(chunk)
            if e <= cursor:
                continue
            if s >= end:
                break
            if s > cursor:
                gaps.append((cursor, s))
            cursor = max(cursor, e)
            if cursor >= end:
                break
        if cursor < end:
            gaps.append((cursor, end))
        if not gaps:
            return None
        return ByteSpan(start=gaps[0][0], end=gaps[-1][1])

    def run_start(self, end: int) -> int | None:
        """Start of the held run of bytes that ends at or covers ``end - 1``; None if not held."""
        i = bisect.bisect_right(self._starts, end - 1) - 1
        if i >= 0 and self._starts[i] + len(self._chunks[i]) >= end:
            return self._starts[i]
        return None

    def peek(self, start: int, end: int) -> bytes:
        """Held bytes ``[start, end)`` without moving the position; ``_Missing`` if not held."""
        end = min(end, self.size)
        if start >= end:
            return b""
        i = bisect.bisect_right(self._starts, start) - 1
        if i >= 0:
            s, chunk = self._starts[i], self._chunks[i]
            if s + len(chunk) >= end:
                return chunk[start - s : end - s]
        raise _Missing(start, end)

    # -- file protocol (what zipfile uses) -------------------------------------------------

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0:
            position = offset
        elif whence == 1:
            position = self._pos + offset
        elif whence == 2:
            position = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            # What a real file does; zipfile relies on it for files shorter than an EOCD.
            raise OSError(errno.EINVAL, "negative seek position")
        self._pos = position
        return position

    def read(self, n: int | None = -1) -> bytes:
        end = self.size if n is None or n < 0 else min(self.size, self._pos + n)
        data = self.peek(self._pos, end)
        if data and (self.lowest_read is None or self._pos < self.lowest_read):
            self.lowest_read = self._pos
        self._pos += len(data)
        return data


def _size_text(size: int) -> str:
    mib = 2**20
    return f"{size // mib} MiB" if size % mib == 0 else f"{size} bytes"


class MetadataLocator:
    """Find and read ``<name>-<version>.dist-info/METADATA`` of one wheel from byte spans.

    Usage: :meth:`feed` a suffix of the file, then while :meth:`next_span` returns a span, fetch
    and feed it; then :meth:`metadata` returns the member. Raises :class:`WheelError` for a bad
    file name, a file that is not a readable zip, a missing or ambiguous METADATA, or one over
    ``max_metadata_size``.
    """

    def __init__(
        self, *, filename: str, size: int, max_metadata_size: int = DEFAULT_MAX_METADATA_SIZE
    ) -> None:
        self.filename = filename
        try:
            name, version, _build, _tags = parse_wheel_filename(filename)
        except ValueError as exc:  # InvalidWheelFilename, InvalidVersion
            raise WheelError(filename, f"invalid wheel file name: {exc}") from exc
        self._name: NormalizedName = name
        self._version: Version = version
        if size < _EOCD.size:
            raise WheelError(filename, "not a zip file (no end of central directory)")
        self._max_size = max_metadata_size
        self._file = SparseFile(size)
        self._zip: zipfile.ZipFile | None = None
        self._member: zipfile.ZipInfo | None = None
        self._metadata: bytes | None = None
        self._rounds = 0
        #: METADATA's entry found in a partial central directory (the shortcut), if any.
        self._entry: _CentralEntry | None = None
        self._shortcut_tried = False

    # -- public API --------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self._file.size

    def feed(self, start: int, data: bytes) -> None:
        """Hold ``data``, the bytes of the file from offset ``start``."""
        try:
            self._file.add(start, data)
        except ValueError as exc:
            raise WheelError(self.filename, f"inconsistent range data: {exc}") from exc

    def next_span(self) -> ByteSpan | None:
        """The next span to fetch and :meth:`feed`, or None once METADATA has been read."""
        span = self._advance()
        if span is not None:
            self._rounds += 1
            if self._rounds > MAX_ROUNDS:
                raise WheelError(
                    self.filename,
                    f"zip directory still incomplete after {MAX_ROUNDS} range requests",
                )
        return span

    def metadata(self) -> bytes:
        """The METADATA member, decompressed and CRC-checked."""
        span = self._advance()
        if span is not None:
            raise WheelError(
                self.filename, f"bytes {span.start}-{span.end - 1} are needed but were not fed"
            )
        assert self._metadata is not None
        return self._metadata

    @property
    def rounds(self) -> int:
        """How many spans :meth:`next_span` has returned."""
        return self._rounds

    @property
    def tail_needed(self) -> int:
        """The shortest suffix that holds every byte read so far (final once done).

        That is the central directory, the end records (and comment window if the archive has a
        comment) and the METADATA local header and data: a future request for this many trailing
        bytes of a similar wheel would need no further round.
        """
        starts = [self._file.lowest_read]
        if self._entry is not None:
            starts += [self._entry.header_offset, self._entry.record_offset]
        lowest = min((s for s in starts if s is not None), default=None)
        return 0 if lowest is None else self._file.size - lowest

    @property
    def layout(self) -> WheelLayout | None:
        """Where the bytes this wheel's reading needed lie (None until METADATA is read)."""
        entry = self._entry
        if self._metadata is None or entry is None:
            return None
        directory = [entry.record_offset, self._file.lowest_read]
        return WheelLayout(
            size=self._file.size,
            directory_start=min(s for s in directory if s is not None),
            member_start=entry.header_offset,
            member_end=entry.span_end,
        )

    @property
    def held_bytes(self) -> int:
        """Distinct bytes held."""
        return self._file.held_bytes

    # -- the state machine -----------------------------------------------------------------

    def _advance(self) -> ByteSpan | None:
        if self._metadata is not None:
            return None
        try:
            if self._entry is not None:
                return self._advance_entry(self._entry)
            if self._zip is None:
                span = self._plan_directory()
                if span is not None:
                    if not self._shortcut_tried:
                        self._shortcut_tried = True
                        self._entry = self._entry_from_partial_directory()
                        if self._entry is not None:
                            return self._advance_entry(self._entry)
                    return span
                self._zip = zipfile.ZipFile(self._file)
            if self._member is None:
                self._member = self._choose_member(self._zip)
                self._entry = self._entry_of(self._zip, self._member)
                return self._advance_entry(self._entry)
        except _Missing as missing:
            gap = self._file.missing(missing.start, missing.end)
            if gap is None:  # pragma: no cover - a read only fails on bytes not held
                raise WheelError(self.filename, "internal error: no missing bytes") from None
            return gap
        except zipfile.BadZipFile as exc:
            raise WheelError(self.filename, f"corrupt zip: {exc}") from exc
        except NotImplementedError as exc:  # compression method, zip version
            raise WheelError(self.filename, f"unsupported zip feature: {exc}") from exc
        except RuntimeError as exc:  # encrypted member
            raise WheelError(self.filename, f"unreadable METADATA: {exc}") from exc
        except zlib.error as exc:
            raise WheelError(self.filename, f"corrupt compressed METADATA: {exc}") from exc
        except EOFError as exc:
            raise WheelError(self.filename, f"truncated compressed METADATA: {exc}") from exc
        except (struct.error, ValueError, OSError, OverflowError, LookupError) as exc:
            raise WheelError(self.filename, f"corrupt zip: {exc}") from exc
        return None

    # -- the partial central directory shortcut --------------------------------------------

    def _entry_from_partial_directory(self) -> _CentralEntry | None:
        """METADATA's CD entry if the held end of the CD lists it; None to read the whole CD.

        Only used when the EOCD states the CD's offset and size (no ZIP64 saturation). The held
        bytes before the CD's end are scanned for entry signatures; the earliest one from which
        entries chain exactly to the CD's end is taken as a real entry boundary.
        """
        f = self._file
        eocd = self._find_eocd()
        if isinstance(eocd, ByteSpan):
            return None
        fields = _EOCD.unpack(f.peek(eocd, eocd + _EOCD.size))
        cd_size, cd_offset = fields[5], fields[6]
        if _SATURATED_32 in (cd_size, cd_offset) or fields[3] == 0xFFFF:
            return None
        cd_end = cd_offset + cd_size
        if cd_end != eocd or cd_end > f.size:
            return None  # data before the archive, or ZIP64 records: take the general path
        run = f.run_start(cd_end)
        if run is None:
            return None
        first = max(run, cd_offset)
        region = f.peek(first, cd_end)
        entries: list[_CentralEntry] | None = None
        position = region.find(_CD_SIG)
        tries = 0
        while position >= 0 and tries < _MAX_CHAIN_STARTS:
            tries += 1
            entries = _chain(region, position, first)
            if entries is not None:
                break
            position = region.find(_CD_SIG, position + 1)
        if not entries:
            return None
        matches = [e for e in entries if self._is_metadata(e.name)]
        if not matches:
            return None  # not listed in the held part: read the whole CD
        # The last entry of the CD wins (see _choose_member); the held part ends where the CD
        # ends, so its last match is the CD's last match.
        entry = matches[-1]
        if (
            _SATURATED_32 in (entry.compressed_size, entry.file_size, entry.header_offset)
            or entry.header_offset >= cd_offset
        ):
            return None
        later = [e.header_offset for e in entries if e.header_offset > entry.header_offset]
        entry.span_end = _member_span_end(entry, min([*later, cd_offset]), cd_offset)
        return entry

    def _advance_entry(self, entry: _CentralEntry) -> ByteSpan | None:
        """Fetch and read the member described by ``entry``; None once METADATA is read."""
        f = self._file
        self._check_entry(entry)
        header = entry.header_offset
        gap = f.missing(header, entry.span_end)
        if gap is not None:
            return gap
        local = _LOCAL.unpack(f.peek(header, header + _LOCAL.size))
        if local[0] != _LOCAL_SIG:
            raise WheelError(self.filename, f"bad local header for {entry.name}")
        name_length, extra_length = local[9], local[10]
        start = header + _LOCAL.size + name_length + extra_length
        end = start + entry.compressed_size
        if end > f.size:
            raise WheelError(self.filename, f"{entry.name} runs past the end of the file")
        if f.peek(header + _LOCAL.size, header + _LOCAL.size + name_length) != entry.raw_name:
            raise WheelError(self.filename, f"local header name differs from {entry.name}")
        gap = f.missing(header, end)
        if gap is not None:
            return gap
        data = self._expand(entry, start, end)
        if zlib.crc32(data) != entry.crc:
            raise WheelError(self.filename, f"corrupt zip: bad CRC-32 for {entry.name}")
        self._metadata = data
        return None

    def _check_entry(self, entry: _CentralEntry) -> None:
        """Refuse, before any byte of the member is read, what no wheel needs.

        Wheels store or deflate their members (the binary distribution format spec), so any
        other method (bzip2, LZMA, ...) is refused rather than decompressed: those decompressors
        cannot be bounded through :mod:`zipfile`. Sizes over the cap are refused as declared.
        """
        if entry.flags & 0x1:
            raise WheelError(self.filename, f"unreadable METADATA: {entry.name} is encrypted")
        if entry.method not in _METHODS:
            raise WheelError(
                self.filename,
                f"unsupported zip feature: {entry.name} uses compression method "
                f"{entry.method}; wheels use stored (0) or deflate (8)",
            )
        cap = self._max_size
        if entry.file_size > cap:
            raise WheelError(
                self.filename,
                f"METADATA larger than {_size_text(cap)} ({entry.file_size} bytes declared)",
            )
        if entry.compressed_size > _max_compressed(entry.file_size):
            raise WheelError(
                self.filename,
                f"corrupt zip: {entry.name} declares {entry.compressed_size} compressed bytes for "
                f"{entry.file_size} bytes",
            )

    def _expand(self, entry: _CentralEntry, start: int, end: int) -> bytes:
        """The member's bytes ``[start, end)`` stored or inflated, never more than declared + 1.

        Memory is bounded by the declared size (itself capped): deflate output is asked for with
        ``max_length``, chunk by chunk, so a stream that expands past its declared size stops
        after one byte too many, whatever it would expand to.
        """
        declared = entry.file_size
        if entry.method == zipfile.ZIP_STORED:
            data = self._file.peek(start, end)
        else:
            inflater = zlib.decompressobj(-15)
            out = bytearray()
            position = start
            while position < end and len(out) <= declared:
                chunk = self._file.peek(position, min(end, position + _CHUNK))
                position += len(chunk)
                out += inflater.decompress(chunk, declared + 1 - len(out))
                while inflater.unconsumed_tail and len(out) <= declared:
                    out += inflater.decompress(inflater.unconsumed_tail, declared + 1 - len(out))
            if len(out) <= declared and not inflater.eof:
                raise WheelError(self.filename, f"truncated compressed {entry.name}")
            data = bytes(out)
        if len(data) > declared:
            raise WheelError(
                self.filename, f"{entry.name} expands past the {declared} bytes it declares"
            )
        if len(data) != declared:
            raise WheelError(
                self.filename,
                f"METADATA has {len(data)} bytes but its header declares {declared}",
            )
        return data

    def _find_eocd(self) -> int | ByteSpan:
        """Offset of the EOCD record, or the span to fetch to find it."""
        f = self._file
        last = f.size - _EOCD.size
        if f.missing(last, f.size) is None:
            record = f.peek(last, f.size)
            if record.startswith(_EOCD_SIG) and record.endswith(b"\0\0"):
                return last
        # A comment follows the EOCD (or this is no zip at all): zipfile searches a window.
        window = max(0, f.size - _COMMENT_WINDOW)
        gap = f.missing(window, f.size)
        if gap is not None:
            return gap
        found = f.peek(window, f.size).rfind(_EOCD_SIG)
        if found < 0 or window + found + _EOCD.size > f.size:
            raise WheelError(self.filename, "not a zip file (no end of central directory)")
        return window + found

    def _plan_directory(self) -> ByteSpan | None:
        """The span of end records and central directory still to fetch, if any."""
        f = self._file
        eocd = self._find_eocd()
        if isinstance(eocd, ByteSpan):
            return eocd
        fields = _EOCD.unpack(f.peek(eocd, eocd + _EOCD.size))
        cd_size32 = fields[5]
        locator = eocd - _LOCATOR.size
        record = locator - _ZIP64_EOCD.size
        if locator < 0:
            start = eocd - cd_size32
        elif f.missing(locator, eocd) is not None:
            # Unknown whether ZIP64 end records precede the EOCD: include room for them.
            known = 0 if cd_size32 == _SATURATED_32 else cd_size32
            start = eocd - _ZIP64_ENDS - known
        elif not f.peek(locator, eocd).startswith(_LOCATOR_SIG) or record < 0:
            start = min(eocd - cd_size32, locator)
        elif f.missing(record, locator) is not None:
            known = 0 if cd_size32 == _SATURATED_32 else cd_size32
            start = record - known
        else:
            zip64 = _ZIP64_EOCD.unpack(f.peek(record, locator))
            if zip64[0] == _ZIP64_EOCD_SIG:
                start = record - zip64[8]
            else:
                start = min(eocd - cd_size32, record)
        return f.missing(max(0, start), f.size)

    def _choose_member(self, archive: zipfile.ZipFile) -> zipfile.ZipInfo:
        matches = [info for info in archive.infolist() if self._is_metadata(info.filename)]
        wanted = f"{self._name}-{self._version}.dist-info/METADATA"
        if not matches:
            raise WheelError(self.filename, f"no {wanted} in the wheel")
        # Several entries (a repeated name, or spellings of one directory): the last one in the
        # central directory wins, as for zipfile's name lookup, which pip, installer and PyPI's
        # metadata extraction use. The partial-directory shortcut applies the same rule.
        return matches[-1]

    def _is_metadata(self, member: str) -> bool:
        directory, slash, leaf = member.partition("/")
        if not slash or leaf != "METADATA" or not directory.endswith(".dist-info"):
            return False
        project, dash, version = directory[: -len(".dist-info")].rpartition("-")
        if not dash or canonicalize_name(project) != self._name:
            return False
        try:
            return Version(version) == self._version
        except InvalidVersion:
            return False

    def _entry_of(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> _CentralEntry:
        """The member's central directory fields (ZIP64 resolved by zipfile) and its span."""
        f = self._file
        header = info.header_offset
        if not 0 <= header < f.size:
            raise WheelError(
                self.filename, f"local header of {info.filename} is outside the file"
            )
        encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
        entry = _CentralEntry(
            name=info.filename, raw_name=info.orig_filename.encode(encoding, "replace"),
            flags=info.flag_bits, method=info.compress_type, crc=info.CRC,
            compressed_size=info.compress_size, file_size=info.file_size, header_offset=header,
        )
        later = [i.header_offset for i in archive.infolist() if i.header_offset > header]
        if archive.start_dir > header:
            later.append(archive.start_dir)
        entry.span_end = _member_span_end(entry, min(later, default=f.size), f.size)
        return entry


_CD_SIG = b"PK\x01\x02"
_CD = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")
_LOCAL_SIG = b"PK\x03\x04"
#: Candidate entry boundaries tried when parsing a partial central directory.
_MAX_CHAIN_STARTS = 64
#: Compression methods a wheel's METADATA may use: stored and deflate.
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
#: Compressed bytes inflated at a time.
_CHUNK = 64 * 1024
#: Longest local header "extra" field.
_MAX_EXTRA = 0xFFFF


def _max_compressed(size: int) -> int:
    """Most compressed bytes a stored or deflated member of ``size`` bytes needs.

    Deflate's worst case is stored blocks: 5 bytes per block of at most 65535 bytes, plus one
    empty final block; 1/1000 + 64 is more than enough.
    """
    return size + size // 1000 + 64


def _member_span_end(entry: _CentralEntry, next_start: int, limit: int) -> int:
    """Where to stop fetching the member: the next member (or CD) start, or the furthest its
    local header, name, extra field and declared compressed bytes can reach, if that is nearer.
    Never less than the header, name and compressed bytes (a fetch that small could not hold it).
    """
    start = entry.header_offset + _LOCAL.size + len(entry.raw_name)
    minimum = min(start + entry.compressed_size, limit)
    return max(min(next_start, start + _MAX_EXTRA + entry.compressed_size), minimum)


@dataclass(kw_only=True, slots=True)
class _CentralEntry:
    """The fields of one central directory entry that reading its member needs."""

    name: str
    raw_name: bytes
    flags: int
    method: int
    crc: int
    compressed_size: int
    file_size: int
    header_offset: int
    #: Offset of this central directory record (None when zipfile parsed the directory).
    record_offset: int | None = None
    #: Where the member's bytes are assumed to end (next local header or the CD start).
    span_end: int = 0


def _chain(region: bytes, position: int, base: int) -> list[_CentralEntry] | None:
    """Entries from ``region[position:]`` if they chain exactly to the region's end."""
    entries: list[_CentralEntry] = []
    while position < len(region):
        if position + _CD.size > len(region) or region[position : position + 4] != _CD_SIG:
            return None
        fields = _CD.unpack_from(region, position)
        flags, method = fields[3], fields[4]
        crc, compressed, size = fields[7], fields[8], fields[9]
        name_length, extra_length, comment_length = fields[10], fields[11], fields[12]
        header_offset = fields[16]
        name_end = position + _CD.size + name_length
        if name_end > len(region):
            return None
        raw = region[position + _CD.size : name_end]
        name = raw.decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
        entries.append(
            _CentralEntry(
                name=name, raw_name=raw, flags=flags, method=method, crc=crc,
                compressed_size=compressed, file_size=size, header_offset=header_offset,
                record_offset=base + position,
            )
        )
        position = name_end + extra_length + comment_length
    return entries if position == len(region) else None


class _WholeFile:
    """A complete, seekable file seen through :class:`SparseFile`'s interface (nothing missing)."""

    def __init__(self, file: IO[bytes], size: int) -> None:
        self._f = file
        self.size = size
        self.lowest_read: int | None = None

    @property
    def held_bytes(self) -> int:
        return self.size

    def missing(self, start: int, end: int) -> ByteSpan | None:
        return None

    def peek(self, start: int, end: int) -> bytes:
        position = self._f.tell()
        self._f.seek(start)
        data = self._f.read(end - start)
        self._f.seek(position)
        return data

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._f.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def read(self, n: int | None = -1) -> bytes:
        return self._f.read(-1 if n is None else n)


def metadata_from_zip(
    file: IO[bytes], *, filename: str, max_size: int = DEFAULT_MAX_METADATA_SIZE
) -> bytes:
    """METADATA of a wheel held in a seekable file (a spooled whole download), read in place."""
    size = file.seek(0, 2)
    file.seek(0)
    locator = MetadataLocator(filename=filename, size=size, max_metadata_size=max_size)
    locator._file = _WholeFile(file, size)  # type: ignore[assignment]
    return locator.metadata()


def read_metadata_from_wheel_bytes(
    filename: str, data: bytes, *, max_metadata_size: int = DEFAULT_MAX_METADATA_SIZE
) -> bytes:
    """METADATA of a wheel whose whole body is ``data``."""
    locator = MetadataLocator(
        filename=filename, size=len(data), max_metadata_size=max_metadata_size
    )
    locator.feed(0, data)
    return locator.metadata()
