"""Benchmark: requests and bytes skimlock spends on the core metadata of real wheels.

Run (downloads the corpus of ``benchmarks/wheels.txt`` on first use, see ``corpus.py``)::

    .venv/bin/python benchmarks/bench_metadata.py

What it does:

1. Offline pass over each local wheel (no network): size, central directory (CD) start and size,
   the METADATA member's local header offset and span, ``tail_needed`` (``size - min(METADATA
   header offset, CD start)``, the shortest suffix holding everything a reader needs), whether the
   ``.dist-info`` entries are the last members, and the exact METADATA bytes.
2. For each ``--modes`` entry, a static index tree of the corpus is written with the test index
   tooling (``tests/index/tree.py``) under the cache, served on 127.0.0.1 (``tests/index/
   server.py``: uvicorn + starlette StaticFiles), and a fresh :class:`skimlock.fetch.Fetcher`
   (``httpx.Client(trust_env=False)``, default concurrency) reads every wheel's metadata. Per wheel:
   strategy, requests, bytes spent, the Range headers sent, and whether the bytes equal the
   wheel's METADATA exactly.
3. Aggregates per mode, plus the ``no-ranges`` mode computed without running it (a server that
   ignores ranges makes the client read each whole wheel once: 1 request, ``size`` bytes).
4. Simulations of other tail policies, computed only from the per-wheel numbers of step 1 (pure
   functions, no network): see :func:`simulations`. ``--from-json FILE`` recomputes them from a
   results file without the corpus.
5. Revisits (simulated): each wheel read again as if it were a later version laid out alike,
   after the first read taught the per-project policy; the learning skimlock shipped before
   (the tail that held everything + 25 %) against :class:`skimlock.rangeplan.RangePlan`.

Bytes are also compared with the range floor of issue 11 (:attr:`Layout.floor`: end records,
the whole central directory and the METADATA span), over the corpus and without the three
wheels whose directory is over 1 MB, and per wheel with the partial-CD shortcut's own floor
(:attr:`Layout.floor_shortcut`).

Writes ``benchmarks/results/metadata.json`` and ``benchmarks/results/metadata.md`` (a ``--limit``
run writes nothing unless ``--json``/``--md`` are given).

Targets: range path <= 1.3 requests per wheel on average and <= 1.5x the range floor in bytes;
PEP 658 path exactly 1 request per wheel and exactly the METADATA bytes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import os
import platform
import shutil
import statistics
import struct
import sys
import time
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import httpx  # noqa: E402
from packaging.utils import canonicalize_name, parse_wheel_filename  # noqa: E402

import skimlock  # noqa: E402
from corpus import DEFAULT_CACHE, WHEELS_TXT, CorpusError, ensure_corpus, read_list  # noqa: E402
from index.server import serve_index  # noqa: E402
from index.tree import Mode, write_index  # noqa: E402
from skimlock import zipread  # noqa: E402
from skimlock.fetch import FetchedMetadata, Fetcher, FetchOptions  # noqa: E402
from skimlock.rangeplan import RangePlan  # noqa: E402
from skimlock.simple import IndexFile  # noqa: E402
from skimlock.stats import Category, human_bytes  # noqa: E402

KiB = 1024
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_MODES = (Mode.PEP658_SHA256, Mode.NO_METADATA)
TARGET_RANGE_REQUESTS = 1.3
#: Issue 11: range-read bytes <= 1.5x the range floor (CD tail + METADATA member).
TARGET_FLOOR_RATIO = 1.5

_EOCD = struct.Struct("<4s4H2LH")
_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_CD = struct.Struct("<4s6H3L5H2L")


# --- offline pass ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Layout:
    """Where the bytes a metadata reader needs sit in one wheel (all offsets in bytes)."""

    filename: str
    size: int
    members: int
    #: Offset of the first central directory record.
    cd_start: int
    cd_size: int
    #: ZIP64 end records, end of central directory record and comment: ``size - cd_end``.
    ends_size: int
    zip64: bool
    comment: int
    #: Local header offset of ``*.dist-info/METADATA``.
    md_start: int
    #: Where the next member (or the CD) starts: the span a reader fetches for METADATA.
    md_end: int
    #: Offset of METADATA's central directory record.
    md_entry: int
    #: skimlock's partial-CD shortcut applies: no ZIP64, the CD ends at the end record, and
    #: METADATA is stored or deflated, unencrypted (see :mod:`skimlock.zipread`).
    shortcut_ok: bool
    md_compressed: int
    metadata_bytes: int
    metadata_sha256: str
    #: Every member stored after METADATA belongs to the same ``.dist-info`` directory.
    dist_info_last: bool
    #: ``size - min(md_start, cd_start)``.
    tail_needed: int
    #: :attr:`skimlock.zipread.MetadataLocator.tail_needed` after reading this wheel.
    locator_tail_needed: int
    #: :attr:`skimlock.zipread.MetadataLocator.layout` after reading this wheel with the first
    #: suffix of the run: what :class:`skimlock.rangeplan.RangePlan` learns from it.
    learned_directory_start: int = 0
    learned_member_end: int = 0

    @property
    def cd_end(self) -> int:
        return self.cd_start + self.cd_size

    @property
    def member_span(self) -> int:
        """The METADATA span a reader fetches (local header up to the next member)."""
        return max(0, min(self.md_end, self.cd_start) - self.md_start)

    @property
    def floor(self) -> int:
        """The range floor as issue 11 defines it: end records, the whole CD and the member."""
        return self.size - self.cd_start + self.member_span

    @property
    def floor_shortcut(self) -> int:
        """The least a reader with the partial-CD shortcut needs: the end records and the CD
        from METADATA's record on (when the shortcut applies), and the member."""
        directory = self.size - (self.md_entry if self.shortcut_ok else self.cd_start)
        return directory + self.member_span

    def learned(self) -> zipread.WheelLayout:
        return zipread.WheelLayout(
            size=self.size,
            directory_start=self.learned_directory_start,
            member_start=self.md_start,
            member_end=self.learned_member_end,
        )


