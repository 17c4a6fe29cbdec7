"""Benchmark: start-up time of ``skimlock --version`` and of each command (issue 11 item 3).

Run with ``.venv/bin/python benchmarks/bench_startup.py``. Prints a table and writes
``benchmarks/results/startup.json``.

Every measurement is a fresh interpreter (a subprocess), so imports are paid as a user pays them.
The commands run against a flat directory of two small wheels made here (a local index: no
network, no server), with stderr not a terminal (as in scripts and CI). Rounds alternate over
every case, ``python -c pass`` included, so a busy machine weighs on all of them alike; the
table gives medians. Modules run from bytecode, as from an installed wheel: the runs write it
under a temporary ``PYTHONPYCACHEPREFIX`` (never into the tree; ``PYTHONDONTWRITEBYTECODE`` is
dropped for them), and a warm-up round writes it before anything is timed. The skimlock cache
(``SKIMLOCK_CACHE_DIR``) is a temporary directory per tree.

* ``wall`` -- wall time of the whole run;
* ``imports`` -- the sum of the top-level ``-X importtime`` cumulative times (a second set of
  runs: importtime's own bookkeeping slows them), so the part of ``wall`` spent importing;
* ``heavy`` -- which of the large dependencies the run imported at all.

``--compare DIR`` measures a second source tree (say ``git archive main src | tar -x -C /tmp/m``
then ``--compare /tmp/m/src``) in the same rounds, for a before/after table.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "startup.json"
TARGET_MS = 60.0

#: Dependencies worth knowing about when a run imports them (module name -> shown as).
HEAVY = {
    "httpx": "httpx",
    "h2": "h2",
    "resolvelib": "resolvelib",
    "packaging.pylock": "pylock",
    "tomli_w": "tomli_w",
    "rich": "rich",
    "click": "click",
    "pygments": "pygments",
    "importlib.metadata": "importlib.metadata",
}

#: The console script does what this does (``skimlock.cli:main``).
SCRIPT = "import sys; from skimlock.cli import main; sys.exit(main())"


def _wheel(directory: Path, name: str, version: str, *requires: str) -> None:
    """A minimal valid wheel ``name-version-py3-none-any.whl`` in ``directory``."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"",
        f"{dist_info}/METADATA": (
            "\n".join(["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}",
                       *(f"Requires-Dist: {r}" for r in requires)]) + "\n"
        ).encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\n"
                              b"Tag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(directory / f"{name}-{version}-py3-none-any.whl", "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)


def cases(index: Path, out: Path) -> dict[str, list[str]]:
    """Command lines after ``python``, by label."""
    local = ["--index-url", str(index)]
    return {
        "python -c pass": ["-c", "pass"],
        "skimlock --version": ["-c", SCRIPT, "--version"],
        "python -m skimlock --version": ["-m", "skimlock", "--version"],
        "metadata demo": ["-c", SCRIPT, "metadata", "demo", *local],
        "lock demo (pylock)": ["-c", SCRIPT, "lock", "demo", *local, "-o",
                               str(out / "pylock.toml")],
        "lock demo (requirements)": ["-c", SCRIPT, "lock", "demo", *local, "--format",
                                     "requirements", "-o", str(out / "requirements.txt")],
        "resolve demo": ["-c", SCRIPT, "resolve", "demo", *local],
    }


