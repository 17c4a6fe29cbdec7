"""Issue 13's "done when", on the real PyPI (``-m network``; not in the default run).

``skimlock lock --universal numpy pytest sqlalchemy "pywin32; sys_platform == 'win32'"
"uvloop; sys_platform != 'win32'"`` must write a lock that ``skimlock check`` passes for five
environments, whose pins there equal ``uv pip compile --universal``'s evaluated for each (when uv
can be installed into a temporary venv), and that pip installs here with ``pip check`` clean.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

from skimlock.check import load_lock
from skimlock.cli import main
from skimlock.universal import target_for

pytestmark = [pytest.mark.network, pytest.mark.timeout(600)]

REQUIREMENTS = ("numpy", "pytest", "sqlalchemy", "pywin32; sys_platform == 'win32'",
                "uvloop; sys_platform != 'win32'")
ENVIRONMENTS = (
    ((3, 11), "manylinux_2_28_x86_64"),
    ((3, 12), "manylinux_2_28_aarch64"),
    ((3, 13), "macosx_11_0_arm64"),
    ((3, 11), "macosx_10_15_x86_64"),
    ((3, 12), "win_amd64"),
)
PYPI = "https://pypi.org/simple/"
PIP = ("-m", "pip", "--isolated", "--disable-pip-version-check", "--no-input")


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith(("PIP_", "UV_"))}
    return subprocess.run(args, env={**base, **(env or {})}, capture_output=True, text=True,
                          timeout=300, check=False)


def _uv_pins(tmp: Path) -> dict[str, list[tuple[str, str, Marker | None]]] | None:
    venv = tmp / "uv-venv"
    if _run(sys.executable, "-m", "venv", str(venv)).returncode != 0:
        return None
    if _run(str(venv / "bin" / "python"), *PIP, "install", "-q", "uv").returncode != 0:
        return None
    (tmp / "requirements.in").write_text("\n".join(REQUIREMENTS) + "\n")
    compiled = _run(
        str(venv / "bin" / "uv"), "pip", "compile", "--universal", "--python-version", "3.11",
        "--index-url", PYPI, "--no-header", "--no-annotate", str(tmp / "requirements.in"),
        env={"UV_NO_CONFIG": "1", "UV_CACHE_DIR": str(tmp / "uv-cache")},
    )
    assert compiled.returncode == 0, compiled.stderr
    pins: dict[str, list[tuple[str, str, Marker | None]]] = {}
    for line in compiled.stdout.splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            version = str(requirement.specifier).removeprefix("==")
            pins.setdefault(requirement.name.lower(), []).append(
                (requirement.name.lower(), version, requirement.marker)
            )
    return pins


def test_done_when(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SKIMLOCK_INDEX_URL", raising=False)
    assert main(["lock", "--universal", *REQUIREMENTS, "--stats", "stats.json"]) == 0
    _, err = capsys.readouterr()
    print(err)  # the summary: what the other environments cost
    lock = load_lock(Path("pylock.toml").read_text(), "pylock.toml")
    uv = _uv_pins(tmp_path)
    for python, tag in ENVIRONMENTS:
        assert main(["check", "pylock.toml", "--python-version", f"{python[0]}.{python[1]}",
                     "--platform", tag]) == 0, capsys.readouterr().err
        capsys.readouterr()
        if uv is None:
            continue
        environment = target_for(python, tag).environment(None)
        ours = {str(p.name): str(p.version) for p, _ in lock.select(
            environment=environment,  # type: ignore[arg-type]
            tags=list(target_for(python, tag).tags))}
        theirs = {name: version for entries in uv.values() for name, version, marker in entries
                  if marker is None or marker.evaluate(environment)}
        assert ours == theirs, (python, tag)
    stats = json.loads(Path("stats.json").read_text())
    assert stats["environments"]["count"] == 25

    venv = tmp_path / "venv"
    assert _run(sys.executable, "-m", "venv", str(venv)).returncode == 0
    python_bin = str(venv / "bin" / "python")
    upgraded = _run(python_bin, *PIP, "install", "-q", "pip>=26.1")
    assert upgraded.returncode == 0, upgraded.stderr
    installed = _run(python_bin, *PIP, "install", "-r", "pylock.toml")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    checked = _run(python_bin, *PIP, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
