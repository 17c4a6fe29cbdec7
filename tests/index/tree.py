"""Write a static Simple Repository tree for the test index.

Owns the server side of PEP 503 (HTML pages), PEP 691 (JSON pages, api-version 1.1), PEP 592
(``data-yanked`` / ``yanked``), PEP 658/714 (``.metadata`` files and the ``data-core-metadata``
and legacy ``data-dist-info-metadata`` keys) and PEP 700 (``size``, ``upload-time``,
``versions``). Layout under ``root``::

    files/<filename>                  copies of the distributions
    files/<filename>.metadata         their core metadata (only when the mode serves it)
    simple/index.html, index.json     the project list
    simple/<project>/index.html       a project page, hrefs relative: ../../files/<filename>
    simple/<project>/index.json       the same page as PEP 691 JSON, urls relative too

:class:`Mode` chooses how core metadata is advertised; ``NO_RANGES`` additionally tells the
server (:mod:`index.server`) to ignore Range headers.
"""

from __future__ import annotations

import enum
import hashlib
import html
import json
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.parser import BytesHeaderParser
from pathlib import Path
from urllib.parse import quote

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from index.wheels import read_metadata

__all__ = ["IndexTree", "Mode", "TreeFile", "write_index"]

#: PEP 700 upload times start here and grow by one hour per file (in file name order).
UPLOAD_EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)


class Mode(enum.Enum):
    """How an index advertises core metadata (and whether its file server honours ranges)."""

    #: ``data-core-metadata="sha256=<hex>"`` / ``"core-metadata": {"sha256": ...}`` only.
    PEP658_SHA256 = "pep658-sha256"
    #: ``data-core-metadata="true"`` / ``"core-metadata": true`` only.
    PEP658_TRUE = "pep658-true"
    #: Only the legacy key: ``data-dist-info-metadata="sha256=..."`` / ``dist-info-metadata``.
    LEGACY_ONLY = "legacy-only"
    #: Both keys; the new one has the right hash, the legacy one a wrong hash.
    BOTH_KEYS_DIFFER = "both-keys-differ"
    #: No metadata key and no ``.metadata`` files: clients must use ranges.
    NO_METADATA = "no-metadata"
    #: No metadata, and the server ignores Range headers (200 with the whole file).
    NO_RANGES = "no-ranges"

    @property
    def serves_metadata(self) -> bool:
        """``.metadata`` files exist and the pages advertise them."""
        return self not in (Mode.NO_METADATA, Mode.NO_RANGES)

    @property
    def serves_ranges(self) -> bool:
        return self is not Mode.NO_RANGES


@dataclass(frozen=True, kw_only=True, slots=True)
class TreeFile:
    """One distribution as the tree lists it."""

    filename: str
    #: Normalized project name (from the file name).
    project: str
    #: The version part of the file name.
    version: str
    #: The copy under ``root/files``.
    path: Path
    #: URL path on a server for the tree: ``/files/<quoted filename>``.
    url_path: str
    sha256: str
    size: int
    #: The exact core metadata bytes (wheel METADATA, sdist PKG-INFO).
    metadata: bytes
    #: sha256 of :attr:`metadata`, i.e. of the ``.metadata`` file when served.
    metadata_sha256: str
    #: What the pages say as Requires-Python (None: no attribute).
    requires_python: str | None
    yanked: bool
    yanked_reason: str | None
    upload_time: datetime

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")


@dataclass(frozen=True, kw_only=True, slots=True)
class IndexTree:
    """What :func:`write_index` wrote."""

    root: Path
    mode: Mode
    #: Normalized project name to its files, in file name order.
    projects: Mapping[str, tuple[TreeFile, ...]]

    @property
    def files(self) -> tuple[TreeFile, ...]:
        return tuple(f for files in self.projects.values() for f in files)

    def file(self, filename: str) -> TreeFile:
        for candidate in self.files:
            if candidate.filename == filename:
                return candidate
        raise KeyError(filename)

    def metadata(self, filename: str) -> bytes:
        """The exact METADATA (or PKG-INFO) bytes of ``filename``."""
        return self.file(filename).metadata