def _is_metadata(member: str, project: str) -> bool:
    directory, slash, leaf = member.partition("/")
    if not slash or leaf != "METADATA" or not directory.endswith(".dist-info"):
        return False
    name = directory[: -len(".dist-info")].rpartition("-")[0]
    return canonicalize_name(name) == project


def _end_records(f: Any, size: int) -> tuple[int, bool, int]:
    """(CD size, zip64, comment length) from the end records of an open zip of ``size`` bytes."""
    window = min(size, (1 << 16) + _EOCD.size)
    f.seek(size - window)
    tail = f.read(window)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0:
        raise ValueError("no end of central directory record")
    eocd = _EOCD.unpack_from(tail, at)
    cd_size, comment = eocd[5], eocd[7]
    zip64 = at >= _LOCATOR.size and tail[at - _LOCATOR.size : at].startswith(b"PK\x06\x07")
    if zip64:
        record_offset = _LOCATOR.unpack_from(tail, at - _LOCATOR.size)[2]
        f.seek(record_offset)
        cd_size = _ZIP64_EOCD.unpack(f.read(_ZIP64_EOCD.size))[8]
    return cd_size, zip64, comment


def _entry_offset(f: Any, cd_start: int, cd_size: int, header_offset: int) -> int:
    """Offset of the central directory record whose local header is at ``header_offset``."""
    f.seek(cd_start)
    directory = f.read(cd_size)
    position = 0
    while position + _CD.size <= len(directory):
        fields = _CD.unpack_from(directory, position)
        if fields[0] != b"PK\x01\x02":
            break
        if fields[16] == header_offset:
            return cd_start + position
        position += _CD.size + fields[10] + fields[11] + fields[12]
    raise ValueError(f"no central directory record for the member at {header_offset}")


