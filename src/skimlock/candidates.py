"""From a project page to ordered candidates for one target (sans-I/O).

Everything here uses index data only, so that no metadata is fetched for a file the target could
not install: wheel tags, the file's Requires-Python, PEP 592 yanking, the version specifier,
pre-release rules and ``--only-binary``/``--no-binary``.

Work is lazy: a page is grouped by version with a cheap split of each filename; a version's files
are parsed (wheel tags, Requires-Python) only when that version is reached in descending order.
On numpy's page (about 4,400 files) the resolver typically looks at one or two versions.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .simple import IndexFile, ProjectPage
from .target import Target

__all__ = ["BinaryPolicy", "Candidate", "ProjectFiles"]

logger = logging.getLogger(__name__)

_SDIST_SUFFIXES = (".tar.gz", ".zip")
#: Sorts sdists after every wheel.
_SDIST_RANK = 1 << 30


@dataclass(frozen=True, kw_only=True, slots=True)
class BinaryPolicy:
    """``--only-binary`` / ``--no-binary``: sets of normalized names, or containing ``:all:``."""

    only_binary: frozenset[str] = frozenset()
    no_binary: frozenset[str] = frozenset()

    def wheels_allowed(self, name: str) -> bool:
        if name in self.no_binary:
            return False
        return not (":all:" in self.no_binary and name not in self.only_binary)

    def sdists_allowed(self, name: str) -> bool:
        if name in self.only_binary:
            return False
        return not (":all:" in self.only_binary and name not in self.no_binary)


@dataclass(frozen=True, kw_only=True, slots=True)
class Candidate:
    """One version of a project and its files usable in the target, best first."""

    name: NormalizedName
    version: Version
    #: Wheels by tag preference, then sdists. Never empty.
    files: tuple[IndexFile, ...]
    #: Base URL of the index the page came from.
    index_url: str

    @property
    def metadata_file(self) -> IndexFile:
        """The file whose metadata stands for this candidate: the best wheel, else the sdist."""
        return self.files[0]

    @property
    def yanked(self) -> bool:
        return all(f.yanked for f in self.files)


class ProjectFiles:
    """A project page grouped by version; yields :class:`Candidate` objects lazily."""

    def __init__(self, page: ProjectPage, *, index_url: str) -> None:
        self.name = page.name
        self.index_url = index_url
        self.page_url = page.url
        self._index_of: dict[Version, str] = {}
        by_version: dict[Version, list[IndexFile]] = {}
        raw_versions: dict[str, Version | None] = {}
        for file in page.files:
            text = _version_text(file.filename)
            if text is None:
                continue
            if text not in raw_versions:
                try:
                    raw_versions[text] = Version(text)
                except InvalidVersion:
                    logger.debug("skipping %s: invalid version %r", file.filename, text)
                    raw_versions[text] = None
            version = raw_versions[text]
            if version is not None:
                by_version.setdefault(version, []).append(file)
        self._by_version = by_version
        self.versions: tuple[Version, ...] = tuple(sorted(by_version, reverse=True))

    @classmethod
    def merge(cls, projects: Sequence[ProjectFiles]) -> ProjectFiles:
        """One project from several indexes (``--index-strategy merge``).

        A filename listed by more than one index is taken from the first; a version's
        candidate names the first index that lists it.
        """
        first = projects[0]
        merged = copy.copy(first)
        by_version: dict[Version, list[IndexFile]] = {}
        index_of: dict[Version, str] = {}
        seen: set[str] = set()
        for project in projects:
            for version, files in project._by_version.items():
                for file in files:
                    if file.filename not in seen:
                        seen.add(file.filename)
                        by_version.setdefault(version, []).append(file)
                        index_of.setdefault(version, project.index_url)
        merged._by_version = by_version
        merged._index_of = index_of
        merged.versions = tuple(sorted(by_version, reverse=True))
        return merged

    def candidates(
        self,
        target: Target,
        *,
        specifier: SpecifierSet | None = None,
        prereleases: bool | None = None,
        binary: BinaryPolicy | None = None,
        pinned: bool = False,
    ) -> Iterator[Candidate]:
        """Candidates satisfying ``specifier`` that have a file usable in ``target``, highest
        version first.

        ``prereleases``: True allows them, False forbids them; None follows PEP 440: allowed
        when the specifier names one, else only when no final release has a usable file (so a
        project whose final releases all lack a wheel for the target still resolves to its
        pre-release). ``pinned``: the requirement pins an exact version (``==``/``===``), so
        yanked files may be used (PEP 592), after the version's non-yanked files.
        """
        spec = specifier if specifier is not None else SpecifierSet()
        policy = binary or BinaryPolicy()
        allow = prereleases if prereleases is not None else spec.prereleases
        if allow is not None:
            yield from self._candidates(spec.filter(self.versions, prereleases=allow),
                                        target, policy, pinned)
            return
        found = False
        for candidate in self._candidates(
            spec.filter(self.versions, prereleases=False), target, policy, pinned
        ):
            found = True
            yield candidate
        if not found:
            pre = (v for v in spec.filter(self.versions, prereleases=True) if v.is_prerelease)
            yield from self._candidates(pre, target, policy, pinned)

    def usable(
        self, version: Version, target: Target, *, binary: BinaryPolicy | None = None,
        allow_yanked: bool = False,
    ) -> tuple[IndexFile, ...]:
        """The files of ``version`` usable in ``target``: wheels by tag rank, then sdists.

        With ``allow_yanked``, yanked files are returned only when the version has no usable
        file that is not yanked (PEP 592 speaks of releases; a lock never needs a yanked file
        next to a good one).
        """
        policy = binary or BinaryPolicy()
        python = target.python_full_version
        kept: list[tuple[int, IndexFile]] = []
        for file in self._by_version.get(version, ()):
            if file.yanked and not allow_yanked:
                continue
            if file.requires_python and not _python_ok(file.requires_python, python):
                continue
            if file.is_wheel:
                if not policy.wheels_allowed(self.name):
                    continue
                tags = _wheel_tags(file.filename, self.name)
                rank = target.tag_rank(tags) if tags is not None else None
                if rank is not None:
                    kept.append((rank, file))
            elif policy.sdists_allowed(self.name) and _is_sdist(file.filename, self.name):
                kept.append((_SDIST_RANK, file))
        if any(not f.yanked for _, f in kept):
            kept = [(rank, f) for rank, f in kept if not f.yanked]
        kept.sort(key=lambda item: item[0])  # stable: index order among equals
        return tuple(f for _, f in kept)

    def _candidates(
        self, versions: Iterable[Version], target: Target, policy: BinaryPolicy, pinned: bool
    ) -> Iterator[Candidate]:
        for version in versions:
            files = self.usable(version, target, binary=policy, allow_yanked=pinned)
            if files:
                yield Candidate(
                    name=self.name,
                    version=version,
                    files=files,
                    index_url=self._index_of.get(version, self.index_url),
                )


def _version_text(filename: str) -> str | None:
    """The version part of a wheel or sdist filename, without full validation."""
    if filename.endswith(".whl"):
        parts = filename.split("-")
        return parts[1] if len(parts) in (5, 6) else None
    for suffix in _SDIST_SUFFIXES:
        if filename.endswith(suffix):
            stem = filename[: -len(suffix)]
            if "-" in stem:
                return stem.rpartition("-")[2]
    return None


@lru_cache(maxsize=4096)
def _wheel_tags(filename: str, project: str) -> frozenset[Tag] | None:
    try:
        name, _version, _build, tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion):
        logger.debug("skipping invalid wheel filename %s", filename)
        return None
    if name != project:
        logger.debug("skipping %s: it is not a wheel of %s", filename, project)
        return None
    return tags


def _is_sdist(filename: str, project: str) -> bool:
    try:
        name, _version = parse_sdist_filename(filename)
    except (InvalidSdistFilename, InvalidVersion):
        return False
    return canonicalize_name(name) == project


@lru_cache(maxsize=1024)
def _specifier(text: str) -> SpecifierSet | None:
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        logger.debug("ignoring invalid Requires-Python %r on the index", text)
        return None


def _python_ok(requires_python: str, python: Version) -> bool:
    spec = _specifier(requires_python)
    return spec is None or spec.contains(python, prereleases=True)
