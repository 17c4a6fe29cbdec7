"""The tools under test, how each is installed, called for the benchmark target, and measured.

Every tool gets the same requirement set, the same index URL and the same explicit target:
CPython 3.11 on manylinux_2_28 x86_64, binary wheels only. Peers are installed from PyPI into
their own virtualenvs under the bench cache (``~/.cache/skimlock-bench/peers/<tool>``), never into
the project's venv; skimlock itself is a regular install of the work tree (byte-compiled, as pip
installs it for a user) with its runtime dependencies only, in the same place
(:func:`ensure_skimlock`). Each run is cold and isolated
from this machine's configuration: a fresh HOME/XDG tree, no ``PIP_*``/``UV_*``/``NAB_*``/proxy
variables except the ones set on purpose, ``pip --isolated --no-cache-dir``,
``UV_NO_CONFIG=1 UV_NO_CACHE=1 --no-cache``, ``nab --no-cache`` with a fresh ``--cache-dir``.

A run is wrapped in ``/usr/bin/time -v`` for the peak RSS and the CPU time (user + system) when
that program exists (else the ``RUSAGE_CHILDREN`` maximum, which only grows, so it is a bound,
noted as such, and the ``RUSAGE_CHILDREN`` CPU difference) and killed with its whole process
group at the timeout.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import tomllib
from packaging.utils import canonicalize_name

__all__ = [
    "PEER_VERSIONS",
    "TOOLS",
    "RunOutcome",
    "Tool",
    "ensure_peers",
    "ensure_skimlock",
    "isolated_env",
    "run_tool",
    "tool_versions",
]

REPO = Path(__file__).resolve().parents[2]
#: The peers and the versions benchmarked (pinned so results are comparable between runs).
PEER_VERSIONS = {"pip": "26.3", "uv": "0.13.9", "nab": "0.0.23"}
PYPI = "https://pypi.org/simple"

# --- the target ------------------------------------------------------------------------------

PYTHON_VERSION = "3.11"
#: pip's --platform does not imply older manylinux tags (it only expands the manylinux2014/2010
#: aliases), so the whole compatible list is spelled out.
PIP_PLATFORMS = (
    *(f"manylinux_2_{minor}_x86_64" for minor in range(28, 4, -1)),
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
)
TARGET_DESCRIPTION = (
    "CPython 3.11 (3.11.0 for markers), manylinux_2_28 x86_64 and older manylinux tags, "
    "binary wheels only; pip lock has no target options and locks for its own interpreter "
    "(CPython 3.11.7, glibc 2.36 here)"
)


def pip_target_args() -> list[str]:
    args = ["--python-version", PYTHON_VERSION, "--implementation", "cp", "--abi", "cp311"]
    for platform in PIP_PLATFORMS:
        args += ["--platform", platform]
    return args


# --- installation ------------------------------------------------------------------------------


def bench_cache() -> Path:
    return Path(os.environ.get("SKIMLOCK_BENCH_CACHE", Path.home() / ".cache" / "skimlock-bench"))


def peer_dir(tool: str) -> Path:
    return bench_cache() / "peers" / tool


def _clean_env() -> dict[str, str]:
    drop = ("PIP_", "UV_", "NAB_", "VIRTUAL_ENV", "PYTHON", "CONDA")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    for key in list(env):
        if key.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
            del env[key]
    return env


def _venv_install(path: Path, requirement: str, *options: str) -> None:
    python = path / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "--isolated", "install", "-q", "--disable-pip-version-check",
         "--index-url", PYPI, *options, requirement],
        check=True,
        env=_clean_env(),
    )


def _installed_version(path: Path, dist: str) -> str | None:
    python = path / "bin" / "python"
    if not python.exists():
        return None
    result = subprocess.run(
        [str(python), "-c",
         f"import importlib.metadata as m; print(m.version({dist!r}))"],
        capture_output=True, text=True, check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else None


#: Extras installed with a peer: name -> (extra, a distribution the extra brings).
#: nab's default urllib3 transport ignores HTTPS_PROXY; its httpx transport honours it.
_EXTRAS = {"nab": ("httpx", "httpx")}


def ensure_peers(names: Sequence[str]) -> dict[str, str]:
    """Install the wanted peers (and matplotlib for the charts) if missing; name -> version or
    an error message starting with ``"unavailable:"``."""
    out: dict[str, str] = {}
    wanted = {name: PEER_VERSIONS[name] for name in names if name in PEER_VERSIONS}
    for name, version in wanted.items():
        path = peer_dir(name)
        extra = _EXTRAS.get(name)
        missing_extra = extra is not None and _installed_version(path, extra[1]) is None
        if _installed_version(path, name) != version or missing_extra:
            spec = f"{name}[{extra[0]}]=={version}" if extra else f"{name}=={version}"
            try:
                _venv_install(path, spec)
            except subprocess.CalledProcessError as exc:
                out[name] = f"unavailable: pip install {name}=={version} failed ({exc.returncode})"
                continue
        out[name] = _installed_version(path, name) or "unavailable: not importable"
    return out


def ensure_plot_env() -> Path:
    """A venv with matplotlib (for report.py); returns its python."""
    path = bench_cache() / "plot"
    if _installed_version(path, "matplotlib") is None:
        _venv_install(path, "matplotlib")
        _venv_install(path, "packaging")
    return path / "bin" / "python"


def tool_versions() -> dict[str, str]:
    versions = {"skimlock": _skimlock_version()}
    for name in PEER_VERSIONS:
        versions[name] = _installed_version(peer_dir(name), name) or "not installed"
    return versions


def _skimlock_version() -> str:
    result = subprocess.run(
        [str(_skimlock_bin()), "--version"], capture_output=True, text=True, check=False
    )
    return (result.stdout or result.stderr).strip().split()[-1] if result.returncode == 0 else "?"


def skimlock_src_digest() -> str:
    """Short sha256 over ``src/skimlock/*.py``: each result records the code it measured, and the
    benchmark venv is re-installed when it changes."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "src" / "skimlock").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def ensure_skimlock() -> Path:
    """skimlock as a user gets it: a regular (not editable) install of this work tree, its
    modules byte-compiled by pip, with only its runtime dependencies, in its own venv.

    Not editable: with ``PYTHONDONTWRITEBYTECODE`` set (it is on the benchmark machine) an
    editable install compiles every module from source on every run, ~90 ms that no installed
    copy pays. Not the project's venv: it also holds the test tools, and with ``click`` present
    httpx imports its own CLI and rich at start-up (~80 ms that users do not pay).
    """
    path = peer_dir("skimlock")
    # Re-installed when the code or pyproject.toml changed, or for another tree.
    stamp = path / "skimlock-src.sha256"
    wanted = hashlib.sha256(
        str(REPO).encode() + b"\0" + (REPO / "pyproject.toml").read_bytes()
        + skimlock_src_digest().encode()).hexdigest()
    current = stamp.read_text(encoding="utf-8").strip() if stamp.exists() else None
    if _installed_version(path, "skimlock") is None or current != wanted:
        _venv_install(path, str(REPO))  # brings any runtime dependency the tree added
        _venv_install(path, str(REPO), "--force-reinstall", "--no-deps")  # this tree's code
        stamp.write_text(wanted + "\n", encoding="utf-8")
    return path / "bin" / "skimlock"


def _skimlock_bin() -> Path:
    installed = peer_dir("skimlock") / "bin" / "skimlock"
    return installed if installed.exists() else Path(sys.executable).with_name("skimlock")


# --- invocation --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Invocation:
    argv: list[str]
    env: dict[str, str]
    #: Reads the resolved pins (normalized name -> version) from the run directory and stdout.
    pins: Callable[[Path, str], dict[str, str]]
    #: skimlock's own --stats file, if any.
    stats_file: Path | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Tool:
    name: str
    #: Which installed program (venv) it needs.
    program: str
    #: True when the tool must download whole wheels where no PEP 658 metadata is served.
    downloads_wheels: bool
    #: How the target is given to this tool (for the results).
    target_args: str
    build: Callable[[Path, Sequence[str], str, dict[str, str]], Invocation]


def isolated_env(run_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean environment with a fresh HOME and XDG tree under ``run_dir``."""
    env = _clean_env()
    home = run_dir / "home"
    for sub in ("", ".cache", ".config", ".local/share"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local/share"),
        NO_COLOR="1",
    )
    env.update(extra or {})
    return env


def _write_requirements(run_dir: Path, requirements: Sequence[str]) -> Path:
    path = run_dir / "requirements.in"
    path.write_text("".join(f"{line}\n" for line in requirements), encoding="utf-8")
    return path


def _pins_from_pylock(path: Path) -> dict[str, str]:
    with path.open("rb") as f:
        document = tomllib.load(f)
    return {canonicalize_name(p["name"]): str(p["version"]) for p in document.get("packages", [])}


def _pins_from_report(path: Path) -> dict[str, str]:
    report = json.loads(path.read_text(encoding="utf-8"))
    return {
        canonicalize_name(item["metadata"]["name"]): str(item["metadata"]["version"])
        for item in report.get("install", [])
    }


_PIN_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def _pins_from_requirements(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN_LINE.match(line.strip())
        if match:
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


#: Another skimlock's console script (``run.py --before``): an older commit, installed
#: in a venv of its own, timed beside this tree as the tool "skimlock-before".
BEFORE_BIN: Path | None = None


def _before_bin() -> Path:
    if BEFORE_BIN is None:
        raise RuntimeError("skimlock-before needs run.py --before PATH")
    return BEFORE_BIN


def _skimlock(
    run_dir: Path, reqs: Sequence[str], index: str, env: dict[str, str], *, cache: bool = True,
    program: Path | None = None,
) -> Invocation:
    """A cold lock: the run's HOME (and so its cache directory) is new. With ``cache`` it
    writes its cache as a user's first run does; without, it is ``--no-cache`` like uv here."""
    req = _write_requirements(run_dir, reqs)
    stats = run_dir / "skimlock-stats.json"
    argv = [
        str(program or _skimlock_bin()), "lock", "-r", str(req), "-i", index,
        "--python-version", PYTHON_VERSION, "--implementation", "cp", "--abi", "cp311",
        "--platform", "manylinux_2_28_x86_64", "--only-binary", ":all:",
        "-o", str(run_dir / "pylock.toml"), "--stats", str(stats), "-q",
        *(() if cache else ("--no-cache",)),
    ]
    return Invocation(
        argv=argv, env=env, stats_file=stats,
        pins=lambda d, _out: _pins_from_pylock(d / "pylock.toml"),
    )


def _pip_common(index: str) -> list[str]:
    return ["--no-cache-dir", "--disable-pip-version-check", "--no-input",
            "--only-binary=:all:", "--index-url", index]


def _pip_lock(run_dir: Path, reqs: Sequence[str], index: str, env: dict[str, str]) -> Invocation:
    req = _write_requirements(run_dir, reqs)
    pip = peer_dir("pip") / "bin" / "pip"
    argv = [str(pip), "--isolated", "lock", *_pip_common(index), "-r", str(req),
            "-o", str(run_dir / "pylock.toml"), "-q"]
    return Invocation(argv=argv, env=env, pins=lambda d, _o: _pins_from_pylock(d / "pylock.toml"))


def _pip_dry_run(run_dir: Path, reqs: Sequence[str], index: str, env: dict[str, str]) -> Invocation:
    req = _write_requirements(run_dir, reqs)
    pip = peer_dir("pip") / "bin" / "pip"
    argv = [str(pip), "--isolated", "install", "--dry-run", "--ignore-installed",
            "--report", str(run_dir / "report.json"), *_pip_common(index), *pip_target_args(),
            "-r", str(req), "-q"]
    return Invocation(argv=argv, env=env, pins=lambda d, _o: _pins_from_report(d / "report.json"))


def _uv(run_dir: Path, reqs: Sequence[str], index: str, env: dict[str, str]) -> Invocation:
    req = _write_requirements(run_dir, reqs)
    venv = peer_dir("uv")
    argv = [
        str(venv / "bin" / "uv"), "pip", "compile", str(req), "-o", str(run_dir / "uv.txt"),
        "--python", str(venv / "bin" / "python"),
        "--python-version", PYTHON_VERSION, "--python-platform", "x86_64-manylinux_2_28",
        "--index-url", index, "--no-cache", "--only-binary", ":all:", "--quiet",
    ]
    env = {**env, "UV_NO_CONFIG": "1", "UV_NO_CACHE": "1", "UV_PYTHON_DOWNLOADS": "never",
           "UV_CACHE_DIR": str(run_dir / "uv-cache")}
    return Invocation(argv=argv, env=env,
                      pins=lambda d, _o: _pins_from_requirements(d / "uv.txt"))


def _nab(
    run_dir: Path, reqs: Sequence[str], index: str, env: dict[str, str],
    backend: str | None = None,
) -> Invocation:
    deps = ", ".join(json.dumps(r) for r in reqs)
    (run_dir / "pyproject.toml").write_text(
        "[project]\n"
        'name = "bench-set"\n'
        'version = "0"\n'
        'requires-python = ">=3.11"\n'
        f"dependencies = [{deps}]\n\n"
        "[[tool.nab.indexes]]\n"
        'name = "bench"\n'
        f"url = {json.dumps(index.rstrip('/') + '/')}\n",
        encoding="utf-8",
    )
    argv = [
        str(peer_dir("nab") / "bin" / "nab"), "--no-progress", "-q", "lock",
        str(run_dir / "pyproject.toml"),
        *(["--http-backend", backend] if backend else []),
        "--no-cache", "--cache-dir", str(run_dir / "nab-cache"),
        "--project-mode", "specific",
        "--project-environment-python", PYTHON_VERSION,
        "--project-environment-implementation", "cpython",
        "--project-dist-policy", "wheel-only",
        "--output", str(run_dir / "pylock.toml"),
        "--project-environment-platform", "linux_x86_64", "runs-on-libc=2.28",
    ]
    return Invocation(argv=argv, env=env, pins=lambda d, _o: _pins_from_pylock(d / "pylock.toml"))


TOOLS: dict[str, Tool] = {
    "skimlock": Tool(
        name="skimlock", program="skimlock", downloads_wheels=False, build=_skimlock,
        target_args="--python-version 3.11 --implementation cp --abi cp311 "
        "--platform manylinux_2_28_x86_64 --only-binary :all:",
    ),
    "skimlock-no-cache": Tool(
        name="skimlock-no-cache", program="skimlock", downloads_wheels=False,
        build=lambda d, r, i, e: _skimlock(d, r, i, e, cache=False),
        target_args="as skimlock, plus --no-cache (nothing written, as uv --no-cache)",
    ),
    "skimlock-before": Tool(
        name="skimlock-before", program="skimlock", downloads_wheels=False,
        build=lambda d, r, i, e: _skimlock(d, r, i, e, program=_before_bin()),
        target_args="as skimlock, run by another install (run.py --before PATH)",
    ),
    "pip-lock": Tool(
        name="pip-lock", program="pip", downloads_wheels=True, build=_pip_lock,
        target_args="(none: pip lock locks for its own interpreter) --only-binary=:all:",
    ),
    "pip-dry-run": Tool(
        name="pip-dry-run", program="pip", downloads_wheels=True, build=_pip_dry_run,
        target_args="--python-version 3.11 --implementation cp --abi cp311 "
        "--platform manylinux_2_{28..5}_x86_64 manylinux2014/2010/1_x86_64 --only-binary=:all:",
    ),
    "uv": Tool(
        name="uv", program="uv", downloads_wheels=False, build=_uv,
        target_args="--python-version 3.11 --python-platform x86_64-manylinux_2_28 "
        "--only-binary :all:",
    ),
    "nab": Tool(
        name="nab", program="nab", downloads_wheels=False, build=_nab,
        target_args="--project-mode specific --project-environment-python 3.11 "
        "--project-environment-implementation cpython --project-environment-platform "
        "linux_x86_64 runs-on-libc=2.28 --project-dist-policy wheel-only",
    ),
    "nab-httpx": Tool(
        name="nab-httpx", program="nab", downloads_wheels=False,
        build=lambda d, r, i, e: _nab(d, r, i, e, backend="httpx"),
        target_args="as nab, plus --http-backend httpx (nab's default urllib3 transport "
        "ignores HTTPS_PROXY)",
    ),
}


# --- measuring one run ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class RunOutcome:
    returncode: int | None
    timed_out: bool
    seconds: float
    peak_rss_kb: int | None
    #: CPU time of the process and its children (user + system), from ``time -v`` or the
    #: ``RUSAGE_CHILDREN`` difference; None if neither was available.
    cpu_s: float | None
    #: "time -v" or "rusage-children (upper bound)".
    rss_method: str
    pins: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    stats: dict[str, object] | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


_TIME = shutil.which("time") and Path("/usr/bin/time")


def _time_v_cpu(report: str) -> float | None:
    """User + system seconds from a ``time -v`` report."""
    user = re.search(r"User time \(seconds\): ([\d.]+)", report)
    system = re.search(r"System time \(seconds\): ([\d.]+)", report)
    return float(user.group(1)) + float(system.group(1)) if user and system else None


def run_tool(
    tool: Tool, run_dir: Path, requirements: Sequence[str], index: str,
    *, extra_env: Mapping[str, str] | None = None, timeout: float,
) -> RunOutcome:
    """Run ``tool`` once in a fresh ``run_dir`` and measure it."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    invocation = tool.build(run_dir, requirements, index, isolated_env(run_dir, extra_env))
    time_file = run_dir / "time-v.txt"
    use_time = _TIME is not None and Path("/usr/bin/time").exists()
    argv = (["/usr/bin/time", "-v", "-o", str(time_file), *invocation.argv]
            if use_time else invocation.argv)
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = usage_before.ru_maxrss
    start = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=run_dir, env=invocation.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )
    timed_out = False
    try:
        stdout_b, stderr_b = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(process.pid, signal.SIGKILL)
        stdout_b, stderr_b = process.communicate()
    seconds = time.perf_counter() - start
    stdout = stdout_b.decode("utf-8", "replace")
    stderr = stderr_b.decode("utf-8", "replace")
    (run_dir / "stdout.txt").write_text(stdout, encoding="utf-8")
    (run_dir / "stderr.txt").write_text(stderr, encoding="utf-8")

    rss: int | None = None
    cpu: float | None = None
    rss_method = "time -v"
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if use_time and time_file.exists():
        report = time_file.read_text()
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
        rss = int(match.group(1)) if match else None
        cpu = _time_v_cpu(report)
    else:
        after = usage_after.ru_maxrss
        rss, rss_method = (after if after > before else None), "rusage-children (upper bound)"
    if cpu is None:
        cpu = (usage_after.ru_utime - usage_before.ru_utime
               + usage_after.ru_stime - usage_before.ru_stime)

    pins: dict[str, str] = {}
    error: str | None = None
    if timed_out:
        error = f"timed out after {timeout:.0f} s"
    elif process.returncode != 0:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        error = f"exit {process.returncode}: " + " | ".join(lines[-3:])[:600]
    else:
        try:
            pins = invocation.pins(run_dir, stdout)
        except (OSError, ValueError, KeyError, tomllib.TOMLDecodeError) as exc:
            error = f"could not read the result: {exc}"
    stats = None
    if invocation.stats_file is not None and invocation.stats_file.exists():
        stats = json.loads(invocation.stats_file.read_text(encoding="utf-8"))
    return RunOutcome(
        returncode=None if timed_out else process.returncode,
        timed_out=timed_out,
        seconds=seconds,
        peak_rss_kb=rss,
        cpu_s=cpu,
        rss_method=rss_method,
        pins=pins,
        error=error,
        stats=stats,
    )