def _replay_locator(path: Path, first: int) -> tuple[int, zipread.WheelLayout]:
    """Feed skimlock's locator from the local file (suffix ``first``, then its spans)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        locator = zipread.MetadataLocator(filename=path.name, size=size)
        start = max(0, size - first)
        f.seek(start)
        locator.feed(start, f.read())
        while (span := locator.next_span()) is not None:
            f.seek(span.start)
            locator.feed(span.start, f.read(span.length))
        locator.metadata()
        assert locator.layout is not None
        return locator.tail_needed, locator.layout


def analyze(path: Path, *, first: int = 32 * KiB) -> Layout:
    """The :class:`Layout` of a local wheel (reads its directory and METADATA only)."""
    project = str(parse_wheel_filename(path.name)[0])
    size = path.stat().st_size
    with path.open("rb") as f:
        cd_size, zip64, comment = _end_records(f, size)
        f.seek(0)
        archive = zipfile.ZipFile(f)
        infos = archive.infolist()
        found = [i for i in infos if _is_metadata(i.filename, project)]
        if len(found) != 1:
            raise ValueError(f"{path.name}: {len(found)} METADATA members")
        member = found[0]
        cd_start = archive.start_dir
        md_start = member.header_offset
        later = [i.header_offset for i in infos if i.header_offset > md_start]
        md_end = min([*later, cd_start]) if cd_start > md_start else min(later, default=size)
        dist_info = member.filename.split("/")[0] + "/"
        md_entry = _entry_offset(f, cd_start, cd_size, md_start)
        f.seek(0)
        data = zipread.metadata_from_zip(f, filename=path.name)
    tail_needed, learned = _replay_locator(path, first)
    return Layout(
        filename=path.name,
        size=size,
        members=len(infos),
        cd_start=cd_start,
        cd_size=cd_size,
        ends_size=size - cd_start - cd_size,
        zip64=zip64,
        comment=comment,
        md_start=md_start,
        md_end=md_end,
        md_entry=md_entry,
        shortcut_ok=(
            not zip64
            and size - cd_start - cd_size == _EOCD.size + comment
            and not member.flag_bits & 0x1
            and member.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
        ),
        md_compressed=member.compress_size,
        metadata_bytes=len(data),
        metadata_sha256=hashlib.sha256(data).hexdigest(),
        dist_info_last=all(
            i.filename.startswith(dist_info) for i in infos if i.header_offset > md_start
        ),
        tail_needed=size - min(md_start, cd_start),
        locator_tail_needed=tail_needed,
        learned_directory_start=learned.directory_start,
        learned_member_end=learned.member_end,
    )


def layout_from_dict(row: dict[str, Any]) -> Layout:
    names = {f.name for f in fields(Layout)}
    return Layout(**{k: v for k, v in row.items() if k in names})


# --- statistics --------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, kw_only=True, slots=True)
class Aggregate:
    """Requests and bytes per wheel over a set of wheels."""

    wheels: int
    requests_mean: float
    requests_p95: float
    requests_max: int
    one_request_share: float
    bytes_mean: float
    bytes_median: float
    bytes_p95: float
    #: Sum of bytes spent over the sum of METADATA bytes.
    ratio_to_metadata: float
    #: Sum of bytes spent over the sum of wheel sizes.
    ratio_to_wheels: float
    #: Sum of bytes spent over the sum of range floors (:attr:`Layout.floor`), all wheels and
    #: without the CDs over 1 MB (three wheels whose floor is most of the corpus's).
    ratio_to_floor: float
    ratio_to_floor_small_cd: float
    #: Median over wheels of bytes spent / :attr:`Layout.floor_shortcut`.
    median_to_floor_shortcut: float


def aggregate(
    requests: Sequence[int], spent: Sequence[int], layouts: Sequence[Layout]
) -> Aggregate:
    metadata = [w.metadata_bytes for w in layouts]
    sizes = [w.size for w in layouts]
    small = [i for i, w in enumerate(layouts) if w.cd_size <= 1_000_000]
    return Aggregate(
        wheels=len(requests),
        requests_mean=round(statistics.fmean(requests), 4),
        requests_p95=percentile(requests, 95),
        requests_max=max(requests),
        one_request_share=round(sum(r == 1 for r in requests) / len(requests), 4),
        bytes_mean=round(statistics.fmean(spent), 1),
        bytes_median=statistics.median(spent),
        bytes_p95=percentile(spent, 95),
        ratio_to_metadata=round(sum(spent) / sum(metadata), 4),
        ratio_to_wheels=round(sum(spent) / sum(sizes), 6),
        ratio_to_floor=round(sum(spent) / sum(w.floor for w in layouts), 4),
        ratio_to_floor_small_cd=round(
            sum(spent[i] for i in small) / sum(layouts[i].floor for i in small), 4
        ),
        median_to_floor_shortcut=round(
            statistics.median(b / w.floor_shortcut for b, w in zip(spent, layouts, strict=True)),
            3,
        ),
    )


# --- simulations (pure functions of Layout numbers) ---------------------------------------------

#: How long the first suffix is for a wheel.
FirstSuffix = Callable[[Layout], int]
#: (requests, bytes) to get one wheel's METADATA.
Policy = Callable[[Layout], tuple[int, int]]


def fixed(n: int) -> FirstSuffix:
    return lambda w: n


def scaled(fraction: float, lo: int, hi: int) -> FirstSuffix:
    """``clamp(size * fraction, lo, hi)``: PEP 700 gives the size before the first request."""
    return lambda w: min(hi, max(lo, int(w.size * fraction)))


def rooted(k: float, lo: int, hi: int) -> FirstSuffix:
    """``clamp(k * sqrt(size), lo, hi)``: on this corpus the tail a reader needs grows roughly
    with the square root of the wheel's size (median 2.8 KB at 8 KB, 7.8 KB at 64 KB, 17 KB at
    1 MB)."""
    return lambda w: min(hi, max(lo, int(k * math.sqrt(w.size))))


def revisit_old(w: Layout) -> tuple[int, int]:
    """A second version laid out like ``w`` after the learning skimlock shipped before
    :mod:`skimlock.rangeplan`: the tail that held everything read, + max(4 KiB, 25 %)."""
    tail = w.locator_tail_needed
    return skimlock_policy(fixed(min(w.size, tail + max(4 * KiB, tail // 4))))(w)


def revisit_plan(initial: int) -> Policy:
    """A second version laid out like ``w`` after :class:`RangePlan` learned ``w``."""

    def run(w: Layout) -> tuple[int, int]:
        plan = RangePlan(initial_tail=initial)
        plan.learn("p", w.learned())
        return skimlock_policy(fixed(plan.first_request("p", w.size)))(w)

    return run


def revisits(layouts: Sequence[Layout], initial: int) -> dict[str, Any]:
    """Old learning against :class:`RangePlan` for a second version of every corpus wheel
    (assumed laid out like the first), with the wheels that write ``.dist-info`` early."""
    plan = revisit_plan(initial)
    return {
        "old": asdict(simulate(layouts, revisit_old)),
        "plan": asdict(simulate(layouts, plan)),
        "dist_info_early": [
            {"filename": w.filename, "size": w.size, "floor": w.floor,
             "old": list(revisit_old(w)), "plan": list(plan(w))}
            for w in layouts if not w.dist_info_last
        ],
    }


def skimlock_policy(first: FirstSuffix, *, shortcut: bool = True) -> Policy:
    """skimlock's algorithm (:mod:`skimlock.fetch` + :mod:`skimlock.zipread`), modelled.

    1. One suffix of ``first(w)`` bytes.
    2. If the central directory is not all held but the held end of it contains METADATA's
       record (the partial-CD shortcut, when ``shortcut`` and the wheel allows it): one request
       for the missing part of the METADATA span. Done.
    3. Otherwise, if the CD is not all held: one request from the CD start to the held tail;
       then, if the METADATA span is not all held, one request for its missing part.
    """

    def run(w: Layout) -> tuple[int, int]:
        held = max(0, w.size - first(w))
        requests, spent = 1, w.size - held
        if w.cd_start < held and not (shortcut and w.shortcut_ok and held <= w.md_entry):
            requests, spent, held = requests + 1, spent + held - w.cd_start, w.cd_start
        if w.md_start < held:
            requests, spent = requests + 1, spent + min(w.md_end, held) - w.md_start
        return requests, spent

    return run


def one_go_policy(first: FirstSuffix) -> Policy:
    """The brief's "second request fetches exactly the rest of the needed tail (CD + METADATA)
    in one go". When METADATA is not among the last members (.dist-info written first) that tail
    is nearly the whole wheel, so the CD rest and the METADATA span are fetched separately
    instead (up to 3 requests)."""

    def run(w: Layout) -> tuple[int, int]:
        n = min(first(w), w.size)
        held = w.size - n
        if w.dist_info_last:
            return (1, n) if w.tail_needed <= n else (2, w.tail_needed)
        requests, spent = 1, n
        if w.cd_start < held:
            requests, spent, held = 2, spent + held - w.cd_start, w.cd_start
        if w.md_start < held:
            requests, spent = requests + 1, spent + min(w.md_end, held) - w.md_start
        return requests, spent

    return run


def uv_like(w: Layout) -> tuple[int, int]:
    """uv's published strategy as the brief describes it: HEAD, a 16 KiB suffix GET, one more
    8 KiB GET (further back) while the CD is not covered, then a GET for the METADATA span if it
    is not already held. The HEAD counts as a request with no body bytes."""
    held = max(0, w.size - 16 * KiB)
    requests, spent = 2, w.size - held
    while w.cd_start < held:
        step = min(8 * KiB, held)
        requests, spent, held = requests + 1, spent + step, held - step
    if w.md_start < held:
        requests, spent = requests + 1, spent + min(w.md_end, held) - w.md_start
    return requests, spent


def _kib(n: int) -> str:
    return f"{n // KiB}K"


FAMILY_SKIMLOCK = "skimlock (partial-CD shortcut)"
FAMILY_NO_SHORTCUT = "skimlock without the shortcut"
FAMILY_ONE_GO = "2nd request = rest of tail"
FAMILY_UV = "uv-like: HEAD + 16K + 8K steps"

FIXED_KIB = (8, 12, 16, 17, 20, 24, 32, 48, 64)
#: (k, lo, hi) of size-aware first suffixes growing with the square root of the size.
ROOTED = ((40, 2 * KiB, 16 * KiB), (50, 2 * KiB, 32 * KiB), (40, 2 * KiB, 64 * KiB))
#: (fraction, lo, hi) of size-aware first suffixes (PEP 700 gives the size up front).
SCALED = (
    (0.001, 20 * KiB, 128 * KiB),
    (0.002, 16 * KiB, 256 * KiB),
    (0.003, 16 * KiB, 128 * KiB),
    (0.005, 16 * KiB, 256 * KiB),
    (0.01, 8 * KiB, 128 * KiB),
    (0.01, 16 * KiB, 512 * KiB),
)


def policy_grid() -> list[tuple[str, str, Policy]]:
    """(family, first suffix, policy) for every simulated policy."""
    firsts: list[tuple[str, FirstSuffix]] = [(f"{k}K", fixed(k * KiB)) for k in FIXED_KIB]
    firsts += [
        (f"clamp(size*{f:g}, {_kib(lo)}, {_kib(hi)})", scaled(f, lo, hi)) for f, lo, hi in SCALED
    ]
    firsts += [
        (f"clamp({k:g}*sqrt(size), {_kib(lo)}, {_kib(hi)})", rooted(k, lo, hi))
        for k, lo, hi in ROOTED
    ]
    grid: list[tuple[str, str, Policy]] = []
    for family, make in (
        (FAMILY_SKIMLOCK, skimlock_policy),
        (FAMILY_NO_SHORTCUT, lambda first: skimlock_policy(first, shortcut=False)),
        (FAMILY_ONE_GO, one_go_policy),
    ):
        grid += [(family, label, make(first)) for label, first in firsts]
    grid.append((FAMILY_UV, "16K", uv_like))
    return grid


def simulate(layouts: Sequence[Layout], policy: Policy) -> Aggregate:
    outcomes = [policy(w) for w in layouts]
    return aggregate([r for r, _ in outcomes], [b for _, b in outcomes], layouts)


def simulations(layouts: Sequence[Layout]) -> list[dict[str, Any]]:
    """Every policy of :func:`policy_grid` over ``layouts`` (no I/O)."""
    return [
        {"family": family, "first": label, **asdict(simulate(layouts, policy))}
        for family, label, policy in policy_grid()
    ]


def best_within(rows: Iterable[dict[str, Any]], max_requests: float) -> dict[str, dict[str, Any]]:
    """Per family, the simulated policy with the fewest mean bytes at <= ``max_requests``."""
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["requests_mean"] > max_requests:
            continue
        seen = best.get(row["family"])
        if seen is None or row["bytes_mean"] < seen["bytes_mean"]:
            best[row["family"]] = row
    return best


# --- the real runs -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Fetched:
    """What the fetcher did for one wheel in one mode."""

    strategy: str
    requests: int
    spent_bytes: int
    metadata_bytes: int
    exact: bool
    ranges: tuple[str, ...]
    error: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ModeRun:
    mode: str
    seconds: float
    page_requests: int
    client_body_bytes: int
    server_file_bytes: int
    wheels: dict[str, Fetched]


def _filename_of(url: str) -> str:
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return name.removesuffix(".metadata")


def run_mode(
    mode: Mode, wheels: Sequence[Path], layouts: dict[str, Layout], cache: Path,
    options: FetchOptions,
) -> ModeRun:
    """Write the tree for ``mode``, serve it, and read every wheel's metadata with a Fetcher."""
    root = cache / "index" / mode.value
    if root.exists():
        shutil.rmtree(root)
    print(f"[{mode.value}] writing the index tree under {root}", file=sys.stderr)
    tree = write_index(root, wheels, mode=mode)
    results: dict[str, Fetched] = {}
    with (
        serve_index(tree) as server,
        httpx.Client(trust_env=False, timeout=120.0) as client,
        Fetcher(client, options=options) as fetcher,
    ):
        pages = {p: fetcher.submit_page(server.simple_url, p) for p in tree.projects}
        files: list[IndexFile] = []
        for project, pending in pages.items():
            page = pending.result()
            if page is None:
                raise RuntimeError(f"the test index has no page for {project}")
            files.extend(page.files)
        page_requests = fetcher.stats.requests
        print(f"[{mode.value}] fetching metadata of {len(files)} wheels", file=sys.stderr)
        started = time.perf_counter()
        futures = {f.filename: fetcher.submit_metadata(f) for f in files}
        errors: dict[str, str] = {}
        fetched: dict[str, FetchedMetadata] = {}
        for filename, future in futures.items():
            try:
                fetched[filename] = future.result()
            except Exception as exc:  # recorded per wheel, reported below
                errors[filename] = f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - started
        summary = fetcher.stats.summary()
        server_bytes = server.log.bytes_sent("/files/")
    ranges: dict[str, list[str]] = defaultdict(list)
    for record in summary.records:
        if record.category is not Category.INDEX_PAGE:
            ranges[_filename_of(record.url)].append(record.range or "-")
    for filename, got in fetched.items():
        source = got.source
        results[filename] = Fetched(
            strategy=source.category.value,
            requests=source.requests,
            spent_bytes=source.spent_bytes,
            metadata_bytes=source.metadata_bytes,
            exact=hashlib.sha256(got.data).hexdigest() == layouts[filename].metadata_sha256,
            ranges=tuple(ranges[filename]),
        )
    for filename, error in errors.items():
        results[filename] = Fetched(
            strategy="error", requests=len(ranges[filename]), spent_bytes=0, metadata_bytes=0,
            exact=False, ranges=tuple(ranges[filename]), error=error,
        )
    return ModeRun(
        mode=mode.value,
        seconds=round(seconds, 3),
        page_requests=page_requests,
        client_body_bytes=summary.body_bytes,
        server_file_bytes=server_bytes,
        wheels=results,
    )


