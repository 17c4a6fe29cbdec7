"""The resolvelib provider.

Identifiers are ``(normalized name, frozenset of extras)``. A candidate with extras depends on the
candidate without extras at the same version, plus the dependencies its extras activate — the
standard way, so one version is chosen per project whatever extras are asked for. A virtual
identifier :data:`PYTHON` carries the target's Python version, so that a ``Requires-Python`` in
metadata (which may be stricter than the index attribute) rejects a candidate and makes the
resolver backtrack.

Candidates are filtered on index data first (see :mod:`skimlock.candidates`); metadata is fetched
only in :meth:`Provider.get_dependencies`, i.e. for candidates the resolver actually tries. When a
candidate is chosen its dependencies are prefetched (pages, then the metadata of their best
candidate) through the fetch layer's futures, so wall time follows the depth of the graph rather
than the number of projects.

With ``preferred`` (a name -> version mapping), that version is tried first whenever the
requirements allow it and it has a file for the target: a universal lock threads the pins of one
environment's pass into the next this way, so versions align across environments.

A requirement pinning one version (``==1.0``, ``===1.0``, also through a constraint) may select a
yanked release (PEP 592). A dependency that no index has gives no candidates, so the resolver
backtracks to a version without it; a root requirement for such a project is an error at once.

Preference order (:meth:`Provider.get_preference`, lower first):

1. the Python requirement (it is decided already and rejects candidates early);
2. projects the last conflict was about (resolvelib's backtrack causes);
3. pinned requirements (``==``/``===``), then projects the user named;
4. among projects the user named, the order they were named in; among the others, fewer
   matching versions on the index (fewer choices, less backtracking). Deciding named projects
   in input order means a conflict between two of them backtracks the one named last: with
   ``... google-cloud-bigquery ... kubernetes`` (python-dateutil <3 against >=3) one step back
   on kubernetes resolves in 2 s, where ordering named projects by version count walked
   bigquery's many versions and gave up after 20,000 rounds;
5. shallower in the dependency graph;
6. the name, for determinism.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from packaging.markers import Marker, UndefinedComparison
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib import AbstractProvider
from resolvelib.structs import RequirementInformation

from .build import Builder, BuildPolicy, log_output
from .candidates import BinaryPolicy, Candidate, ProjectFiles
from .errors import (
    BuildError,
    DynamicMetadataError,
    IntegrityError,
    InvalidMetadataError,
    ProjectNotFoundError,
    SdistError,
)
from .fetch import FetchedMetadata, Fetcher
from .sdist import is_sdist
from .target import Target

__all__ = ["PYTHON", "Identifier", "Indexes", "Provider", "Req", "ResolverCandidate"]

logger = logging.getLogger(__name__)

Identifier = tuple[str, frozenset[NormalizedName]]

#: The virtual project standing for the target's Python.
PYTHON: Identifier = ("<python>", frozenset())


@dataclass(frozen=True, kw_only=True, slots=True)
class Req:
    """A requirement as the resolver sees it."""

    name: NormalizedName
    extras: frozenset[NormalizedName] = frozenset()
    specifier: SpecifierSet = field(default_factory=SpecifierSet)
    #: Where a root requirement came from ("command line", "requirements.txt:3"); None otherwise.
    source: str | None = None

    @property
    def identifier(self) -> Identifier:
        return (self.name, self.extras)

    @property
    def pinned(self) -> bool:
        """Pins one exact version (``==1.0``, ``===1.0``; not ``==1.*``): PEP 592 lets it
        select a yanked release."""
        return _pins(self.specifier)

    def __str__(self) -> str:
        extras = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        return f"{self.name}{extras}{self.specifier}"


@dataclass(frozen=True, kw_only=True, slots=True)
class ResolverCandidate:
    """A candidate of an identifier: an index candidate with the extras it provides."""

    candidate: Candidate | None
    extras: frozenset[NormalizedName] = frozenset()
    #: Set for the :data:`PYTHON` candidate only.
    python: Version | None = None

    @property
    def name(self) -> str:
        return self.candidate.name if self.candidate is not None else PYTHON[0]

    @property
    def version(self) -> Version:
        if self.candidate is not None:
            return self.candidate.version
        assert self.python is not None
        return self.python

    @property
    def identifier(self) -> Identifier:
        return (self.name, self.extras)

    def __str__(self) -> str:
        extras = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        return f"{self.name}{extras} {self.version}"


class Indexes:
    """Project lookups over one or more indexes.

    By default the first index that has a project is the only one used for it (safe against
    dependency confusion). With ``merge=True`` the files of every index that has the project are
    used together (the first index wins for a filename listed twice).
    """

    def __init__(
        self, fetcher: Fetcher, urls: Sequence[str], *, merge: bool = False,
        exclude_newer: datetime | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.urls = tuple(urls)
        self.merge = merge
        self.exclude_newer = exclude_newer
        self._lock = threading.Lock()
        self._futures: dict[str, Future[ProjectFiles | None]] = {}

    def submit(self, name: NormalizedName) -> Future[ProjectFiles | None]:
        with self._lock:
            future = self._futures.get(name)
            if future is None:
                future = Future()
                self._futures[name] = future
                self._lookup(name, 0, future, [])
        return future

    def get(self, name: NormalizedName) -> ProjectFiles:
        files = self.submit(name).result()
        if files is None:
            raise ProjectNotFoundError(name, self.urls)
        return files

    def _lookup(
        self, name: NormalizedName, position: int, result: Future[ProjectFiles | None],
        found: list[ProjectFiles],
    ) -> None:
        if position >= len(self.urls):
            result.set_result(_merged(found) if found else None)
            return
        index_url = self.urls[position]
        try:
            page_future = self.fetcher.submit_page(index_url, name)
        except Exception as exc:  # e.g. the fetcher was closed: fail the lookup, never hang
            result.set_exception(exc)
            return

        def done(page_future: Future[Any]) -> None:
            try:
                page = page_future.result()
            except BaseException as exc:  # delivered to whoever waits on the result
                result.set_exception(exc)
                return
            try:
                if page is not None:
                    found.append(ProjectFiles(
                        page, index_url=index_url, exclude_newer=self.exclude_newer
                    ))
                    if not self.merge:
                        result.set_result(found[0])
                        return
                self._lookup(name, position + 1, result, found)
            except Exception as exc:
                if not result.done():
                    result.set_exception(exc)

        page_future.add_done_callback(done)


def _merged(found: list[ProjectFiles]) -> ProjectFiles:
    if len(found) == 1:
        return found[0]
    return ProjectFiles.merge(found)


class Provider(AbstractProvider[Req, ResolverCandidate, Identifier]):
    """resolvelib provider over skimlock's index and fetch layers. No I/O in the constructor."""

    def __init__(
        self,
        *,
        indexes: Indexes,
        target: Target,
        constraints: Mapping[NormalizedName, SpecifierSet] | None = None,
        binary: BinaryPolicy | None = None,
        pre: bool = False,
        requested: Iterable[NormalizedName] = (),
        prefetch: bool = True,
        preferred: Mapping[NormalizedName, Version] | None = None,
        builder: Builder | None = None,
    ) -> None:
        self.indexes = indexes
        #: Builds sdist metadata when nothing cheaper works; None: never build.
        self.builder = builder
        self.fetcher = indexes.fetcher
        self.target = target
        self.constraints = dict(constraints or {})
        self.binary = binary or BinaryPolicy()
        self.pre = pre
        self.requested = frozenset(requested)
        #: A version to try first for a project when the requirements on it accept it (an
        #: installed distribution, a pin of an earlier lock or of an earlier universal pass);
        #: others follow as usual.
        self.preferred: dict[NormalizedName, Version] = dict(preferred or {})
        #: Input order of the projects the user named (earlier = decided first).
        self._order: dict[str, int] = {
            name: index for index, name in enumerate(dict.fromkeys(requested))
        }
        self.prefetching = prefetch
        self._depth: dict[Identifier, float] = {PYTHON: 0.0}
        self._prefetch_lock = threading.Lock()
        self._version_counts: dict[tuple[str, str], int] = {}
        self._satisfied: dict[tuple[SpecifierSet, str, Version], bool] = {}
        self._deps: dict[tuple[str, Version, frozenset[NormalizedName]], list[Req]] = {}
        #: Versions skipped because their metadata is invalid or unavailable, with the reason.
        self.skipped: dict[tuple[str, Version], str] = {}
        #: Of those, the versions rejected because their metadata could not be had at all (an
        #: sdist that cannot be read or built), with the reason and the option that would help.
        self.unavailable: dict[tuple[str, Version], str] = {}
        #: (project, reason) pairs already warned about as rejected candidates.
        self._warned_rejections: set[tuple[str, str]] = set()
        #: The first candidate that asked for each project (for conflict explanations).
        self.asked_by: dict[str, ResolverCandidate] = {}
        #: Where each root requirement came from ("command line", "req.txt:3").
        self.root_sources: dict[str, str] = {}
        self._prefetched: set[Identifier] = set()

    # -- resolvelib protocol ------------------------------------------------------------------

    def identify(self, requirement_or_candidate: Req | ResolverCandidate) -> Identifier:
        return requirement_or_candidate.identifier

    def get_preference(
        self,
        identifier: Identifier,
        resolutions: Mapping[Identifier, ResolverCandidate],
        candidates: Mapping[Identifier, Iterator[ResolverCandidate]],
        information: Mapping[Identifier, Iterator[RequirementInformation[Req, ResolverCandidate]]],
        backtrack_causes: Sequence[RequirementInformation[Req, ResolverCandidate]],
    ) -> tuple[Any, ...]:
        infos = list(information[identifier])
        if identifier == PYTHON:
            return (0,)
        causes = {cause.requirement.name for cause in backtrack_causes}
        pinned = any(info.requirement.pinned for info in infos)
        direct = any(info.parent is None for info in infos) or identifier[0] in self.requested
        depths = [
            self._depth.get(info.parent.identifier, math.inf) if info.parent is not None else 0.0
            for info in infos
        ]
        depth = min(depths, default=math.inf) + 1
        self._depth[identifier] = min(depth, self._depth.get(identifier, math.inf))
        return (
            1,
            identifier[0] not in causes,
            not pinned,
            not direct,
            self._order.get(identifier[0], 0) if direct
            else self._matching_versions(identifier[0], [info.requirement for info in infos]),
            depth,
            identifier[0],
        )

    def find_matches(
        self,
        identifier: Identifier,
        requirements: Mapping[Identifier, Iterator[Req]],
        incompatibilities: Mapping[Identifier, Iterator[ResolverCandidate]],
    ) -> Any:
        reqs = list(requirements[identifier])
        bad = {c.version for c in incompatibilities[identifier]}
        if identifier == PYTHON:
            python = self.target.python_full_version
            ok = all(r.specifier.contains(python, prereleases=True) for r in reqs)
            return [ResolverCandidate(candidate=None, python=python)] if ok and python not in bad \
                else []
        name, extras = identifier
        specifier = self._specifier(name, reqs)
        pinned = self._pinned(name, reqs)
        files = self.indexes.submit(NormalizedName(name)).result()
        if files is None:
            if any(r.source is not None for r in reqs):
                raise ProjectNotFoundError(name, self.indexes.urls)
            return []  # a dependency nobody has: backtrack, and explain if that fails

        preferred = self.preferred.get(NormalizedName(name))

        def ordered() -> Iterator[Candidate]:
            first = None
            if preferred is not None and preferred not in bad and specifier.contains(
                preferred, prereleases=True
            ):
                first = next(
                    files.candidates(
                        self.target,
                        specifier=SpecifierSet(f"=={preferred}") & specifier,
                        prereleases=True,
                        binary=self.binary,
                        pinned=pinned,
                    ),
                    None,
                )
                file = first.metadata_file if first is not None else None
                if file is not None and not file.is_wheel and file.core_metadata is None:
                    first = None  # only an sdist whose metadata needs a build: not worth it
                if first is not None:
                    yield first
            for candidate in files.candidates(
                self.target,
                specifier=specifier,
                prereleases=True if self.pre else None,
                binary=self.binary,
                pinned=pinned,
            ):
                if first is None or candidate.version != first.version:
                    yield candidate

        def matches() -> Iterator[ResolverCandidate]:
            for candidate in ordered():
                if candidate.version in bad:
                    continue
                option = ResolverCandidate(candidate=candidate, extras=extras)
                if self._readable(option):
                    yield option

        return matches

    def _readable(self, option: ResolverCandidate) -> bool:
        """Can ``option``'s dependencies be read? A version whose metadata is invalid (a bad
        Requires-Dist, say) is skipped with a warning, as pip does, instead of ending the run;
        hash mismatches and other integrity errors of wheels still end it.

        A version whose metadata cannot be had from its sdist (builds forbidden, a failed build,
        a broken or hostile archive, a PKG-INFO that does not match) is a *rejected candidate*:
        skipped with a warning and recorded in :attr:`unavailable`, so the resolver moves on and
        a failure can say which versions were rejected and why."""
        assert option.candidate is not None
        key = (option.name, option.version, option.extras)
        if key in self._deps:
            return True
        if (option.name, option.version) in self.skipped:
            return False
        try:
            fetched = self.metadata(option.candidate)
            self._deps[key] = list(self._dependencies(option, fetched))
        except InvalidMetadataError as exc:
            self.skipped[(option.name, option.version)] = str(exc)
            logger.warning("ignoring %s %s: %s", option.name, option.version, exc)
            return False
        except (SdistError, BuildError, IntegrityError) as exc:
            if not is_sdist(option.candidate.metadata_file.filename):
                raise
            reason = str(exc).splitlines()[0]
            self.skipped[(option.name, option.version)] = reason
            why = getattr(exc, "reason", reason)
            self.unavailable[(option.name, option.version)] = why
            # One warning per project and reason (--no-build meets every old sdist of a
            # project); the others at -v. A failed resolution lists them all anyway.
            first = (option.name, why) not in self._warned_rejections
            self._warned_rejections.add((option.name, why))
            logger.log(logging.WARNING if first else logging.INFO, "rejected %s %s: %s",
                       option.name, option.version, reason)
            if isinstance(exc, BuildError) and exc.output:
                log_output(exc.filename, exc.output)
            return False
        return True

    def is_satisfied_by(self, requirement: Req, candidate: ResolverCandidate) -> bool:
        # resolvelib asks again for every pin after each step: remembered per (specifier set,
        # project, version), a question costs two hashes instead of a specifier walk. (The
        # virtual <python> candidate's name is no project's.)
        key = (requirement.specifier, candidate.name, candidate.version)
        answer = self._satisfied.get(key)
        if answer is None:
            answer = self._satisfied[key] = self._satisfies(requirement.specifier, candidate)
        return answer

    def _satisfies(self, specifier: SpecifierSet, candidate: ResolverCandidate) -> bool:
        if candidate.candidate is None:
            return specifier.contains(candidate.version, prereleases=True)
        constraint = self.constraints.get(NormalizedName(candidate.name))
        if constraint is not None and not constraint.contains(candidate.version, prereleases=True):
            return False
        return specifier.contains(candidate.version, prereleases=True)

    def get_dependencies(self, candidate: ResolverCandidate) -> Iterable[Req]:
        if candidate.candidate is None:
            return []
        key = (candidate.name, candidate.version, candidate.extras)
        deps = self._deps.get(key)
        if deps is None:
            deps = list(self._dependencies(candidate, self.metadata(candidate.candidate)))
            self._deps[key] = deps
        for dep in deps:
            self.asked_by.setdefault(dep.name, candidate)
        if self.prefetching:
            for dep in deps:
                if dep.identifier != PYTHON:
                    self.prefetch(dep)
        return deps

    # -- metadata and dependencies ------------------------------------------------------------

    def metadata(self, candidate: Candidate) -> FetchedMetadata:
        """The candidate's core metadata, from its best file (the fetcher fetches a URL once).

        For an sdist, cheapest first: served ``.metadata``, static PKG-INFO (both in the fetch
        layer), then a build (:mod:`skimlock.build`) when allowed."""
        file = candidate.metadata_file
        try:
            return self.fetcher.metadata(file)
        except DynamicMetadataError as exc:
            if self.builder is None:
                policy = BuildPolicy(no_build=True)
                raise BuildError(file.filename, policy.refusal(candidate.name)) from None
            logger.info("%s", exc)
            return self.builder.metadata(file)

    def _dependencies(
        self, candidate: ResolverCandidate, fetched: FetchedMetadata
    ) -> Iterator[Req]:
        meta = fetched.metadata
        assert candidate.candidate is not None
        if meta.requires_python is not None:
            yield Req(name=NormalizedName(PYTHON[0]), specifier=meta.requires_python)
        if candidate.extras:
            yield Req(
                name=NormalizedName(candidate.name),
                specifier=SpecifierSet(f"=={candidate.version}"),
            )
            provided = set(meta.provides_extra or ())
            unknown = candidate.extras - provided
            if unknown and provided is not None:
                logger.warning(
                    "%s %s does not provide the extra(s) %s",
                    candidate.name, candidate.version, ", ".join(sorted(unknown)),
                )
        active: list[str | None] = [*sorted(candidate.extras)] if candidate.extras else [None]
        for requirement in meta.requires_dist or ():
            try:
                needed = self._active(requirement.marker, active, bool(candidate.extras))
            except UndefinedComparison as exc:
                raise InvalidMetadataError(
                    fetched.file.filename, f"Requires-Dist {str(requirement)!r}: {exc}"
                ) from None
            if not needed:
                continue
            yield _to_req(requirement, fetched.file.filename)

    def _active(self, marker: Marker | None, extras: list[str | None], with_extras: bool) -> bool:
        """Is a dependency with ``marker`` needed by this candidate in the target?

        A candidate without extras takes dependencies whose marker holds with ``extra == ""``;
        a candidate with extras takes those that hold for one of its extras but not without
        (the latter come through its base candidate).
        """
        if marker is None:
            return not with_extras
        base = marker.evaluate(self.target.environment(None))
        if not with_extras:
            return base
        if base:
            return False
        return any(
            marker.evaluate(self.target.environment(extra))
            for extra in extras
        )

    def _pinned(self, name: str, reqs: Iterable[Req]) -> bool:
        constraint = self.constraints.get(NormalizedName(name))
        return any(r.pinned for r in reqs) or (constraint is not None and _pins(constraint))

    def _specifier(self, name: str, reqs: Iterable[Req]) -> SpecifierSet:
        spec = SpecifierSet()
        for req in reqs:
            spec &= req.specifier
        constraint = self.constraints.get(NormalizedName(name))
        if constraint is not None:
            spec &= constraint
        return spec

    def _matching_versions(self, name: str, reqs: Iterable[Req]) -> int:
        future = self.indexes.submit(NormalizedName(name))
        if not future.done():
            return 1_000_000
        try:
            files = future.result()
        except Exception:
            return 0  # surfaces in find_matches, where the error is raised
        if files is None:
            return 0
        spec = self._specifier(name, reqs)
        key = (name, str(spec))
        count = self._version_counts.get(key)
        if count is None:
            prereleases = True if self.pre else None
            count = sum(1 for _ in spec.filter(files.versions, prereleases=prereleases))
            self._version_counts[key] = count
        return count

    # -- prefetch -----------------------------------------------------------------------------

    def prefetch(self, req: Req) -> None:
        """Start fetching what resolving ``req`` will probably need, without waiting for it.

        The page of ``req``'s project; once it arrives, the metadata of its best candidate;
        once that arrives, the same for each of that candidate's dependencies (markers
        evaluated for the target, with ``req``'s extras: ``fastapi[standard]`` also brings what
        its extra adds). Each project is prefetched once per set of extras per run, so the
        expansion stops. It is a guess: a candidate the resolver rejects costs its metadata.
        """
        if self._claim(req.identifier):
            self.indexes.submit(req.name).add_done_callback(
                lambda done: self._guard(req.name, lambda: self._prefetch_best(req, done))
            )

    def _claim(self, identifier: Identifier) -> bool:
        with self._prefetch_lock:
            if identifier in self._prefetched:
                return False
            self._prefetched.add(identifier)
            return True

    def _prefetch_best(self, req: Req, done: Future[ProjectFiles | None]) -> None:
        if done.cancelled() or done.exception() is not None:
            return
        files = done.result()
        if files is None:
            return
        specifier = self._specifier(req.name, [req])
        preferred = self.preferred.get(req.name)
        if preferred is not None and specifier.contains(preferred, prereleases=True):
            specifier &= SpecifierSet(f"=={preferred}")
        best = next(
            files.candidates(
                self.target,
                specifier=specifier,
                prereleases=True if self.pre else None,
                binary=self.binary,
                pinned=self._pinned(req.name, [req]),
            ),
            None,
        )
        file = best.metadata_file if best is not None else None
        if file is None:
            return  # an sdist's static PKG-INFO is prefetched too; builds are not
        self.fetcher.submit_metadata(file).add_done_callback(
            lambda meta: self._guard(req.name, lambda: self._prefetch_children(meta, req.extras))
        )

    def _prefetch_children(
        self, done: Future[FetchedMetadata], extras: frozenset[NormalizedName]
    ) -> None:
        if done.cancelled() or done.exception() is not None:
            return
        fetched = done.result()
        active = ("", *extras)  # no extra, or any of the requested ones
        for requirement in fetched.metadata.requires_dist or ():
            if requirement.url or not self.target.evaluate(requirement.marker, active):
                continue
            self.prefetch(_to_req(requirement, fetched.file.filename))

    @staticmethod
    def _guard(name: str, work: Callable[[], None]) -> None:
        """Run a prefetch step; a failure only means the guess is dropped (the resolver will
        meet and report real problems itself, and the run may even be over)."""
        try:
            work()
        except Exception:
            logger.debug("prefetch of %s skipped", name, exc_info=True)


def _pins(specifier: SpecifierSet) -> bool:
    return any(
        s.operator == "===" or (s.operator == "==" and not s.version.endswith(".*"))
        for s in specifier
    )


def _to_req(requirement: Requirement, filename: str) -> Req:
    if requirement.url:
        raise InvalidMetadataError(
            filename, f"Requires-Dist {str(requirement)!r} is a direct URL, which index "
            "packages may not depend on"
        )
    return Req(
        name=canonicalize_name(requirement.name),
        extras=frozenset(canonicalize_name(e) for e in requirement.extras),
        specifier=requirement.specifier,
    )
