"""Benchmark: from a project page's bytes to the version the resolver picks.

Run with ``.venv/bin/python benchmarks/bench_parse.py [--compare-with OLD/src]``. Prints a table
and writes ``benchmarks/results/parse.json``.

Pages: the largest real PyPI pages (numpy, boto3, botocore, pydantic-core, grpcio), captured
once from https://pypi.org/simple/<name>/ as PEP 691 JSON and kept xz-compressed in
``benchmarks/data/pages/``. The HTML variant of each page is rendered from its JSON the way
PyPI renders PEP 503 pages (href with ``#sha256=``, ``data-requires-python``, ``data-yanked``,
``data-dist-info-metadata``/``data-core-metadata``, ``data-upload-time``), so the HTML and JSON
variants list the same files.

Per page and format, two timings (median of RUNS after WARMUP):

* ``parse`` -- ``parse_project_page`` alone;
* ``best`` -- ``parse_project_page``, ``ProjectFiles`` and the first candidate for a CPython 3.11
  manylinux_2_28 x86_64 target: the point where the resolver can pick the best version. The
  target (issue 11) is ``best`` <= 5 ms on numpy's JSON page.

``--compare-with DIR`` runs the same measurements in a subprocess importing skimlock from
``DIR`` (e.g. an exported older commit) and stores them as the "before" numbers.

``--memory`` instead measures peak RSS (``/usr/bin/time -v``) of a process that reads a generated
page of ``--links`` links from a file and picks the best version (see :func:`memory`); with
``--compare-with DIR`` it measures HTML and JSON pages over 1,000 and over ``--links`` versions,
before and after, and writes ``benchmarks/results/parse_memory.json``.
"""

from __future__ import annotations

import argparse
import gc
import html
import json
import lzma
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data" / "pages"
RESULTS = ROOT / "benchmarks" / "results" / "parse.json"
PAGES = tuple(os.environ.get("BENCH_PAGES", "numpy boto3 botocore pydantic-core grpcio").split())
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
RUNS = 30
WARMUP = 10
TARGET_MS = 5.0


def render_html(data: dict[str, Any]) -> bytes:
    """A PEP 503 page for the files of a PEP 691 page, in PyPI's layout."""
    name = data["name"]
    out = [f"<!DOCTYPE html>\n<html>\n<head><title>Links for {name}</title></head>\n<body>\n"
           f"<h1>Links for {name}</h1>\n"]
    for f in data["files"]:
        a = f'<a href="{f["url"]}#sha256={f["hashes"]["sha256"]}"'
        if f.get("requires-python"):
            a += f' data-requires-python="{html.escape(f["requires-python"])}"'
        yanked = f.get("yanked")
        if yanked:
            a += f' data-yanked="{html.escape(yanked) if isinstance(yanked, str) else ""}"'
        core = f.get("core-metadata")
        if core:
            value = f"sha256={core['sha256']}" if isinstance(core, dict) else "true"
            a += f' data-dist-info-metadata="{value}" data-core-metadata="{value}"'
        if f.get("upload-time"):
            a += f' data-upload-time="{f["upload-time"]}"'
        out.append(f"{a}>{f['filename']}</a><br/>\n")
    out.append("</body>\n</html>\n")
    return "".join(out).encode()


def _median_ms(work: Any) -> tuple[float, float]:
    """Median and minimum CPU time (``time.process_time``: the machine may be shared)."""
    for _ in range(WARMUP):
        work()
    times = []
    for _ in range(RUNS):
        start = time.process_time()
        work()
        times.append((time.process_time() - start) * 1000)
    return round(statistics.median(times), 2), round(min(times), 2)


