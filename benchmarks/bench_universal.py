"""Benchmark: what a universal lock costs over a single-target lock, and what checking the
"wheels of one version share METADATA" assumption would cost (real PyPI, network).

Run::

    .venv/bin/python benchmarks/bench_universal.py [--sets done-when,django,...] [--uv PATH]

For each requirement set (issue 13's "done when" set, plus sets of ``peers/sets.toml``):

1. ``single``: ``skimlock lock`` for the running interpreter (requests, body bytes, wall).
2. ``universal``: ``skimlock lock --universal`` (default environment set from the running
   Python): the same, plus the first environment's cost and the others'.
3. ``verify``: in the same process, after the universal lock, the METADATA of *every* wheel the
   lock lists is read (what checking the assumption would cost beyond the lock), and the
   Requires-Dist / Requires-Python of the wheels of each version are compared: how many versions
   have wheels that disagree.
4. ``wire``: with ``--uv PATH``, ``skimlock lock --universal`` and ``uv pip compile --universal``
   (cold cache in a temporary directory, ``UV_NO_CONFIG=1``, explicit PyPI index, the running
   Python as the floor) each run as a subprocess through the byte-counting CONNECT proxy of
   ``peers/proxy.py``: bytes received on the wire (TLS included), tunnels, wall time.

Writes ``benchmarks/results/universal.json`` and ``benchmarks/results/universal.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import tomllib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from packaging.utils import canonicalize_name  # noqa: E402

from peers.proxy import CountingProxy  # noqa: E402
from skimlock import universal  # noqa: E402
from skimlock.fetch import Fetcher, make_client  # noqa: E402
from skimlock.inputs import collect_inputs  # noqa: E402
from skimlock.resolve import ResolveOptions, resolve  # noqa: E402
from skimlock.stats import Stats, human_bytes  # noqa: E402
from skimlock.target import Target  # noqa: E402

PYPI = "https://pypi.org/simple/"
DONE_WHEN = ["numpy", "pytest", "sqlalchemy", "pywin32; sys_platform == 'win32'",
             "uvloop; sys_platform != 'win32'"]


def _sets(names: list[str]) -> dict[str, list[str]]:
    peers = tomllib.loads((ROOT / "benchmarks" / "peers" / "sets.toml").read_text())["sets"]
    chosen = {}
    for name in names:
        chosen[name] = DONE_WHEN if name == "done-when" else list(peers[name]["requirements"])
    return chosen


def _single(requirements: list[str]) -> dict[str, Any]:
    inputs = collect_inputs(requirements=requirements)
    stats = Stats()
    started = time.monotonic()
    with make_client() as client, Fetcher(client, stats=stats) as fetcher:
        resolution = resolve(inputs, fetcher=fetcher, target=Target.current(),
                             options=ResolveOptions(indexes=(PYPI,)))
    summary = stats.summary()
    return {"packages": len(resolution.pins), "requests": summary.requests,
            "body_bytes": summary.body_bytes, "seconds": round(time.monotonic() - started, 2)}


def _universal(requirements: list[str]) -> dict[str, Any]:
    inputs = collect_inputs(requirements=requirements)
    stats = Stats()
    environments = universal.environment_set(requires_python=inputs.requires_python)
    started = time.monotonic()
    with make_client() as client, Fetcher(client, stats=stats) as fetcher:
        result = universal.resolve_universal(
            inputs, fetcher=fetcher, environments=environments,
            options=ResolveOptions(indexes=(PYPI,)),
        )
        packages = universal.merge(result, inputs)
        seconds = round(time.monotonic() - started, 2)
        lock_summary = stats.summary()
        read = {f.filename for f in lock_summary.files}
        listed = [f for p in packages for f in p.files if f.is_wheel]
        unread = [f for f in listed if f.filename not in read]
        verify_started = time.monotonic()
        futures = {f.filename: fetcher.submit_metadata(f) for f in unread}
        by_version: dict[tuple[str, str], set[tuple[str, str]]] = {}
        failed = 0
        for package in packages:
            for file in package.files:
                if not file.is_wheel:
                    continue
                try:
                    meta = (futures[file.filename].result() if file.filename in futures
                            else fetcher.metadata(file)).metadata
                except Exception:  # counted, not fatal: this measures, it does not lock
                    failed += 1
                    continue
                key = (str(package.name), str(package.version))
                by_version.setdefault(key, set()).add(_deps(meta))
        verify_seconds = round(time.monotonic() - verify_started, 2)
    after = stats.summary()
    costs = result.to_json(lock_summary)
    return {
        "environments": len(environments),
        "entries": len(packages),
        "projects": len({p.name for p in packages}),
        "requests": lock_summary.requests,
        "body_bytes": lock_summary.body_bytes,
        "seconds": seconds,
        "first": costs["first"],
        "others": costs["others"],
        "wheels_listed": len(listed),
        "wheels_read_by_passes": len(listed) - len(unread),
        "verify": {
            "wheels": len(unread),
            "requests": after.requests - lock_summary.requests,
            "body_bytes": after.body_bytes - lock_summary.body_bytes,
            "seconds": verify_seconds,
            "unreadable": failed,
            "versions_disagreeing": sorted(
                f"{name} {version}" for (name, version), seen in by_version.items()
                if len(seen) > 1
            ),
        },
    }


def _deps(meta: Any) -> tuple[str, str]:
    requires = sorted(
        f"{canonicalize_name(r.name)}{r.specifier};{r.marker}" for r in meta.requires_dist or ()
    )
    return ("|".join(requires), str(meta.requires_python or ""))


def _wire(uv: str, requirements: list[str], proxy: CountingProxy) -> dict[str, Any]:
    """Both tools as subprocesses through the counting proxy."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "requirements.in"
        path.write_text("\n".join(requirements) + "\n")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("UV_", "PIP_", "SKIMLOCK_")) and "proxy" not in k.lower()}
        env |= {"UV_NO_CONFIG": "1", "UV_CACHE_DIR": str(Path(tmp) / "cache"),
                "HTTPS_PROXY": proxy.url, "PYTHONPATH": str(ROOT / "src")}
        commands = {
            "skimlock": [sys.executable, "-m", "skimlock", "lock", "--universal", "-q",
                         "--python-version", python, "-i", PYPI, "-r", str(path),
                         "-o", str(Path(tmp) / "pylock.toml")],
            "uv": [uv, "pip", "compile", "--universal", "--python-version", python,
                   "--index-url", PYPI, "--no-header", "--no-annotate", str(path),
                   "-o", str(Path(tmp) / "uv.txt")],
        }
        for tool, command in commands.items():
            before = proxy.snapshot()
            started = time.monotonic()
            done = subprocess.run(command, env=env, capture_output=True, text=True,
                                  check=False, timeout=600)
            seconds = round(time.monotonic() - started, 2)
            proxy.wait_idle()
            delta = proxy.snapshot().minus(before)
            results[tool] = {"ok": done.returncode == 0, "seconds": seconds,
                             "bytes_down": delta.bytes_down, "tunnels": delta.tunnels}
    return results