def _split_filename(filename: str) -> tuple[str, str]:
    if filename.endswith(".whl"):
        stem = filename[: -len(".whl")]
    elif filename.endswith(".tar.gz"):
        stem = filename[: -len(".tar.gz")]
    elif filename.endswith(".zip"):
        stem = filename[: -len(".zip")]
    else:
        msg = f"{filename}: not a distribution file name"
        raise ValueError(msg)
    name, _, rest = stem.partition("-")
    return canonicalize_name(name), rest.split("-")[0]


def _version_key(version: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def _metadata_keys(mode: Mode, digest: str) -> tuple[str | None, str | None]:
    """The (new, legacy) HTML attribute values for ``mode``; None means "omit"."""
    wrong = hashlib.sha256(b"not the metadata:" + digest.encode()).hexdigest()
    return {
        Mode.PEP658_SHA256: (f"sha256={digest}", None),
        Mode.PEP658_TRUE: ("true", None),
        Mode.LEGACY_ONLY: (None, f"sha256={digest}"),
        Mode.BOTH_KEYS_DIFFER: (f"sha256={digest}", f"sha256={wrong}"),
        Mode.NO_METADATA: (None, None),
        Mode.NO_RANGES: (None, None),
    }[mode]


def _json_key(value: str | None) -> bool | dict[str, str] | None:
    if value is None:
        return None
    if value == "true":
        return True
    algorithm, _, digest = value.partition("=")
    return {algorithm: digest}


def _upload_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _html_page(project: str, files: Iterable[TreeFile], mode: Mode) -> str:
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        '    <meta name="pypi:repository-version" content="1.1">',
        f"    <title>Links for {html.escape(project)}</title>",
        "  </head>",
        "  <body>",
        f"    <h1>Links for {html.escape(project)}</h1>",
    ]
    for f in files:
        attributes = [f'href="../../files/{quote(f.filename)}#sha256={f.sha256}"']
        if f.requires_python is not None:
            attributes.append(f'data-requires-python="{html.escape(f.requires_python)}"')
        if f.yanked:
            attributes.append(f'data-yanked="{html.escape(f.yanked_reason or "")}"')
        new, legacy = _metadata_keys(mode, f.metadata_sha256)
        if new is not None:
            attributes.append(f'data-core-metadata="{new}"')
        if legacy is not None:
            attributes.append(f'data-dist-info-metadata="{legacy}"')
        attributes.append(f'data-upload-time="{_upload_time(f.upload_time)}"')
        lines.append(f"    <a {' '.join(attributes)}>{html.escape(f.filename)}</a><br>")
    lines += ["  </body>", "</html>", ""]
    return "\n".join(lines)


def _json_page(project: str, files: Iterable[TreeFile], mode: Mode) -> str:
    entries = []
    versions: set[str] = set()
    for f in files:
        versions.add(f.version)
        entry: dict[str, object] = {
            "filename": f.filename,
            "url": f"../../files/{quote(f.filename)}",
            "hashes": {"sha256": f.sha256},
        }
        if f.requires_python is not None:
            entry["requires-python"] = f.requires_python
        entry["yanked"] = (f.yanked_reason or True) if f.yanked else False
        new, legacy = _metadata_keys(mode, f.metadata_sha256)
        if new is not None:
            entry["core-metadata"] = _json_key(new)
        if legacy is not None:
            entry["dist-info-metadata"] = _json_key(legacy)
        entry["size"] = f.size
        entry["upload-time"] = _upload_time(f.upload_time)
        entries.append(entry)
    page = {
        "meta": {"api-version": "1.1"},
        "name": project,
        "files": entries,
        "versions": sorted(versions, key=_version_key),
    }
    return json.dumps(page, indent=2) + "\n"


