"""Run third-party index servers (installed from PyPI) on loopback for interop tests.

* simple-repository-server (0.10+): serves a directory of ``<normalized project>/<files>``;
  PEP 691 JSON by negotiation, PEP 658 ``data-core-metadata="true"`` (metadata extracted from
  the wheel on request, no hash), files under ``/resources/<project>/<file>`` via starlette.
* pypiserver (2.x): serves the same directory (it scans subdirectories); HTML only, no
  metadata attribute, ``#sha256=`` fragments, files under ``/packages/<file>`` with ranges.

Both run as subprocesses of this interpreter on a free 127.0.0.1 port, polled until their
project list answers 200, and are terminated on exit.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from packaging.utils import canonicalize_name

__all__ = [
    "ThirdPartyServer",
    "run_pypiserver",
    "run_simple_repository_server",
    "write_project_dirs",
]

_READY_TIMEOUT = 30.0
_ATTEMPTS = 3


@dataclass(frozen=True, kw_only=True, slots=True)
class ThirdPartyServer:
    name: str
    #: ``http://127.0.0.1:<port>``.
    base_url: str
    #: The PEP 503 root, with a trailing slash.
    simple_url: str
    #: Where the server's stdout/stderr go.
    log_path: Path

    def project_url(self, project: str) -> str:
        return f"{self.simple_url}{project}/"


def write_project_dirs(root: Path, dists: Iterable[Path]) -> Path:
    """Copy ``dists`` to ``root/<normalized project>/<file>`` (the layout both servers read)."""
    for dist in dists:
        project = canonicalize_name(dist.name.partition("-")[0])
        target = root / project
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dist, target / dist.name)
    return root


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_ready(process: subprocess.Popen[bytes], url: str) -> bool:
    """True once ``url`` answers 200; False if the process died or time ran out."""
    deadline = time.monotonic() + _READY_TIMEOUT
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            try:
                if client.get(url).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    return False


@contextmanager
def _run(name: str, argv_for_port: Iterable[str], log_path: Path) -> Iterator[ThirdPartyServer]:
    # NETRC pointed nowhere: simple-repository-server would otherwise read ~/.netrc.
    env = {**os.environ, "NETRC": os.devnull + ".absent", "PYTHONUNBUFFERED": "1"}
    template = list(argv_for_port)
    for _ in range(_ATTEMPTS):
        port = _free_port()
        argv = [arg.replace("{port}", str(port)) for arg in template]
        base_url = f"http://127.0.0.1:{port}"
        with log_path.open("ab") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            if _wait_ready(process, f"{base_url}/simple/"):
                yield ThirdPartyServer(
                    name=name,
                    base_url=base_url,
                    simple_url=f"{base_url}/simple/",
                    log_path=log_path,
                )
                return
        finally:
            _stop(process)
    msg = f"{name} did not become ready; its output ends with:\n{_tail(log_path)}"
    raise RuntimeError(msg)


@contextmanager
def run_simple_repository_server(directory: Path, log_path: Path) -> Iterator[ThirdPartyServer]:
    """simple-repository-server over ``directory`` (see :func:`write_project_dirs`)."""
    argv = [sys.executable, "-m", "simple_repository_server", "--host", "127.0.0.1"]
    argv += ["--port", "{port}", str(directory)]
    with _run("simple-repository-server", argv, log_path) as server:
        yield server


@contextmanager
def run_pypiserver(directory: Path, log_path: Path) -> Iterator[ThirdPartyServer]:
    """pypiserver over ``directory``: no auth, no fallback to PyPI."""
    argv = [sys.executable, "-m", "pypiserver", "run", "-i", "127.0.0.1", "-p", "{port}"]
    argv += ["-a", ".", "-P", ".", "--disable-fallback", str(directory)]
    with _run("pypiserver", argv, log_path) as server:
        yield server