def _run(
    args: list[str], src: Path, *, importtime: bool = False
) -> subprocess.CompletedProcess[str]:
    pycache = _PYCACHE[str(src)]
    env = {**os.environ, "PYTHONPATH": str(src), "NO_COLOR": "1",
           "PYTHONPYCACHEPREFIX": str(pycache),
           "SKIMLOCK_CACHE_DIR": str(pycache.with_name(f"cache-{pycache.name}"))}
    env.pop("SKIMLOCK_INDEX_URL", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done


def _imports(stderr: str) -> tuple[float, list[str]]:
    """Milliseconds of top-level imports and the heavy modules imported, from -X importtime."""
    total = 0
    names = set()
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        if cumulative.strip() == "cumulative":
            continue
        if not name.startswith("  "):  # " name": a top-level import
            total += int(cumulative)
        names.add(name.strip())
    heavy = [shown for module, shown in HEAVY.items() if module in names]
    return total / 1000, heavy


#: A bytecode cache per tree measured (the trees have modules of the same names).
_PYCACHE: dict[str, Path] = {}


def measure(trees: dict[str, Path], runs: int, importtime_runs: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="skimlock-bench-startup-") as tmp:
        for number, src in enumerate(trees.values()):
            _PYCACHE[str(src)] = Path(tmp, f"pycache-{number}")
        index = Path(tmp, "index")
        index.mkdir()
        _wheel(index, "demo", "1.0", "dep>=1")
        _wheel(index, "dep", "1.0")
        all_cases = cases(index, Path(tmp))
        walls: dict[tuple[str, str], list[float]] = {}
        imports: dict[tuple[str, str], list[float]] = {}
        heavy: dict[tuple[str, str], list[str]] = {}
        for src in trees.values():  # warm the file cache and the .pyc files
            for args in all_cases.values():
                _run(args, src)
        for round_ in range(max(runs, importtime_runs)):
            for label, args in all_cases.items():
                for tree, src in trees.items():
                    key = (label, tree)
                    if round_ < runs:
                        start = time.perf_counter()
                        _run(args, src)
                        walls.setdefault(key, []).append((time.perf_counter() - start) * 1000)
                    if round_ < importtime_runs:
                        ms, names = _imports(_run(args, src, importtime=True).stderr)
                        imports.setdefault(key, []).append(ms)
                        heavy[key] = names
        rows = []
        for label in all_cases:
            row: dict[str, Any] = {"case": label}
            for tree in trees:
                key = (label, tree)
                row[tree] = {
                    "wall_median_ms": round(statistics.median(walls[key]), 1),
                    "wall_min_ms": round(min(walls[key]), 1),
                    "imports_median_ms": round(statistics.median(imports[key]), 1),
                    "heavy": heavy[key],
                }
            rows.append(row)
        return rows


def table(rows: list[dict[str, Any]], trees: list[str]) -> str:
    head = ["case"]
    for tree in trees:
        head += [f"wall {tree}", f"imports {tree}"]
    head.append("heavy imports" + (f" ({trees[-1]})" if len(trees) > 1 else ""))
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["case"]]
        for tree in trees:
            cell = row[tree]
            cells += [f"{cell['wall_median_ms']:.0f} ms", f"{cell['imports_median_ms']:.0f} ms"]
        cells.append(", ".join(row[trees[-1]]["heavy"]) or "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="wall-time runs per case")
    parser.add_argument("--importtime-runs", type=int, default=5,
                        help="-X importtime runs per case")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the tree measured")
    parser.add_argument("--compare", type=Path, help="another src tree, measured alongside")
    parser.add_argument("--compare-label", default="before")
    parser.add_argument("--label", default=None, help="name of --src in the table")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON")
    args = parser.parse_args(argv)

    trees: dict[str, Path] = {}
    if args.compare:
        trees[args.compare_label] = args.compare.resolve()
    trees[args.label or ("after" if args.compare else "skimlock")] = args.src.resolve()
    rows = measure(trees, args.runs, args.importtime_runs)
    names = list(trees)
    last = names[-1]
    by_case = {row["case"]: row for row in rows}
    version = by_case["skimlock --version"][last]["wall_median_ms"]
    baseline = by_case["python -c pass"][last]["wall_median_ms"]
    report = {
        "benchmark": "start-up: skimlock --version and each command on a local index",
        "date": time.strftime("%Y-%m-%d"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "runs": args.runs,
        "importtime_runs": args.importtime_runs,
        "trees": {name: str(path) for name, path in trees.items()},
        "target_version_ms": TARGET_MS,
        "version_ms": version,
        "version_over_python_ms": round(version - baseline, 1),
        "meets_target": version <= TARGET_MS,
        "results": rows,
    }
    print(table(rows, names))
    print(f"skimlock --version: {version:.0f} ms median ({version - baseline:.0f} ms over "
          f"python -c pass); target <= {TARGET_MS:.0f} ms: "
          f"{'ok' if report['meets_target'] else 'MISSED'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
