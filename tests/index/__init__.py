"""The test index: distributions built in tests, a static Simple API tree, real HTTP servers.

* :mod:`index.wheels` builds wheels and sdists (pure Python, deterministic).
* :mod:`index.tree` writes a PEP 503/691/658/714/700 tree for one :class:`~index.tree.Mode`.
* :mod:`index.server` serves a tree with uvicorn + starlette on loopback, logging requests.
* :mod:`index.thirdparty` runs simple-repository-server and pypiserver for interop tests.

This module describes the standard distribution set the session fixtures build (see
``tests/conftest.py``), so tests can look up what they should get back.

The standard set, and what a resolver should make of it:

==================  ===========  =======================================================
project             version      notes
==================  ===========  =======================================================
alpha               1.0          no dependencies
alpha               2.0          ``beta>=1.0``; extra ``fast`` adds ``gamma``; wheel + sdist
beta                1.0, 1.1     1.1 has Requires-Python ``>=3.8``
gamma               0.9          plain wheel
gamma               1.0          only a ``cp27-cp27mu-manylinux1_x86_64`` wheel (never usable)
bigdir              1.0          3,000 padding modules: central directory > 200 KiB
bigfile             1.0          3 MB stored blob
tiny                1.0          the smallest wheel
distfirst           1.0          ``.dist-info/`` written before the package
zipsixtyfour        1.0          zip64 end record; classic end record holds sentinels
sdistonly           1.0          only an sdist (Metadata-Version 2.1)
Mixed_Case.Name     1.0          normalizes to ``mixed-case-name``
yanky               1.0, 2.0     2.0 is yanked (a reason with HTML special characters)
==================  ===========  =======================================================
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from packaging.utils import NormalizedName, canonicalize_name

from index.wheels import build_sdist, build_wheel, read_metadata, sdist_filename, wheel_filename

__all__ = [
    "STANDARD_DISTS",
    "STANDARD_YANKED",
    "BuiltDist",
    "DistSet",
    "DistSpec",
    "build_dist_set",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class DistSpec:
    """How to build one distribution."""

    name: str
    version: str
    kind: Literal["wheel", "sdist"] = "wheel"
    requires_dist: tuple[str, ...] = ()
    requires_python: str | None = None
    provides_extra: tuple[str, ...] = ()
    tag: str = "py3-none-any"
    padding_files: int = 0
    padding_bytes: int = 0
    dist_info_first: bool = False
    force_zip64: bool = False

    @property
    def project(self) -> NormalizedName:
        return canonicalize_name(self.name)

    @property
    def filename(self) -> str:
        if self.kind == "sdist":
            return sdist_filename(self.name, self.version)
        return wheel_filename(self.name, self.version, self.tag)

    def build(self, out_dir: Path) -> Path:
        if self.kind == "sdist":
            return build_sdist(
                out_dir,
                self.name,
                self.version,
                requires_dist=self.requires_dist,
                requires_python=self.requires_python,
                provides_extra=self.provides_extra,
            )
        return build_wheel(
            out_dir,
            self.name,
            self.version,
            requires_dist=self.requires_dist,
            requires_python=self.requires_python,
            provides_extra=self.provides_extra,
            tag=self.tag,
            padding_files=self.padding_files,
            padding_bytes=self.padding_bytes,
            dist_info_first=self.dist_info_first,
            force_zip64=self.force_zip64,
        )


_ALPHA_2_DEPS = ("beta>=1.0", 'gamma; extra == "fast"')

STANDARD_DISTS: tuple[DistSpec, ...] = (
    DistSpec(name="alpha", version="1.0"),
    DistSpec(name="alpha", version="2.0", requires_dist=_ALPHA_2_DEPS, provides_extra=("fast",)),
    DistSpec(
        name="alpha",
        version="2.0",
        kind="sdist",
        requires_dist=_ALPHA_2_DEPS,
        provides_extra=("fast",),
    ),
    DistSpec(name="beta", version="1.0"),
    DistSpec(name="beta", version="1.1", requires_python=">=3.8"),
    DistSpec(name="gamma", version="0.9"),
    DistSpec(name="gamma", version="1.0", tag="cp27-cp27mu-manylinux1_x86_64"),
    DistSpec(name="bigdir", version="1.0", padding_files=3000),
    DistSpec(name="bigfile", version="1.0", padding_bytes=3_000_000),
    DistSpec(name="tiny", version="1.0"),
    DistSpec(name="distfirst", version="1.0", dist_info_first=True),
    DistSpec(name="zipsixtyfour", version="1.0", force_zip64=True),
    DistSpec(name="sdistonly", version="1.0", kind="sdist"),
    DistSpec(name="Mixed_Case.Name", version="1.0"),
    DistSpec(name="yanky", version="1.0"),
    DistSpec(name="yanky", version="2.0"),
)

#: File name to yank reason.
STANDARD_YANKED: Mapping[str, str | None] = {
    wheel_filename("yanky", "2.0"): 'broken build: use "1.0" <see notes> & retry',
}


@dataclass(frozen=True, kw_only=True, slots=True)
class BuiltDist:
    spec: DistSpec
    path: Path
    #: The exact core metadata bytes inside (METADATA or PKG-INFO).
    metadata: bytes
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        return self.path.name


@dataclass(frozen=True, kw_only=True, slots=True)
class DistSet:
    """Built distributions plus how the index should yank them."""

    directory: Path
    dists: tuple[BuiltDist, ...]
    yanked: Mapping[str, str | None]

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(d.path for d in self.dists)

    def get(self, filename: str) -> BuiltDist:
        for dist in self.dists:
            if dist.filename == filename:
                return dist
        raise KeyError(filename)

    def metadata(self, filename: str) -> bytes:
        return self.get(filename).metadata

    def find(self, name: str, version: str, kind: str = "wheel") -> BuiltDist:
        """The one ``kind`` distribution of ``name`` (any spelling) at ``version``."""
        project = canonicalize_name(name)
        found = [
            d
            for d in self.dists
            if d.spec.project == project and d.spec.version == version and d.spec.kind == kind
        ]
        if len(found) != 1:
            msg = f"{len(found)} {kind}s for {name} {version}"
            raise KeyError(msg)
        return found[0]

    def projects(self) -> tuple[NormalizedName, ...]:
        return tuple(sorted({d.spec.project for d in self.dists}))


def build_dist_set(
    out_dir: Path,
    specs: Iterable[DistSpec] = STANDARD_DISTS,
    yanked: Mapping[str, str | None] = STANDARD_YANKED,
) -> DistSet:
    """Build every spec into ``out_dir``."""
    built = []
    for spec in specs:
        path = spec.build(out_dir)
        data = path.read_bytes()
        built.append(
            BuiltDist(
                spec=spec,
                path=path,
                metadata=read_metadata(path),
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
            )
        )
    return DistSet(directory=out_dir, dists=tuple(built), yanked=dict(yanked))
