"""Build real, installable distributions in pure Python for the test index.

Owns the test side of the binary distribution format (wheel spec: file name, ``.dist-info``
with METADATA, WHEEL and RECORD) and of source distributions (PEP 625 file name, ``PKG-INFO``).
No setuptools: wheels are written with :mod:`zipfile`, sdists with :mod:`tarfile`.

Output is deterministic (fixed timestamps, fixed permissions, seeded padding), so file hashes
are stable for a given Python/zlib.

Knobs that shape the zip for range-request tests:

* ``padding_files``: that many extra small modules, so the central directory grows.
* ``padding_bytes``: one stored (uncompressed) file of pseudo-random bytes, so the wheel is big.
* ``dist_info_first``: write ``.dist-info/`` before the package (real wheels put it last).
* ``force_zip64``: zip64 local headers plus a zip64 end record and locator; the classic end
  record carries the 0xFFFF/0xFFFFFFFF sentinels, so a reader must follow the zip64 record.
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import random
import re
import struct
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from packaging.version import Version

__all__ = [
    "build_sdist",
    "build_wheel",
    "dist_dir_name",
    "make_metadata",
    "read_metadata",
    "read_pkg_info",
    "sdist_filename",
    "wheel_filename",
]

#: Every member gets this timestamp (the earliest a zip can store).
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)
#: Every sdist member gets this mtime (2020-01-01T00:00:00Z).
TAR_MTIME = 1_577_836_800

_EOCD = struct.Struct("<4sHHHHIIH")
_ZIP64_EOCD = struct.Struct("<4sQHHIIQQQQ")
_ZIP64_LOCATOR = struct.Struct("<4sIQI")


def dist_dir_name(name: str) -> str:
    """The wheel/sdist spelling of a project name: normalized, runs of ``-_.`` as ``_``."""
    return re.sub(r"[-_.]+", "_", name).lower()


def _file_version(version: str) -> str:
    return str(Version(version)).replace("-", "_")


def wheel_filename(name: str, version: str, tag: str = "py3-none-any") -> str:
    """``{name}-{version}-{python tag}-{abi tag}-{platform tag}.whl`` (wheel spec)."""
    return f"{dist_dir_name(name)}-{_file_version(version)}-{tag}.whl"


def sdist_filename(name: str, version: str) -> str:
    """``{name}-{version}.tar.gz`` (PEP 625)."""
    return f"{dist_dir_name(name)}-{_file_version(version)}.tar.gz"


def make_metadata(
    name: str,
    version: str,
    *,
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    provides_extra: Sequence[str] = (),
    metadata_version: str = "2.1",
) -> bytes:
    """Core metadata in the email-header format, as the wheel's METADATA / sdist's PKG-INFO."""
    lines = [
        f"Metadata-Version: {metadata_version}",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: {name} {version}, a distribution built by the skimlock test suite",
    ]
    if requires_python is not None:
        lines.append(f"Requires-Python: {requires_python}")
    lines.extend(f"Provides-Extra: {extra}" for extra in provides_extra)
    lines.extend(f"Requires-Dist: {requirement}" for requirement in requires_dist)
    return ("\n".join(lines) + "\n").encode()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def _record(members: Sequence[tuple[str, bytes]], record_path: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for path, data in members:
        writer.writerow([path, _record_hash(data), len(data)])
    writer.writerow([record_path, "", ""])
    return out.getvalue().encode()


def _padding_module(package: str, index: int) -> bytes:
    # Hex digests compress poorly enough that each entry stays a few dozen bytes in the zip.
    digest = hashlib.sha256(f"{package}:{index}".encode()).hexdigest()
    return f'"""Padding module {index}."""\n\nDATA = "{digest}"\n'.encode()


def build_wheel(
    out_dir: Path,
    name: str,
    version: str,
    *,
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    provides_extra: Sequence[str] = (),
    tag: str = "py3-none-any",
    padding_files: int = 0,
    padding_bytes: int = 0,
    dist_info_first: bool = False,
    force_zip64: bool = False,
    metadata: bytes | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """Write a wheel into ``out_dir`` and return its path.

    ``metadata`` replaces the METADATA bytes verbatim (RECORD still hashes what was written).
    The padding blob is always stored uncompressed: it is incompressible anyway.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    package = dist_dir_name(name)
    dist_info = f"{package}-{_file_version(version)}.dist-info"
    if metadata is None:
        metadata = make_metadata(
            name,
            version,
            requires_dist=requires_dist,
            requires_python=requires_python,
            provides_extra=provides_extra,
        )
    wheel_text = (
        f"Wheel-Version: 1.0\nGenerator: skimlock-tests (1.0)\nRoot-Is-Purelib: true\nTag: {tag}\n"
    ).encode()

    code: list[tuple[str, bytes]] = [
        (
            f"{package}/__init__.py",
            f'"""{name} test package."""\n\n__version__ = "{version}"\n'.encode(),
        )
    ]
    code.extend(
        (f"{package}/_padding/mod_{i:05d}.py", _padding_module(package, i))
        for i in range(padding_files)
    )
    stored = set()
    if padding_bytes:
        blob_path = f"{package}/_blob.bin"
        code.append((blob_path, random.Random(f"{package}-{version}").randbytes(padding_bytes)))
        stored.add(blob_path)
    info: list[tuple[str, bytes]] = [
        (f"{dist_info}/METADATA", metadata),
        (f"{dist_info}/WHEEL", wheel_text),
    ]
    record_path = f"{dist_info}/RECORD"
    record = (record_path, _record([*code, *info], record_path))
    members = [*info, record, *code] if dist_info_first else [*code, *info, record]

    path = out_dir / wheel_filename(name, version, tag)
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members:
            entry = zipfile.ZipInfo(member, date_time=ZIP_DATE_TIME)
            entry.create_system = 3  # Unix, so the mode bits below mean what they say
            entry.external_attr = 0o100644 << 16
            entry.compress_type = zipfile.ZIP_STORED if member in stored else compression
            with archive.open(entry, "w", force_zip64=force_zip64) as handle:
                handle.write(data)
    if force_zip64:
        _add_zip64_end(path)
    return path


