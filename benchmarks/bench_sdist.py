"""Benchmark: what an sdist's metadata costs on the real PyPI (static PKG-INFO read vs a build).

Run (needs https://pypi.org/simple/; downloads what it measures, nothing is kept)::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_sdist.py

1. **Where PKG-INFO lies** in the newest sdist of each project of :data:`POSITION_CORPUS` (>= 50):
   skimlock's static read (``Fetcher.metadata``: one GET, closed once PKG-INFO has been read)
   is run and the bytes received are compared with the sdist's size; also whether the PKG-INFO is
   static under PEP 643 (Metadata-Version >= 2.2, nothing a resolver reads is Dynamic).
2. **Static read vs build** for the sdist-only projects of :data:`SDIST_ONLY` (>= 15): the
   version a resolver picks for this interpreter, the static read (bytes, seconds, static or not),
   then a build of its metadata with :class:`skimlock.build.Builder` (bytes counted as ``build``:
   the sdist and the build requirements' pages, metadata and wheels; seconds). Sdists over
   :data:`BUILD_SIZE_CAP` are not built (pyspark: the static read stops early, a build would need
   the whole archive).

Writes ``benchmarks/results/sdist.json`` and ``benchmarks/results/sdist.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from skimlock.build import Builder, BuildPolicy, CountedAs
from skimlock.candidates import BinaryPolicy, ProjectFiles
from skimlock.errors import DynamicMetadataError, SkimlockError
from skimlock.fetch import Fetcher, make_client
from skimlock.resolve import ResolveOptions, _wheels_resolver
from skimlock.simple import IndexFile
from skimlock.stats import Category, Stats
from skimlock.target import Target

PYPI = "https://pypi.org/simple/"
RESULTS = Path(__file__).parent / "results"
#: Sdists larger than this are read statically but not built.
BUILD_SIZE_CAP = 100_000_000
#: Sdists larger than this are left out of the position survey.
POSITION_SIZE_CAP = 150_000_000

POSITION_CORPUS = (
    "requests", "urllib3", "idna", "certifi", "charset-normalizer", "six", "python-dateutil",
    "pyyaml", "numpy", "pandas", "click", "jinja2", "markupsafe", "attrs", "packaging",
    "setuptools", "wheel", "pip", "typing-extensions", "pydantic", "pydantic-core", "fastapi",
    "starlette", "httpx", "httpcore", "anyio", "h11", "rich", "pygments", "django", "flask",
    "werkzeug", "sqlalchemy", "psutil", "pytest", "pluggy", "iniconfig", "filelock",
    "platformdirs", "virtualenv", "cryptography", "cffi", "pycparser", "boto3", "botocore",
    "s3transfer", "jmespath", "protobuf", "wrapt", "decorator", "tqdm", "scipy", "pillow",
    "lxml", "regex", "multidict", "yarl", "aiohttp", "docutils", "babel", "pytz", "tzdata",
    "greenlet", "msgpack", "orjson", "black", "mypy", "tomli", "coverage", "websockets",
)  # fmt: skip

#: (requirement, why it needs an sdist)
SDIST_ONLY = (
    ("antlr4-python3-runtime==4.9.3", "hydra-core's pin"),
    ("docopt", "sdist-only"),
    ("jieba", "sdist-only"),
    ("seqeval", "sdist-only"),
    ("pyspark", "sdist-only, large"),
    ("thrift<0.24", "sdist-only before 0.24"),
    ("fire<0.7.1", "sdist-only before 0.7.1"),
    ("python-nvd3", "apache-airflow 2.10"),
    ("aiobotocore==2.3.3", "visited by boto3==1.26.* s3fs"),
    ("wget", "sdist-only"),
    ("pathtools", "sdist-only"),
    ("pyperclip", "sdist-only"),
    ("langdetect", "sdist-only"),
    ("sgmllib3k", "sdist-only"),
    ("python-slugify<5", "older sdist-only releases"),
    ("future", "sdist-only"),
    ("unidecode<1", "sdist"),
    ("termcolor<2", "sdist-only before 2"),
)


def newest_sdist(fetcher: Fetcher, requirement: str, target: Target) -> IndexFile | None:
    parsed = Requirement(requirement)
    name, spec = parsed.name, parsed.specifier
    page = fetcher.page(PYPI, canonicalize_name(name))
    if page is None:
        return None
    files = ProjectFiles(page, index_url=PYPI)
    policy = BinaryPolicy(no_binary=frozenset({":all:"}))
    for candidate in files.candidates(target, specifier=spec, binary=policy):
        sdists = [f for f in candidate.files if f.filename.endswith((".tar.gz", ".zip"))]
        if sdists:
            return sdists[0]
    return None


def static_read(fetcher: Fetcher, file: IndexFile) -> dict[str, Any]:
    before = fetcher.stats.summary().by_category[Category.METADATA_SDIST]
    started = time.monotonic()
    outcome = "static"
    try:
        fetcher.metadata(file)
    except DynamicMetadataError as exc:
        outcome = "dynamic: " + exc.reason
    except SkimlockError as exc:
        outcome = "error: " + str(exc).splitlines()[0]
    seconds = time.monotonic() - started
    after = fetcher.stats.summary().by_category[Category.METADATA_SDIST]
    spent = after.body_bytes - before.body_bytes
    return {
        "filename": file.filename, "size": file.size, "static_bytes": spent,
        "fraction_read": round(spent / file.size, 4) if file.size else None,
        "static_seconds": round(seconds, 3), "outcome": outcome,
    }  # fmt: skip


def build_read(builder: Builder, stats: Stats, file: IndexFile) -> dict[str, Any]:
    before = stats.summary().by_category[Category.BUILD]
    started = time.monotonic()
    outcome = "built"
    try:
        builder.metadata(file)
    except SkimlockError as exc:
        outcome = "error: " + str(exc).splitlines()[0][:200]
    after = stats.summary().by_category[Category.BUILD]
    return {
        "build_bytes": after.body_bytes - before.body_bytes,
        "build_requests": after.requests - before.requests,
        "build_seconds": round(time.monotonic() - started, 2), "build_outcome": outcome,
    }  # fmt: skip


def build_alone(
    client: httpx.Client, stats: Stats, fetcher: Fetcher, file: IndexFile
) -> dict[str, Any]:
    """A build as the first of its run: nothing downloaded for earlier builds is reused."""
    build_fetcher = Fetcher(client, stats=CountedAs(stats, Category.BUILD))
    builder = Builder(
        fetcher=fetcher,
        resolve_wheels=_wheels_resolver(build_fetcher, ResolveOptions(indexes=(PYPI,))),
        policy=BuildPolicy(timeout=300.0),
    )
    try:
        return build_read(builder, stats, file)
    finally:
        builder.close()
        build_fetcher.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    target = Target.current()
    stats = Stats()
    position: list[dict[str, Any]] = []
    builds: list[dict[str, Any]] = []
    with make_client(timeout=60.0) as client, Fetcher(client, stats=stats) as fetcher:
        corpus = POSITION_CORPUS[: args.limit] if args.limit else POSITION_CORPUS
        for name in corpus:
            file = newest_sdist(fetcher, name, target)
            if file is None or (file.size or 0) > POSITION_SIZE_CAP:
                continue
            row = {"project": name, **static_read(fetcher, file)}
            print(json.dumps(row), file=sys.stderr)
            position.append(row)
        only = SDIST_ONLY[: args.limit] if args.limit else SDIST_ONLY
        for requirement, why in only:
            file = newest_sdist(fetcher, requirement, target)
            if file is None:
                continue
            row = {"requirement": requirement, "why": why, **static_read(fetcher, file)}
            if row["outcome"] != "static" and (file.size or 0) <= BUILD_SIZE_CAP:
                row.update(build_alone(client, stats, fetcher, file))
            print(json.dumps(row), file=sys.stderr)
            builds.append(row)
    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(), "index": PYPI,
        "position": position, "sdist_only": builds,
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sdist.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / "sdist.md").write_text(render(result))
    print(render(result))
    return 0


def _mb(n: float | None) -> str:
    return "?" if n is None else f"{n / 1e6:.2f} MB" if n >= 100_000 else f"{n / 1e3:.1f} KB"


def render(result: dict[str, Any]) -> str:
    position = result["position"]
    fractions = [r["fraction_read"] for r in position if r["fraction_read"] is not None
                 and not r["outcome"].startswith("error")]
    static = sum(1 for r in position if r["outcome"] == "static")
    lines = [
        f"# sdist metadata on PyPI ({result['date']}, Python {result['python']})", "",
        f"## Where PKG-INFO lies ({len(position)} newest sdists of popular projects)", "",
        f"Static under PEP 643: {static} of {len(position)}. Fraction of the archive received "
        f"before PKG-INFO was read: median {statistics.median(fractions):.0%}, "
        f"{sum(1 for f in fractions if f < 0.5)} under half, "
        f"{sum(1 for f in fractions if f > 0.95)} over 95 % (PKG-INFO last).", "",
        "| project | sdist | size | received | fraction | PKG-INFO |",
        "|---|---|---:|---:|---:|---|",
    ]  # fmt: skip
    for r in position:
        lines.append(
            f"| {r['project']} | {r['filename']} | {_mb(r['size'])} | {_mb(r['static_bytes'])} | "
            f"{r['fraction_read'] if r['fraction_read'] is not None else '?'} | {r['outcome']} |"
        )
    lines += [
        "", f"## sdist-only projects: static read vs build ({len(result['sdist_only'])})", "",
        "| requirement | sdist | size | static read | s | PKG-INFO | build bytes | build s "
        "| build |",
        "|---|---|---:|---:|---:|---|---:|---:|---|",
    ]  # fmt: skip
    for r in result["sdist_only"]:
        lines.append(
            f"| {r['requirement']} | {r['filename']} | {_mb(r['size'])} | {_mb(r['static_bytes'])}"
            f" | {r['static_seconds']} | {r['outcome']} | {_mb(r.get('build_bytes'))} | "
            f"{r.get('build_seconds', '-')} | {r.get('build_outcome', '-')} |"
        )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
