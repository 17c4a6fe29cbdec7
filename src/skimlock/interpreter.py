"""Another Python interpreter or virtual environment (``--python PATH``), asked once.

:func:`query` runs the interpreter once with a small script (:data:`SCRIPT`, standard library only:
``packaging`` need not be installed there) that prints, as JSON, its PEP 508 marker environment,
what its wheel tags are made of (version, implementation, ``SOABI``/``EXT_SUFFIX``, ``sysconfig``
platform, pointer size, glibc or macOS version) and its installed distributions. The tags are then
computed here with :mod:`packaging.tags` from those values (:func:`interpreter_tags`), and
:meth:`Interpreter.target` gives the :class:`~skimlock.target.Target` to resolve for.

When the interpreter runs on this machine's platform (the usual case: a venv or another Python of
the same machine), its platform tags are this machine's (``packaging.tags.platform_tags``, which
also detects the glibc/musl version); otherwise they are derived from what it reported.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging import tags as _tags
from packaging.tags import Tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from .errors import InputError
from .target import Target

__all__ = ["SCRIPT", "Interpreter", "interpreter_tags", "query"]

#: Run by the other interpreter (any Python >= 3.8): standard library only, JSON on stdout.
SCRIPT = r"""
import json, os, platform, struct, sys, sysconfig
sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]
import importlib.metadata as md

def full(info):
    version = "{0.major}.{0.minor}.{0.micro}".format(info)
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return version

impl = sys.implementation
environment = {
    "implementation_name": impl.name,
    "implementation_version": full(impl.version) if hasattr(impl, "version") else "0",
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}
glibc = None
try:
    glibc = os.confstr("CS_GNU_LIBC_VERSION")
except (AttributeError, OSError, ValueError):
    pass
installed = []
for dist in md.distributions():
    try:
        name = dist.metadata["Name"]
    except Exception:
        name = None
    if name:
        installed.append([name, dist.version])
print(json.dumps({
    "executable": sys.executable,
    "version": list(sys.version_info[:3]),
    "implementation": impl.name,
    "environment": environment,
    "soabi": sysconfig.get_config_var("SOABI"),
    "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
    "py_debug": bool(sysconfig.get_config_var("Py_DEBUG")),
    "gil_disabled": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "platform": sysconfig.get_platform(),
    "pointer_bits": struct.calcsize("P") * 8,
    "glibc": glibc,
    "mac_version": platform.mac_ver()[0],
    "installed": installed,
}))
"""

_IMPLEMENTATIONS = {"cpython": "cp", "pypy": "pp"}


@dataclass(frozen=True, kw_only=True, slots=True)
class Interpreter:
    """What one interpreter reported, and the tags computed from it."""

    executable: str
    python_version: tuple[int, int, int]
    #: ``cp`` or ``pp`` (tag abbreviation).
    implementation: str
    markers: Mapping[str, str]
    platforms: tuple[str, ...]
    tags: tuple[Tag, ...]
    #: Installed distributions: normalized name to version (the first found on its sys.path).
    installed: Mapping[NormalizedName, Version] = field(default_factory=dict)

    def target(self) -> Target:
        return Target(
            python_version=self.python_version,
            implementation=self.implementation,
            platforms=self.platforms,
            tags=self.tags,
            markers=dict(self.markers),
            is_running=False,
        )


def query(python: str, *, timeout: float = 60.0) -> Interpreter:
    """Run ``python`` (a path, or a name on PATH) once and describe it."""
    executable = shutil.which(python) if os.sep not in python else python
    if executable is None or not os.path.exists(executable):
        raise InputError(f"--python {python!r}: no such interpreter")
    try:
        done = subprocess.run(
            [executable, "-E", "-s", "-c", SCRIPT],
            capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"--python {python!r}: cannot run it ({exc})") from None
    if done.returncode != 0:
        last = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise InputError(f"--python {python!r}: exited with {done.returncode}: {last[0]}")
    try:
        report = json.loads(done.stdout)
    except ValueError:
        raise InputError(f"--python {python!r}: did not answer as expected") from None
    return from_report(report)


def from_report(report: Mapping[str, Any]) -> Interpreter:
    """An :class:`Interpreter` from :data:`SCRIPT`'s JSON (sans-I/O)."""
    major, minor, micro = (int(part) for part in report["version"])
    implementation = _IMPLEMENTATIONS.get(str(report["implementation"]))
    if implementation is None:
        raise InputError(
            f"--python: unsupported implementation {report['implementation']!r} "
            "(CPython and PyPy are)"
        )
    platforms = tuple(_platforms(report))
    installed: dict[NormalizedName, Version] = {}
    for name, version in report.get("installed", ()):
        try:
            installed.setdefault(canonicalize_name(name), Version(version))
        except InvalidVersion:
            continue
    return Interpreter(
        executable=str(report["executable"]),
        python_version=(major, minor, micro),
        implementation=implementation,
        markers={str(k): str(v) for k, v in report["environment"].items()},
        platforms=platforms,
        tags=tuple(interpreter_tags(report, platforms)),
        installed=installed,
    )