def mode_aggregate(run: ModeRun, layouts: dict[str, Layout]) -> dict[str, Any]:
    ok = {name: f for name, f in run.wheels.items() if f.error is None}
    names = sorted(ok)
    strategies: dict[str, int] = defaultdict(int)
    for f in run.wheels.values():
        strategies[f.strategy] += 1
    result: dict[str, Any] = {
        "mode": run.mode,
        "seconds": run.seconds,
        "strategies": dict(strategies),
        "errors": len(run.wheels) - len(ok),
        "exact_metadata": sum(f.exact for f in ok.values()),
        "page_requests": run.page_requests,
        "client_body_bytes": run.client_body_bytes,
        "server_file_bytes": run.server_file_bytes,
    }
    if names:
        result |= asdict(aggregate(
            [ok[n].requests for n in names],
            [ok[n].spent_bytes for n in names],
            [layouts[n] for n in names],
        ))
    return result


def model_check(run: ModeRun, layouts: dict[str, Layout], first: int) -> dict[str, Any]:
    """Compare a range run with :func:`skimlock_policy` at the same first suffix."""
    policy = skimlock_policy(fixed(first))
    mismatches = []
    for name, f in sorted(run.wheels.items()):
        predicted = policy(layouts[name])
        if (f.requests, f.spent_bytes) != predicted:
            mismatches.append({"filename": name, "measured": [f.requests, f.spent_bytes],
                               "model": list(predicted)})
    return {"wheels": len(run.wheels), "matching": len(run.wheels) - len(mismatches),
            "mismatches": mismatches}


