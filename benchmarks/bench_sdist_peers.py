"""Benchmark: locking sdist-needing projects on PyPI with skimlock, uv and pip lock.

Run (peers from ``benchmarks/peers/run.py``'s cache; each tool in a fresh HOME and cache)::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_sdist_peers.py

Each requirement is locked for the running interpreter (no target options, sdists allowed, builds
allowed) by ``skimlock lock``, ``uv pip compile --no-cache`` and ``pip lock --no-cache-dir``, each
pointed at the byte-counting CONNECT proxy of ``benchmarks/peers/proxy.py`` (bytes are whole TLS
streams, both directions' downloads summed as ``bytes_down``). Per tool: bytes, tunnels, wall
seconds, exit code, and whether its pins equal uv's.

Writes ``benchmarks/results/sdist_peers.json`` and ``benchmarks/results/sdist_peers.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))

import tools
from proxy import CountingProxy

PYPI = "https://pypi.org/simple/"
RESULTS = Path(__file__).parent / "results"
SRC = Path(__file__).resolve().parents[1] / "src"

SETS = (
    ("hydra-core",), ("docopt",), ("jieba",), ("seqeval",), ("thrift<0.24",), ("fire<0.7.1",),
    ("python-nvd3",), ("wget",), ("pathtools",), ("pyperclip",), ("langdetect",),
    ("sgmllib3k",), ("python-slugify<5",), ("future",), ("unidecode<1",), ("termcolor<2",),
    ("antlr4-python3-runtime==4.9.3",), ("boto3==1.26.*", "s3fs"),
)  # fmt: skip


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, float, str]:
    started = time.monotonic()
    done = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=900, check=False
    )
    return done.returncode, time.monotonic() - started, done.stderr[-2000:]


def one(tool: str, reqs: tuple[str, ...], proxy: CountingProxy) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{tool}-") as temp:
        run_dir = Path(temp)
        env = tools.isolated_env(run_dir, {"HTTPS_PROXY": proxy.url, "https_proxy": proxy.url})
        (run_dir / "req.in").write_text("".join(f"{r}\n" for r in reqs))
        if tool == "skimlock":
            env["PYTHONPATH"] = str(SRC)
            argv = [sys.executable, "-m", "skimlock", "lock", "-r", "req.in", "-i", PYPI,
                    "-o", "pylock.toml", "-q"]
        elif tool == "uv":
            venv = tools.peer_dir("uv")
            argv = [str(venv / "bin" / "uv"), "pip", "compile", "req.in", "-o", "uv.txt",
                    "--python", str(venv / "bin" / "python"), "--index-url", PYPI,
                    "--no-cache", "--quiet"]
            env.update(UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never",
                       UV_CACHE_DIR=str(run_dir / "uv-cache"))
        else:
            pip = tools.peer_dir("pip") / "bin" / "pip"
            argv = [str(pip), "--isolated", "lock", "--no-cache-dir", "--index-url", PYPI,
                    "-r", "req.in", "-o", "pylock.toml", "-q"]
        before = proxy.snapshot()
        code, seconds, err = _run(argv, env, run_dir)
        proxy.wait_idle()
        spent = proxy.snapshot().minus(before)
        pins: dict[str, str] = {}
        if code == 0:
            pins = (
                tools._pins_from_requirements(run_dir / "uv.txt") if tool == "uv"
                else tools._pins_from_pylock(run_dir / "pylock.toml")
            )
    return {
        "tool": tool, "exit": code, "seconds": round(seconds, 2), "bytes_down": spent.bytes_down,
        "tunnels": spent.tunnels, "pins": pins, "stderr_tail": "" if code == 0 else err,
    }  # fmt: skip


def main() -> int:
    rows = []
    with CountingProxy() as proxy:
        for reqs in SETS:
            results = {tool: one(tool, reqs, proxy) for tool in ("skimlock", "uv", "pip-lock")}
            uv_pins = results["uv"]["pins"]
            for result in results.values():
                result["pins_equal_uv"] = bool(uv_pins) and result["pins"] == uv_pins
            row = {"requirements": list(reqs), "results": results}
            print(json.dumps(row, default=str)[:400], file=sys.stderr)
            rows.append(row)
    document = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": tools.tool_versions(), "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sdist_peers.json").write_text(json.dumps(document, indent=1) + "\n")
    (RESULTS / "sdist_peers.md").write_text(render(document))
    print(render(document))
    return 0


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def render(document: dict[str, Any]) -> str:
    lines = [
        f"# Locking sdist-needing projects on PyPI ({document['date']})", "",
        "Bytes downloaded through the counting proxy (whole TLS streams), wall seconds; "
        "`=uv`: same pins as `uv pip compile`.", "",
        "| requirements | skimlock | s | =uv | uv | s | pip lock | s | =uv |",
        "|---|---:|---:|---|---:|---:|---:|---:|---|",
    ]  # fmt: skip
    totals = {"skimlock": 0, "uv": 0, "pip-lock": 0}
    for row in document["rows"]:
        r = row["results"]
        cells = []
        for tool in ("skimlock", "uv", "pip-lock"):
            res = r[tool]
            totals[tool] += res["bytes_down"]
            shown = _mb(res["bytes_down"]) if res["exit"] == 0 else f"exit {res['exit']}"
            cells += [shown, str(res["seconds"])]
            if tool != "uv":
                cells.append("yes" if res["pins_equal_uv"] else "no")
        lines.append(f"| {' '.join(row['requirements'])} | " + " | ".join(cells) + " |")
    lines += ["", "Total bytes: " + ", ".join(f"{t} {_mb(n)}" for t, n in totals.items()), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
