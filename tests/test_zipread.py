"""Tests for skimlock.zipread: planning range requests into a wheel and reading its METADATA."""

from __future__ import annotations

import contextlib
import io
import random
import struct
import tracemalloc
import warnings
import zipfile
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skimlock.errors import SkimlockError, WheelError
from skimlock.zipread import (
    MAX_ROUNDS,
    ByteSpan,
    MetadataLocator,
    SparseFile,
    _Missing,
    metadata_from_zip,
    read_metadata_from_wheel_bytes,
)

WHEEL = "foo-1.0-py3-none-any.whl"
META_NAME = "foo-1.0.dist-info/METADATA"
META = b"Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nRequires-Dist: bar>=2\n\nA description.\n"
KIB = 1024

# --- building wheels ------------------------------------------------------------------------


def make_zip(
    entries: list[tuple[str, bytes]],
    *,
    compression: int = zipfile.ZIP_DEFLATED,
    comment: bytes = b"",
    zip64_members: frozenset[str] = frozenset(),
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in entries:
            if name in zip64_members:
                info = zipfile.ZipInfo(name)
                info.compress_type = compression
                with archive.open(info, "w", force_zip64=True) as member:
                    member.write(content)
            else:
                archive.writestr(name, content)
        archive.comment = comment
    return buffer.getvalue()


def filler(count: int, size: int = 200) -> list[tuple[str, bytes]]:
    """Modules with incompressible content, so that the file is not tiny."""
    return [
        (f"foo/module_with_a_longish_name_{i:05d}.py", random.Random(i).randbytes(size))
        for i in range(count)
    ]


def metadata_last(count: int = 5) -> bytes:
    return make_zip([*filler(count), (META_NAME, META)])


def metadata_first(count: int = 5) -> bytes:
    return make_zip([(META_NAME, META), *filler(count)])


def big_cd() -> bytes:
    """A CD far larger than 8 KiB, METADATA last, then RECORD."""
    return make_zip([*filler(400), (META_NAME, META), ("foo-1.0.dist-info/RECORD", b"x" * 50)])


def layout(data: bytes, member: str = META_NAME) -> tuple[int, int, int]:
    """(member local header offset, member span end, CD start) as zipfile sees them."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        header = archive.getinfo(member).header_offset
        later = [i.header_offset for i in archive.infolist() if i.header_offset > header]
        return header, min([*later, archive.start_dir]), archive.start_dir


def eocd_offset(data: bytes) -> int:
    return data.rfind(b"PK\x05\x06")


def cd_entries(data: bytes) -> dict[str, int]:
    """Offset of each central directory entry, by name."""
    offsets: dict[str, int] = {}
    _, _, position = layout(data, zipfile.ZipFile(io.BytesIO(data)).namelist()[0])
    while data[position : position + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = struct.unpack("<3H", data[position + 28 : position + 34])
        offsets[data[position + 46 : position + 46 + name_len].decode()] = position
        position += 46 + name_len + extra_len + comment_len
    return offsets


def patch(data: bytes, offset: int, fmt: str, *values: int | bytes) -> bytes:
    packed = struct.pack(fmt, *values)
    return data[:offset] + packed + data[offset + len(packed) :]


def add_zip64_end(data: bytes, *, saturate: bool = True) -> bytes:
    """Rewrite the end of a comment-less zip to use ZIP64 end records (as some writers do)."""
    eocd = len(data) - 22
    _sig, _d, _dcd, n_this, n_total, cd_size, cd_offset, _clen = struct.unpack(
        "<4s4H2LH", data[eocd:]
    )
    record = struct.pack(
        "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, n_this, n_total, cd_size, cd_offset
    )
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, eocd, 1)
    if saturate:
        n_this = n_total = 0xFFFF
        cd_size = cd_offset = 0xFFFFFFFF
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n_this, n_total, cd_size, cd_offset, 0)
    return data[:eocd] + record + locator + end


def drive(
    data: bytes, tail: int, filename: str = WHEEL, **options: int
) -> tuple[bytes, list[ByteSpan], MetadataLocator]:
    """Feed a suffix of ``tail`` bytes, then every span asked for; check each span is sane."""
    locator = MetadataLocator(filename=filename, size=len(data), **options)
    tail = min(tail, len(data))
    locator.feed(len(data) - tail, data[len(data) - tail :])
    spans: list[ByteSpan] = []
    while (span := locator.next_span()) is not None:
        assert 0 <= span.start < span.end <= len(data)
        held = locator.held_bytes
        spans.append(span)
        locator.feed(span.start, data[span.start : span.end])
        assert locator.held_bytes > held, "a span must ask for bytes not held"
    return locator.metadata(), spans, locator


# --- SparseFile -----------------------------------------------------------------------------


def test_sparse_file_merges_and_reads() -> None:
    f = SparseFile(100)
    f.add(10, b"a" * 10)
    f.add(20, b"b" * 10)  # adjacent
    f.add(15, b"a" * 5 + b"b" * 10)  # overlapping, consistent
    f.add(50, b"c" * 10)
    assert f.held_bytes == 30
    assert f.missing(0, 100) == ByteSpan(start=0, end=100)
    assert f.missing(10, 30) is None
    assert f.missing(12, 55) == ByteSpan(start=30, end=50)
    assert f.missing(25, 70) == ByteSpan(start=30, end=70)
    f.seek(18)
    assert f.read(4) == b"aabb"
    assert f.tell() == 22
    with pytest.raises(_Missing) as missing:
        f.read(10)
    assert (missing.value.start, missing.value.end) == (22, 32)
    assert f.lowest_read == 18


def test_sparse_file_behaves_like_a_file_at_the_end() -> None:
    f = SparseFile(10)
    f.add(0, b"0123456789")
    assert f.seek(-3, 2) == 7
    assert f.read() == b"789"
    assert f.read(5) == b""
    f.seek(8)
    assert f.read(100) == b"89"
    with pytest.raises(OSError, match="negative"):
        f.seek(-11, 2)
    assert not issubclass(_Missing, OSError)


def test_sparse_file_rejects_conflicting_and_out_of_range_bytes() -> None:
    f = SparseFile(10)
    f.add(0, b"abc")
    with pytest.raises(ValueError, match="differ"):
        f.add(2, b"x")
    with pytest.raises(ValueError, match="outside"):
        f.add(8, b"abc")


# --- planning -------------------------------------------------------------------------------


@pytest.mark.parametrize("tail", [22, 8 * KIB, 64 * KIB, 10**9])
@pytest.mark.parametrize("build", [metadata_last, metadata_first, big_cd])
def test_reads_metadata_from_any_initial_suffix(tail: int, build: object) -> None:
    assert callable(build)
    data: bytes = build()
    meta, spans, locator = drive(data, tail)
    assert meta == META
    assert len(spans) <= 2
    header, _end, cd_start = layout(data)
    assert locator.tail_needed == len(data) - min(header, cd_start)
    # The learned suffix is exactly enough: a new locator needs no further request...
    again, spans_again, _ = drive(data, locator.tail_needed)
    assert again == META
    assert spans_again == []
    # ...and one byte less is not.
    assert drive(data, locator.tail_needed - 1)[1] != []


def test_metadata_last_within_tail_needs_no_request() -> None:
    data = metadata_last(count=100)
    assert 8 * KIB < len(data) < 64 * KIB
    meta, spans, locator = drive(data, 64 * KIB)
    assert meta == META
    assert spans == []
    assert locator.held_bytes == len(data)


def test_cd_larger_than_tail_listing_metadata_needs_only_the_member() -> None:
    # The held end of the central directory lists METADATA: the rest of the CD is skipped.
    data = big_cd()
    header, end, cd_start = layout(data)
    assert len(data) - cd_start > 8 * KIB
    meta, spans, locator = drive(data, 8 * KIB)
    assert meta == META
    assert spans == [ByteSpan(start=header, end=end)]
    assert locator.rounds == 1
    assert locator.tail_needed == len(data) - header


def test_cd_larger_than_tail_not_listing_metadata_reads_the_whole_cd() -> None:
    # METADATA first: its CD entry is at the start of the CD, outside an 8 KiB tail.
    data = make_zip([(META_NAME, META), *filler(400)])
    header, end, cd_start = layout(data)
    assert len(data) - cd_start > 8 * KIB
    meta, spans, locator = drive(data, 8 * KIB)
    assert meta == META
    tail_start = len(data) - 8 * KIB
    assert spans == [ByteSpan(start=cd_start, end=tail_start), ByteSpan(start=header, end=end)]
    assert locator.rounds == 2


def test_shortcut_survives_a_fake_entry_signature_in_a_name() -> None:
    # A member name containing the CD signature must not derail the chain parse.
    trap = "foo/PK\x01\x02trap.py"
    record = ("foo-1.0.dist-info/RECORD", b"")
    data = make_zip([*filler(400), (trap, b"x"), (META_NAME, META), record])
    header, end, _cd_start = layout(data)
    meta, spans, _locator = drive(data, 8 * KIB)
    assert meta == META
    assert spans == [ByteSpan(start=header, end=end)]


def test_shortcut_checks_the_crc() -> None:
    data = make_zip([*filler(400), (META_NAME, META), ("foo-1.0.dist-info/RECORD", b"")],
                    compression=zipfile.ZIP_STORED)
    header, _end, _cd_start = layout(data)
    start = header + 30 + len(META_NAME)
    corrupt = data[:start] + b"X" + data[start + 1 :]
    with pytest.raises(WheelError, match="CRC"):
        drive(corrupt, 8 * KIB)


def test_shortcut_caps_the_declared_size() -> None:
    data = big_cd()
    with pytest.raises(WheelError, match="larger than"):
        drive(data, 8 * KIB, max_metadata_size=10)


def test_22_byte_tail_asks_for_room_for_zip64_end_records() -> None:
    data = big_cd()
    header, end, cd_start = layout(data)
    _meta, spans, _ = drive(data, 22)
    # The locator is not known yet, so the CD span starts 76 bytes early (within the member here).
    assert spans[0] == ByteSpan(start=cd_start - 76, end=len(data) - 22)
    assert spans[1] == ByteSpan(start=header, end=min(end, cd_start - 76))
    assert len(spans) == 2


def test_metadata_first_member_span_ends_at_next_header() -> None:
    data = metadata_first(count=400)
    header, end, _cd_start = layout(data)
    assert header == 0
    _meta, spans, locator = drive(data, 64 * KIB)
    assert spans == [ByteSpan(start=0, end=end)]
    assert locator.tail_needed == len(data)


def test_only_missing_member_bytes_are_asked_for() -> None:
    data = metadata_last(count=20)
    header, _end, cd_start = layout(data)
    tail = len(data) - header - 10  # all but the first 10 bytes of the local header
    _meta, spans, _ = drive(data, tail)
    assert spans == [ByteSpan(start=header, end=header + 10)]
    assert cd_start > header


def test_zip_comment_asks_once_for_the_comment_window() -> None:
    data = make_zip([*filler(400), (META_NAME, META)], comment=b"c" * (60 * KIB))
    header, _end, cd_start = layout(data)
    meta, spans, locator = drive(data, 22)
    assert meta == META
    assert spans[0] == ByteSpan(start=len(data) - (65536 + 22), end=len(data) - 22)
    assert len(spans) == 3  # comment window, CD, member
    # zipfile reads the whole comment window, and tail_needed says so.
    assert locator.tail_needed == len(data) - min(header, cd_start, len(data) - (65536 + 22))
    whole, spans, _ = drive(data, 10**9)
    assert (whole, spans) == (META, [])


def test_no_end_of_central_directory() -> None:
    data = bytes(range(256)) * 400
    with pytest.raises(WheelError, match="no end of central directory"):
        drive(data, 8 * KIB)
    with pytest.raises(WheelError, match="no end of central directory"):
        read_metadata_from_wheel_bytes(WHEEL, data)
    with pytest.raises(WheelError, match="no end of central directory"):
        MetadataLocator(filename=WHEEL, size=10)


# --- ZIP64 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
@pytest.mark.parametrize("tail", [22, 8 * KIB, 10**9])
def test_zip64_members(compression: int, tail: int) -> None:
    entries = [*filler(300), (META_NAME, META)]
    data = make_zip(
        entries, compression=compression, zip64_members=frozenset({META_NAME, entries[0][0]})
    )
    meta, spans, _ = drive(data, tail)
    assert meta == META
    assert len(spans) <= 2


@pytest.mark.parametrize("saturate", [True, False])
def test_zip64_end_records(saturate: bool) -> None:
    data = add_zip64_end(big_cd(), saturate=saturate)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:  # the fixture is a valid zip
        assert archive.read(META_NAME) == META
    header, _end, cd_start = layout(data)
    meta, spans, locator = drive(data, 22)
    assert meta == META
    if saturate:  # the 32-bit EOCD says nothing: end records first, then the CD
        assert spans[0] == ByteSpan(start=len(data) - 22 - 76, end=len(data) - 22)
        assert spans[1].start == cd_start
        assert len(spans) == 3
    else:  # one span covers CD and end records, exactly
        assert spans[0] == ByteSpan(start=cd_start, end=len(data) - 22)
        assert len(spans) == 2
    assert locator.tail_needed == len(data) - header
    _meta, spans, _ = drive(data, 8 * KIB)
    assert spans[0] == ByteSpan(start=cd_start, end=len(data) - 8 * KIB)
    assert len(spans) == 2


def test_more_than_65535_entries() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(65_600):
            archive.writestr(f"p/{i}", b"")
        archive.writestr(META_NAME, META)
    data = buffer.getvalue()
    assert data[-98:-94] == b"PK\x06\x06"  # zipfile wrote ZIP64 end records
    header, end, cd_start = layout(data)
    meta, spans, _ = drive(data, 64 * KIB)
    assert meta == META
    assert spans == [
        ByteSpan(start=cd_start, end=len(data) - 64 * KIB),
        ByteSpan(start=header, end=end),
    ]


# --- choosing the member --------------------------------------------------------------------


def test_ignores_vendored_and_other_projects_metadata() -> None:
    decoy = b"Metadata-Version: 2.1\nName: decoy\nVersion: 9\n"
    data = make_zip(
        [
            ("foo/_vendor/bar-1.0.dist-info/METADATA", decoy),
            ("bar-1.0.dist-info/METADATA", decoy),
            ("foo-2.0.dist-info/METADATA", decoy),
            ("foo-1.0.dist-info/METADATA/extra", decoy),
            (META_NAME, META),
            ("x/foo-1.0.dist-info/METADATA", decoy),
        ]
    )
    assert read_metadata_from_wheel_bytes(WHEEL, data) == META


@pytest.mark.parametrize(
    ("filename", "directory"),
    [
        ("PyYAML-6.0-cp311-cp311-linux_x86_64.whl", "PyYAML-6.0.dist-info"),
        ("pyyaml-6.0-cp311-cp311-linux_x86_64.whl", "PyYAML-6.0.dist-info"),
        ("zope.interface-5.0-py3-none-any.whl", "zope.interface-5.0.dist-info"),
        ("foo_bar-1.0-py3-none-any.whl", "Foo.Bar-1.0.0.dist-info"),
        ("foo-1.0-py3-none-any.whl", "foo-1.0.dist-info"),
    ],
)
def test_matches_non_normalized_dist_info(filename: str, directory: str) -> None:
    data = make_zip([(f"{directory}/METADATA", META)])
    assert read_metadata_from_wheel_bytes(filename, data) == META


def test_no_matching_metadata() -> None:
    data = make_zip([("bar-1.0.dist-info/METADATA", META), ("foo-1.1.dist-info/METADATA", META)])
    with pytest.raises(WheelError, match=r"no foo-1\.0\.dist-info/METADATA in the wheel"):
        read_metadata_from_wheel_bytes(WHEEL, data)


def _duplicated(first: str, second: str) -> bytes:
    """Two METADATA entries (names ``first`` then ``second``) with different contents, the
    second followed by enough entries that a small suffix does not hold the first's record."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about a duplicate name
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(first, META.replace(b"bar>=2", b"first"))
            for name, content in filler(60):
                archive.writestr(name, content)
            archive.writestr(second, META.replace(b"bar>=2", b"second"))
            for i in range(40):
                archive.writestr(f"foo-1.0.dist-info/licenses/LICENSE_{i:03d}.txt", b"MIT" * 20)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "names",
    [(META_NAME, META_NAME), ("Foo-1.0.dist-info/METADATA", META_NAME)],
    ids=["same-name", "two-spellings"],
)
def test_two_matching_metadata_the_last_entry_wins_on_every_path(names: tuple[str, str]) -> None:
    """The rule for both paths is zipfile's name lookup (what pip and installer read): the last
    entry. Ranges that hold only the end of the directory, ranges that hold all of it, and a
    whole file all give the second entry's bytes."""
    data = _duplicated(*names)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert b"second" in archive.read(META_NAME)  # what an installer would read
        second_record = archive.infolist()[61]
        directory_start = archive.start_dir
    assert b"Requires-Dist: second" in read_metadata_from_wheel_bytes(WHEEL, data)
    assert b"Requires-Dist: second" in metadata_from_zip(io.BytesIO(data), filename=WHEEL)
    # A suffix without the first entry's directory record: the partial-CD shortcut.
    assert len(data) - 4 * KIB > directory_start
    meta, spans, _ = drive(data, 4 * KIB)
    assert b"Requires-Dist: second" in meta
    assert spans == [ByteSpan(start=second_record.header_offset, end=spans[0].end)]
    for tail in (22, 64 * KIB, len(data)):
        assert b"Requires-Dist: second" in drive(data, tail)[0]


