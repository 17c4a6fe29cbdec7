"""Resolve inputs for a target into a :class:`~skimlock.resolution.Resolution`.

Ties :mod:`skimlock.inputs`, :mod:`skimlock.target` and the resolvelib provider together, turns
resolvelib's result into pins with dependency edges and "why", and turns ``ResolutionImpossible``
into an explanation a user can act on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from packaging.markers import UndefinedComparison
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version
from resolvelib import BaseReporter, Resolver
from resolvelib.resolvers import ResolutionImpossible, ResolutionTooDeep
from resolvelib.structs import RequirementInformation

from .build import Builder, BuildPolicy, CountedAs, ResolveWheels
from .candidates import BinaryPolicy
from .errors import InputError, MetadataUnavailableError, ResolutionError, redact
from .fetch import Fetcher
from .hashcheck import apply_hashes
from .inputs import InputRequirement, Inputs
from .provider import PYTHON, Identifier, Indexes, Provider, Req, ResolverCandidate
from .resolution import Pin, Resolution
from .simple import IndexFile
from .stats import Category
from .target import Target

__all__ = ["ResolveOptions", "resolve"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class ResolveOptions:
    """How to resolve (indexes come from the CLI merged with those named in requirement files)."""

    indexes: tuple[str, ...]
    #: Use every index that has a project, instead of the first one only.
    merge_indexes: bool = False
    pre: bool = False
    binary: BinaryPolicy = field(default_factory=BinaryPolicy)
    #: resolvelib rounds before giving up.
    max_rounds: int = 20_000
    #: Versions to try first where the requirements accept them (pip's "only-if-needed": the
    #: installed distributions a dry-run install keeps).
    preferred: Mapping[NormalizedName, Version] = field(default_factory=dict)
    prefetch: bool = True
    #: Whether sdists may be built for their metadata (``--no-build``, ``--no-build-package``).
    build: BuildPolicy = field(default_factory=BuildPolicy)
    #: ``--exclude-newer``: files uploaded after this moment are ignored.
    exclude_newer: datetime | None = None


class _Reporter(BaseReporter[Req, ResolverCandidate, Identifier]):
    """Resolver steps: to ``on_pin`` for the progress line, and to the log at DEBUG (``-vv``)."""

    def __init__(self, on_pin: Callable[[str], None] | None) -> None:
        self._on_pin = on_pin

    def _step(self, text: str) -> None:
        logger.debug("resolver: %s", text)
        if self._on_pin is not None:
            self._on_pin(text)

    def starting_round(self, index: int) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("resolver: round %d", index)

    def adding_requirement(self, requirement: Req, parent: ResolverCandidate | None) -> None:
        if requirement.identifier == PYTHON:
            return
        who = str(parent) if parent is not None else (requirement.source or "the input")
        self._step(f"looking up {requirement} (from {who})")

    def resolving_conflicts(
        self, causes: Collection[RequirementInformation[Req, ResolverCandidate]]
    ) -> None:
        names = sorted({str(cause.requirement) for cause in causes})
        self._step(f"backtracking over {', '.join(names)}")

    def rejecting_candidate(self, criterion: object, candidate: ResolverCandidate) -> None:
        if candidate.candidate is not None:
            self._step(f"rejected {candidate}")

    def pinning(self, candidate: ResolverCandidate) -> None:
        if candidate.candidate is not None:
            self._step(f"pinned {candidate}")


def resolve(
    inputs: Inputs,
    *,
    fetcher: Fetcher,
    target: Target,
    options: ResolveOptions,
    on_pin: Callable[[str], None] | None = None,
    preferred: Mapping[NormalizedName, Version] | None = None,
    indexes: Indexes | None = None,
) -> Resolution:
    """Resolve ``inputs`` for ``target``. Raises :class:`ResolutionError` when impossible.

    ``preferred`` versions are tried first when acceptable; ``indexes`` lets several passes
    share parsed project pages (it must be built over ``fetcher`` and ``options.indexes``).
    """
    python = target.python_full_version
    if inputs.requires_python is not None and not inputs.requires_python.contains(
        python, prereleases=True
    ):
        raise ResolutionError(
            f"the project requires Python {inputs.requires_python}, "
            f"but the target is {target.describe()}"
        )
    roots = list(_roots(inputs.requirements, target))
    constraints = _constraints(inputs.constraints, target)
    if indexes is None:
        indexes = Indexes(fetcher, options.indexes, merge=options.merge_indexes,
                          exclude_newer=options.exclude_newer)
    build_fetcher: Fetcher | None = None
    builder: Builder | None = None
    if not options.build.no_build:
        build_fetcher = Fetcher(
            fetcher.client, stats=CountedAs(fetcher.stats, Category.BUILD),
            options=fetcher.options, cache=fetcher.cache,
        )
        builder = Builder(
            fetcher=fetcher, resolve_wheels=_wheels_resolver(build_fetcher, options),
            policy=options.build,
        )
    try:
        return _resolve(
            inputs, roots=roots, constraints=constraints, indexes=indexes, builder=builder,
            target=target, options=options, on_pin=on_pin,
            preferred={**options.preferred, **(preferred or {})},
        )
    finally:
        if builder is not None:
            builder.close()
        if build_fetcher is not None:
            build_fetcher.close()


def _resolve(
    inputs: Inputs,
    *,
    roots: list[Req],
    constraints: dict[NormalizedName, SpecifierSet],
    indexes: Indexes,
    builder: Builder | None,
    target: Target,
    options: ResolveOptions,
    on_pin: Callable[[str], None] | None,
    preferred: Mapping[NormalizedName, Version],
) -> Resolution:
    provider = Provider(
        indexes=indexes,
        target=target,
        constraints=constraints,
        binary=options.binary,
        pre=options.pre or inputs.pre,
        requested=[r.name for r in roots],
        prefetch=options.prefetch,
        preferred=preferred,
        builder=builder,
    )
    for root in roots:
        provider.root_sources.setdefault(root.name, root.source or "the input")
    if options.prefetch:
        for root in roots:
            provider.prefetch(root)
    resolver: Resolver[Req, ResolverCandidate, Identifier] = Resolver(provider, _Reporter(on_pin))
    try:
        result = resolver.resolve(roots, max_rounds=options.max_rounds)
    except ResolutionImpossible as exc:
        causes = list(exc.causes)
        first, *rest = _explain(causes, provider, target)
        names = {cause.requirement.name for cause in causes}
        rejected = {
            (name, str(version)): why
            for (name, version), why in provider.unavailable.items() if name in names
        }
        if rejected:
            # Versions were rejected for want of metadata: say which, why, and what would
            # allow them (exit 5), unless the conflict is about other projects as well.
            unexplained = names - {name for name, _version in rejected}
            raise MetadataUnavailableError(
                rejected, (first, *rest) if unexplained else ()
            ) from None
        raise ResolutionError(first, details=tuple(rest)) from None
    except ResolutionTooDeep:
        raise ResolutionError(
            f"gave up after {options.max_rounds} resolution rounds; the requirements need too "
            "much backtracking (add tighter pins or constraints)"
        ) from None
    applying = [
        item for item in (*inputs.requirements, *inputs.constraints) if _holds(item, target)
    ]
    return Resolution(
        target=target,
        requirements=tuple(r.requirement for r in inputs.requirements),
        pins=apply_hashes(
            _pins(result, provider, roots), applying, require_hashes=inputs.require_hashes
        ),
    )


def _wheels_resolver(fetcher: Fetcher, options: ResolveOptions) -> ResolveWheels:
    """Resolves build requirements for the running interpreter from the same indexes, wheels
    only and without builds (a build requirement that needs a build is refused, so builds never
    nest); every request goes through ``fetcher`` (which counts it as a build's)."""

    def run(requirements: Sequence[str]) -> list[IndexFile]:
        items = []
        for text in requirements:
            try:
                requirement = Requirement(text)
            except InvalidRequirement as exc:
                raise InputError(f"invalid build requirement {text!r}: {exc}") from None
            items.append(InputRequirement(requirement=requirement, source="build-system"))
        resolution = resolve(
            Inputs(requirements=tuple(items)),
            fetcher=fetcher,
            target=Target.current(),
            options=ResolveOptions(
                indexes=options.indexes,
                merge_indexes=options.merge_indexes,
                binary=BinaryPolicy(only_binary=frozenset({":all:"})),
                build=BuildPolicy(no_build=True),
                prefetch=options.prefetch,
            ),
        )
        return [pin.files[0] for pin in resolution.pins]

    return run


def _holds(item: InputRequirement, target: Target) -> bool:
    """Does the marker of an input requirement hold for ``target``?"""
    try:
        return target.evaluate(item.requirement.marker)
    except UndefinedComparison as exc:
        raise InputError(f"{item.requirement}: {exc}", source=item.source) from None


def _roots(requirements: Iterable[InputRequirement], target: Target) -> Iterable[Req]:
    for item in requirements:
        req = item.requirement
        if not _holds(item, target):
            logger.info("skipping %s (%s): marker is false for the target", req, item.source)
            continue
        yield Req(
            name=canonicalize_name(req.name),
            extras=frozenset(canonicalize_name(e) for e in req.extras),
            specifier=req.specifier,
            source=item.source,
        )


def _constraints(
    constraints: Iterable[InputRequirement], target: Target
) -> dict[NormalizedName, SpecifierSet]:
    merged: dict[NormalizedName, SpecifierSet] = {}
    for item in constraints:
        req = item.requirement
        if _holds(item, target):
            name = canonicalize_name(req.name)
            merged[name] = merged.get(name, SpecifierSet()) & req.specifier
    return merged


def _pins(result: object, provider: Provider, roots: Sequence[Req]) -> tuple[Pin, ...]:
    mapping: dict[Identifier, ResolverCandidate] = result.mapping  # type: ignore[attr-defined]
    graph = result.graph  # type: ignore[attr-defined]
    criteria = result.criteria  # type: ignore[attr-defined]
    names = sorted({ident[0] for ident in mapping if ident != PYTHON})
    requested_extras: dict[str, set[NormalizedName]] = {}
    for root in roots:
        requested_extras.setdefault(root.name, set()).update(root.extras)
    pins = []
    for name in names:
        idents = [ident for ident in mapping if ident[0] == name]
        base = mapping[(name, frozenset())]
        assert base.candidate is not None
        fetched = provider.metadata(base.candidate)
        extras: set[NormalizedName] = set()
        children: set[NormalizedName] = set()
        via: set[str] = set()
        requested = False
        for ident in idents:
            extras.update(ident[1])
            for child in graph.iter_children(ident):
                if child is not None and child != PYTHON and child[0] != name:
                    children.add(NormalizedName(child[0]))
            for info in criteria[ident].information:
                if info.parent is None:
                    requested = True
                    via.add(info.requirement.source or "requested")
                elif info.parent.name != name:
                    via.add(info.parent.name)
        candidate = base.candidate
        if candidate.yanked:
            reason = candidate.files[0].yanked_reason
            logger.warning("%s %s is yanked%s", name, candidate.version,
                           f": {reason}" if reason else "")
        pins.append(
            Pin(
                name=NormalizedName(name),
                version=candidate.version,
                index_url=candidate.index_url,
                files=candidate.files,
                metadata_file=fetched.file,
                metadata=fetched.metadata,
                metadata_bytes=fetched.data,
                extras=frozenset(extras),
                dependencies=tuple(sorted(children)),
                requested=requested,
                requested_extras=frozenset(requested_extras.get(name, ())),
                via=tuple(sorted(via)),
            )
        )
    return tuple(pins)


def _explain(
    causes: Sequence[RequirementInformation[Req, ResolverCandidate]],
    provider: Provider,
    target: Target,
) -> list[str]:
    """A readable account of a conflict, one line per item: what asked for what, and what the
    index offers (lines, not one string: the CLI escapes each line, keeping only these breaks)."""
    lines = ["the requirements cannot be satisfied together:"]
    in_play: dict[str, list[SpecifierSet]] = {}
    for cause in causes:
        req, parent = cause.requirement, cause.parent
        who = _asker(req, parent, provider)
        if req.identifier == PYTHON:
            who = str(parent) if parent is not None else who
            line = f"  {who} requires Python {req.specifier}, but the target is {target.describe()}"
        else:
            line = f"  {req} required by {who}"
        if line not in lines:
            lines.append(line)
        if req.identifier == PYTHON:
            continue
        specs = in_play.setdefault(req.name, [])
        if req.specifier not in specs:
            specs.append(req.specifier)
    for name, specs in in_play.items():
        lines.append(_offer(name, specs, provider, target))
    return [part for line in lines for part in line.split("\n")]


def _offer(
    name: str, specs: Sequence[SpecifierSet], provider: Provider, target: Target, *,
    limit: int = 12, per_side: int = 3,
) -> str:
    """The versions of ``name`` that matter to a conflict over it.

    Those every requirement in play (and a constraint) allows, each with why it is unusable;
    when they allow none together, for each requirement the few versions it allows that lie
    nearest to what the others allow (the edge of the gap between them), never simply the newest.
    """
    future = provider.indexes.submit(NormalizedName(name))
    files = future.result() if future.done() and future.exception() is None else None
    if files is None:
        where = ", ".join(redact(url) for url in provider.indexes.urls)
        return f"  {name} was not found on {where}"
    constraint = provider.constraints.get(NormalizedName(name))
    specs = [*specs, *([constraint] if constraint is not None else [])]
    prereleases = True if provider.pre else None
    versions = files.versions
    together = SpecifierSet()
    for spec in specs:
        together &= spec
    allowed = list(together.filter(versions, prereleases=prereleases))
    total = f"{len(versions)} version{'s' if len(versions) != 1 else ''} on the index"
    if allowed:
        shown = [_label(name, v, provider, target) for v in allowed[:limit]]
        more = f" (and {len(allowed) - limit} more)" if len(allowed) > limit else ""
        return f"  versions of {name} the requirements allow: {', '.join(shown)}{more} (of {total})"
    if len(specs) < 2:
        nearest = _nearest(versions, [], specs[0] if specs else SpecifierSet(), per_side)
        labels = ", ".join(_label(name, v, provider, target) for v in nearest)
        return f"  no version of {name} matches {name}{together}; the nearest of {total}: {labels}"
    matched = [list(spec.filter(versions, prereleases=prereleases)) for spec in specs]
    parts = []
    for index, spec in enumerate(specs):
        mine = matched[index]
        others = [v for j, found in enumerate(matched) if j != index for v in found]
        if not mine:
            parts.append(f"{name}{spec} allows none")
            continue
        chosen = _nearest(mine, others, spec, per_side)
        more = f" (and {len(mine) - len(chosen)} more)" if len(mine) > len(chosen) else ""
        labels = ", ".join(_label(name, v, provider, target) for v in chosen)
        parts.append(f"{name}{spec or ' (any version)'} allows {labels}{more}")
    return f"  of {total}, {'; '.join(parts)}"


def _nearest(
    versions: Sequence[Version], others: Sequence[Version], spec: SpecifierSet, count: int
) -> list[Version]:
    """The ``count`` of ``versions`` nearest (in version order) to ``others``, or to the bounds
    of ``spec`` when there are no others; newest first."""
    marks = sorted(set(others)) or sorted(set(_bounds(spec)))
    if not marks:
        return list(versions[:count])
    ordered = sorted({*versions, *marks})
    rank = {version: index for index, version in enumerate(ordered)}
    mark_ranks = [rank[m] for m in marks]

    def distance(version: Version) -> int:
        return min(abs(rank[version] - m) for m in mark_ranks)

    return sorted(sorted(versions, key=distance)[:count], reverse=True)


def _bounds(spec: SpecifierSet) -> list[Version]:
    bounds = []
    for item in spec:
        try:
            bounds.append(Version(item.version.removesuffix(".*")))
        except InvalidVersion:
            continue
    return bounds


def _label(name: str, version: Version, provider: Provider, target: Target) -> str:
    """``1.0``, or ``1.0 (yanked)``, ``1.0 (no file for the target)``, ``1.0 (skipped: ...)``."""
    files = provider.indexes.get(NormalizedName(name))
    skipped = provider.skipped.get((name, version))
    if skipped is not None:
        return f"{version} (skipped: {skipped})"
    usable = files.usable(version, target, binary=provider.binary, allow_yanked=True)
    if not usable:
        return f"{version} (no file for the target)"
    if all(f.yanked for f in usable):
        return f"{version} (yanked)"
    return str(version)


def _asker(req: Req, parent: ResolverCandidate | None, provider: Provider) -> str:
    """Who asked for ``req``, with the chain above it: ``b 1.0 ← a 2.0 ← command line``."""
    if parent is None:
        return req.source or "the input"
    chain = [parent]
    current = provider.asked_by.get(parent.name)
    while current is not None and current.name not in {c.name for c in chain} and len(chain) < 6:
        chain.append(current)
        current = provider.asked_by.get(current.name)
    links = [str(candidate) for candidate in chain]
    root = provider.root_sources.get(chain[-1].name) if current is None else None
    return " ← ".join([*links, root] if root else links)
