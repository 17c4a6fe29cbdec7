"""Benchmark skimlock against pip (``pip lock``, ``pip install --dry-run --report``), uv
(``uv pip compile``) and nab (``nab lock``): bytes, requests, wall time, peak RSS.

One command runs everything (installs the peers into their own venvs under
``~/.cache/skimlock-bench``, fetches the wheels for the local indexes once, runs, writes
``benchmarks/results/peers_{local,pypi}.json``, the markdown table and the charts)::

    .venv/bin/python benchmarks/peers/run.py

Quick skimlock-only check for developers (local index, small sets, about a minute)::

    .venv/bin/python benchmarks/peers/run.py --quick

Two ways of serving the same sets:

* ``local``: the test index server (``tests/index``: uvicorn + StaticFiles) over the real
  wheels, in three modes (metadata advertised with its hash; no metadata, ranges work; no
  ranges). Bytes and requests are counted by the server (body bytes per request), the same way
  for every tool.
* ``pypi``: https://pypi.org/simple through this machine's gateway, every tool pointed at a
  byte-counting CONNECT proxy on 127.0.0.1 (``proxy.py``); bytes are whole TLS streams per host.

Each (set, index, tool) gets one warm-up run and ``--repeat`` timed runs (the median is
reported). The tools' runs on one (set, index) alternate (A B C A B C ...), so load drifts hit
them alike, and each run records wall time, CPU time (user + system) and peak RSS. A tool that
downloads whole wheels runs once on sets marked ``huge`` (no warm-up) and is skipped where that
would download more than ``--max-download`` bytes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))  # index.* (test server)

import tools
from proxy import CountingProxy

import corpus
from index.server import serve_index

RESULTS = tools.REPO / "benchmarks" / "results"
DEFAULT_TOOLS = ("skimlock", "uv", "pip-lock", "pip-dry-run", "nab")
#: Through the proxy nab also runs with its httpx transport, the one that honours HTTPS_PROXY.
PYPI_EXTRA_TOOLS = ("nab-httpx",)
SCHEMA = 1
GB = 1_000_000_000


def log(message: str) -> None:
    print(message, flush=True)


# --- one measured cell ---------------------------------------------------------------------------


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


class Cell:
    """The timed runs of one tool on one (set, index): a warm-up, then ``runs`` runs, driven
    one step at a time so that several tools' runs can alternate (:func:`measure_alternating`).
    Traffic is taken from the first timed run (and checked to be stable across runs)."""

    def __init__(
        self,
        tool: tools.Tool,
        work: Path,
        requirements: Sequence[str],
        index: str,
        *,
        runs: int,
        warmup: bool,
        timeout: float,
        extra_env: dict[str, str] | None,
        before_run: Callable[[], None],
        after_run: Callable[[tools.RunOutcome], dict[str, Any]],
    ) -> None:
        self.tool, self.work, self.requirements, self.index = tool, work, requirements, index
        self.runs, self.warmup, self.timeout, self.extra_env = runs, warmup, timeout, extra_env
        self.before_run, self.after_run = before_run, after_run
        self.walls: list[float] = []
        self.cpus: list[float] = []
        self.rss: list[int] = []
        self.loads: list[float] = []
        self.totals: list[int] = []
        self.first: tools.RunOutcome | None = None
        self.traffic: dict[str, Any] | None = None
        self.failure: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.failure is not None or len(self.walls) >= self.runs

    def _run(self, name: str) -> tuple[tools.RunOutcome, dict[str, Any]]:
        self.before_run()
        outcome = tools.run_tool(self.tool, self.work / name, self.requirements, self.index,
                                 extra_env=self.extra_env, timeout=self.timeout)
        return outcome, self.after_run(outcome)

    def warm_up(self) -> None:
        if not self.warmup or self.failure is not None:
            return
        outcome, _ = self._run("warmup")
        if not outcome.ok:
            self.failure = {"status": "failed", "error": f"(warm-up) {outcome.error}",
                            "wall_s": [outcome.seconds], "traffic": None, "outcome": outcome}

    def step(self) -> None:
        """One timed run (nothing once finished)."""
        if self.finished:
            return
        self.loads.append(os.getloadavg()[0])
        outcome, counted = self._run(f"run{len(self.walls)}")
        if self.first is None:
            self.first, self.traffic = outcome, counted
        self.totals.append(int(counted.get("total_bytes", 0)))
        self.walls.append(outcome.seconds)
        if outcome.cpu_s is not None:
            self.cpus.append(outcome.cpu_s)
        if outcome.peak_rss_kb is not None:
            self.rss.append(outcome.peak_rss_kb)
        if not outcome.ok:
            self.failure = {"status": "timeout" if outcome.timed_out else "failed",
                            "error": outcome.error, "wall_s": self.walls, "cpu_s": self.cpus,
                            "traffic": counted, "outcome": outcome, "loadavg": self.loads}

    def result(self) -> dict[str, Any]:
        if self.failure is not None:
            return self.failure
        assert self.first is not None
        return {
            "status": "ok",
            "error": None,
            "wall_s": self.walls,
            "cpu_s": self.cpus,
            "peak_rss_kb": int(statistics.median(self.rss)) if self.rss else None,
            "rss_method": self.first.rss_method,
            "traffic": self.traffic,
            "bytes_spread": (max(self.totals) - min(self.totals)) if self.totals else 0,
            "outcome": self.first,
            "loadavg": self.loads,
        }


def measure_alternating(cells: Sequence[Cell]) -> list[dict[str, Any]]:
    """Warm every cell up, then run them in rounds, A B A B ..., so that a drift in the machine's
    load or the network hits every tool alike; run ``i`` of one tool pairs with run ``i`` of
    another (the paired ratios in the report)."""
    for cell in cells:
        cell.warm_up()
    while not all(cell.finished for cell in cells):
        for cell in cells:
            cell.step()
    return [cell.result() for cell in cells]


def _record(
    bench_set: corpus.BenchSet, index_name: str, tool: tools.Tool, cell: dict[str, Any],
    *, reference: dict[str, str], floor: int,
) -> dict[str, Any]:
    outcome: tools.RunOutcome | None = cell.get("outcome")
    pins = outcome.pins if outcome is not None else {}
    traffic = cell.get("traffic") or {}
    differ = sorted(n for n in set(pins) | set(reference) if pins.get(n) != reference.get(n))
    total = traffic.get("total_bytes")
    record: dict[str, Any] = {
        "set": bench_set.name,
        "index": index_name,
        "tool": tool.name,
        "status": cell["status"],
        "error": cell.get("error"),
        "runs": len(cell.get("wall_s", [])),
        "wall_s": [round(w, 3) for w in cell.get("wall_s", [])],
        "wall_median_s": round(_median(cell.get("wall_s", [])) or 0.0, 3) or None,
        "cpu_s": [round(c, 3) for c in cell.get("cpu_s", [])],
        "cpu_median_s": round(_median(cell.get("cpu_s", [])) or 0.0, 3) or None,
        # Run i of every tool on this (set, index) ran in round i (measure_alternating).
        "alternating": True,
        "peak_rss_kb": cell.get("peak_rss_kb"),
        "rss_method": cell.get("rss_method"),
        "loadavg_1min": [round(x, 2) for x in cell.get("loadavg", [])],
        "packages": len(pins) if pins else None,
        "pins_differ_from_reference": differ if pins else None,
        "traffic": traffic,
        "bytes_spread_between_runs": cell.get("bytes_spread"),
        "floor_bytes": floor,
        "ratio_to_floor": round(total / floor, 3) if total and floor else None,
        "skimlock_src": tools.skimlock_src_digest(),
    }
    if outcome is not None and outcome.stats is not None:
        stats = outcome.stats
        record["skimlock_stats"] = {
            "requests": stats["requests"],
            "body_bytes": stats["body_bytes"],
            "by_category": stats["by_category"],
            "wheel_bytes": stats["wheel_bytes"],
            "bytes_not_downloaded": stats["bytes_not_downloaded"],
        }
    return record


# --- local index ---------------------------------------------------------------------------------


def _server_traffic(entries: Sequence[Any], tree_sizes: dict[str, int]) -> dict[str, Any]:
    bytes_by: dict[str, int] = defaultdict(int)
    requests_by: dict[str, int] = defaultdict(int)
    touched: set[str] = set()
    page_types: dict[str, int] = defaultdict(int)
    for entry in entries:
        category = corpus.classify(entry)
        bytes_by[category] += entry.body_bytes
        requests_by[category] += 1
        if category == "index":
            content_type = entry.response_headers.get("content-type", "?").split(";")[0]
            page_types[content_type] += 1
        name = entry.path.rsplit("/", 1)[-1]
        if name.endswith(".metadata"):
            name = name[: -len(".metadata")]
        if name.endswith(".whl"):
            touched.add(name)
    from urllib.parse import unquote

    touched = {unquote(n) for n in touched}
    wheel_total = sum(tree_sizes.get(n, 0) for n in touched)
    metadata = bytes_by["metadata-pep658"] + bytes_by["metadata-range"]
    spent_on_files = metadata + bytes_by["wheel"]
    return {
        "total_bytes": sum(bytes_by.values()),
        "requests": sum(requests_by.values()),
        "bytes": {
            "index_pages": bytes_by["index"],
            "metadata": metadata,
            "metadata_pep658": bytes_by["metadata-pep658"],
            "metadata_range": bytes_by["metadata-range"],
            "whole_wheels": bytes_by["wheel"],
            "other": bytes_by["other"],
        },
        "request_counts": {
            "index_pages": requests_by["index"],
            "metadata": requests_by["metadata-pep658"] + requests_by["metadata-range"],
            "metadata_pep658": requests_by["metadata-pep658"],
            "metadata_range": requests_by["metadata-range"],
            "whole_wheels": requests_by["wheel"],
            "other": requests_by["other"],
        },
        "page_types": dict(page_types),
        "wheels_touched": len(touched),
        "wheel_bytes_touched": wheel_total,
        "wheel_bytes_not_downloaded": wheel_total - spent_on_files,
        "counted_by": "local server (body bytes per request)",
    }


def run_local(args: argparse.Namespace, sets: list[corpus.BenchSet], out: Path) -> None:
    document = _load_or_new(out, "local", args)
    for bench_set in sets:
        if not bench_set.local:
            log(f"[local] {bench_set.name}: skipped (local = false in sets.toml)")
            document["sets"][bench_set.name] = {
                "requirements": list(bench_set.requirements), "note": bench_set.note,
                "skipped": "not benchmarked locally: the wheels are too big to keep on disk",
            }
            continue
        log(f"[local] {bench_set.name}: preparing")
        prepared = corpus.prepare_set(bench_set, download=True, log=log)
        trees = corpus.write_trees(prepared, args.index_modes)
        set_info: dict[str, Any] = {
            "requirements": list(bench_set.requirements),
            "note": bench_set.note,
            "reference_packages": len(prepared.pins),
            "listed_wheels": len(prepared.files),
            "listed_wheel_bytes": sum(
                (prepared.wheels_dir / f).stat().st_size for f in prepared.files),
            "notes": list(prepared.notes),
            "floor": {},
        }
        document["sets"][bench_set.name] = set_info
        for mode_name, tree in trees.items():
            floor = corpus.local_floor(tree, prepared)
            set_info["floor"][mode_name] = floor
            sizes = {f.filename: f.size for f in tree.files}
            with serve_index(tree) as server:
                cells: list[tuple[tools.Tool, Cell]] = []
                for tool_name in args.tools:
                    tool = tools.TOOLS[tool_name]
                    if not _available(document, tool):
                        _put(document, {"set": bench_set.name, "index": f"local-{mode_name}",
                                        "tool": tool_name, "status": "unavailable",
                                        "error": document["tools"][tool.program]["version"]})
                        continue

                    def before(server: Any = server) -> None:
                        server.log.clear()

                    def after(_outcome: tools.RunOutcome, sizes: dict[str, int] = sizes,
                              server: Any = server) -> dict[str, Any]:
                        time.sleep(0.05)
                        return _server_traffic(server.log.entries, sizes)

                    cells.append((tool, Cell(
                        tool, args.work / "local" / bench_set.name / mode_name / tool_name,
                        bench_set.requirements, server.simple_url,
                        runs=args.repeat, warmup=not args.no_warmup, timeout=args.timeout,
                        extra_env=None, before_run=before, after_run=after,
                    )))
                log(f"  [{mode_name}] alternating: {' '.join(t.name for t, _ in cells)}")
                results = measure_alternating([cell for _, cell in cells])
                for (tool, _cell), result in zip(cells, results, strict=True):
                    record = _record(bench_set, f"local-{mode_name}", tool, result,
                                     reference=prepared.pins, floor=floor["total"])
                    if "skimlock_stats" in record and record["traffic"]:
                        record["crosscheck"] = _crosscheck(record)
                    _put(document, record)
                    log(f"    {_summary_line(record)}")
            _save(document, out)
    _save(document, out)


def _crosscheck(record: dict[str, Any]) -> dict[str, Any]:
    """skimlock's --stats against the server's count, per category."""
    stats = record["skimlock_stats"]["by_category"]
    traffic = record["traffic"]["bytes"]
    pairs = {
        "index_pages": (stats["index-page"]["body_bytes"], traffic["index_pages"]),
        "metadata_pep658": (stats["metadata-pep658"]["body_bytes"], traffic["metadata_pep658"]),
        "metadata_range": (stats["metadata-range"]["body_bytes"], traffic["metadata_range"]),
        "whole_wheels": (stats["full-download"]["body_bytes"], traffic["whole_wheels"]),
    }
    self_total = record["skimlock_stats"]["body_bytes"]
    server_total = record["traffic"]["total_bytes"]
    return {
        "by_category": {k: {"skimlock": a, "server": b} for k, (a, b) in pairs.items()},
        "total": {"skimlock": self_total, "server": server_total},
        "requests": {"skimlock": record["skimlock_stats"]["requests"],
                     "server": record["traffic"]["requests"]},
        "difference_pct": round(100 * (self_total - server_total) / server_total, 2)
        if server_total else None,
    }


# --- PyPI through the gateway --------------------------------------------------------------------


def _proxy_traffic(delta: Any) -> dict[str, Any]:
    hosts = {
        host: {"tunnels": t.tunnels, "bytes_down": t.bytes_down, "bytes_up": t.bytes_up}
        for host, t in delta.hosts.items()
    }
    index = sum(t.bytes_down for h, t in delta.hosts.items() if h.startswith("pypi.org:"))
    files = sum(t.bytes_down for h, t in delta.hosts.items()
                if h.startswith("files.pythonhosted.org:"))
    return {
        "total_bytes": delta.bytes_down,
        "bytes_up": delta.bytes_up,
        "tunnels": delta.tunnels,
        "bytes": {"index_pages": index, "metadata_and_wheels": files,
                  "other": delta.bytes_down - index - files},
        "hosts": hosts,
        "counted_by": "CONNECT proxy (TLS stream bytes, server to client)",
    }


def proxy_env_for(proxy: CountingProxy) -> dict[str, str]:
    """The environment that sends a tool's HTTPS through the counting proxy."""
    return {
        "HTTPS_PROXY": proxy.url, "https_proxy": proxy.url,
        "NO_PROXY": "", "no_proxy": "",
        "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
    }