def test_invalid_wheel_filename() -> None:
    with pytest.raises(WheelError, match="invalid wheel file name"):
        MetadataLocator(filename="foo-1.0.tar.gz", size=1000)


# --- corrupt wheels -------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_corrupt_data_is_caught(compression: int) -> None:
    data = make_zip([(META_NAME, META * 20)], compression=compression)
    header, _end, _cd = layout(data)
    name_len, extra_len = struct.unpack("<2H", data[header + 26 : header + 30])
    inside = header + 30 + name_len + extra_len + 10
    corrupt = data[:inside] + bytes([data[inside] ^ 0xFF]) + data[inside + 1 :]
    with pytest.raises(WheelError) as error:
        read_metadata_from_wheel_bytes(WHEEL, corrupt)
    if compression == zipfile.ZIP_STORED:
        assert "bad CRC-32" in str(error.value)


def test_declared_size_over_cap() -> None:
    data = make_zip([(META_NAME, META)])
    entry = cd_entries(data)[META_NAME]
    lying = patch(data, entry + 24, "<L", 17 * 2**20)
    with pytest.raises(WheelError, match="METADATA larger than 16 MiB"):
        read_metadata_from_wheel_bytes(WHEEL, lying)
    with pytest.raises(WheelError, match="METADATA larger than 10 bytes"):
        read_metadata_from_wheel_bytes(WHEEL, data, max_metadata_size=10)