# --- reporting ---------------------------------------------------------------------------------


def _agg_cells(a: dict[str, Any]) -> list[str]:
    return [
        f"{a['requests_mean']:.3f}", f"{a['requests_p95']:g}", f"{a['requests_max']}",
        human_bytes(a["bytes_mean"]), human_bytes(a["bytes_median"]), human_bytes(a["bytes_p95"]),
        f"{a['ratio_to_metadata']:.2f}x", f"{a['ratio_to_wheels']:.4%}",
        f"{a['ratio_to_floor']:.2f}x", f"{a['ratio_to_floor_small_cd']:.2f}x",
        f"{a['median_to_floor_shortcut']:.2f}x",
    ]


AGG_HEADER = ["req mean", "req p95", "req max", "bytes mean", "bytes median", "bytes p95",
              "/ METADATA", "/ wheels", "/ floor", "/ floor (CD < 1 MB)",
              "median / shortcut floor"]


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def aggregates_table(report: dict[str, Any]) -> str:
    rows = []
    for a in report["aggregates"]:
        if "requests_mean" in a:
            rows.append([a["mode"], str(a["wheels"]), *_agg_cells(a)])
    return markdown_table(["mode", "wheels", *AGG_HEADER], rows)


def simulation_table(report: dict[str, Any], *, compact: bool = False) -> str:
    """All simulated policies; ``compact``: every skimlock row, and for the other families the
    32K row and the best row within the request target."""
    chosen = report["simulations"]
    if compact:
        best = report.get("best_within_target", {})
        chosen = [
            s for s in chosen
            if s["family"] in (FAMILY_SKIMLOCK, FAMILY_UV) or s["first"] == "32K"
            or best.get(s["family"]) == s
        ]
    rows = [[s["family"], s["first"], f"{s['one_request_share']:.1%}", *_agg_cells(s)]
            for s in chosen]
    return markdown_table(["policy", "first suffix", "1 request", *AGG_HEADER], rows)