def measure_all() -> list[dict[str, Any]]:
    """Time every page and format with the skimlock found on sys.path."""
    from skimlock.candidates import ProjectFiles
    from skimlock.simple import parse_project_page
    from skimlock.target import Target

    target = Target.from_options(python_version="3.11", implementation="cp", abis=["cp311"],
                                 platforms=["manylinux_2_28_x86_64"])
    results = []
    for name in PAGES:
        raw_json = lzma.decompress((DATA / f"{name}.json.xz").read_bytes())
        data = json.loads(raw_json)
        count = len(data["files"])
        raw_html = render_html(data)
        del data  # time the parser against a small heap (the cyclic GC walks what is alive)
        gc.collect()
        url = f"https://pypi.org/simple/{name}/"
        for fmt, content, ctype in (("json", raw_json, JSON_TYPE),
                                    ("html", raw_html, "text/html")):
            def parse(content: bytes = content, ctype: str = ctype, url: str = url,
                      name: str = name) -> Any:
                return parse_project_page(content, content_type=ctype, url=url, name=name)

            def best(parse: Any = parse, url: str = url) -> Any:
                files = ProjectFiles(parse(), index_url=url)
                return next(files.candidates(target))

            parse_ms, parse_min = _median_ms(parse)
            best_ms, best_min = _median_ms(best)
            results.append({
                "page": name, "format": fmt, "page_bytes": len(content),
                "files": count, "best": str(best().version),
                "parse_ms": parse_ms, "parse_min_ms": parse_min,
                "best_ms": best_ms, "best_min_ms": best_min,
            })
    return results


