"""Real build backends for the sdist tests, offline.

* :func:`repack_installed` turns a distribution installed in the test venv (setuptools, hatchling
  and its dependencies, flit-core, wheel) into a ``py3-none-any`` wheel, from its installed files
  and RECORD, so the test index can serve build requirements without a network. (These backends
  are pure Python, so the repacked wheel is what their own wheel installs.)
* :func:`build_real_sdist` writes a small project for one backend and builds its sdist with
  PyPA ``build`` against the installed backends (no isolation: a fraction of a second each).
* :func:`hand_sdist` writes an sdist byte by byte (hostile and broken archives, in-tree backends).
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import importlib.metadata
import io
import tarfile
import textwrap
import zipfile
from collections.abc import Sequence
from pathlib import Path

from index.wheels import TAR_MTIME, ZIP_DATE_TIME, dist_dir_name

__all__ = [
    "BACKEND_DISTS",
    "build_real_sdist",
    "hand_sdist",
    "repack_installed",
    "tar_to_zip",
]

#: Installed distributions the test index serves as wheels: the backends and what they need.
BACKEND_DISTS = (
    "setuptools", "wheel", "hatchling", "packaging", "pathspec", "pluggy", "tomlkit",
    "trove-classifiers", "flit-core",
)  # fmt: skip


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def repack_installed(name: str, out_dir: Path) -> Path:
    """A wheel of the installed distribution ``name``, built from its RECORD."""
    dist = importlib.metadata.distribution(name)
    version = dist.version
    project = dist_dir_name(dist.metadata["Name"])
    info_dir = f"{project}-{version}.dist-info"
    members: list[tuple[str, bytes]] = []
    old_info: str | None = None
    for file in dist.files or ():
        path = str(file)
        if path.startswith("..") or "__pycache__" in path or path.endswith(".pyc"):
            continue
        if path.endswith(".dist-info/RECORD"):
            continue
        if ".dist-info/" in path:
            old_info = path.split("/", 1)[0]
            leaf = path.split("/", 1)[1]
            if leaf in ("INSTALLER", "REQUESTED", "direct_url.json", "WHEEL"):
                continue
            path = f"{info_dir}/{leaf}"
        members.append((path, Path(str(file.locate())).read_bytes()))
    assert old_info is not None, name
    wheel = (
        b"Wheel-Version: 1.0\nGenerator: skimlock-tests (repack)\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n"
    )
    members.append((f"{info_dir}/WHEEL", wheel))
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for path, data in members:
        writer.writerow([path, _record_hash(data), len(data)])
    writer.writerow([f"{info_dir}/RECORD", "", ""])
    members.append((f"{info_dir}/RECORD", record.getvalue().encode()))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{project}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in sorted(members, key=lambda m: (".dist-info/" in m[0], m[0])):
            entry = zipfile.ZipInfo(path, date_time=ZIP_DATE_TIME)
            entry.external_attr = 0o100644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
    return target


_PACKAGE = '__version__ = "{version}"\n'


def _project_files(
    backend: str, name: str, version: str, dependencies: Sequence[str]
) -> dict[str, str]:
    package = dist_dir_name(name)
    deps = ", ".join(f'"{d}"' for d in dependencies)
    module = {f"{package}/__init__.py": f'"""{name}."""\n' + _PACKAGE.format(version=version)}
    project = (
        f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = [{deps}]\n'
        'requires-python = ">=3.8"\n'
    )
    if backend == "hatchling":
        return {**module, "pyproject.toml": (
            '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
            + project
        )}  # fmt: skip
    if backend == "flit-core":
        return {**module, "pyproject.toml": (
            '[build-system]\nrequires = ["flit_core>=3.2,<5"]\n'
            'build-backend = "flit_core.buildapi"\n\n' + project + 'description = "flit test"\n'
        )}  # fmt: skip
    if backend == "setuptools":
        return {**module, "pyproject.toml": (
            '[build-system]\nrequires = ["setuptools>=61"]\n'
            'build-backend = "setuptools.build_meta"\n\n' + project
        )}  # fmt: skip
    if backend == "setup.py":  # a legacy project: no pyproject.toml at all
        return {**module, "setup.py": textwrap.dedent(f"""\
            from setuptools import setup
            setup(name={name!r}, version={version!r}, packages=[{package!r}],
                  install_requires={list(dependencies)!r})
            """)}  # fmt: skip
    msg = f"unknown backend {backend}"
    raise ValueError(msg)


def build_real_sdist(
    work: Path, out_dir: Path, backend: str, name: str, version: str, *,
    dependencies: Sequence[str] = (),
) -> Path:
    """Build the sdist of a small project with ``backend`` (installed, no isolation)."""
    from build import ProjectBuilder
    from pyproject_hooks import quiet_subprocess_runner

    source = work / f"{dist_dir_name(name)}-{backend}"
    for path, text in _project_files(backend, name, version, dependencies).items():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_text(text, encoding="utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    builder = ProjectBuilder(source, runner=quiet_subprocess_runner)
    return Path(builder.build("sdist", out_dir))


def hand_sdist(
    out_dir: Path, filename: str, members: Sequence[tuple[str, bytes | tarfile.TarInfo]],
    *, compress: bool = True,
) -> Path:
    """A ``.tar.gz`` with exactly ``members``: bytes for a regular file, or a prepared
    ``TarInfo`` (a link, a device...)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, content in members:
            if isinstance(content, tarfile.TarInfo):
                archive.addfile(content)
                continue
            entry = tarfile.TarInfo(name)
            entry.size = len(content)
            entry.mtime = TAR_MTIME
            entry.mode = 0o644
            archive.addfile(entry, io.BytesIO(content))
    data = buffer.getvalue()
    if compress:
        data = gzip.compress(data, mtime=0)
    path = out_dir / filename
    path.write_bytes(data)
    return path


def tar_to_zip(source: Path, out_dir: Path) -> Path:
    """The same sdist as a ``.zip`` (regular files only)."""
    target = out_dir / source.name.replace(".tar.gz", ".zip")
    with tarfile.open(source, "r:gz") as tar, zipfile.ZipFile(target, "w") as archive:
        for member in tar.getmembers():
            if member.isreg():
                handle = tar.extractfile(member)
                assert handle is not None
                entry = zipfile.ZipInfo(member.name, date_time=ZIP_DATE_TIME)
                entry.external_attr = 0o100644 << 16
                archive.writestr(entry, handle.read())
    return target
