"""Universal locks: one resolution per environment, merged into one set of locked packages.

resolvelib cannot fork a resolution on markers, so a universal lock is composed of ordinary
single-target resolutions (the approach nab and PDM take):

1. An **environment set** (:func:`environment_set`): CPython minor versions from a floor to
   :data:`NEWEST_PYTHON` times a list of platforms (:data:`DEFAULT_PLATFORMS` unless the user
   names platforms or ``--environment`` markers). Each environment is a concrete
   :class:`~skimlock.target.Target` (marker values and tags) plus a *wide* target used only to
   list the wheels a machine of that environment may install.
2. **Passes** (:func:`resolve_universal`): one :func:`~skimlock.resolve.resolve` per environment,
   oldest Python first, each preferring the pins of the passes before it, so versions align
   (a version acceptable everywhere is chosen everywhere, as a forking resolver would do from
   the floor). Index pages and METADATA are fetched once per run (the fetch layer memoizes by
   URL), so a pass after the first costs only what it needs that the others did not.
3. **Merge** (:func:`merge`): one :class:`LockedPackage` per (name, version) with the
   environments that pinned it, the wheels any of them may install, and a ``marker``.

Markers. A package's marker starts from its *dependency paths*: the disjunction, over the ways
it is reached, of the markers along the way (root requirement markers, then ``Requires-Dist``
markers), simplified with ``dep-logic`` (PDM's marker algebra; :mod:`packaging` only joins
marker text). That path marker is kept only when it is exact on the covered environments (true
where the package was pinned at that version, false elsewhere); otherwise it is narrowed by the
Python versions, then the platforms, then the exact environments that pinned the version, in
that order, taking the first that is exact. Markers of two versions of one name are then proven
disjoint with ``dep-logic``; when they are not, both fall back to exact environment markers,
which are disjoint by construction. ``packaging.pylock.Pylock.select`` relies on that: it
errors when two entries of one name both match.

METADATA of one version. Each pass reads the METADATA of the best file *for its environment*
(like nab, unlike uv, which assumes every wheel of a version has the same METADATA), so the
dependencies used for an environment are those of a wheel it would install. Binary projects
thus cost one METADATA per distinct wheel chosen (one per platform, and per Python for
version-specific wheels); the cost is in the ``environments`` section of ``--stats``. Wheels
listed in the lock that no pass chose (a newer macOS or glibc build of the same version) are
assumed to share their version's METADATA, as every installer assumes.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from dep_logic.markers import AnyMarker, BaseMarker, EmptyMarker, from_pkg_marker, parse_marker
from packaging.markers import Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from .environments import (
    DEFAULT_PLATFORMS,
    NEWEST_PYTHON,
    OLDEST_PYTHON,
    PLATFORMS,
    Environment,
    Platform,
    environment_from_label,
    environment_set,
    environments_markers,
    parsed_marker,
    python_text,
    target_for,
)
from .errors import ResolutionError, UniversalResolutionError
from .fetch import Fetcher
from .inputs import Inputs
from .provider import Indexes
from .resolution import Pin, Resolution
from .resolve import ResolveOptions, resolve
from .simple import IndexFile
from .stats import Category, Summary, human_bytes

__all__ = [
    "DEFAULT_PLATFORMS",
    "NEWEST_PYTHON",
    "OLDEST_PYTHON",
    "PLATFORMS",
    "Environment",
    "EnvironmentCost",
    "LockedPackage",
    "Platform",
    "UniversalResolution",
    "environment_from_label",
    "environment_set",
    "environments_markers",
    "merge",
    "resolve_universal",
    "target_for",
]

logger = logging.getLogger(__name__)

#: dep-logic works on markers up to this many characters together; beyond, the path marker
#: gives up (exact environment markers are used then).
_MAX_ALGEBRA = 240


# --- passes ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class EnvironmentCost:
    """What one pass fetched (requests and body bytes, pages and metadata apart)."""

    environment: str
    requests: int
    body_bytes: int
    page_requests: int
    page_bytes: int
    metadata_requests: int
    metadata_bytes: int
    packages: int
    seconds: float


@dataclass(frozen=True, kw_only=True, slots=True)
class UniversalResolution:
    """One resolution per environment, in pass order."""

    #: The environments the lock covers (those that could be satisfied).
    environments: tuple[Environment, ...]
    #: Environments left out because they cannot be satisfied (``--skip-unsatisfiable``).
    skipped: tuple[Environment, ...]
    resolutions: tuple[Resolution, ...]
    costs: tuple[EnvironmentCost, ...]
    #: The indexes the passes shared (parsed pages, to list every environment's wheels).
    indexes: Indexes
    options: ResolveOptions

    def cost_line(self, summary: Summary) -> str:
        """What the first environment cost, and what the others added, given the run's final
        ``summary`` (taken once the fetcher is closed, so nothing is still in flight)."""
        first = self.costs[0]
        return (
            f"the first environment took {human_bytes(first.body_bytes)} in {first.requests} "
            f"requests, the other {len(self.costs) - 1} "
            f"{human_bytes(summary.body_bytes - first.body_bytes)} in "
            f"{summary.requests - first.requests} requests"
        )

    def to_json(self, summary: Summary) -> dict[str, object]:
        """The ``environments`` section of ``--stats``.

        ``first`` is the first pass; ``others`` is everything else the run fetched (the other
        passes, and prefetches still in flight when a pass ended, which ``passes`` counts to
        the next pass or, after the last one, to ``unattributed``).
        """
        first = self.costs[0]
        pages = summary.by_category[Category.INDEX_PAGE]
        passes = {
            "requests": sum(c.requests for c in self.costs),
            "body_bytes": sum(c.body_bytes for c in self.costs),
        }
        return {
            "count": len(self.environments),
            "first": {
                "requests": first.requests,
                "body_bytes": first.body_bytes,
                "page_requests": first.page_requests,
                "metadata_requests": first.metadata_requests,
            },
            "others": {
                "requests": summary.requests - first.requests,
                "body_bytes": summary.body_bytes - first.body_bytes,
                "page_requests": pages.requests - first.page_requests,
                "metadata_requests": (summary.requests - pages.requests)
                - first.metadata_requests,
            },
            "unattributed": {
                "requests": summary.requests - passes["requests"],
                "body_bytes": summary.body_bytes - passes["body_bytes"],
            },
            "passes": [dataclasses.asdict(c) for c in self.costs],
        }


def resolve_universal(
    inputs: Inputs,
    *,
    fetcher: Fetcher,
    environments: Sequence[Environment],
    options: ResolveOptions,
    on_pass: Callable[[Environment], None] | None = None,
    on_pin: Callable[[str], None] | None = None,
    skip_unsatisfiable: bool = False,
) -> UniversalResolution:
    """Resolve ``inputs`` once per environment, threading pins forward as preferences.

    Raises :class:`UniversalResolutionError` naming the environment that cannot be satisfied,
    unless ``skip_unsatisfiable``: then that environment is left out of the lock with a warning
    (and :class:`ResolutionError` when none is left).
    """
    indexes = Indexes(fetcher, options.indexes, merge=options.merge_indexes,
                      exclude_newer=options.exclude_newer)
    preferred: dict[NormalizedName, Version] = {}
    #: The Python of the pass each preference comes from.
    pinned_by: dict[NormalizedName, tuple[int, int]] = {}
    resolutions: list[Resolution] = []
    costs: list[EnvironmentCost] = []
    skipped: list[Environment] = []
    for env in environments:
        if on_pass is not None:
            on_pass(env)
        before = _snapshot(fetcher)
        started = time.monotonic()
        try:
            resolution = resolve(
                inputs, fetcher=fetcher, target=env.target, options=options, on_pin=on_pin,
                preferred=_preferences(preferred, pinned_by, env, indexes, options),
                indexes=indexes,
            )
        except ResolutionError as exc:
            error = UniversalResolutionError(env.describe(), env.label, str(exc))
            if not skip_unsatisfiable:
                raise error from None
            logger.warning("leaving %s out of the lock: %s", env.label, error.reason
                           .strip().replace("\n", "; "))
            skipped.append(env)
            continue
        after = _snapshot(fetcher)
        costs.append(EnvironmentCost(
            environment=env.label,
            requests=after[0] - before[0],
            body_bytes=after[1] - before[1],
            page_requests=after[2] - before[2],
            page_bytes=after[3] - before[3],
            metadata_requests=(after[0] - after[2]) - (before[0] - before[2]),
            metadata_bytes=(after[1] - after[3]) - (before[1] - before[3]),
            packages=len(resolution.pins),
            seconds=round(time.monotonic() - started, 4),
        ))
        resolutions.append(resolution)
        for pin in resolution.pins:
            preferred[pin.name] = pin.version
            pinned_by[pin.name] = env.python
    if not resolutions:
        raise ResolutionError("no environment of the set can be satisfied")
    return UniversalResolution(
        environments=tuple(e for e in environments if e.label not in {s.label for s in skipped}),
        skipped=tuple(skipped),
        resolutions=tuple(resolutions),
        costs=tuple(costs),
        indexes=indexes,
        options=options,
    )


def _preferences(
    preferred: Mapping[NormalizedName, Version],
    pinned_by: Mapping[NormalizedName, tuple[int, int]],
    env: Environment,
    indexes: Indexes,
    options: ResolveOptions,
) -> dict[NormalizedName, Version]:
    """The earlier pins this pass should prefer.

    A pin made for an older Python is not preferred when the newest version usable here
    requires a newer Python than that one: the pin was older *because of* its Python, and the
    newer Pythons get the newer version (as uv forks a universal resolution on
    Requires-Python). Every other pin is preferred, so versions align across platforms and
    wherever the choice was free.
    """
    kept = {}
    for name, version in preferred.items():
        python = pinned_by[name]
        if python != env.python and _newer_needs_newer_python(
            name, version, python, env, indexes=indexes, options=options
        ):
            continue
        kept[name] = version
    return kept


def _newer_needs_newer_python(
    name: NormalizedName, version: Version, python: tuple[int, int], env: Environment, *,
    indexes: Indexes, options: ResolveOptions,
) -> bool:
    future = indexes.submit(name)
    if not future.done() or future.exception() is not None:
        return False
    files = future.result()
    if files is None:
        return False
    newest = next(files.candidates(env.target, prereleases=True if options.pre else None,
                                   binary=options.binary), None)
    if newest is None or newest.version <= version:
        return False
    texts = {f.requires_python for f in newest.files if f.requires_python}
    older = Version(f"{python[0]}.{python[1]}.0")
    for text in texts:
        try:
            if not SpecifierSet(text).contains(older, prereleases=True):
                return True
        except InvalidSpecifier:
            continue
    return False


def _snapshot(fetcher: Fetcher) -> tuple[int, int, int, int]:
    """(requests, bytes, page requests, page bytes) so far. Prefetches still in flight when
    a pass ends are counted to the next one."""
    summary = fetcher.stats.summary()
    pages = summary.by_category[Category.INDEX_PAGE]
    return (summary.requests, summary.body_bytes, pages.requests, pages.body_bytes)


# --- merge -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class LockedPackage:
    """One (name, version) of a universal lock."""

    name: NormalizedName
    version: Version
    #: PEP 508 marker under which it is installed; None when always.
    marker: Marker | None
    #: The environments whose pass pinned it (labels, in pass order).
    environments: tuple[str, ...]
    index_url: str
    #: Wheels any of those environments may install (best first for the first environment),
    #: then the sdist when one of them has no wheel.
    files: tuple[IndexFile, ...]
    requires_python: SpecifierSet | None
    #: ``(name, version)`` of the locked packages it depends on in those environments.
    dependencies: tuple[tuple[NormalizedName, Version], ...]
    #: One of the pins it came from (for requirements.txt comments).
    pin: Pin


def merge(universal: UniversalResolution, inputs: Inputs) -> tuple[LockedPackage, ...]:
    """The locked packages of ``universal``, sorted by name then version."""
    envs = universal.environments
    # (name, version) -> [(env index, pin)]
    where: dict[tuple[NormalizedName, Version], list[tuple[int, Pin]]] = {}
    for index, resolution in enumerate(universal.resolutions):
        for pin in resolution.pins:
            where.setdefault((pin.name, pin.version), []).append((index, pin))
    paths = _path_markers(universal, inputs, where)
    chosen: dict[tuple[NormalizedName, Version], _Choice] = {}
    for key, entries in where.items():
        pinned = {index for index, _ in entries}
        chosen[key] = _separating_marker(paths.get(key[0], AnyMarker()), pinned, envs)
    _make_disjoint(chosen, where, envs)
    packages = []
    for (name, version), entries in sorted(where.items()):
        pin = entries[0][1]
        dependencies: set[tuple[NormalizedName, Version]] = set()
        for index, entry in entries:
            pinned_here = {p.name: p.version for p in universal.resolutions[index].pins}
            dependencies.update((dep, pinned_here[dep]) for dep in entry.dependencies)
        text = chosen[(name, version)].text
        packages.append(LockedPackage(
            name=name,
            version=version,
            marker=Marker(text) if text else None,
            environments=tuple(envs[index].label for index, _ in entries),
            index_url=pin.index_url,
            files=_files(universal, name, version, entries),
            requires_python=pin.metadata.requires_python,
            dependencies=tuple(sorted(dependencies)),
            pin=pin,
        ))
    return tuple(packages)


def _files(
    universal: UniversalResolution, name: NormalizedName, version: Version,
    entries: Sequence[tuple[int, Pin]],
) -> tuple[IndexFile, ...]:
    """Every wheel a machine of the pinning environments may install, then the sdist if one of
    them has no wheel (its pass chose the sdist)."""
    project = universal.indexes.get(name)
    wheels: dict[str, IndexFile] = {}
    sdists: dict[str, IndexFile] = {}
    for index, pin in entries:
        env = universal.environments[index]
        yanked = all(f.yanked for f in pin.files)
        for file in project.usable(version, env.wide, binary=universal.options.binary,
                                   allow_yanked=yanked):
            if file.is_wheel:
                wheels.setdefault(file.filename, file)
        for file in pin.files:  # the pass's own choice (floor tags) is always listed
            if file.is_wheel:
                wheels.setdefault(file.filename, file)
        if not pin.files[0].is_wheel:
            sdists.setdefault(pin.files[0].filename, pin.files[0])
    return (*wheels.values(), *sdists.values())


def _path_markers(
    universal: UniversalResolution,
    inputs: Inputs,
    where: Mapping[tuple[NormalizedName, Version], Sequence[tuple[int, Pin]]],
) -> dict[NormalizedName, BaseMarker]:
    """Per name: the disjunction over dependency paths of the markers along them."""
    names = {name for name, _ in where}
    paths: dict[NormalizedName, BaseMarker] = {}
    for item in inputs.requirements:
        name = canonicalize_name(item.requirement.name)
        root_marker = _algebra(item.requirement.marker)
        paths[name] = paths.get(name, EmptyMarker()) | root_marker
    edges: list[tuple[NormalizedName, NormalizedName, BaseMarker]] = []
    envs = universal.environments
    for (name, _version), entries in where.items():
        extras = set().union(*(p.extras for _, p in entries))
        # Each pass read its own wheel's METADATA: take the requirements of all of them.
        requirements = {
            str(r): r for _, p in entries for r in p.metadata.requires_dist or ()
        }
        for requirement in requirements.values():
            child = canonicalize_name(requirement.name)
            if child not in names or child == name:
                continue
            req_marker = requirement.marker
            algebra = _algebra(req_marker)
            stripped = algebra.without_extras()
            if req_marker is not None and str(stripped) != str(algebra):  # names an extra
                active = any(
                    req_marker.evaluate(envs[index].target.environment(extra))
                    for index, _ in entries for extra in sorted(extras)
                )
                if not active:
                    continue
                edges.append((name, child, stripped))
            else:
                edges.append((name, child, algebra))
    for _ in range(len(names) + 1):
        changed = False
        for parent, child, marker in edges:
            if parent not in paths:
                continue
            current = paths.get(child)
            grown = _or(current if current is not None else EmptyMarker(),
                        _and(paths[parent], marker))
            if current is None or str(grown) != str(current):
                paths[child] = grown
                changed = True
        if not changed:
            break
    return paths


def _algebra(marker: Marker | None) -> BaseMarker:
    if marker is None:
        return AnyMarker()
    try:
        return from_pkg_marker(marker)
    except Exception:  # not modelled by dep-logic: exact environment markers take over
        return AnyMarker()


@dataclass(frozen=True, kw_only=True, slots=True)
class _Choice:
    """A package marker as text ("" = always), and whether it was built from exact
    environment markers (two such markers of disjoint environment sets are disjoint)."""

    text: str
    exact: bool = False


def _small(*markers: BaseMarker) -> bool:
    """dep-logic normalizes to CNF/DNF, which grows exponentially: keep its inputs small."""
    return sum(len(str(m)) for m in markers) <= _MAX_ALGEBRA


def _and(a: BaseMarker, b: BaseMarker) -> BaseMarker:
    return a & b if _small(a, b) else AnyMarker()


def _or(a: BaseMarker, b: BaseMarker) -> BaseMarker:
    return a | b if _small(a, b) else AnyMarker()


def _separating_marker(
    path: BaseMarker, pinned: set[int], envs: Sequence[Environment]
) -> _Choice:
    """The first marker, from the dependency-path marker to exact environment markers, that
    is true exactly in the ``pinned`` environments among ``envs``."""
    if not all(envs[i].holds(path) for i in pinned):
        path = AnyMarker()
    pythons = _python_marker({envs[i].python for i in pinned}, {e.python for e in envs})
    platforms = _platform_marker(
        {envs[i].platform.name for i in pinned}, [e.platform for e in envs]
    )
    candidates = [
        _Choice(text=str(m))
        for m in (path, _and(path, pythons), _and(path, platforms),
                  _and(_and(path, pythons), platforms))
    ]
    exact = _exact_text(pinned, envs)
    if not path.is_any():
        candidates.append(_Choice(text=f"({path}) and ({exact})", exact=True))
    candidates.append(_Choice(text=exact, exact=True))
    for candidate in candidates:
        marker = parsed_marker(candidate.text) if candidate.text else None
        if all(envs[i].holds(marker) == (i in pinned) for i in range(len(envs))):
            return candidate
    raise AssertionError("exact environment markers must separate the environments")


def _exact_text(pinned: set[int], envs: Sequence[Environment]) -> str:
    """A marker true in exactly the ``pinned`` environments: per platform, its Python range."""
    covered = {e.python for e in envs}
    by_platform: dict[str, list[Environment]] = {}
    for index in sorted(pinned):
        by_platform.setdefault(envs[index].platform.name, []).append(envs[index])
    parts = []
    for members in by_platform.values():
        pythons = _python_marker({e.python for e in members}, covered)
        platform = members[0].platform_marker()
        parts.append(f"({platform})" if pythons.is_any() else f"({platform} and ({pythons}))")
    return " or ".join(parts)


def _union(markers: Iterable[BaseMarker]) -> BaseMarker:
    """The union of ``markers``; Any when it grows too big for dep-logic (a superset: every
    candidate marker is verified against the environments before it is used)."""
    result: BaseMarker = EmptyMarker()
    for marker in markers:
        result = _or(result, marker)
    return result


def _python_marker(chosen: set[tuple[int, int]], covered: set[tuple[int, int]]) -> BaseMarker:
    """``python_version`` ranges covering ``chosen`` among ``covered`` (open-ended at the ends
    of the covered range, so ``>= 3.12`` rather than a list of minors)."""
    if chosen >= covered:
        return AnyMarker()
    ordered = sorted(covered)
    runs: list[list[tuple[int, int]]] = []
    for python in ordered:
        if python in chosen:
            if runs and ordered.index(python) - ordered.index(runs[-1][-1]) == 1:
                runs[-1].append(python)
            else:
                runs.append([python])
    parts = []
    for run in runs:
        low, high = run[0], run[-1]
        bounds = []
        if low != ordered[0]:
            bounds.append(f'python_version >= "{python_text(low)}"')
        if high != ordered[-1]:
            bounds.append(f'python_version < "{python_text((high[0], high[1] + 1))}"')
        parts.append(parse_marker(" and ".join(bounds)))
    return _union(parts)


def _platform_marker(chosen: set[str], covered: Sequence[Platform]) -> BaseMarker:
    """``sys_platform`` (and ``platform_machine`` where needed) covering ``chosen``."""
    platforms = {p.name: p for p in covered}
    if set(platforms) <= chosen:
        return AnyMarker()
    parts = []
    systems: dict[str, list[Platform]] = {}
    for platform in platforms.values():
        systems.setdefault(platform.sys_platform, []).append(platform)
    for system, members in sorted(systems.items()):
        picked = [p for p in members if p.name in chosen]
        if not picked:
            continue
        if len(picked) == len(members):
            parts.append(parse_marker(f'sys_platform == "{system}"'))
        else:
            parts.extend(
                parse_marker(f'sys_platform == "{system}" and '
                             f'platform_machine == "{p.platform_machine}"')
                for p in picked
            )
    return _union(parts)


def _make_disjoint(
    chosen: dict[tuple[NormalizedName, Version], _Choice],
    where: Mapping[tuple[NormalizedName, Version], Sequence[tuple[int, Pin]]],
    envs: Sequence[Environment],
) -> None:
    """Prove the markers of one name's versions disjoint; fall back to exact markers if not."""
    by_name: dict[NormalizedName, list[tuple[NormalizedName, Version]]] = {}
    for key in chosen:
        by_name.setdefault(key[0], []).append(key)
    for keys in by_name.values():
        if len(keys) < 2:
            continue
        if all(_disjoint(chosen[a], chosen[b]) for i, a in enumerate(keys) for b in keys[i + 1:]):
            continue
        logger.debug("markers of %s overlap; using exact environment markers", keys[0][0])
        for key in keys:
            chosen[key] = _Choice(text=_exact_text({i for i, _ in where[key]}, envs), exact=True)


def _disjoint(a: _Choice, b: _Choice) -> bool:
    if a.exact and b.exact:
        return True  # built from disjoint environment sets
    if not a.text or not b.text:
        return False
    left, right = parse_marker(a.text), parse_marker(b.text)
    return _small(left, right) and (left & right).is_empty()