def targets(report: dict[str, Any]) -> list[str]:
    lines = []
    for a in report["aggregates"]:
        if "requests_mean" not in a:
            continue
        if a["mode"] == Mode.NO_METADATA.value:
            ok = a["requests_mean"] <= TARGET_RANGE_REQUESTS and a["errors"] == 0
            lines.append(
                f"range path: {a['requests_mean']:.3f} requests/wheel (target <= "
                f"{TARGET_RANGE_REQUESTS}): {'met' if ok else 'MISSED'} "
                f"({TARGET_RANGE_REQUESTS - a['requests_mean']:+.3f}); "
                f"METADATA exact for {a['exact_metadata']}/{a['wheels']}"
            )
            worst = max(a["ratio_to_floor"], a["ratio_to_floor_small_cd"])
            lines.append(
                f"range bytes / range floor: {a['ratio_to_floor']:.2f}x over the corpus, "
                f"{a['ratio_to_floor_small_cd']:.2f}x without the 3 CDs over 1 MB (target <= "
                f"{TARGET_FLOOR_RATIO}): {'met' if worst <= TARGET_FLOOR_RATIO else 'MISSED'}; "
                f"per wheel, median {a['median_to_floor_shortcut']:.2f}x the shortcut floor"
            )
        elif a["mode"] == Mode.PEP658_SHA256.value:
            ok = (a["requests_max"] == 1 and a["requests_mean"] == 1
                  and a["ratio_to_metadata"] == 1 and a["exact_metadata"] == a["wheels"])
            lines.append(
                f"PEP 658 path: {a['requests_mean']:.3f} requests/wheel (max "
                f"{a['requests_max']}), bytes/METADATA = {a['ratio_to_metadata']:.4f}, "
                f"exact {a['exact_metadata']}/{a['wheels']} (target 1, 1.0, all): "
                f"{'met' if ok else 'MISSED'}"
            )
    return lines