def run_pypi(args: argparse.Namespace, sets: list[corpus.BenchSet], out: Path) -> None:
    document = _load_or_new(out, "pypi", args)
    with CountingProxy() as proxy:
        proxy_env = proxy_env_for(proxy)
        for bench_set in sets:
            log(f"[pypi] {bench_set.name}: preparing")
            prepared = corpus.prepare_set(bench_set, download=False, log=log)
            floor = prepared.pypi_floor
            wheel_bytes = sum(prepared.wheel_sizes.values())
            document["sets"][bench_set.name] = {
                "requirements": list(bench_set.requirements),
                "note": bench_set.note,
                "reference_packages": len(prepared.pins),
                "pinned_wheel_bytes": wheel_bytes,
                "floor": {"index_pages": sum(prepared.pypi_page_bytes.values()),
                          "metadata": sum(prepared.metadata_bytes.values()),
                          "total": floor},
                "notes": list(prepared.notes),
            }
            cells: list[tuple[tools.Tool, Cell]] = []
            for tool_name in args.pypi_tools:
                tool = tools.TOOLS[tool_name]
                if not _available(document, tool):
                    _put(document, {"set": bench_set.name, "index": "pypi", "tool": tool_name,
                                    "status": "unavailable",
                                    "error": document["tools"][tool.program]["version"]})
                    continue
                runs, warmup = args.repeat, not args.no_warmup
                if tool.downloads_wheels and bench_set.huge:
                    if wheel_bytes > args.max_download or (
                        tool.name == "pip-lock" and wheel_bytes > GB
                    ):
                        _put(document, {
                            "set": bench_set.name, "index": "pypi", "tool": tool_name,
                            "status": "skipped",
                            "error": f"skipped: would download {wheel_bytes / GB:.1f} GB of "
                            "wheels (no PEP 658 metadata through this gateway); "
                            "pip-dry-run was run once instead" if tool.name == "pip-lock"
                            else f"skipped: would download {wheel_bytes / GB:.1f} GB",
                        })
                        log(f"  {tool_name}: skipped ({wheel_bytes / GB:.1f} GB)")
                        continue
                    runs, warmup = 1, False

                snapshot: dict[str, Any] = {}

                def before_run(snapshot: dict[str, Any] = snapshot) -> None:
                    proxy.wait_idle()
                    snapshot["s"] = proxy.snapshot()

                def after(
                    _outcome: tools.RunOutcome, snapshot: dict[str, Any] = snapshot
                ) -> dict[str, Any]:
                    idle = proxy.wait_idle(10)
                    traffic = _proxy_traffic(proxy.snapshot().minus(snapshot["s"]))
                    if not idle:
                        traffic["warning"] = "tunnels still open 10 s after the tool exited"
                    return traffic

                cells.append((tool, Cell(
                    tool, args.work / "pypi" / bench_set.name / tool_name,
                    bench_set.requirements, tools.PYPI,
                    runs=runs, warmup=warmup, timeout=args.timeout,
                    extra_env=proxy_env, before_run=before_run, after_run=after,
                )))
            log(f"  alternating: {' '.join(t.name for t, _ in cells)}")
            results = measure_alternating([cell for _, cell in cells])
            for (tool, _cell), result in zip(cells, results, strict=True):
                record = _record(bench_set, "pypi", tool, result, reference=prepared.pins,
                                 floor=floor)
                traffic = record.get("traffic") or {}
                if result["status"] == "ok" and not traffic.get("total_bytes"):
                    record["proxy_note"] = "no bytes crossed the proxy: the tool ignored it"
                    record["ratio_to_floor"] = None
                _put(document, record)
                log(f"    {_summary_line(record)}")
            _save(document, out)
    _save(document, out)


