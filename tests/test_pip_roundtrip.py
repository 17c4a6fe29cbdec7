"""Round trip: ``skimlock lock`` on the local index, then ``pip install -r pylock.toml``
(pip >= 26.1) into a fresh venv installs exactly the locked versions, from the locked URLs.

The venv gets pip from PyPI (the only network use); without it the test is skipped. pip runs with
``--isolated`` and without ``PIP_*`` variables, so the machine's pip configuration (extra file
indexes, ``PIP_FIND_LINKS``) cannot supply the packages.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from index.graphs import CLI_DISTS, serve_graph
from index.server import Server
from skimlock.cli import main

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.timeout(300)

PIP = ("-m", "pip", "--isolated", "--disable-pip-version-check", "--no-input")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PIP_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv whose pip reads pylock.toml (pip >= 26.1)."""
    venv = tmp_path_factory.mktemp("venv")
    made = _run(sys.executable, "-m", "venv", str(venv))
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    upgraded = _run(str(python), *PIP, "install", "-q", "pip>=26.1")
    if upgraded.returncode != 0:
        pytest.skip(f"cannot install pip>=26.1 from PyPI: {upgraded.stderr.strip()[-400:]}")
    return python


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve_graph(tmp_path_factory.mktemp("roundtrip-graph"), CLI_DISTS) as running:
        yield running


def test_pip_installs_the_lock(
    venv_python: Path,
    server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy", "SKIMLOCK_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)
    lock_path = tmp_path / "pylock.toml"
    # The default target: the running interpreter, which the venv was made from.
    assert main(["lock", "-i", server.simple_url, "alpha[fast]", "tiny", "-o", str(lock_path)]) == 0
    capsys.readouterr()
    locked = {p["name"]: p["version"] for p in tomllib.loads(lock_path.read_text())["packages"]}
    assert locked == {"alpha": "2.0", "beta": "1.1", "gamma": "0.9", "tiny": "1.0"}
    # No marker of this lock compares patch releases, so it claims the interpreter's whole X.Y
    # line (skimlock.claim), and pip accepts that claim.
    (claim,) = tomllib.loads(lock_path.read_text())["environments"]
    major_minor = ".".join(platform.python_version_tuple()[:2])
    assert f'python_version == "{major_minor}"' in claim
    assert "python_full_version" not in claim
    # skimlock read metadata only; no wheel was downloaded.
    assert all(e.path.endswith(".metadata") for e in server.log.matching("/files/"))
    server.log.clear()

    installed = _run(str(venv_python), *PIP, "install", "--no-index", "-r", str(lock_path))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    # pip took every wheel from the URL in the lock, and nothing else from the index.
    assert sorted(e.path for e in server.log.entries) == sorted(
        f"/files/{name}-{version}-py3-none-any.whl" for name, version in locked.items()
    )

    checked = _run(str(venv_python), *PIP, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    listed = _run(str(venv_python), *PIP, "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    versions = {item["name"].lower(): item["version"] for item in json.loads(listed.stdout)}
    assert {name: versions.get(name) for name in locked} == locked