def render_markdown(report: dict[str, Any], *, compact: bool = True) -> str:
    corpus = report["corpus"]
    best = report["best_within_target"]
    parts = [
        "# Metadata strategies (local index)",
        "",
        f"{report['date']} · {report['machine']['python']} · {report['machine']['cpus']} CPUs · "
        f"skimlock {report['machine']['skimlock']} · initial tail "
        f"{report['options']['initial_tail']} bytes · max in flight "
        f"{report['options']['max_in_flight']}",
        "",
        f"Corpus: {corpus['wheels']} wheels, {corpus['bytes'] / 1e9:.2f} GB, METADATA "
        f"{human_bytes(corpus['metadata_bytes'])} in all; central directory > 1 MB in "
        f"{corpus['cd_over_1mb']}; .dist-info not last in {corpus['dist_info_not_last']}; "
        f"tail_needed <= 32 KiB in {corpus['tail_within_32k']}.",
        "",
        "## Measured",
        "",
        aggregates_table(report),
        "",
        *[f"- {line}" for line in report["targets"]],
        "",
        "## Simulated tail policies (offline, from the per-wheel layout)",
        "",
        simulation_table(report, compact=compact),
        "",
        _model_line(report),
        "",
        *_revisit_lines(report),
        f"Best mean bytes at <= {TARGET_RANGE_REQUESTS} requests/wheel, per policy family:",
        "",
        *[f"- {family}: {row['first']} ({row['requests_mean']:.3f} req, "
          f"{human_bytes(row['bytes_mean'])} mean)" for family, row in best.items()],
        "",
    ]
    return "\n".join(parts)


def _revisit_lines(report: dict[str, Any]) -> list[str]:
    visits = report.get("revisits")
    if not visits:
        return []
    rows = [[label, *_agg_cells(visits[key])] for key, label in (
        ("old", "tail that held everything + 25 % (before)"), ("plan", "RangePlan (now)"))]
    early = [
        [row["filename"], human_bytes(row["size"]), human_bytes(row["floor"]),
         f"{row['old'][0]} / {human_bytes(row['old'][1])}",
         f"{row['plan'][0]} / {human_bytes(row['plan'][1])}"]
        for row in visits["dist_info_early"]
    ]
    return [
        "## A second version of each wheel, after learning the first (simulated)",
        "",
        "Each wheel visited again (a later version laid out alike, as when the resolver "
        "backtracks), after the first read taught the per-project policy.",
        "",
        markdown_table(["learning", *AGG_HEADER], rows),
        "",
        "Wheels that write `.dist-info` before other members (requests / bytes):",
        "",
        markdown_table(["wheel", "size", "floor", "before", "now"], early),
        "",
    ]


def _model_line(report: dict[str, Any]) -> str:
    check = report.get("model_check")
    if not check:
        return "Model check: no range run."
    return (f"Model check: the measured range run matches the skimlock model at the same first "
            f"suffix exactly (requests and bytes) for {check['matching']}/{check['wheels']} "
            "wheels.")