# --- documents -----------------------------------------------------------------------------------


def _load_or_new(out: Path, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    versions = tools.tool_versions()
    tools_info = {
        name: {"version": versions.get(name, "?")} for name in ("skimlock", *tools.PEER_VERSIONS)
    }
    for tool in tools.TOOLS.values():
        tools_info.setdefault(tool.program, {})
        tools_info[tool.program].setdefault("invocations", {})[tool.name] = tool.target_args
    document: dict[str, Any] = {
        "schema": SCHEMA, "mode": mode, "sets": {}, "results": [],
    }
    if out.exists() and not args.fresh:
        old = json.loads(out.read_text(encoding="utf-8"))
        if old.get("schema") == SCHEMA and old.get("mode") == mode:
            document = old
    document.update({
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "target": tools.TARGET_DESCRIPTION,
        "tools": tools_info,
        "repeat": args.repeat,
        "warmup": not args.no_warmup,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "noisy": args.noisy,
            "note": args.note,
        },
    })
    return document


def _put(document: dict[str, Any], record: dict[str, Any]) -> None:
    key = (record["set"], record["index"], record["tool"])
    document["results"] = [
        r for r in document["results"] if (r["set"], r["index"], r["tool"]) != key
    ] + [record]


def _save(document: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, out)


def _available(document: dict[str, Any], tool: tools.Tool) -> bool:
    return not str(document["tools"][tool.program].get("version", "")).startswith(
        ("unavailable", "not installed"))


