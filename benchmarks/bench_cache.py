"""Re-locks with a cache: skimlock cold / warm / ``--offline`` against ``uv pip compile`` with a
warm cache and ``--offline`` (issue 12, item 9).

Reuses the peer harness (``benchmarks/peers``): its sets, its isolated runs (fresh HOME/XDG tree,
no ``PIP_*``/``UV_*`` variables, ``time -v`` for CPU time and peak RSS), its skimlock install (an
editable install of this work tree with its runtime dependencies only), its byte-counting
CONNECT proxy for PyPI and its local index server, and its alternating runner.

Variants, per (index, set); every run gets a fresh run directory (no old lock as preferences):

* ``skimlock-cold``: ``--cache-dir`` inside the run directory, so empty every run.
* ``skimlock-warm``: one ``--cache-dir`` for the set, filled by the warm-up run; the timed runs
  re-lock within the freshness window (10 minutes when the server says nothing).
* ``skimlock-offline``: the same cache, ``--offline``.
* ``skimlock-refresh``: the same cache, ``--refresh`` (every page revalidated: 304s where the
  server gives validators, whole pages where it does not).
* ``uv-cold``: the harness's ``uv pip compile --no-cache``.
* ``uv-warm``: ``uv pip compile`` with one ``UV_CACHE_DIR`` for the set (filled by its warm-up),
  without ``--no-cache``.
* ``uv-offline``: the same uv cache, ``--offline``.

Runs alternate (one run of each variant per round, in the order above). Bytes: the proxy's count
of whole TLS streams for every tool on PyPI (and skimlock's own ``--stats``); the server's count
of body bytes on the local index.

    .venv/bin/python benchmarks/bench_cache.py                    # ~5 min
    .venv/bin/python benchmarks/bench_cache.py --from-json benchmarks/results/cache.json

Writes ``benchmarks/results/cache.json`` and ``benchmarks/results/cache.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import run
import tools
from proxy import CountingProxy

import corpus
from index.faults import PageValidators
from index.server import serve_index

RESULTS = tools.REPO / "benchmarks" / "results"
SCHEMA = 1
VARIANTS = ("skimlock-cold", "skimlock-warm", "skimlock-offline", "skimlock-refresh",
            "uv-cold", "uv-warm", "uv-offline")
#: The uv run each skimlock variant is compared with (paired ratios).
PAIRS = {"skimlock-cold": "uv-cold", "skimlock-warm": "uv-warm",
         "skimlock-offline": "uv-offline", "skimlock-refresh": "uv-warm"}
DEFAULT_PYPI_SETS = "small3,django,web-api,data-science"
#: Sets whose wheels are small enough to download for a local index in a few seconds.
DEFAULT_LOCAL_SETS = "small3,requests"


def log(message: str) -> None:
    print(message, flush=True)


# --- the variants, built on the harness's invocations --------------------------------------------


def _skimlock_variant(name: str, cache: Path | None, extra: Sequence[str]) -> tools.Tool:
    """The harness's skimlock invocation plus an explicit ``--cache-dir`` (``cache``, or a fresh
    directory inside the run directory when None) and ``extra`` options."""
    base = tools.TOOLS["skimlock"]

    def build(run_dir: Path, reqs: Sequence[str], index: str,
              env: dict[str, str]) -> tools.Invocation:
        invocation = base.build(run_dir, reqs, index, env)
        cache_dir = cache if cache is not None else run_dir / "skimlock-cache"
        return dataclasses.replace(
            invocation, argv=[*invocation.argv, "--cache-dir", str(cache_dir), *extra])

    return dataclasses.replace(base, name=name, build=build,
                               target_args=f"{base.target_args} --cache-dir DIR {' '.join(extra)}")


def _uv_variant(name: str, cache: Path, extra: Sequence[str]) -> tools.Tool:
    """The harness's ``uv pip compile`` without ``--no-cache``/``UV_NO_CACHE``, with the cache in
    ``cache``."""
    base = tools.TOOLS["uv"]

    def build(run_dir: Path, reqs: Sequence[str], index: str,
              env: dict[str, str]) -> tools.Invocation:
        invocation = base.build(run_dir, reqs, index, env)
        argv = [a for a in invocation.argv if a != "--no-cache"]
        new_env = {k: v for k, v in invocation.env.items() if k != "UV_NO_CACHE"}
        new_env["UV_CACHE_DIR"] = str(cache)
        return dataclasses.replace(invocation, argv=[*argv, *extra], env=new_env)

    return dataclasses.replace(base, name=name, build=build,
                               target_args=f"{base.target_args} (UV_CACHE_DIR kept) "
                               f"{' '.join(extra)}")


def variants(caches: Path, wanted: Sequence[str]) -> list[tools.Tool]:
    sk_cache, uv_cache = caches / "skimlock", caches / "uv"
    table = {
        "skimlock-cold": _skimlock_variant("skimlock-cold", None, ()),
        "skimlock-warm": _skimlock_variant("skimlock-warm", sk_cache, ()),
        "skimlock-offline": _skimlock_variant("skimlock-offline", sk_cache, ("--offline",)),
        "skimlock-refresh": _skimlock_variant("skimlock-refresh", sk_cache, ("--refresh",)),
        "uv-cold": tools.TOOLS["uv"],
        "uv-warm": _uv_variant("uv-warm", uv_cache, ()),
        "uv-offline": _uv_variant("uv-offline", uv_cache, ("--offline",)),
    }
    tools_ = []
    for name in VARIANTS:
        if name in wanted:
            tool = table[name]
            tools_.append(dataclasses.replace(tool, name=name) if tool.name != name else tool)
    return tools_


# --- one (index, set) -----------------------------------------------------------------------------


def _measure_set(
    args: argparse.Namespace, index_name: str, set_name: str, requirements: Sequence[str],
    index_url: str, *, extra_env: dict[str, str] | None,
    before_run: Callable[[], None],
    after_run: Callable[[tools.RunOutcome], dict[str, Any]],
) -> list[dict[str, Any]]:
    work = args.work / index_name / set_name
    caches = work / "caches"
    shutil.rmtree(caches, ignore_errors=True)
    caches.mkdir(parents=True)
    cells = [
        (tool, run.Cell(tool, work / tool.name, requirements, index_url, runs=args.repeat,
                        warmup=True, timeout=args.timeout, extra_env=extra_env,
                        before_run=before_run, after_run=after_run))
        for tool in variants(caches, args.variants)
    ]
    log(f"[{index_name}] {set_name}: alternating {' '.join(t.name for t, _ in cells)}")
    started = time.monotonic()
    results = run.measure_alternating([cell for _, cell in cells])
    elapsed = time.monotonic() - started
    bench_set = corpus.BenchSet(name=set_name, requirements=tuple(requirements), note="",
                                quick=False, local=True, huge=False)
    cold = next((r for (t, _), r in zip(cells, results, strict=True)
                 if t.name == "skimlock-cold" and r["status"] == "ok"), None)
    reference = cold["outcome"].pins if cold else {}
    records = []
    for (tool, _cell), result in zip(cells, results, strict=True):
        record = run._record(bench_set, index_name, tool, result, reference=reference, floor=0)
        for key in ("floor_bytes", "ratio_to_floor"):
            record.pop(key, None)
        outcome: tools.RunOutcome | None = result.get("outcome")
        if outcome is not None and outcome.stats is not None:
            record["skimlock_stats"]["cache"] = outcome.stats.get("cache")
            statuses: dict[str, int] = {}
            for entry in outcome.stats.get("request_log", []):
                key = f"{entry['category']} {entry['status']}"
                statuses[key] = statuses.get(key, 0) + 1
            record["skimlock_stats"]["statuses"] = statuses
        record["seconds_for_the_set"] = round(elapsed, 1)
        records.append(record)
        log(f"    {run._summary_line(record)}")
    return records


def run_pypi(args: argparse.Namespace, sets: dict[str, corpus.BenchSet]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    with CountingProxy() as proxy:
        proxy_env = run.proxy_env_for(proxy)
        snapshot: dict[str, Any] = {}

        def before() -> None:
            proxy.wait_idle()
            snapshot["s"] = proxy.snapshot()

        def after(_outcome: tools.RunOutcome) -> dict[str, Any]:
            idle = proxy.wait_idle(10)
            traffic = run._proxy_traffic(proxy.snapshot().minus(snapshot["s"]))
            if not idle:
                traffic["warning"] = "tunnels still open 10 s after the tool exited"
            return traffic

        for name in args.pypi_sets:
            records += _measure_set(args, "pypi", name, sets[name].requirements, tools.PYPI,
                                    extra_env=proxy_env, before_run=before, after_run=after)
    return records


#: Local index flavours: name -> middleware around the index app.
LOCAL_FLAVOURS: dict[str, list[Any]] = {
    "local-metadata": [],
    "local-metadata-etag": [PageValidators],
}


def run_local(args: argparse.Namespace, sets: dict[str, corpus.BenchSet]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for name in args.local_sets:
        prepared = corpus.prepare_set(sets[name], download=True, log=log)
        tree = corpus.write_trees(prepared, ["metadata"])["metadata"]
        sizes = {f.filename: f.size for f in tree.files}
        for flavour, middleware in LOCAL_FLAVOURS.items():
            with serve_index(tree, middleware=middleware) as server:

                def before(server: Any = server) -> None:
                    server.log.clear()

                def after(_outcome: tools.RunOutcome, server: Any = server,
                          sizes: dict[str, int] = sizes) -> dict[str, Any]:
                    time.sleep(0.05)
                    traffic = run._server_traffic(server.log.entries, sizes)
                    statuses: dict[str, int] = {}
                    for entry in server.log.entries:
                        statuses[str(entry.status)] = statuses.get(str(entry.status), 0) + 1
                    traffic["statuses"] = statuses
                    return traffic

                records += _measure_set(args, flavour, name, sets[name].requirements,
                                        server.simple_url, extra_env=None, before_run=before,
                                        after_run=after)
    return records


# --- report ---------------------------------------------------------------------------------------


def _find(records: Sequence[dict[str, Any]], index: str, set_name: str,
          tool: str) -> dict[str, Any]:
    for r in records:
        if (r["index"], r["set"], r["tool"]) == (index, set_name, tool) and r["status"] == "ok":
            return r
    return {}


def _bytes(r: dict[str, Any]) -> int | None:
    traffic = r.get("traffic") or {}
    return traffic.get("total_bytes")


def human(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _groups(records: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for r in records:
        if (r["index"], r["set"]) not in seen:
            seen.append((r["index"], r["set"]))
    return seen


def markdown(document: dict[str, Any]) -> str:
    records = document["results"]
    machine = document["machine"]
    lines = [
        "# Re-locks with a cache: skimlock against uv", "",
        f"- Generated {document['generated']} by `{document['command']}`; "
        f"{document['repeat']} timed runs per variant after one warm-up (which fills the warm "
        f"caches), variants alternating in every round; {machine['cpus']} CPUs, "
        f"CPython {machine['python']}"
        + ("; **busy machine (other work running): timings are indicative**"
           if machine.get("noisy") else ""),
        f"- Versions: {', '.join(f'{k} {v}' for k, v in document['versions'].items())}; "
        f"skimlock source digest {document['skimlock_src']}",
        f"- Target: {tools.TARGET_DESCRIPTION}",
        "- Every run starts in a fresh directory (no earlier lock as preferences). Bytes on PyPI: "
        "whole TLS streams through the counting proxy (`--stats` body bytes beside them for "
        "skimlock); on the local index: response bodies counted by the server.",
        "- *paired* = median over rounds of (skimlock run / uv run of the same round), against "
        "uv-cold, uv-warm, uv-offline respectively (refresh against uv-warm).",
        "",
        "| index | set | pkgs | variant | wall (median) | paired vs uv | CPU | peak RSS | bytes "
        "| tunnels/requests | --stats wire bytes | cache hits (pages/304/metadata) | pins = cold |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for index, set_name in _groups(records):
        for variant in VARIANTS:
            r = next((x for x in records if (x["index"], x["set"], x["tool"])
                      == (index, set_name, variant)), None)
            if r is None:
                continue
            if r["status"] != "ok":
                lines.append(f"| {index} | {set_name} | - | {variant} | {r['status']}: "
                             f"{(r.get('error') or '')[:100]} |" + " - |" * 8)
                continue
            pair = _find(records, index, set_name, PAIRS.get(variant, ""))
            paired = _paired(r, pair) if pair else None
            traffic = r.get("traffic") or {}
            count = traffic.get("tunnels", traffic.get("requests"))
            stats = r.get("skimlock_stats") or {}
            cache = stats.get("cache") or {}
            hits = "/".join(str((cache.get(k) or {}).get("hits", 0))
                            for k in ("pages", "revalidated", "metadata")) if cache else "-"
            differ = r.get("pins_differ_from_reference")
            lines.append(
                f"| {index} | {set_name} | {r.get('packages') or '-'} | {variant} | "
                f"{r['wall_median_s']:.3f} s | {f'{paired:.2f}x' if paired else '-'} | "
                f"{r.get('cpu_median_s') or 0:.2f} s | "
                f"{(r.get('peak_rss_kb') or 0) / 1000:.0f} MB | {human(_bytes(r))} | {count} | "
                f"{human(stats['body_bytes']) if stats else '-'} | {hits} | "
                f"{'yes' if differ == [] else ('-' if differ is None else ', '.join(differ))} |"
            )
    lines += ["", "## Targets (issue 12)", "", "| target | index / set | measured | verdict |",
              "|---|---|---|---|"]
    lines += _targets(records)
    lines.append("")
    if document.get("profile"):
        lines += ["## Profile of one warm run", "", *document["profile"], ""]
    return "\n".join(lines) + "\n"


def _paired(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    x, y = a.get("wall_s") or [], b.get("wall_s") or []
    if not x or len(x) != len(y):
        return None
    return statistics.median(p / q for p, q in zip(x, y, strict=True) if q)


def _targets(records: Sequence[dict[str, Any]]) -> list[str]:
    rows = []

    def row(target: str, where: str, measured: str, ok: bool) -> None:
        rows.append(f"| {target} | {where} | {measured} | {'PASS' if ok else 'FAIL'} |")

    for index, set_name in _groups(records):
        where = f"{index} / {set_name}"
        warm = _find(records, index, set_name, "skimlock-warm")
        if warm and index != "local-metadata-etag":
            wire = _bytes(warm) or 0
            stats = (warm.get("skimlock_stats") or {}).get("body_bytes", 0)
            row("warm re-lock within freshness: 0 network bytes", where,
                f"{wire:,} B counted on the wire, {stats:,} B in --stats", wire == 0 and stats == 0)
        if index == "local-metadata-etag":
            for variant in ("skimlock-warm", "skimlock-refresh"):
                r = _find(records, index, set_name, variant)
                if not r:
                    continue
                statuses = (r.get("traffic") or {}).get("statuses", {})
                pages = (r.get("traffic") or {}).get("bytes", {}).get("index_pages", 0)
                row(f"server with validators, max-age=0 ({variant}): only 304s", where,
                    f"statuses {statuses}, {pages:,} B of pages", set(statuses) <= {"304"})
        offline, uv_offline = (_find(records, index, set_name, v)
                               for v in ("skimlock-offline", "uv-offline"))
        if offline and uv_offline and set_name == "data-science":
            ratio = offline["wall_median_s"] / uv_offline["wall_median_s"]
            row("--offline warm lock <= 2x uv --offline wall", where,
                f"{offline['wall_median_s']:.3f} s vs {uv_offline['wall_median_s']:.3f} s = "
                f"{ratio:.2f}x (paired {_paired(offline, uv_offline) or 0:.2f}x)", ratio <= 2)
        uv_warm = _find(records, index, set_name, "uv-warm")
        if warm and uv_warm and index == "pypi":
            ratio = warm["wall_median_s"] / uv_warm["wall_median_s"]
            row("warm lock on PyPI <= 0.5x uv warm wall", where,
                f"{warm['wall_median_s']:.3f} s vs {uv_warm['wall_median_s']:.3f} s = "
                f"{ratio:.2f}x (paired {_paired(warm, uv_warm) or 0:.2f}x)", ratio <= 0.5)
            mine, theirs = _bytes(warm) or 0, _bytes(uv_warm) or 0
            row("warm lock on PyPI <= 0.1x uv warm bytes", where,
                f"{human(mine)} vs {human(theirs)} = {mine / theirs if theirs else 0:.3f}x",
                bool(theirs) and mine <= 0.1 * theirs)
    return rows


# --- main -----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", default="pypi,local", help="comma-separated: pypi, local")
    parser.add_argument("--pypi-sets", default=DEFAULT_PYPI_SETS)
    parser.add_argument("--local-sets", default=DEFAULT_LOCAL_SETS,
                        help="sets served from a local index (their wheels are downloaded once "
                        "into the bench cache)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per variant")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--noisy", action="store_true", help="mark timings as from a busy machine")
    parser.add_argument("--work", type=Path, default=tools.bench_cache() / "work-cache")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--profile-file", type=Path,
                        help="markdown lines (a profile summary) to store with the results")
    parser.add_argument("--from-json", type=Path, help="only rewrite the markdown from a JSON")
    args = parser.parse_args(argv)

    json_out, md_out = args.out / "cache.json", args.out / "cache.md"
    if args.from_json:
        document = json.loads(args.from_json.read_text(encoding="utf-8"))
        if args.profile_file:
            document["profile"] = args.profile_file.read_text(encoding="utf-8").splitlines()
            json_out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        md_out.write_text(markdown(document), encoding="utf-8")
        log(f"wrote {md_out}")
        return 0

    sets = corpus.load_sets()
    modes = {m.strip() for m in args.mode.split(",") if m.strip()}
    args.pypi_sets = [s.strip() for s in args.pypi_sets.split(",") if s.strip()]
    args.local_sets = [s.strip() for s in args.local_sets.split(",") if s.strip()]
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [s for s in [*args.pypi_sets, *args.local_sets] if s not in sets]
    unknown += [v for v in args.variants if v not in VARIANTS]
    unknown += sorted(modes - {"pypi", "local"})
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}")

    tools.ensure_skimlock()
    log(f"peers: {tools.ensure_peers(['uv', 'pip'])}")
    started = time.monotonic()
    records: list[dict[str, Any]] = []
    if "pypi" in modes:
        records += run_pypi(args, sets)
    if "local" in modes:
        records += run_local(args, sets)
    versions = tools.tool_versions()
    document = {
        "schema": SCHEMA,
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["bench_cache.py", *(argv if argv is not None else sys.argv[1:])]),
        "seconds": round(time.monotonic() - started),
        "repeat": args.repeat,
        "versions": {"skimlock": versions["skimlock"], "uv": versions["uv"]},
        "skimlock_src": tools.skimlock_src_digest(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "noisy": args.noisy,
                    "loadavg": os.getloadavg()},
        "results": records,
    }
    if args.profile_file:
        document["profile"] = args.profile_file.read_text(encoding="utf-8").splitlines()
    args.out.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    md_out.write_text(markdown(document), encoding="utf-8")
    log(f"done in {document['seconds']} s: wrote {json_out}, {md_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
