"""From a project page to ordered candidates for one target (sans-I/O).

Everything here uses index data only, so that no metadata is fetched for a file the target could
not install: wheel tags, the file's Requires-Python, PEP 592 yanking, the version specifier,
pre-release rules and ``--only-binary``/``--no-binary``.

Work is lazy: the page arrives grouped by the version text of its file names
(:class:`~skimlock.simple.FileGroup`); a version's records are built, checked (contradicting
listings of one URL, ``--exclude-newer``) and parsed (wheel tags, Requires-Python) only when that
version is reached in descending order, and kept for the run. On numpy's page (about 4,400
files) the resolver typically looks at one or two versions.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from operator import attrgetter

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

from .errors import UploadTimeMissingError, redact
from .simple import FileGroup, IndexFile, Listing, ProjectPage, version_text
from .target import Target

__all__ = ["BinaryPolicy", "Candidate", "ProjectFiles"]

logger = logging.getLogger(__name__)

_RELEASE = attrgetter("release")
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


#: A page's listing and, per version, its group numbers in it and records built in code.
_Layer = tuple[Listing | None, dict[Version, int | list[int | IndexFile]]]


def _sources(layer: _Layer, version: Version) -> list[FileGroup | IndexFile]:
    listing, by_version = layer
    found = by_version.get(version)
    if found is None:
        return []
    items = [found] if isinstance(found, int) else found
    sources: list[FileGroup | IndexFile] = []
    for item in items:
        if isinstance(item, int):
            assert listing is not None
            sources.append(listing.group(item))
        else:
            sources.append(item)
    return sources


class ProjectFiles:
    """A project page grouped by version; yields :class:`Candidate` objects lazily.

    ``exclude_newer``: files uploaded after this moment are invisible (PEP 700 ``upload-time``);
    a file the index gives no upload time for raises :class:`UploadTimeMissingError`.
    """

    def __init__(
        self, page: ProjectPage, *, index_url: str, exclude_newer: datetime | None = None
    ) -> None:
        self.name = page.name
        self.index_url = index_url
        self.page_url = page.url
        self.exclude_newer = exclude_newer
        self._index_of: dict[Version, str] = {}
        # A version's sources: group numbers of the page's listing (one int in the usual
        # case: a million versions must not cost a million lists), records built in code.
        by_version: dict[Version, int | list[int | IndexFile]] = {}
        listing = page.listing
        # A parsed page: its listing (``page.files`` is a view of it); else records built in code.
        built_in_code: Sequence[IndexFile] = page.files if listing is None else ()
        #: Whether every version is a plain ``N.N...`` (sorted by release, see below).
        plain = not built_in_code
        if listing is not None:
            for number, key in enumerate(listing.keys):  # each text once
                version = _version(key, self.name)
                if version is None:
                    continue
                found = by_version.get(version)
                if found is None:
                    by_version[version] = number
                    plain = plain and key.isascii() and key.replace(".", "").isdigit()
                elif isinstance(found, int):
                    by_version[version] = [found, number]
                else:
                    found.append(number)
        cache: dict[str, Version | None] = {}
        for file in built_in_code:
            text = version_text(file.filename)
            if text is None:
                continue
            if text not in cache:
                cache[text] = _version(text, self.name)
            version = cache[text]
            if version is not None:
                found = by_version.get(version)
                if found is None:
                    by_version[version] = [file]
                elif isinstance(found, int):
                    by_version[version] = [found, file]
                else:
                    found.append(file)
        #: Per index (one unless merged): its listing and each version's sources.
        self._layers: tuple[_Layer, ...] = ((listing, by_version),)
        self._built: dict[Version, tuple[IndexFile, ...]] = {}
        # For release-only versions PEP 440 order is the order of the release tuples (two
        # tuples that differ only by trailing zeros are one Version, hence one key here): a
        # key sort, without a Version.__lt__ call per comparison.
        self.versions: tuple[Version, ...] = tuple(
            sorted(by_version, key=_RELEASE, reverse=True) if plain
            else sorted(by_version, reverse=True)
        )

    @classmethod
    def merge(cls, projects: Sequence[ProjectFiles]) -> ProjectFiles:
        """One project from several indexes (``--index-strategy merge``).

        A filename listed by more than one index is taken from the first; a version's
        candidate names the first index that lists it.
        """
        first = projects[0]
        merged = copy.copy(first)
        index_of: dict[Version, str] = {}
        for project in projects:
            for _, layer in project._layers:
                for version in layer:
                    index_of.setdefault(version, project.index_url)
        merged._layers = tuple(layer for project in projects for layer in project._layers)
        merged._index_of = index_of
        merged._built = {}
        merged.versions = tuple(sorted(index_of, reverse=True))
        return merged

    def files(self, version: Version) -> tuple[IndexFile, ...]:
        """Every file listed for ``version`` (after the checks above), in page order."""
        built = self._built.get(version)
        if built is not None:
            return built
        seen: set[str] = set()
        kept: list[IndexFile] = []
        for layer in self._layers:
            files: list[IndexFile] = []
            for source in _sources(layer, version):
                if isinstance(source, IndexFile):
                    files.append(source)
                else:
                    files.extend(source.records())
            # Only files named as this project's wheels or sdists count (a listing with a broken
            # name must not shadow a good listing of the same URL); a filename listed by an
            # earlier index shadows the later ones (merge).
            named = [f for f in files if _is_distribution(f.filename, self.name)]
            fresh = [f for f in _consistent(named, self.page_url) if f.filename not in seen]
            seen.update(f.filename for f in fresh)
            kept.extend(fresh)
        if self.exclude_newer is not None:
            kept = self._cool(kept, self.exclude_newer)
        built = self._built[version] = tuple(kept)
        return built

    def _cool(self, files: list[IndexFile], cutoff: datetime) -> list[IndexFile]:
        kept = []
        for file in files:
            uploaded = file.uploaded_at
            if uploaded is None:
                raise UploadTimeMissingError(self.name, file.filename, self.page_url)
            if uploaded <= cutoff:
                kept.append(file)
        return kept

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
        if version not in self._built and self._python_rules_out(version, python):
            return ()
        kept: list[tuple[int, IndexFile]] = []
        python_ok: dict[str, bool] = {}  # a version's files mostly share one Requires-Python
        for file in self.files(version):
            if file.yanked and not allow_yanked:
                continue
            if file.requires_python:
                ok = python_ok.get(file.requires_python)
                if ok is None:
                    ok = python_ok[file.requires_python] = _python_ok(file.requires_python, python)
                if not ok:
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

    def _python_rules_out(self, version: Version, python: Version) -> bool:
        """True when every file of ``version`` has a Requires-Python that excludes ``python``,
        read without building the records (the newest releases of a project often need a
        newer Python than the target)."""
        for layer in self._layers:
            for source in _sources(layer, version):
                if isinstance(source, IndexFile):
                    return False
                values = source.requires_pythons()
                if values is None:
                    return False
                for value in {v if isinstance(v, str) else None for v in values}:
                    text = value.strip() if value is not None else None
                    if not text or _python_ok(text, python):
                        return False
        return True

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


def _version(text: str, name: str) -> Version | None:
    if not text:
        return None
    try:
        return Version(text)
    except InvalidVersion:
        logger.debug("skipping files of %s with invalid version %r", name, text)
        return None


def _consistent(files: list[IndexFile], page_url: str) -> list[IndexFile]:
    """``files`` with each URL once: repeated listings of a URL with the same hashes are
    merged (first listing wins, hashes joined); listings that contradict each other on a
    hash drop the URL with a warning, since the index cannot say which one is right."""
    if len({f.url for f in files}) == len(files):
        return files
    by_url: dict[str, IndexFile] = {}
    contradicted: set[str] = set()
    for file in files:
        first = by_url.get(file.url)
        if first is None:
            by_url[file.url] = file
            continue
        clash = sorted(
            name for name, digest in file.hashes.items()
            if first.hashes.get(name, digest) != digest
        )
        if clash:
            if file.url not in contradicted:
                logger.warning(
                    "ignoring %r: %s lists %r more than once with different %s hashes",
                    file.filename, redact(page_url), redact(file.url), "/".join(clash),
                )
            contradicted.add(file.url)
        elif file.hashes.keys() - first.hashes.keys():
            by_url[file.url] = replace(first, hashes={**file.hashes, **first.hashes})
    return [f for url, f in by_url.items() if url not in contradicted]


def _is_distribution(filename: str, project: str) -> bool:
    """Is ``filename`` a wheel or an sdist of ``project``?"""
    if filename.endswith(".whl"):
        return _wheel_tags(filename, project) is not None
    return _is_sdist(filename, project)


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
