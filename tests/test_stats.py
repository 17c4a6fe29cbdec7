"""The bandwidth line and the per-request log (:mod:`skimlock.stats`), sans-I/O."""

from __future__ import annotations

import logging

import pytest

from skimlock.stats import Category, MetadataSource, RequestRecord, Stats


def request(category: Category, nbytes: int, url: str = "https://x.test/f") -> RequestRecord:
    return RequestRecord(category=category, method="GET", url=url, status=200, body_bytes=nbytes)


def source(category: Category, *, size: int | None, spent: int, name: str = "a.whl") -> (
    MetadataSource
):
    return MetadataSource(filename=name, category=category, file_size=size, spent_bytes=spent,
                          requests=1, metadata_bytes=100)


def test_pages_are_not_compared_with_wheels() -> None:
    stats = Stats()
    for _ in range(9):
        stats.record(request(Category.INDEX_PAGE, 1_000_000))
    stats.record(request(Category.METADATA_RANGE, 20_000))
    stats.metadata_obtained(source(Category.METADATA_RANGE, size=400_000, spent=20_000))
    line = stats.summary().line()
    assert line == (
        "fetched 9.0 MB in 10 requests: index pages 9.0 MB in 9 requests; metadata of 1 file "
        "20.0 KB in 1 request instead of downloading their 400.0 KB (95.0% saved)"
    )
    # Never the old "fetched <pages+metadata> instead of <wheels>" comparison.
    assert "instead of 400" not in line.split(";")[0]


def test_metadata_dearer_than_small_wheels_says_so() -> None:
    stats = Stats()
    stats.record(request(Category.INDEX_PAGE, 500))
    for name in ("a.whl", "b.whl"):
        stats.record(request(Category.METADATA_RANGE, 3000))
        stats.metadata_obtained(source(Category.METADATA_RANGE, size=2000, spent=3000, name=name))
    line = stats.summary().line()
    assert "metadata of 2 files 6.0 KB in 2 requests, more than downloading their 4.0 KB" in line
    assert "% saved" not in line


def test_whole_downloads_and_unknown_sizes_are_their_own_parts() -> None:
    stats = Stats()
    stats.record(request(Category.INDEX_PAGE, 1000))
    stats.record(request(Category.FULL_DOWNLOAD, 50_000))
    stats.metadata_obtained(source(Category.FULL_DOWNLOAD, size=50_000, spent=50_000))
    stats.record(request(Category.METADATA_PEP658, 2000))
    stats.metadata_obtained(source(Category.METADATA_PEP658, size=None, spent=2000, name="b"))
    stats.record(request(Category.INPUT, 300))
    line = stats.summary().line()
    assert line == (
        "fetched 53.3 KB in 4 requests: index pages 1.0 KB in 1 request; metadata of 1 file "
        "2.0 KB in 1 request; whole downloads 50.0 KB in 1 request; requirement files 300 B in "
        "1 request"
    )


def test_nothing_fetched() -> None:
    assert Stats().summary().line() == "fetched 0 B in 0 requests"


def test_each_request_and_metadata_outcome_is_logged_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stats = Stats()
    with caplog.at_level(logging.INFO, logger="skimlock.http"):
        stats.record(RequestRecord(category=Category.METADATA_RANGE, method="GET",
                                   url="https://***@x.test/a.whl", status=206, body_bytes=2048,
                                   range="bytes=-2048", seconds=0.01))
        stats.metadata_obtained(source(Category.FULL_DOWNLOAD, size=9000, spent=9000))
    first, second = (r.getMessage() for r in caplog.records)
    assert first == (
        "GET https://***@x.test/a.whl -> 206, 2.0 KB, metadata-range (Range: bytes=-2048), 0.01 s"
    )
    assert second.startswith("metadata of a.whl by downloading the whole file")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="skimlock.http"):
        stats.record(request(Category.INDEX_PAGE, 1))
    assert caplog.records == []