def _table(rows: dict[str, dict[str, Any]]) -> str:
    out = [
        "| set | single: req / bytes / s | universal: envs, entries | universal: req / bytes / s "
        "| first env | other envs | verify all listed wheels | disagreeing versions "
        "| wire: skimlock | wire: uv |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        s, u = row["single"], row["universal"]
        v = u["verify"]
        wire = row.get("wire", {})
        ours = wire.get("skimlock")
        theirs = wire.get("uv")

        def cell(w: dict[str, Any] | None) -> str:
            if not w:
                return ""
            failed = "" if w["ok"] else " (failed)"
            return f"{human_bytes(w['bytes_down'])}, {w['tunnels']} conn, {w['seconds']} s{failed}"

        out.append(
            f"| {name} | {s['requests']} / {human_bytes(s['body_bytes'])} / {s['seconds']} "
            f"| {u['environments']}, {u['entries']} "
            f"| {u['requests']} / {human_bytes(u['body_bytes'])} / {u['seconds']} "
            f"| {u['first']['requests']} / {human_bytes(u['first']['body_bytes'])} "
            f"| {u['others']['requests']} / {human_bytes(u['others']['body_bytes'])} "
            f"| {v['wheels']} wheels, {v['requests']} / {human_bytes(v['body_bytes'])} "
            f"/ {v['seconds']} s | {len(v['versions_disagreeing'])} | {cell(ours)} "
            f"| {cell(theirs)} |"
        )
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="done-when,requests,django,cli-dev")
    parser.add_argument("--uv", help="path of a uv binary to time")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "universal"))
    args = parser.parse_args()
    rows: dict[str, dict[str, Any]] = {}
    with CountingProxy() as proxy:
        for name, requirements in _sets(args.sets.split(",")).items():
            row: dict[str, Any] = {"requirements": requirements,
                                   "single": _single(requirements),
                                   "universal": _universal(requirements)}
            if args.uv:
                row["wire"] = _wire(args.uv, requirements, proxy)
            rows[name] = row
            print(name, json.dumps(row["universal"]["verify"]), file=sys.stderr)
    document = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "index": PYPI,
        "sets": rows,
    }
    Path(args.out + ".json").write_text(json.dumps(document, indent=2) + "\n")
    Path(args.out + ".md").write_text(_table(rows))
    sys.stdout.write(_table(rows))


if __name__ == "__main__":
    main()