@pytest.mark.parametrize("tail", [22, 4 * KIB, 10**9])
def test_deflate_past_its_declared_size_stops_with_bounded_memory(tail: int) -> None:
    """A deflate stream of 16 MiB whose headers declare 20,000 bytes (under the cap, and a
    plausible compressed size for it): inflating stops one byte past the declared size, even
    with the CRC of those 10,000 bytes, on the range path and on the whole-file path."""
    huge = b"A" * (16 * 2**20)
    data = make_zip([*filler(3), (META_NAME, huge)])
    del huge
    entry = cd_entries(data)[META_NAME]
    lying = patch(data, entry + 16, "<L", zlib.crc32(b"A" * 20_000))
    lying = patch(lying, entry + 24, "<L", 20_000)
    tracemalloc.start()
    try:
        with pytest.raises(WheelError, match="expands past the 20000 bytes it declares"):
            drive(lying, tail)
        with pytest.raises(WheelError, match="expands past the 20000 bytes it declares"):
            metadata_from_zip(io.BytesIO(lying), filename=WHEEL)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * 2**20, peak


def test_compressed_size_out_of_proportion_is_refused_before_reading() -> None:
    data = make_zip([(META_NAME, b"A" * (8 * 2**20))])  # ~8 KB compressed
    lying = patch(data, cd_entries(data)[META_NAME] + 24, "<L", 100)
    with pytest.raises(WheelError, match="declares 8158 compressed bytes for 100 bytes"):
        read_metadata_from_wheel_bytes(WHEEL, lying)


