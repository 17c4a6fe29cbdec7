"""Turn peer-benchmark results (``peers_local.json``, ``peers_pypi.json``) into markdown tables,
target checks and charts.

Run by ``run.py`` with the plot venv's Python (it needs matplotlib, which is not a project
dependency); by hand::

    ~/.cache/skimlock-bench/plot/bin/python benchmarks/peers/report.py \\
        benchmarks/results/peers_local.json benchmarks/results/peers_pypi.json

Writes ``peers.md`` (or ``peers_quick.md``) and ``peers_bytes.png`` / ``peers_time.png`` beside
the first JSON file. Without matplotlib it writes the markdown only.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

TOOL_ORDER = ("skimlock", "skimlock-no-cache", "skimlock-before", "uv", "pip-lock",
              "pip-dry-run", "nab", "nab-httpx")
INDEX_ORDER = ("local-metadata", "local-ranges", "local-no-ranges", "pypi")
INDEX_TITLES = {
    "local-metadata": "Local index, PEP 658 metadata advertised with its hash",
    "local-ranges": "Local index, no metadata (range requests work)",
    "local-no-ranges": "Local index, no metadata, server ignores ranges",
    "pypi": "PyPI through this machine's gateway (HTML pages only, no metadata advertised)",
}


def human(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def load(paths: Sequence[Path]) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


def _records(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for d in docs for r in d["results"]]


def _set_order(docs: Sequence[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for d in docs:
        for name in d["sets"]:
            if name not in names:
                names.append(name)
    return names


def _cell(records: list[dict[str, Any]], set_name: str, index: str, tool: str) -> dict[str, Any]:
    for r in records:
        if r["set"] == set_name and r["index"] == index and r["tool"] == tool:
            return r
    return {}


def _traffic_cols(r: dict[str, Any]) -> tuple[str, str, str]:
    t = r.get("traffic") or {}
    b = t.get("bytes", {})
    if r["index"] == "pypi":
        parts = f"{human(b.get('index_pages'))} / {human(b.get('metadata_and_wheels'))}"
        requests = f"{t.get('tunnels', '-')} tunnels"
    else:
        parts = (f"{human(b.get('index_pages'))} / {human(b.get('metadata'))} / "
                 f"{human(b.get('whole_wheels'))}")
        c = t.get("request_counts", {})
        requests = (f"{t.get('requests', '-')} ({c.get('index_pages', 0)}/"
                    f"{c.get('metadata', 0)}/{c.get('whole_wheels', 0)})")
    return parts, requests, human(t.get("wheel_bytes_not_downloaded"))


def table(docs: Sequence[dict[str, Any]], index: str) -> list[str]:
    records = _records(docs)
    if not any(r["index"] == index for r in records):
        return []
    pypi = index == "pypi"
    lines = [f"### {INDEX_TITLES[index]}", ""]
    if pypi:
        lines.append("| set | pkgs | tool | status | total bytes | x floor | pypi.org / "
                     "files.pythonhosted.org | tunnels | wall (median) | peak RSS |")
        lines.append("|---|---:|---|---|---:|---:|---:|---:|---:|---:|")
    else:
        lines.append("| set | pkgs | tool | status | total bytes | x floor | index / metadata / "
                     "whole wheels | requests (index/meta/wheel) | wheel bytes not downloaded "
                     "| wall (median) | peak RSS |")
        lines.append("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for set_name in _set_order(docs):
        for tool in TOOL_ORDER:
            r = _cell(records, set_name, index, tool)
            if not r:
                continue
            status = r["status"]
            if status != "ok":
                status = f"{status}: {(r.get('error') or '')[:140]}".replace("|", "/")
            if r.get("proxy_note"):
                status += f" ({r['proxy_note']})"
            t = r.get("traffic") or {}
            parts, requests, saved = _traffic_cols(r) if t else ("-", "-", "-")
            ratio = r.get("ratio_to_floor")
            wall = r.get("wall_median_s")
            runs = r.get("runs") or 0
            rss = r.get("peak_rss_kb")
            row = [
                set_name, str(r.get("packages") or "-"), tool, status,
                human(t.get("total_bytes")) if t else "-",
                f"{ratio:.2f}" if ratio else "-", parts, requests,
            ]
            if not pypi:
                row.append(saved)
            row += [f"{wall:.2f} s (n={runs})" if wall else "-",
                    f"{rss / 1000:.0f} MB" if rss else "-"]
            lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    return lines


# --- targets -------------------------------------------------------------------------------------


def _ok(records: list[dict[str, Any]], set_name: str, index: str, tool: str) -> dict[str, Any]:
    r = _cell(records, set_name, index, tool)
    return r if r.get("status") == "ok" else {}


def targets(docs: Sequence[dict[str, Any]]) -> list[str]:
    records = _records(docs)
    sets = _set_order(docs)
    lines = ["## Targets", "", "| target | set | measured | verdict |", "|---|---|---|---|"]

    def row(target: str, set_name: str, measured: str, passed: bool | str | None) -> None:
        verdict = "n/a" if passed is None else (
            passed if isinstance(passed, str) else ("PASS" if passed else "FAIL"))
        lines.append(f"| {target} | {set_name} | {measured} | {verdict} |")

    for s in sets:
        sk = _ok(records, s, "local-metadata", "skimlock")
        if not sk:
            if _cell(records, s, "local-metadata", "skimlock"):
                row("local+metadata: skimlock resolves", s, "skimlock failed", False)
            continue
        ratio = sk.get("ratio_to_floor") or 0
        row("local+metadata: bytes <= 1.01 x floor", s, f"{ratio:.3f}", ratio <= 1.01)
        meta_requests = sk["traffic"]["request_counts"]["metadata"]
        packages = sk.get("packages") or 0
        row("local+metadata: 1 metadata request per pinned wheel", s,
            f"{meta_requests} requests / {packages} pins", meta_requests == packages)
        peers = {t: _ok(records, s, "local-metadata", t) for t in TOOL_ORDER[1:]}
        peer_bytes = {t: r["traffic"]["total_bytes"] for t, r in peers.items() if r}
        if peer_bytes:
            mine = sk["traffic"]["total_bytes"]
            fewer = all(mine < b for b in peer_bytes.values())
            equal = [t for t, b in peer_bytes.items() if b == mine]
            text = ", ".join(f"{t} {b / mine:.3f}x" for t, b in peer_bytes.items())
            verdict: bool | str = fewer
            if not fewer and all(mine <= b for b in peer_bytes.values()):
                verdict = "FAIL (tie: equal bytes, none fewer)"
            row("local+metadata: fewer bytes than every peer", s,
                f"peers/skimlock: {text}" + (f" (equal: {', '.join(equal)})" if equal else ""),
                verdict)
    for s in sets:
        sk = _ok(records, s, "local-ranges", "skimlock")
        uv = _ok(records, s, "local-ranges", "uv")
        if not sk:
            continue
        counts = sk["traffic"]["request_counts"]
        wheels = sk["traffic"].get("wheels_touched") or 1
        per_wheel = counts["metadata"] / wheels
        row("local ranges: <= 1.3 requests per wheel", s,
            f"{counts['metadata']} / {wheels} = {per_wheel:.2f}", per_wheel <= 1.3)
        if uv:
            mine = sk["traffic"]["bytes"]["metadata"]
            theirs = uv["traffic"]["bytes"]["metadata"]
            row("local ranges: metadata bytes <= 0.8 x uv", s,
                f"{human(mine)} vs {human(theirs)} = {mine / theirs:.2f}x",
                mine <= 0.8 * theirs)
    for index in INDEX_ORDER:
        for s in sets:
            sk = _ok(records, s, index, "skimlock")
            if not sk or (sk.get("packages") or 0) < 50:
                continue
            uv = _ok(records, s, index, "uv")
            mine = sk["wall_median_s"]
            if uv:
                row(f"{index}: cold wall <= 1.5 x uv (>= 50 pkgs)", s,
                    f"{mine:.2f} s vs {uv['wall_median_s']:.2f} s = "
                    f"{mine / uv['wall_median_s']:.2f}x", mine <= 1.5 * uv["wall_median_s"])
            for peer in ("pip-lock", "nab"):
                other = _ok(records, s, index, peer)
                if other:
                    row(f"{index}: faster than {peer} (>= 50 pkgs)", s,
                        f"{mine:.2f} s vs {other['wall_median_s']:.2f} s",
                        mine < other["wall_median_s"])
    for s in sets:
        sk = _ok(records, s, "pypi", "skimlock")
        uv = _ok(records, s, "pypi", "uv")
        if sk and uv:
            mine, theirs = sk["traffic"]["total_bytes"], uv["traffic"]["total_bytes"]
            if mine and theirs:
                row("PyPI gateway: total bytes <= uv", s,
                    f"{human(mine)} vs {human(theirs)} = {mine / theirs:.2f}x", mine <= theirs)
    lines.append("")
    return lines


def _paired_ratio(mine: dict[str, Any], theirs: dict[str, Any], key: str) -> float | None:
    """Median of run-by-run ratios (run i of one tool against run i of the other, which ran in
    the same round when both records were measured alternating)."""
    a, b = mine.get(key) or [], theirs.get(key) or []
    if not (mine.get("alternating") and theirs.get("alternating")) or not a or len(a) != len(b):
        return None
    ratios = sorted(x / y for x, y in zip(a, b, strict=True) if y)
    if not ratios:
        return None
    mid = len(ratios) // 2
    return ratios[mid] if len(ratios) % 2 else (ratios[mid - 1] + ratios[mid]) / 2


#: How each skimlock variant is labelled in the table against uv.
_VARIANTS = {"skimlock-before": "before (cache)", "skimlock": "cache",
             "skimlock-no-cache": "none"}


def against_uv(docs: Sequence[dict[str, Any]]) -> list[str]:
    """skimlock against ``uv pip compile --no-cache`` per (index, set): cold wall (medians, the
    ratio of the medians and the median of the paired per-round ratios), CPU time, peak RSS."""
    records = _records(docs)
    lines = [
        "## Cold wall time, CPU time and peak RSS: skimlock against uv", "",
        "Runs alternate (skimlock, uv, ... in each round); *paired* is the median of the "
        "per-round ratios, *of medians* the ratio of the two medians. CPU = user + system of "
        "the process and its children. uv runs with `--no-cache`; skimlock both as a user's "
        "first run (*cache*: it writes its cache, into a new directory) and with `--no-cache` "
        "(*none*: like for like); *before* is an older skimlock (`run.py --before`) timed "
        "in the same rounds.", "",
        "| index | set | pkgs | skimlock | wall skimlock | wall uv | ratio of medians "
        "| paired ratio | CPU skimlock | CPU uv | CPU ratio | RSS skimlock | RSS uv "
        "| RSS ratio |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = 0

    def fmt(value: float | None) -> str:
        return f"{value:.2f} s" if value else "-"

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.2f}x" if a and b else "-"

    for index, s, variant in (
        (i, s, v) for i in INDEX_ORDER for s in _set_order(docs)
        for v in ("skimlock-before", "skimlock", "skimlock-no-cache")
    ):
        sk, uv = _ok(records, s, index, variant), _ok(records, s, index, "uv")
        if not (sk and uv):
            continue
        rows += 1
        paired = _paired_ratio(sk, uv, "wall_s")
        cpu_sk, cpu_uv = sk.get("cpu_median_s"), uv.get("cpu_median_s")
        rss_sk = (sk.get("peak_rss_kb") or 0) / 1000 or None
        rss_uv = (uv.get("peak_rss_kb") or 0) / 1000 or None
        lines.append(
            f"| {index} | {s} | {sk.get('packages') or '-'} | "
            f"{_VARIANTS[variant]} | {fmt(sk['wall_median_s'])} | "
            f"{fmt(uv['wall_median_s'])} | {ratio(sk['wall_median_s'], uv['wall_median_s'])}"
            f" | {f'{paired:.2f}x' if paired else '-'} | {fmt(cpu_sk)} | {fmt(cpu_uv)} | "
            f"{ratio(cpu_sk, cpu_uv)} | {rss_sk or 0:.0f} MB | {rss_uv or 0:.0f} MB | "
            f"{ratio(rss_sk, rss_uv)} |"
        )
    lines.append("")
    return lines if rows else []


def crosscheck(docs: Sequence[dict[str, Any]]) -> list[str]:
    rows = [r for r in _records(docs) if r.get("crosscheck")]
    if not rows:
        return []
    lines = [
        "## Cross-check: skimlock --stats vs the server's count", "",
        "| set | index | skimlock bytes | server bytes | difference | skimlock requests "
        "| server requests |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        c = r["crosscheck"]
        lines.append(
            f"| {r['set']} | {r['index']} | {c['total']['skimlock']:,} | "
            f"{c['total']['server']:,} | {c['difference_pct']}% | "
            f"{c['requests']['skimlock']} | {c['requests']['server']} |"
        )
    lines.append("")
    return lines


def pypi_selfreport(docs: Sequence[dict[str, Any]]) -> list[str]:
    rows = [r for r in _records(docs)
            if r["index"] == "pypi" and r["tool"] == "skimlock" and r.get("skimlock_stats")
            and r.get("status") == "ok"]
    if not rows:
        return []
    lines = [
        "## PyPI: skimlock --stats (bodies) vs the proxy (whole TLS streams)", "",
        "| set | --stats body bytes | proxy bytes (down) | proxy / stats |",
        "|---|---:|---:|---:|",
    ]
    for r in rows:
        body = r["skimlock_stats"]["body_bytes"]
        down = (r.get("traffic") or {}).get("total_bytes") or 0
        lines.append(f"| {r['set']} | {body:,} | {down:,} | "
                     f"{down / body:.3f} |" if body else f"| {r['set']} | 0 | {down:,} | - |")
    lines.append("")
    return lines


def markdown(docs: Sequence[dict[str, Any]]) -> str:
    lines = ["# Peer benchmarks: skimlock, uv, pip, nab", ""]
    for d in docs:
        machine = d.get("machine", {})
        lines.append(
            f"- `{d['mode']}` results generated {d.get('generated')} by `{d.get('command')}`; "
            f"{d.get('repeat')} timed runs per cell after "
            f"{'a warm-up' if d.get('warmup') else 'no warm-up'}; "
            f"{machine.get('cpus')} CPUs"
            + ("; **NOISY MACHINE: timings are indicative only**" if machine.get("noisy")
               else "")
            + (f"; {machine['note']}" if machine.get("note") else "")
        )
    first = docs[0]
    lines.append(f"- Target: {first.get('target')}")
    versions = ", ".join(f"{k} {v.get('version')}" for k, v in first.get("tools", {}).items())
    lines += [f"- Versions: {versions}", ""]
    lines += ["Floor = index pages of the pinned projects as served + exact METADATA bytes of "
              "the pinned wheels. Local bytes are response bodies counted by the server; PyPI "
              "bytes are whole TLS streams (handshakes, headers, framing) counted by the "
              "CONNECT proxy, so a PyPI floor ratio is never 1.", ""]
    lines.append("## Sets")
    lines.append("")
    lines.append("| set | requirements | reference pins | note |")
    lines.append("|---|---|---:|---|")
    seen: set[str] = set()
    for d in docs:
        for name, info in d["sets"].items():
            if name in seen:
                continue
            seen.add(name)
            reqs = ", ".join(info.get("requirements", []))
            lines.append(f"| {name} | {reqs} | {info.get('reference_packages', '-')} | "
                         f"{info.get('note', '')} |")
    lines.append("")
    notes = [(d["mode"], n, x) for d in docs for n, i in d["sets"].items()
             for x in i.get("notes", []) + ([i["skipped"]] if i.get("skipped") else [])]
    if notes:
        lines += ["Preparation notes:", ""]
        lines += [f"- {mode} / {name}: {text}" for mode, name, text in notes]
        lines.append("")
    lines += ["## Results", ""]
    for index in INDEX_ORDER:
        lines += table(docs, index)
    lines += against_uv(docs)
    lines += targets(docs)
    lines += crosscheck(docs)
    lines += pypi_selfreport(docs)
    return "\n".join(lines) + "\n"


# --- charts --------------------------------------------------------------------------------------


def charts(docs: Sequence[dict[str, Any]], out_dir: Path, prefix: str) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    records = _records(docs)
    indexes = [i for i in INDEX_ORDER if any(r["index"] == i for r in records)]
    sets = _set_order(docs)
    written = []
    for metric, label, fname in (
        ("bytes", "bytes transferred (log scale)", f"{prefix}_bytes.png"),
        ("time", "wall time, median (s, log scale)", f"{prefix}_time.png"),
    ):
        fig, axes = plt.subplots(len(indexes), 1, figsize=(13, 3.6 * len(indexes)),
                                 squeeze=False)
        for ax, index in zip(axes[:, 0], indexes, strict=True):
            width = 0.8 / len(TOOL_ORDER)
            for k, tool in enumerate(TOOL_ORDER):
                xs, ys = [], []
                for i, s in enumerate(sets):
                    r = _cell(records, s, index, tool)
                    if r.get("status") != "ok":
                        continue
                    value = (r["traffic"]["total_bytes"] if metric == "bytes"
                             else r["wall_median_s"])
                    if value:
                        xs.append(i + (k - len(TOOL_ORDER) / 2 + 0.5) * width)
                        ys.append(value)
                if ys:
                    ax.bar(xs, ys, width=width, label=tool)
            if metric == "bytes":
                floors = []
                for i, s in enumerate(sets):
                    r = next((r for r in records if r["set"] == s and r["index"] == index
                              and r.get("floor_bytes")), None)
                    if r:
                        floors.append((i, r["floor_bytes"]))
                if floors:
                    ax.scatter([f[0] for f in floors], [f[1] for f in floors], marker="_",
                               s=900, color="black", label="floor", zorder=3)
            ax.set_yscale("log")
            ax.set_title(INDEX_TITLES[index], fontsize=10)
            ax.set_xticks(range(len(sets)))
            ax.set_xticklabels(sets, fontsize=8)
            ax.set_ylabel(label, fontsize=8)
            ax.grid(axis="y", which="major", alpha=0.3)
            if math.isfinite(ax.get_ylim()[0]):
                ax.legend(fontsize=7, ncol=6, loc="upper left")
        fig.tight_layout()
        path = out_dir / fname
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


def main(argv: Sequence[str]) -> int:
    paths = [Path(a) for a in argv if Path(a).exists()]
    if not paths:
        print("usage: report.py RESULTS.json [...]", file=sys.stderr)
        return 2
    docs = load(paths)
    quick = any(p.stem.endswith("_quick") for p in paths)
    prefix = "peers_quick" if quick else "peers"
    out_dir = paths[0].parent
    if not quick:
        # Always report every mode that has results, even when only one was re-run.
        for other in ("peers_local.json", "peers_pypi.json"):
            candidate = out_dir / other
            if candidate.exists() and candidate not in paths:
                docs.append(json.loads(candidate.read_text(encoding="utf-8")))
        docs.sort(key=lambda d: d["mode"])
    md = out_dir / f"{prefix}.md"
    md.write_text(markdown(docs), encoding="utf-8")
    written = [md, *charts(docs, out_dir, prefix)]
    print("wrote " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