def _add_zip64_end(path: Path) -> None:
    """Put a zip64 end record and locator before the end record, which then holds sentinels."""
    data = path.read_bytes()
    end = len(data) - _EOCD.size
    signature, disk, cd_disk, entries_here, entries, cd_size, cd_offset, comment_len = (
        _EOCD.unpack_from(data, end)
    )
    if (
        signature != b"PK\x05\x06"
        or comment_len != 0
        or data[end - _ZIP64_LOCATOR.size :][:4] == (b"PK\x06\x07")
    ):
        msg = f"{path.name}: unexpected end of archive layout"
        raise ValueError(msg)
    zip64_offset = cd_offset + cd_size
    zip64_end = _ZIP64_EOCD.pack(
        b"PK\x06\x06", _ZIP64_EOCD.size - 12, 45, 45, disk, cd_disk, entries_here, entries,
        cd_size, cd_offset,
    )  # fmt: skip
    locator = _ZIP64_LOCATOR.pack(b"PK\x06\x07", 0, zip64_offset, 1)
    classic = _EOCD.pack(b"PK\x05\x06", disk, cd_disk, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    path.write_bytes(data[:end] + zip64_end + locator + classic)


def build_sdist(
    out_dir: Path,
    name: str,
    version: str,
    *,
    requires_dist: Sequence[str] = (),
    requires_python: str | None = None,
    provides_extra: Sequence[str] = (),
    metadata: bytes | None = None,
    metadata_version: str = "2.1",
) -> Path:
    """Write a minimal ``.tar.gz`` sdist (PKG-INFO, pyproject.toml, the package) and return it.

    It declares setuptools as its build backend, so installing it needs a build (and the
    network); tests use it for "this project has no wheel" cases.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    package = dist_dir_name(name)
    base = f"{package}-{_file_version(version)}"
    if metadata is None:
        metadata = make_metadata(
            name,
            version,
            requires_dist=requires_dist,
            requires_python=requires_python,
            provides_extra=provides_extra,
            metadata_version=metadata_version,
        )
    pyproject = (
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\n'
    ).encode()
    members = [
        (f"{base}/PKG-INFO", metadata),
        (f"{base}/pyproject.toml", pyproject),
        (f"{base}/{package}/__init__.py", f'__version__ = "{version}"\n'.encode()),
    ]
    path = out_dir / sdist_filename(name, version)
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for member, data in members:
            entry = tarfile.TarInfo(member)
            entry.size = len(data)
            entry.mtime = TAR_MTIME
            entry.mode = 0o644
            archive.addfile(entry, io.BytesIO(data))
    return path


def read_metadata(path: Path) -> bytes:
    """The core metadata bytes inside a wheel (``*.dist-info/METADATA``) or sdist (``PKG-INFO``)."""
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
            if len(names) != 1:
                msg = f"{path.name}: expected one .dist-info/METADATA, found {names}"
                raise ValueError(msg)
            return archive.read(names[0])
    if path.name.endswith((".tar.gz", ".zip")):
        return read_pkg_info(path)
    msg = f"{path.name}: not a wheel or an sdist"
    raise ValueError(msg)


def read_pkg_info(path: Path) -> bytes:
    """The top-level ``PKG-INFO`` of a ``.tar.gz`` or ``.zip`` sdist; ``b""`` when the archive
    has none or cannot be read (the broken and hostile sdists of the tests: an index lists them
    with the metadata of nothing)."""
    try:
        if path.name.endswith(".zip"):
            with zipfile.ZipFile(path) as zipped:
                for name in zipped.namelist():
                    if re.fullmatch(r"[^/]+/PKG-INFO", name):
                        return zipped.read(name)
            return b""
        with tarfile.open(path, "r:gz") as archive:
            for entry in archive.getmembers():
                if re.fullmatch(r"[^/]+/PKG-INFO", entry.name) and entry.isreg():
                    handle = archive.extractfile(entry)
                    if handle is not None:
                        return handle.read()
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError):
        return b""
    return b""