def test_bad_local_header() -> None:
    data = make_zip([(META_NAME, META)])
    header, _end, _cd = layout(data)
    with pytest.raises(WheelError, match=r"bad local header for foo-1\.0\.dist-info/METADATA"):
        read_metadata_from_wheel_bytes(WHEEL, patch(data, header, "<4s", b"XXXX"))


def test_bad_central_directory() -> None:
    data = make_zip([(META_NAME, META)])
    entry = cd_entries(data)[META_NAME]
    with pytest.raises(WheelError, match="corrupt zip"):
        read_metadata_from_wheel_bytes(WHEEL, patch(data, entry, "<4s", b"XXXX"))


def _bomb(method: int, expanded: int) -> bytes:
    """A wheel whose METADATA is ``expanded`` zero bytes compressed with ``method`` (bzip2 or
    LZMA, streamed so that the test never holds the expansion), its headers declaring 100."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in filler(5):
            archive.writestr(name, content)
        info = zipfile.ZipInfo(META_NAME)
        info.compress_type = method
        with archive.open(info, "w") as member:
            block = bytes(2**20)
            for _ in range(expanded // len(block)):
                member.write(block)
    data = buffer.getvalue()
    entry = cd_entries(data)[META_NAME]
    data = patch(data, entry + 24, "<L", 100)
    header = layout(data)[0]
    return patch(data, header + 22, "<L", 100)


@pytest.mark.parametrize(
    "method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA], ids=["bzip2", "lzma"]
)
def test_compression_bomb_of_another_method_is_refused_unread(method: int) -> None:
    """Issue 9 item 3: a METADATA member of method 12/14 that expands to 16 MiB while declaring
    100 bytes is refused before anything is decompressed, by ranges and from a whole file."""
    data = _bomb(method, 16 * 2**20)
    assert len(data) < 64 * KIB
    tracemalloc.start()
    try:
        for tail in (22, 4 * KIB, len(data)):
            with pytest.raises(WheelError, match=f"compression method {method}; wheels use"):
                drive(data, tail)
        with pytest.raises(WheelError, match=f"compression method {method}; wheels use"):
            metadata_from_zip(io.BytesIO(data), filename=WHEEL)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * 2**20, peak


def test_unsupported_compression_and_encryption() -> None:
    data = make_zip([(META_NAME, META)])
    entry = cd_entries(data)[META_NAME]
    with pytest.raises(WheelError, match="unsupported zip feature"):
        read_metadata_from_wheel_bytes(WHEEL, patch(data, entry + 10, "<H", 99))
    with pytest.raises(WheelError, match="encrypted"):
        read_metadata_from_wheel_bytes(WHEEL, patch(data, entry + 8, "<H", 1))


def test_truncated_wheel() -> None:
    data = big_cd()
    for cut in (len(data) // 2, len(data) - 1, 30):
        with pytest.raises(WheelError):
            read_metadata_from_wheel_bytes(WHEEL, data[:cut])


# --- protocol misuse ------------------------------------------------------------------------


def test_inconsistent_feeds() -> None:
    data = metadata_last()
    locator = MetadataLocator(filename=WHEEL, size=len(data))
    locator.feed(len(data) - 100, data[-100:])
    with pytest.raises(WheelError, match="differ"):
        locator.feed(len(data) - 50, b"x" * 50)
    with pytest.raises(WheelError, match="outside"):
        locator.feed(len(data) - 10, b"x" * 20)


def test_metadata_before_all_bytes_are_fed() -> None:
    data = big_cd()
    locator = MetadataLocator(filename=WHEEL, size=len(data))
    locator.feed(len(data) - 22, data[-22:])
    with pytest.raises(WheelError, match="needed but were not fed"):
        locator.metadata()


def test_gives_up_after_max_rounds() -> None:
    data = big_cd()
    locator = MetadataLocator(filename=WHEEL, size=len(data))
    for _ in range(MAX_ROUNDS):
        assert locator.next_span() is not None  # never fed
    with pytest.raises(WheelError, match="range requests"):
        locator.next_span()


# --- properties -----------------------------------------------------------------------------

_VALID = make_zip([*filler(30), (META_NAME, META), ("foo-1.0.dist-info/RECORD", b"r" * 40)])
_VALID_META_AT = layout(_VALID)[0]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_raise_only_skimlock_errors(data: bytes) -> None:
    with contextlib.suppress(SkimlockError):
        read_metadata_from_wheel_bytes(WHEEL, data)


@settings(max_examples=300, deadline=None)
@given(
    edits=st.lists(
        st.tuples(
            # Anywhere, or (more often) in METADATA, the central directory and the end records.
            st.integers(0, len(_VALID) - 1) | st.integers(_VALID_META_AT, len(_VALID) - 1),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=8,
    ),
    cut=st.none() | st.integers(0, len(_VALID)),
    tail=st.sampled_from([22, 512, 4 * KIB, 64 * KIB]),
)
def test_corrupted_wheel_raises_only_wheel_errors(
    edits: list[tuple[int, int]], cut: int | None, tail: int
) -> None:
    corrupt = bytearray(_VALID)
    for offset, value in edits:
        corrupt[offset] = value
    data = bytes(corrupt if cut is None else corrupt[: max(cut, 22)])
    with contextlib.suppress(WheelError):
        read_metadata_from_wheel_bytes(WHEEL, data)
    try:
        _meta, spans, _ = drive(data, tail)
    except WheelError:
        pass
    else:
        assert len(spans) <= MAX_ROUNDS
