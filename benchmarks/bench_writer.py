"""Benchmark: writing pylock.toml for a realistic resolution (issue 11 item 4).

Run with ``.venv/bin/python benchmarks/bench_writer.py``. Prints a table and writes
``benchmarks/results/writer.json``.

The resolution is synthetic but shaped like a real data-science lock: 130 pins, 10 compatible
wheels each (manylinux variants, abi3, pure), every file with a sha256, a PEP 700 size and
upload time and a ``requires-python``; metadata with ``Requires-Python`` and ``Requires-Dist``
lines (some with markers, a few comparing patch releases as redis's do); about three
dependencies per pin. Each pin's metadata has been read once before the writer runs, as the
resolver would have done.

Timed (median of ``--runs`` after a warm-up):

* ``render`` -- what ``skimlock lock`` does: :func:`skimlock.output.render_pylock` (the table
  built once, validated by :mod:`packaging.pylock`, serialized by tomli_w); on a tree without
  it, ``build_pylock`` + ``dumps_pylock`` as the CLI called them;
* ``build`` + ``dumps`` -- :func:`~skimlock.output.build_pylock` (a validated
  :class:`packaging.pylock.Pylock`) and :func:`~skimlock.output.dumps_pylock`, the public pair;
* ``patch_range`` -- :func:`skimlock.claim.patch_range`, the claim both of them make.

``--profile`` prints the top of a cProfile of ``render``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from packaging.metadata import Metadata  # noqa: E402
from packaging.requirements import Requirement  # noqa: E402
from packaging.utils import canonicalize_name  # noqa: E402
from packaging.version import Version  # noqa: E402

from skimlock import output  # noqa: E402
from skimlock.claim import patch_range  # noqa: E402
from skimlock.resolution import Pin, Resolution  # noqa: E402
from skimlock.simple import IndexFile  # noqa: E402
from skimlock.target import Target  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "writer.json"
PINS = 130
WHEELS = 10
FILES = "https://files.pythonhosted.org/packages"
INDEX = "https://pypi.org/simple"

_TAGS = [
    "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "cp312-cp312-manylinux_2_28_x86_64",
    "cp312-cp312-manylinux_2_27_x86_64",
    "cp312-cp312-manylinux_2_24_x86_64",
    "cp312-cp312-manylinux_2_5_x86_64.manylinux1_x86_64",
    "cp312-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "cp311-abi3-manylinux_2_28_x86_64",
    "cp310-abi3-manylinux_2_17_x86_64",
    "cp39-abi3-manylinux_2_17_x86_64",
    "py3-none-any",
]
_REQUIRES_PYTHON = [">=3.8", ">=3.9", ">=3.10", ">=3.7", ">=3.8,<4", ">=3.9,!=3.9.0", None]
_MARKERS = [
    "",
    '; python_version < "3.11"',
    '; sys_platform == "win32"',
    '; extra == "test"',
    '; python_full_version < "3.11.3"',
    '; platform_machine != "arm64" and python_version >= "3.9"',
]


def resolution(pins: int = PINS, wheels: int = WHEELS, seed: int = 11) -> Resolution:
    """A synthetic resolution of ``pins`` projects with ``wheels`` compatible wheels each."""
    rng = random.Random(seed)
    names = [canonicalize_name(f"project-{i:03d}") for i in range(pins)]
    uploaded = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    made = []
    for i, name in enumerate(names):
        version = f"{rng.randint(0, 30)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
        dist = name.replace("-", "_")
        requires_python = _REQUIRES_PYTHON[i % len(_REQUIRES_PYTHON)]
        files = tuple(
            IndexFile(
                filename=f"{dist}-{version}-{tag}.whl",
                url=f"{FILES}/{rng.getrandbits(64):016x}/{dist}-{version}-{tag}.whl",
                hashes={"sha256": f"{rng.getrandbits(256):064x}"},
                requires_python=requires_python,
                size=rng.randint(20_000, 30_000_000),
                upload_time=uploaded + timedelta(days=rng.randint(0, 900), seconds=i),
            )
            for tag in _TAGS[:wheels]
        )
        deps = sorted(set(rng.sample(names[i + 1:], min(3, pins - i - 1)))) if i < pins - 1 else []
        lines = ["Metadata-Version: 2.3", f"Name: {name}", f"Version: {version}"]
        if requires_python:
            lines.append(f"Requires-Python: {requires_python}")
        lines += [f"Requires-Dist: {dep}>=1.0{_MARKERS[(i + j) % len(_MARKERS)]}"
                  for j, dep in enumerate(deps)]
        data = ("\n".join(lines) + "\n").encode()
        metadata = Metadata.from_email(data, validate=False)
        _ = metadata.requires_python, metadata.requires_dist  # read once, as the resolver does
        made.append(Pin(
            name=name, version=Version(version), index_url=INDEX, files=files,
            metadata_file=files[0], metadata=metadata, metadata_bytes=data,
            dependencies=tuple(deps), requested=i < 5, via=("-r requirements.txt",),
        ))
    target = Target.from_options(python_version="3.12.4", platforms=["manylinux_2_28_x86_64"])
    return Resolution(
        target=target,
        requirements=tuple(Requirement(str(name)) for name in names[:5]),
        pins=tuple(made),
    )


def _render(res: Resolution) -> str:
    render = getattr(output, "render_pylock", None)
    if render is not None:
        return str(render(res))
    return output.dumps_pylock(output.build_pylock(res))


def _timed(func: Callable[[], object], runs: int) -> dict[str, float]:
    func()  # warm-up (imports, caches)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": round(statistics.median(times), 2), "min_ms": round(min(times), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of render")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON")
    args = parser.parse_args(argv)

    res = resolution()
    lock = output.build_pylock(res)
    text = _render(res)
    assert text == output.dumps_pylock(lock)  # both paths write the same bytes
    rows = {
        "render": _timed(lambda: _render(res), args.runs),
        "build": _timed(lambda: output.build_pylock(res), args.runs),
        "dumps": _timed(lambda: output.dumps_pylock(lock), args.runs),
        "patch_range": _timed(lambda: patch_range(res), args.runs),
    }
    report: dict[str, Any] = {
        "benchmark": "pylock.toml writer on a synthetic resolution",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "pins": PINS,
        "wheels_per_pin": WHEELS,
        "lock_bytes": len(text.encode()),
        "runs": args.runs,
        "results": rows,
    }
    print(f"{PINS} pins x {WHEELS} wheels, {len(text.encode()):,} bytes of TOML")
    print(f"{'step':<12} {'median':>9} {'min':>9}")
    for step, row in rows.items():
        print(f"{step:<12} {row['median_ms']:>7.1f}ms {row['min_ms']:>7.1f}ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(_render, res)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