def memory(links: int, fmt: str, versions: int) -> dict[str, Any]:
    """Peak RSS of parsing a generated page of ``links`` links over ``versions`` versions.

    The page is written to a file by this process; a child process (under ``/usr/bin/time
    -v``) reads it, parses it and picks the best version. An empty page is measured the same
    way, for the interpreter's and imports' share.
    """
    per = max(1, links // versions)

    def name(i: int) -> str:
        return f"p-{i // per}.{i % per}.tar.gz" if per == 1 else f"p-1.{i // per}.tar.gz"

    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / f"page.{fmt}"
        empty = Path(tmp) / f"empty.{fmt}"
        if fmt == "html":
            body = "".join(f'<a href="/f/{i}/{name(i)}">{name(i)}</a>\n' for i in range(links))
            page.write_text(f"<html><body>\n{body}</body></html>\n")
            empty.write_text("<html><body></body></html>\n")
        else:
            files = [{"filename": name(i), "url": f"/f/{i}/{name(i)}", "hashes": {}}
                     for i in range(links)]
            page.write_text(json.dumps({"meta": {"api-version": "1.1"}, "files": files}))
            empty.write_text(json.dumps({"meta": {"api-version": "1.1"}, "files": []}))
        out = {"links": links, "versions": -(-links // per), "format": fmt,
               "page_bytes": page.stat().st_size}
        out["peak_rss_mb"] = _peak_rss(page, fmt)
        out["empty_page_rss_mb"] = _peak_rss(empty, fmt)
    out["ratio_to_page"] = round(
        (out["peak_rss_mb"] - out["empty_page_rss_mb"]) * 1e6 / out["page_bytes"], 2
    )
    return out


MEMORY_RESULTS = ROOT / "benchmarks" / "results" / "parse_memory.json"


def memory_report(links: int, before_src: str) -> int:
    """Peak RSS before (skimlock from ``before_src``) and after, HTML and JSON pages of
    ``links`` links over 1,000 versions and over as many versions as links."""
    rows = []
    for fmt in ("html", "json"):
        for versions in (1_000, links):
            row: dict[str, Any] = {}
            for label, src in (("after", str(ROOT / "src")), ("before", before_src)):
                proc = subprocess.run(
                    [sys.executable, __file__, "--src", src, "--memory", "--format", fmt,
                     "--links", str(links), "--versions", str(versions)],
                    capture_output=True, text=True, check=True,
                )
                got = json.loads(proc.stdout)
                row.update({k: got[k] for k in ("links", "versions", "format", "page_bytes")})
                row[f"{label}_peak_rss_mb"] = got["peak_rss_mb"]
                row[f"{label}_ratio_to_page"] = got["ratio_to_page"]
                row["empty_page_rss_mb"] = got["empty_page_rss_mb"]
            rows.append(row)
            print(f"{fmt:<5} {row['links']:>8} links {row['versions']:>8} versions "
                  f"{row['page_bytes'] / 1e6:6.1f} MB: peak RSS {row['after_peak_rss_mb']:7.1f} MB "
                  f"(before {row['before_peak_rss_mb']:7.1f} MB)")
    report = {
        "benchmark": "peak RSS of a process reading a generated page and picking the best "
                     "version (/usr/bin/time -v); ratio = (peak - empty-page peak) / page bytes",
        "python": platform.python_version(),
        "results": rows,
    }
    MEMORY_RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {MEMORY_RESULTS.relative_to(ROOT)}")
    return 0


_CHILD = """
import sys
from pathlib import Path
from skimlock.candidates import ProjectFiles
from skimlock.simple import parse_project_page
from skimlock.target import Target
content = Path(sys.argv[1]).read_bytes()
ctype = "text/html" if sys.argv[2] == "html" else "application/vnd.pypi.simple.v1+json"
page = parse_project_page(content, content_type=ctype, url="https://x.example/simple/p/", name="p")
del content
files = ProjectFiles(page, index_url="https://x.example/simple/")
best = next(files.candidates(Target.current()), None)
print(best.version if best else None)
"""


def _peak_rss(page: Path, fmt: str) -> float:
    proc = subprocess.run(
        ["/usr/bin/time", "-v", sys.executable, "-c", _CHILD, str(page), fmt],
        capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    for line in proc.stderr.splitlines():
        if "Maximum resident set size" in line:
            return round(int(line.split(":")[1]) / 1024, 1)
    raise RuntimeError(proc.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", help="import skimlock from this directory")
    parser.add_argument("--raw", action="store_true", help="print the measurements as JSON")
    parser.add_argument("--compare-with", metavar="DIR",
                        help="also measure the skimlock in DIR, as the 'before' numbers")
    parser.add_argument("--memory", action="store_true", help="measure peak RSS instead")
    parser.add_argument("--links", type=int, default=1_000_000)
    parser.add_argument("--versions", type=int, default=1_000)
    parser.add_argument("--format", choices=["html", "json"], default="html")
    args = parser.parse_args()
    sys.path.insert(0, args.src or str(ROOT / "src"))
    if args.memory:
        if args.compare_with is None:
            print(json.dumps(memory(args.links, args.format, args.versions)))
            return 0
        return memory_report(args.links, args.compare_with)
    results = measure_all()
    if args.raw:
        print(json.dumps(results))
        return 0
    before: dict[tuple[str, str], dict[str, Any]] = {}
    if args.compare_with:
        proc = subprocess.run(
            [sys.executable, __file__, "--src", args.compare_with, "--raw"],
            capture_output=True, text=True, check=True,
        )
        before = {(r["page"], r["format"]): r for r in json.loads(proc.stdout)}
    for r in results:
        old = before.get((r["page"], r["format"]))
        if old is not None:
            r["before_parse_ms"] = old["parse_ms"]
            r["before_best_ms"] = old["best_ms"]
    numpy_json = next(r for r in results if r["page"] == "numpy" and r["format"] == "json")
    report = {
        "benchmark": "project page bytes -> best candidate (parse_project_page + ProjectFiles)",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "runs": RUNS,
        "target_ms": TARGET_MS,
        "meets_target": numpy_json["best_ms"] <= TARGET_MS,
        "results": results,
    }
    print(f"{'page':<14} {'fmt':<5} {'MB':>5} {'files':>6} {'parse':>8} {'best':>8}"
          f" {'before parse':>13} {'before best':>12}")
    for r in results:
        print(f"{r['page']:<14} {r['format']:<5} {r['page_bytes'] / 1e6:>5.2f} {r['files']:>6} "
              f"{r['parse_ms']:>6.2f}ms {r['best_ms']:>6.2f}ms "
              f"{r.get('before_parse_ms', float('nan')):>11.2f}ms "
              f"{r.get('before_best_ms', float('nan')):>10.2f}ms")
    verdict = "ok" if report["meets_target"] else "MISSED"
    print(f"numpy JSON to best version: {numpy_json['best_ms']} ms ({verdict}, target "
          f"<= {TARGET_MS} ms)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0 if report["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