def interpreter_tags(report: Mapping[str, Any], platforms: Iterable[str]) -> Iterable[Tag]:
    """The supported tags, best first, as :func:`packaging.tags.sys_tags` computes them in
    that interpreter."""
    platforms = list(platforms)
    major, minor = int(report["version"][0]), int(report["version"][1])
    if report["implementation"] == "cpython":
        abi = _cpython_abi(report)
        yield from _tags.cpython_tags((major, minor), abis=[abi], platforms=platforms)
        interpreter = f"cp{major}{minor}"
    else:
        interpreter = f"pp{major}{minor}"
        generic = _generic_abi(report)
        yield from _tags.generic_tags(
            interpreter, abis=[generic] if generic else [], platforms=platforms
        )
    yield from _tags.compatible_tags((major, minor), interpreter=interpreter, platforms=platforms)


def _cpython_abi(report: Mapping[str, Any]) -> str:
    major, minor = int(report["version"][0]), int(report["version"][1])
    soabi = report.get("soabi") or ""
    match = re.match(r"^cpython-(\d+)([a-z]*)", soabi)
    if match:
        return f"cp{match.group(1)}{match.group(2)}"
    suffix = report.get("ext_suffix") or ""  # Windows: ".cp313t-win_amd64.pyd"
    match = re.match(r"^\.cp(\d+)([a-z]*)-", suffix)
    if match:
        return f"cp{match.group(1)}{match.group(2)}"
    flags = ("d" if report.get("py_debug") else "") + ("t" if report.get("gil_disabled") else "")
    return f"cp{major}{minor}{flags}"


def _generic_abi(report: Mapping[str, Any]) -> str | None:
    """``pypy310-pp73-x86_64-linux-gnu`` -> ``pypy310_pp73`` (what packaging derives)."""
    soabi = report.get("soabi") or ""
    if not soabi:
        suffix = report.get("ext_suffix") or ""
        soabi = suffix.split(".")[1] if suffix.count(".") >= 2 else ""
    parts = soabi.split("-")
    if len(parts) >= 2 and parts[0].startswith("pypy"):
        return "_".join(parts[:2])
    return parts[0].replace(".", "_").replace("-", "_") if parts[0] else None


def _platforms(report: Mapping[str, Any]) -> Iterable[str]:
    plat = str(report["platform"])
    bits = int(report.get("pointer_bits", 64))
    if plat == sysconfig.get_platform() and bits == (64 if sys.maxsize > 2**32 else 32):
        yield from _tags.platform_tags()  # this machine's platform (glibc/musl detected)
        return
    if plat.startswith("linux-"):
        arch = plat.split("-", 1)[1].replace("-", "_").replace(".", "_")
        if bits == 32:
            arch = {"x86_64": "i686", "aarch64": "armv8l"}.get(arch, arch)
        glibc = re.match(r"^glibc (\d+)\.(\d+)", str(report.get("glibc") or ""))
        if glibc:
            yield from _manylinux(int(glibc.group(1)), int(glibc.group(2)), arch)
        yield f"linux_{arch}"
    elif plat.startswith("macosx-"):
        _, version, arch = plat.split("-", 2)
        mac = str(report.get("mac_version") or version)
        major, _, minor = mac.partition(".")
        numbers = (int(major), int(minor.split(".")[0] or 0)) if major.isdigit() else None
        yield from _tags.mac_platforms(numbers, arch)
    else:
        yield plat.replace("-", "_").replace(".", "_")


def _manylinux(major: int, minor: int, arch: str) -> Iterable[str]:
    legacy = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
    for m in range(minor, 4, -1):
        yield f"manylinux_{major}_{m}_{arch}"
        if (major, m) in legacy:
            yield f"{legacy[(major, m)]}_{arch}"
