"""Resolve inputs for a target into a :class:`~skimlock.resolution.Resolution`.

Ties :mod:`skimlock.inputs`, :mod:`skimlock.target` and the resolvelib provider together, turns
resolvelib's result into pins with dependency edges and "why", and turns ``ResolutionImpossible``
into an explanation a user can act on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from packaging.markers import UndefinedComparison
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from resolvelib import BaseReporter, Resolver
from resolvelib.resolvers import ResolutionImpossible, ResolutionTooDeep
from resolvelib.structs import RequirementInformation

from .candidates import BinaryPolicy
from .errors import InputError, ResolutionError, redact
from .fetch import Fetcher
from .inputs import InputRequirement, Inputs
from .provider import PYTHON, Identifier, Indexes, Provider, Req, ResolverCandidate
from .resolution import Pin, Resolution
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
    prefetch: bool = True
    #: ``--exclude-newer``: files uploaded after this moment are ignored.
    exclude_newer: datetime | None = None


class _Reporter(BaseReporter[Req, ResolverCandidate, Identifier]):
    def __init__(self, on_pin: Callable[[str], None] | None) -> None:
        self._on_pin = on_pin

    def pinning(self, candidate: ResolverCandidate) -> None:
        if self._on_pin is not None and candidate.candidate is not None:
            self._on_pin(str(candidate))


def resolve(
    inputs: Inputs,
    *,
    fetcher: Fetcher,
    target: Target,
    options: ResolveOptions,
    on_pin: Callable[[str], None] | None = None,
) -> Resolution:
    """Resolve ``inputs`` for ``target``. Raises :class:`ResolutionError` when impossible."""
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
    indexes = Indexes(
        fetcher, options.indexes, merge=options.merge_indexes, exclude_newer=options.exclude_newer
    )
    provider = Provider(
        indexes=indexes,
        target=target,
        constraints=constraints,
        binary=options.binary,
        pre=options.pre or inputs.pre,
        requested=[r.name for r in roots],
        prefetch=options.prefetch,
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
        raise ResolutionError(_explain(list(exc.causes), provider, target)) from None
    except ResolutionTooDeep:
        raise ResolutionError(
            f"gave up after {options.max_rounds} resolution rounds; the requirements need too "
            "much backtracking (add tighter pins or constraints)"
        ) from None
    return Resolution(
        target=target,
        requirements=tuple(r.requirement for r in inputs.requirements),
        pins=_pins(result, provider, roots),
    )


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
) -> str:
    """A readable account of a conflict: what asked for what, and what the index offers."""
    lines = ["the requirements cannot be satisfied together:"]
    names: list[str] = []
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
        if req.name not in names:
            names.append(req.name)
    for name in names:
        lines.append(_offer(name, provider, target))
    return "\n".join(lines)


def _offer(name: str, provider: Provider, target: Target, limit: int = 12) -> str:
    """What the index offers for ``name``: its newest versions, marking the unusable ones."""
    future = provider.indexes.submit(NormalizedName(name))
    files = future.result() if future.done() and future.exception() is None else None
    if files is None:
        where = ", ".join(redact(url) for url in provider.indexes.urls)
        return f"  {name} was not found on {where}"
    shown = []
    for version in files.versions[:limit]:
        usable = files.usable(version, target, binary=provider.binary, allow_yanked=True)
        skipped = provider.skipped.get((name, version))
        if skipped is not None:
            shown.append(f"{version} (skipped: {skipped})")
        elif not usable:
            shown.append(f"{version} (no file for the target)")
        elif all(f.yanked for f in usable):
            shown.append(f"{version} (yanked)")
        else:
            shown.append(str(version))
    more = f" (and {len(files.versions) - limit} more)" if len(files.versions) > limit else ""
    return f"  versions of {name} on the index: {', '.join(shown) or 'none'}{more}"


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
