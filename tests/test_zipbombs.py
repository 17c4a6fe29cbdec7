"""Hostile wheels read through a real index on loopback: by ranges and by whole download.

Issue 9 item 3 (a METADATA member that is a compression bomb) and item 13 (two METADATA entries
for one ``.dist-info``). Each wheel is built here, served by the test index (uvicorn +
starlette over a static tree) in two modes: no ``.metadata`` (the client reads ranges) and a
server that ignores ranges (the client downloads the whole wheel, hash-checked). Memory is
measured with :mod:`tracemalloc` around the fetch: every Python allocation of the fetcher's
threads, including the decompressors' output buffers.
"""

from __future__ import annotations

import io
import struct
import tracemalloc
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from index.server import Server, serve_index
from index.tree import Mode, write_index
from index.wheels import build_wheel, make_metadata, wheel_filename
from skimlock.errors import WheelError
from skimlock.fetch import FetchedMetadata, Fetcher, FetchOptions
from skimlock.stats import Category, Stats

MiB = 2**20
#: What each bomb expands to: more than the 16 MiB METADATA cap, so that reading it whole
#: before the fix shows in the peak.
EXPANDS_TO = 32 * MiB
#: Peak traced allocations allowed while reading one hostile wheel.
BOUND = 4 * MiB

_CD = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")


def _declare(data: bytes, member: str, size: int, crc: int | None = None) -> bytes:
    """``data`` with ``member``'s uncompressed size (and CRC) rewritten in both headers."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(member)
        record = data.find(b"PK\x01\x02", archive.start_dir)
        while record >= 0:
            fields = _CD.unpack_from(data, record)
            if fields[16] == info.header_offset:
                break
            record = data.find(b"PK\x01\x02", record + 4)
    for at, crc_at, size_at in ((record, 16, 24), (info.header_offset, 14, 22)):
        struct.pack_into("<L", out, at + size_at, size)
        if crc is not None:
            struct.pack_into("<L", out, at + crc_at, crc)
    return bytes(out)


def _bomb_wheel(directory: Path, project: str, method: int) -> Path:
    """A wheel whose METADATA is EXPANDS_TO zero bytes compressed with ``method``, its headers
    declaring 100 bytes; code members first, so the wheel looks ordinary otherwise."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(50):
            archive.writestr(f"{project}/mod_{i:03d}.py", f"X = {i}\n" * 20)
        info = zipfile.ZipInfo(f"{project}-1.0.dist-info/METADATA")
        info.compress_type = method
        with archive.open(info, "w") as member:
            block = bytes(MiB)
            for _ in range(EXPANDS_TO // MiB):
                member.write(block)
        archive.writestr(f"{project}-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
        archive.writestr(f"{project}-1.0.dist-info/RECORD", "")
    path = directory / wheel_filename(project, "1.0")
    path.write_bytes(_declare(buffer.getvalue(), f"{project}-1.0.dist-info/METADATA", 100))
    return path


def _duplicate_wheel(directory: Path) -> Path:
    """``dup-1.0``: METADATA written twice (same name), the first saying ``Requires-Dist:
    first``, the last ``second``; enough members between them that a suffix holding the last
    entry's directory record does not hold the first's."""
    first = make_metadata("dup", "1.0", requires_dist=["first"])
    second = make_metadata("dup", "1.0", requires_dist=["second"])
    path = directory / wheel_filename("dup", "1.0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("dup-1.0.dist-info/METADATA", first)
            for i in range(600):
                archive.writestr(f"dup/mod_{i:03d}.py", f"X = {i}\n")
            archive.writestr("dup-1.0.dist-info/METADATA", second)
            archive.writestr("dup-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
            archive.writestr("dup-1.0.dist-info/RECORD", "")
    return path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    dists = root / "dists"
    dists.mkdir()
    # A deflate stream of EXPANDS_TO bytes whose headers declare 60,000 (under the cap, and
    # plausible for its ~32 KB of compressed bytes).
    deflated = build_wheel(dists, "inflater", "1.0", metadata=bytes(EXPANDS_TO))
    member = "inflater-1.0.dist-info/METADATA"
    deflated.write_bytes(_declare(deflated.read_bytes(), member, 60_000))
    wheels = {
        "bzip2": _bomb_wheel(dists, "bzbomb", zipfile.ZIP_BZIP2),
        "lzma": _bomb_wheel(dists, "xzbomb", zipfile.ZIP_LZMA),
        "deflate": deflated,
        "duplicate": _duplicate_wheel(dists),
    }
    for path in wheels.values():
        assert path.stat().st_size < 200_000
    return wheels


@pytest.fixture(scope="module", params=[Mode.NO_METADATA, Mode.NO_RANGES], ids=lambda m: m.value)
def hostile_index(
    request: pytest.FixtureRequest, hostile: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:  # fmt: skip
    mode: Mode = request.param
    stand_in = {p.name: b"Metadata-Version: 2.1\nName: x\nVersion: 1.0\n" for p in hostile.values()}
    tree = write_index(
        tmp_path_factory.mktemp(mode.value), hostile.values(), mode=mode, metadata=stand_in
    )
    with serve_index(tree, fmt="json") as server:
        yield server


def _fetch(client: httpx.Client, server: Server, path: Path) -> FetchedMetadata:
    fetcher = Fetcher(client, stats=Stats(), options=FetchOptions(retries=0))
    project = path.name.split("-", 1)[0]
    page = fetcher.page(server.simple_url, project)
    assert page is not None
    (file,) = page.files
    return fetcher.metadata(file)


def _assert_path_taken(server: Server) -> Category:
    """The path the mode forces was the one taken; its category."""
    statuses = {e.status for e in server.log.entries if e.path.startswith("/files/")}
    ranges = server.mode is Mode.NO_METADATA
    assert statuses == ({206} if ranges else {200})
    return Category.METADATA_RANGE if ranges else Category.FULL_DOWNLOAD


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("bzip2", "compression method 12; wheels use stored (0) or deflate (8)"),
        ("lzma", "compression method 14; wheels use stored (0) or deflate (8)"),
        ("deflate", "expands past the 60000 bytes it declares"),
    ],
)
def test_metadata_bomb_is_refused_with_bounded_memory(
    hostile_index: Server, hostile: dict[str, Path], http_client: httpx.Client,
    kind: str, message: str,
) -> None:  # fmt: skip
    hostile_index.log.clear()
    tracemalloc.start()
    try:
        with pytest.raises(WheelError) as info:
            _fetch(http_client, hostile_index, hostile[kind])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < BOUND, f"peak {peak / MiB:.1f} MiB reading a {kind} bomb"
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    _assert_path_taken(hostile_index)


def test_duplicate_metadata_entries_read_the_last_on_both_paths(
    hostile_index: Server, hostile: dict[str, Path], http_client: httpx.Client
) -> None:
    hostile_index.log.clear()
    got = _fetch(http_client, hostile_index, hostile["duplicate"])
    assert got.metadata.requires_dist is not None
    assert [str(r) for r in got.metadata.requires_dist] == ["second"]
    with zipfile.ZipFile(hostile["duplicate"]) as archive:  # what pip / installer read
        assert b"Requires-Dist: second" in archive.read("dup-1.0.dist-info/METADATA")
    assert got.source.category is _assert_path_taken(hostile_index)