def _summary_line(record: dict[str, Any]) -> str:
    traffic = record.get("traffic") or {}
    ratio = record.get("ratio_to_floor")
    return (
        f"{record['tool']}: {record['status']} {record.get('wall_median_s')} s, "
        f"{record.get('packages')} pkgs, {traffic.get('total_bytes', 0):,} B "
        f"in {traffic.get('requests', traffic.get('tunnels', 0))} req/tunnels"
        + (f", x{ratio} floor" if ratio else "")
        + (f" -- {record['error']}" if record.get("error") else "")
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", default="local,pypi",
                        help="comma-separated: local, pypi (default both)")
    parser.add_argument("--sets", help="comma-separated set names (default: all in sets.toml)")
    parser.add_argument("--tools", default=",".join(DEFAULT_TOOLS),
                        help=f"comma-separated (default {','.join(DEFAULT_TOOLS)})")
    parser.add_argument("--before", type=Path, metavar="PATH",
                        help="another skimlock's console script (e.g. an older commit installed "
                        "in its own venv), timed beside this tree as skimlock-before")
    parser.add_argument("--index-modes", default=",".join(corpus.INDEX_MODES),
                        help="local index modes (default metadata,ranges,no-ranges)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per cell (>= 3)")
    parser.add_argument("--no-warmup", action="store_true", help="skip the warm-up run")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    parser.add_argument("--max-download", type=float, default=5 * GB,
                        help="a whole-wheel tool is skipped on a huge set above this many bytes")
    parser.add_argument("--quick", action="store_true",
                        help="skimlock only, local index, the quick sets, 3 runs")
    parser.add_argument("--fresh", action="store_true",
                        help="start new result files instead of merging into existing ones")
    parser.add_argument("--noisy", action="store_true",
                        help="mark the results as measured on a busy machine")
    parser.add_argument("--note", default="", help="free text stored with the results")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    parser.add_argument("--work", type=Path, default=tools.bench_cache() / "work")
    parser.add_argument("--no-report", action="store_true", help="do not write md/png")
    args = parser.parse_args(argv)

    all_sets = corpus.load_sets()
    modes = [m.strip() for m in args.mode.split(",") if m.strip()]
    if args.quick:
        args.tools = "skimlock"
        modes = ["local"]
        if not args.sets:
            args.sets = ",".join(n for n, s in all_sets.items() if s.quick)
        args.index_modes = "metadata,ranges"
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    if args.before is not None:
        if not args.before.is_file():
            parser.error(f"--before {args.before}: no such file")
        tools.BEFORE_BIN = args.before.resolve()
        if "skimlock-before" not in args.tools:
            args.tools.insert(1, "skimlock-before")
    args.pypi_tools = [*args.tools, *(t for t in PYPI_EXTRA_TOOLS
                                      if "nab" in args.tools and t not in args.tools)]
    args.index_modes = [m.strip() for m in args.index_modes.split(",") if m.strip()]
    unknown = [t for t in args.tools if t not in tools.TOOLS]
    unknown += [m for m in args.index_modes if m not in corpus.INDEX_MODES]
    names = [n.strip() for n in (args.sets or ",".join(all_sets)).split(",") if n.strip()]
    unknown += [n for n in names if n not in all_sets]
    unknown += [m for m in modes if m not in ("local", "pypi")]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}")
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    sets = [all_sets[n] for n in names]

    log("installing peers (if missing) under " + str(tools.peer_dir("")))
    programs = sorted({tools.TOOLS[t].program for t in args.tools} - {"skimlock"})
    # pip is needed anyway: it downloads the wheels for the local indexes.
    tools.ensure_skimlock()
    availability = tools.ensure_peers(sorted({*programs, "pip", "uv"}))
    for name, version in availability.items():
        log(f"  {name}: {version}")
    suffix = "_quick" if args.quick else ""
    started = time.monotonic()
    outputs = []
    if "local" in modes:
        out = args.out / f"peers_local{suffix}.json"
        run_local(args, sets, out)
        outputs.append(out)
    if "pypi" in modes:
        out = args.out / f"peers_pypi{suffix}.json"
        run_pypi(args, sets, out)
        outputs.append(out)
    log(f"done in {time.monotonic() - started:.0f} s: " + ", ".join(map(str, outputs)))
    if not args.no_report:
        python = tools.ensure_plot_env()
        report = Path(__file__).with_name("report.py")
        subprocess.run([str(python), str(report), *map(str, outputs)], check=True)
    if args.work.exists() and args.quick:
        shutil.rmtree(args.work / "local", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
