"""Tests for skimlock.rangeplan: the first suffix into a wheel, learned per project.

Unit tests on :class:`RangePlan` with layouts read from wheels built here, and the issue 11 item 7
case through a real index on loopback: a project whose wheels write ``.dist-info`` first
(pdm-backend does), read version after version, must cost about the range floor each time, never
the whole file.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import httpx
import pytest

from index.server import serve_index
from index.tree import Mode, write_index
from index.wheels import build_wheel
from skimlock.fetch import Fetcher, FetchOptions
from skimlock.rangeplan import DEFAULT_INITIAL_TAIL, ROUND_TRIP_BYTES, RangePlan
from skimlock.stats import Category, Stats
from skimlock.zipread import MetadataLocator, WheelLayout

KiB = 1024


def read_layout(path: Path, first: int) -> tuple[WheelLayout, int, int]:
    """(layout, requests, bytes) of reading ``path``'s METADATA with a first suffix ``first``."""
    data = path.read_bytes()
    locator = MetadataLocator(filename=path.name, size=len(data))
    start = max(0, len(data) - first)
    locator.feed(start, data[start:])
    requests, spent = 1, len(data) - start
    while (span := locator.next_span()) is not None:
        locator.feed(span.start, data[span.start : span.end])
        requests, spent = requests + 1, spent + span.length
    locator.metadata()
    layout = locator.layout
    assert layout is not None
    return layout, requests, spent


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("plan")
    return {
        # .dist-info first, ~120 KB of code after it: fastapi's layout.
        "first": [
            build_wheel(root, "front", v, dist_info_first=True, padding_bytes=120_000)
            for v in ("1.0", "1.1", "1.2")
        ],
        # .dist-info last, small directory: the common case.
        "last": [build_wheel(root, "back", v, padding_bytes=120_000) for v in ("1.0", "1.1")],
        # .dist-info last before a directory of ~100 KB: one suffix would cost far more.
        "wide": [build_wheel(root, "wide", v, padding_files=900) for v in ("1.0", "1.1")],
    }


def test_nothing_learned_is_the_initial_tail_capped_by_the_size() -> None:
    plan = RangePlan()
    assert plan.first_request("any", None) == DEFAULT_INITIAL_TAIL == 17 * KiB
    assert plan.first_request("any", 10_000) == 10_000
    assert plan.first_request("any", 10**9) == DEFAULT_INITIAL_TAIL
    assert RangePlan(initial_tail=4096).first_request("any", None) == 4096
    with pytest.raises(ValueError, match="shorter than a zip end record"):
        RangePlan(initial_tail=10)


def test_member_near_the_end_next_suffix_covers_it(wheels: dict[str, list[Path]]) -> None:
    first, second = wheels["last"]
    layout, _requests, _spent = read_layout(first, DEFAULT_INITIAL_TAIL)
    assert layout.member_in_tail - layout.floor <= ROUND_TRIP_BYTES
    plan = RangePlan()
    plan.learn("back", layout)
    suffix = plan.first_request("back", second.stat().st_size)
    assert suffix >= layout.member_in_tail
    assert suffix == layout.member_in_tail + 4 * KiB  # the minimum margin
    _layout, requests, spent = read_layout(second, suffix)
    assert (requests, spent) == (1, suffix)
    # Another project learned nothing from it.
    assert plan.first_request("other", None) == DEFAULT_INITIAL_TAIL


@pytest.mark.parametrize("kind", ["first", "wide"])
def test_member_far_from_the_end_next_suffix_covers_only_the_directory(
    wheels: dict[str, list[Path]], kind: str
) -> None:
    """Issue 11 item 7: the tail that held METADATA is (nearly) the whole file here; learning it
    made every later version a whole download. The plan learns the directory tail instead:
    two requests, about the range floor in bytes."""
    first, *later = wheels[kind]
    layout, _requests, _spent = read_layout(first, DEFAULT_INITIAL_TAIL)
    assert layout.member_in_tail - layout.floor > ROUND_TRIP_BYTES
    plan = RangePlan()
    plan.learn(kind, layout)
    for path in later:
        size = path.stat().st_size
        suffix = plan.first_request(kind, size)
        assert suffix < layout.member_in_tail
        assert suffix == layout.directory_tail + 4 * KiB
        again, requests, spent = read_layout(path, suffix)
        assert requests == 2
        assert spent <= again.floor + 4 * KiB
        assert spent < size / 10
        plan.learn(kind, again)


def test_learning_keeps_the_largest_tail_and_the_latest_placement() -> None:
    plan = RangePlan(margin=0.5, min_margin=0)
    near = WheelLayout(size=100_000, directory_start=98_000, member_start=96_000,
                       member_end=97_000)  # fmt: skip
    bigger = WheelLayout(size=100_000, directory_start=90_000, member_start=80_000,
                         member_end=81_000)  # fmt: skip
    far = WheelLayout(size=1_000_000, directory_start=997_000, member_start=100,
                      member_end=2_100)  # fmt: skip
    plan.learn("p", bigger)
    plan.learn("p", near)
    assert plan.first_request("p", None) == 20_000 + 10_000  # the larger member tail, +50 %
    plan.learn("p", far)
    assert plan.first_request("p", None) == 10_000 + 5_000  # the larger directory tail, +50 %
    plan.learn("p", near)
    assert plan.first_request("p", None) == 4_000 + 2_000  # near again: this wheel's tail


def test_layout_floor_and_tails() -> None:
    far = WheelLayout(size=1000, directory_start=900, member_start=0, member_end=150)
    assert (far.directory_tail, far.member_in_tail, far.floor) == (100, 1000, 250)
    near = WheelLayout(size=1000, directory_start=900, member_start=850, member_end=900)
    assert (near.directory_tail, near.member_in_tail, near.floor) == (100, 150, 150)


@pytest.mark.parametrize("fmt", ["json", "html"])
def test_versions_of_a_dist_info_first_project_cost_the_floor_not_the_file(
    wheels: dict[str, list[Path]], tmp_path: Path, http_client: httpx.Client, fmt: str
) -> None:
    """Through a real index (JSON pages give PEP 700 sizes, HTML pages do not): after the first
    version, each later one takes two range requests and about the floor, never a whole file."""
    paths = wheels["first"]
    tree = write_index(tmp_path / "tree", paths, mode=Mode.NO_METADATA)
    with serve_index(tree, fmt=fmt) as server:
        fetcher = Fetcher(http_client, stats=Stats(), options=FetchOptions(retries=0))
        page = fetcher.page(server.simple_url, "front")
        assert page is not None
        files = sorted(page.files, key=lambda f: f.filename)
        assert [f.size is not None for f in files] == [fmt == "json"] * 3
        got = [fetcher.metadata(f) for f in files]
    for fetched, path in zip(got, paths, strict=True):
        assert fetched.data == tree.metadata(path.name)
        assert fetched.source.category is Category.METADATA_RANGE
    sizes = [p.stat().st_size for p in paths]
    floors = [read_layout(p, 10**9)[0].floor for p in paths]
    for fetched, size, floor in zip(got[1:], sizes[1:], floors[1:], strict=True):
        assert fetched.source.requests == 2
        assert fetched.source.spent_bytes <= floor + 4 * KiB
        assert fetched.source.spent_bytes < size / 10
    with zipfile.ZipFile(paths[0]) as archive:  # the layout this is about
        assert archive.infolist()[0].filename.endswith(".dist-info/METADATA")