def _project_list_html(projects: Iterable[str]) -> str:
    links = [f'    <a href="{quote(p)}/">{html.escape(p)}</a><br>' for p in projects]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            "<html>",
            '  <head><meta name="pypi:repository-version" content="1.1">'
            "<title>Simple index</title></head>",
            "  <body>",
            *links,
            "  </body>",
            "</html>",
            "",
        ]
    )


def _project_list_json(projects: Iterable[str]) -> str:
    page = {"meta": {"api-version": "1.1"}, "projects": [{"name": p} for p in projects]}
    return json.dumps(page, indent=2) + "\n"


def write_index(
    root: Path,
    dists: Iterable[Path],
    *,
    mode: Mode,
    yanked: Mapping[str, str | None] | None = None,
    requires_python: Mapping[str, str] | None = None,
    metadata: Mapping[str, bytes] | None = None,
) -> IndexTree:
    """Copy ``dists`` under ``root/files`` and write the pages for ``mode``.

    ``yanked`` maps a file name to its yank reason (None: yanked without a reason).
    ``requires_python`` maps a file name to the Requires-Python the pages advertise; by default
    the pages repeat the file's own Requires-Python metadata (as PyPI does).
    ``metadata`` maps a file name to the core metadata to serve and advertise for it instead of
    the wheel's own (for hostile wheels that zipfile cannot or should not read).
    """
    yanked = dict(yanked or {})
    requires_python = dict(requires_python or {})
    files_dir = root / "files"
    simple_dir = root / "simple"
    files_dir.mkdir(parents=True, exist_ok=True)
    simple_dir.mkdir(parents=True, exist_ok=True)

    sources = sorted(dists, key=lambda p: p.name)
    names = {p.name for p in sources}
    if len(names) != len(sources):
        msg = "two distributions share a file name"
        raise ValueError(msg)
    unknown = (set(yanked) | set(requires_python)) - names
    if unknown:
        msg = f"yanked/requires_python name files that are not in dists: {sorted(unknown)}"
        raise ValueError(msg)

    projects: dict[str, list[TreeFile]] = {}
    for number, source in enumerate(sources):
        target = files_dir / source.name
        shutil.copyfile(source, target)
        data = target.read_bytes()
        given = (metadata or {}).get(source.name)
        core = read_metadata(target) if given is None else given
        metadata_sha256 = hashlib.sha256(core).hexdigest()
        if mode.serves_metadata:
            (files_dir / f"{source.name}.metadata").write_bytes(core)
        project, version = _split_filename(source.name)
        advertised = requires_python.get(source.name)
        if advertised is None:
            advertised = BytesHeaderParser().parsebytes(core).get("Requires-Python")
        tree_file = TreeFile(
            filename=source.name,
            project=project,
            version=version,
            path=target,
            url_path=f"/files/{quote(source.name)}",
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            metadata=core,
            metadata_sha256=metadata_sha256,
            requires_python=advertised,
            yanked=source.name in yanked,
            yanked_reason=yanked.get(source.name),
            upload_time=UPLOAD_EPOCH + timedelta(hours=number),
        )
        projects.setdefault(project, []).append(tree_file)

    for project, files in projects.items():
        page_dir = simple_dir / project
        page_dir.mkdir(exist_ok=True)
        (page_dir / "index.html").write_text(_html_page(project, files, mode), encoding="utf-8")
        (page_dir / "index.json").write_text(_json_page(project, files, mode), encoding="utf-8")
    ordered = sorted(projects)
    (simple_dir / "index.html").write_text(_project_list_html(ordered), encoding="utf-8")
    (simple_dir / "index.json").write_text(_project_list_json(ordered), encoding="utf-8")
    return IndexTree(
        root=root,
        mode=mode,
        projects={p: tuple(projects[p]) for p in ordered},
    )