def print_report(report: dict[str, Any]) -> None:
    print(render_markdown(report, compact=False))


def _machine() -> dict[str, Any]:
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "skimlock": skimlock.__version__,
        "httpx": httpx.__version__,
    }


def corpus_summary(layouts: Sequence[Layout]) -> dict[str, Any]:
    return {
        "wheels": len(layouts),
        "bytes": sum(w.size for w in layouts),
        "metadata_bytes": sum(w.metadata_bytes for w in layouts),
        "cd_over_1mb": sum(w.cd_size > 1_000_000 for w in layouts),
        "dist_info_not_last": sum(not w.dist_info_last for w in layouts),
        "tail_within_32k": sum(w.tail_needed <= 32 * KiB for w in layouts),
        "largest_cd": max(layouts, key=lambda w: w.cd_size).filename,
    }


def _parse_modes(text: str) -> list[Mode]:
    try:
        return [Mode(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        choices = ", ".join(m.value for m in Mode)
        raise argparse.ArgumentTypeError(f"{exc}; choose from {choices}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help=f"cache root (wheels, index trees); default {DEFAULT_CACHE}")
    parser.add_argument("--list", type=Path, default=WHEELS_TXT, help="the corpus list")
    parser.add_argument("--limit", type=int, help="only the first N wheels of the list")
    parser.add_argument("--modes", type=_parse_modes, default=list(DEFAULT_MODES),
                        help="comma-separated index modes (default pep658-sha256,no-metadata)")
    parser.add_argument("--initial-tail", type=int, default=FetchOptions().initial_tail,
                        help="FetchOptions.initial_tail: the first suffix request, in bytes")
    parser.add_argument("--max-in-flight", type=int, default=FetchOptions().max_in_flight)
    parser.add_argument("--json", type=Path, help="results JSON (default results/metadata.json)")
    parser.add_argument("--md", type=Path, help="results markdown (default results/metadata.md)")
    parser.add_argument("--from-json", type=Path,
                        help="recompute the simulations from a results file (no corpus, no I/O)")
    args = parser.parse_args(argv)

    if args.from_json:
        old = json.loads(args.from_json.read_text(encoding="utf-8"))
        sims = simulations([layout_from_dict(row) for row in old["wheels"]])
        print(simulation_table({"simulations": sims}))
        return 0

    options = FetchOptions(initial_tail=args.initial_tail, max_in_flight=args.max_in_flight)
    try:
        entries = read_list(args.list)
        if args.limit is not None:
            entries = entries[: args.limit]
        wheels = ensure_corpus(args.cache, entries)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"offline pass over {len(wheels)} wheels", file=sys.stderr)
    layouts = {p.name: analyze(p, first=args.initial_tail) for p in wheels}
    ordered = [layouts[p.name] for p in wheels]

    runs = [run_mode(mode, wheels, layouts, args.cache, options) for mode in args.modes]
    aggregates = [mode_aggregate(run, layouts) for run in runs]
    aggregates.append({
        "mode": f"{Mode.NO_RANGES.value} (computed)",
        **asdict(aggregate([1] * len(ordered), [w.size for w in ordered], ordered)),
    })
    sims = simulations(ordered)
    range_run = next((r for r in runs if r.mode == Mode.NO_METADATA.value), None)
    report: dict[str, Any] = {
        "benchmark": "core metadata of real wheels from a local index",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(),
        "options": {
            "initial_tail": options.initial_tail,
            "max_in_flight": options.max_in_flight,
            "learned_margin": options.learned_margin,
            "modes": [m.value for m in args.modes],
            "limit": args.limit,
            "list": str(args.list.relative_to(ROOT) if args.list.is_relative_to(ROOT)
                        else args.list),
        },
        "corpus": corpus_summary(ordered),
        "aggregates": aggregates,
        "simulations": sims,
        "best_within_target": best_within(sims, TARGET_RANGE_REQUESTS),
        "revisits": revisits(ordered, args.initial_tail),
        "model_check": model_check(range_run, layouts, args.initial_tail) if range_run else None,
        "wheels": [
            {
                **asdict(w),
                "runs": {run.mode: asdict(run.wheels[w.filename]) for run in runs},
            }
            for w in ordered
        ],
    }
    report["targets"] = targets(report)
    print_report(report)

    json_path, md_path = args.json, args.md
    if args.limit is None:
        json_path = json_path or RESULTS / "metadata.json"
        md_path = md_path or RESULTS / "metadata.md"
    for path, text in ((json_path, json.dumps(report, indent=1) + "\n"),
                       (md_path, render_markdown(report))):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}", file=sys.stderr)
    failed = any(a.get("errors") for a in aggregates)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
