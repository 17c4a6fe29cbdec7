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
import functools
import logging
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from dep_logic.markers import AnyMarker, BaseMarker, EmptyMarker, from_pkg_marker, parse_marker
from packaging.markers import InvalidMarker, Marker, UndefinedComparison
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from .errors import InputError, ResolutionError, UniversalResolutionError
from .fetch import Fetcher
from .inputs import Inputs
from .provider import Indexes
from .resolution import Pin, Resolution
from .resolve import ResolveOptions, resolve
from .simple import IndexFile
from .stats import Category, Summary, human_bytes
from .target import Target

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

#: The newest CPython minor release (3.15.0 came out in October 2026; numpy and pywin32 ship
#: cp315 wheels). The default environment set ends here.
NEWEST_PYTHON = (3, 15)
#: The oldest CPython minor a universal lock considers.
OLDEST_PYTHON = (3, 8)

#: dep-logic works on markers up to this many characters together; beyond, the path marker
#: gives up (exact environment markers are used then).
_MAX_ALGEBRA = 240


@dataclass(frozen=True, kw_only=True, slots=True)
class Platform:
    """One operating system and machine, as wheel tags and as marker values."""

    #: Short name, e.g. ``linux-x86_64``.
    name: str
    #: The platform tag a lock is resolved for: the oldest machine of this kind it must serve.
    tag: str
    #: The newest tag of this kind: wheels listed for installers on newer machines.
    wide: str
    sys_platform: str
    platform_machine: str
    platform_system: str
    os_name: str

    def describe(self) -> str:
        system = {"linux": "Linux", "darwin": "macOS", "win32": "Windows"}.get(
            self.sys_platform, self.sys_platform
        )
        return f"{system} {self.platform_machine}"

    def markers(self) -> dict[str, str]:
        return {
            "sys_platform": self.sys_platform,
            "platform_machine": self.platform_machine,
            "platform_system": self.platform_system,
            "os_name": self.os_name,
        }


def _linux(machine: str) -> Platform:
    return Platform(
        name=f"linux-{machine}", tag=f"manylinux_2_28_{machine}", wide=f"manylinux_2_40_{machine}",
        sys_platform="linux", platform_machine=machine, platform_system="Linux", os_name="posix",
    )


def _windows(name: str, tag: str, machine: str) -> Platform:
    return Platform(
        name=name, tag=tag, wide=tag, sys_platform="win32", platform_machine=machine,
        platform_system="Windows", os_name="nt",
    )


#: Every platform skimlock knows by name (``--platform linux-ppc64le`` adds one to a set).
#: Linux: glibc 2.28 (manylinux_2_28: RHEL 8, Debian 10, Ubuntu 18.10 and later) is the floor;
#: macOS: 11.0 on arm64 (its first release), 10.15 on x86_64 (what numpy targets for CPython
#: 3.14 and later; older Pythons' 10.9/10.13 wheels suit it too). musllinux is left out: its
#: marker values equal manylinux's, so a lock could not tell the two apart (name it with
#: ``--platform`` in a lock of its own).
PLATFORMS: tuple[Platform, ...] = (
    _linux("x86_64"),
    _linux("aarch64"),
    Platform(
        name="macos-arm64", tag="macosx_11_0_arm64", wide="macosx_26_0_arm64",
        sys_platform="darwin", platform_machine="arm64", platform_system="Darwin", os_name="posix",
    ),
    Platform(
        name="macos-x86_64", tag="macosx_10_15_x86_64", wide="macosx_26_0_x86_64",
        sys_platform="darwin", platform_machine="x86_64", platform_system="Darwin",
        os_name="posix",
    ),
    _windows("windows-amd64", "win_amd64", "AMD64"),
    _linux("ppc64le"),
    _linux("s390x"),
    _windows("windows-x86", "win32", "x86"),
    _windows("windows-arm64", "win_arm64", "ARM64"),
)

#: The platforms of the default environment set.
DEFAULT_PLATFORMS: tuple[str, ...] = (
    "linux-x86_64", "linux-aarch64", "macos-arm64", "macos-x86_64", "windows-amd64",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Environment:
    """One environment of a universal lock: a CPython minor version on a platform."""

    python: tuple[int, int]
    platform: Platform
    #: What a pass resolves for (the platform's floor tag, Python X.Y.0).
    target: Target
    #: Lists the wheels a machine of this environment may install (the platform's newest tag).
    wide: Target

    @property
    def label(self) -> str:
        """e.g. ``cp312-linux-x86_64``."""
        return f"cp{self.python[0]}{self.python[1]}-{self.platform.name}"

    @property
    def python_version(self) -> str:
        return f"{self.python[0]}.{self.python[1]}"

    def describe(self) -> str:
        return f"CPython {self.python_version} on {self.platform.describe()}"

    def marker_values(self) -> dict[str, str]:
        return self.target.environment(None)

    def holds(self, marker: Marker | BaseMarker | None) -> bool:
        """Does ``marker`` hold here (no extra active)?"""
        if marker is None:
            return True
        if isinstance(marker, BaseMarker):
            if marker.is_any():
                return True
            if marker.is_empty():
                return False
            marker = _marker(str(marker))
        return marker.evaluate(self.marker_values())

    def platform_marker(self) -> str:
        return (f'sys_platform == "{self.platform.sys_platform}" and '
                f'platform_machine == "{self.platform.platform_machine}"')

    def marker(self) -> str:
        """A marker true in this environment only (among any set skimlock builds)."""
        return f'{self.platform_marker()} and python_version == "{self.python_version}"'


def target_for(python: tuple[int, int], platform_tag: str) -> Target:
    """The :class:`Target` for CPython ``python`` on ``platform_tag``.

    Marker values come from :data:`PLATFORMS` when the tag is one of theirs (the platform and
    machine a wheel tag implies are facts of this table; ``Target.from_options`` derives them
    from the tag text).
    """
    target = Target.from_options(
        python_version=f"{python[0]}.{python[1]}", platforms=[platform_tag], implementation="cp"
    )
    known = _platform_of_tag(platform_tag)
    if known is None:
        return target
    return dataclasses.replace(target, markers={**target.markers, **known.markers()})


def _platform_of_tag(tag: str) -> Platform | None:
    for platform in PLATFORMS:
        if tag in (platform.tag, platform.wide):
            return platform
    return None


def _platform_from_tag(tag: str) -> Platform:
    """A platform for an explicit ``--platform`` tag."""
    known = _platform_of_tag(tag) or next((p for p in PLATFORMS if p.name == tag), None)
    if known is not None:
        return known
    probe = Target.from_options(python_version="3.12", platforms=[tag], implementation="cp")
    markers = probe.markers
    machine = markers["platform_machine"]
    if tag.startswith("macosx") and tag.endswith("x86_64"):
        machine = "x86_64"
    return Platform(
        name=tag, tag=tag, wide=tag, sys_platform=markers["sys_platform"],
        platform_machine=machine, platform_system=markers["platform_system"],
        os_name=markers["os_name"],
    )


def _platform_text(tag: str) -> str:
    tag = tag.strip()
    if any(p.name == tag for p in PLATFORMS):
        return tag
    return tag.replace("-", "_").replace(".", "_")


def _make(python: tuple[int, int], platform: Platform) -> Environment:
    return Environment(
        python=python,
        platform=platform,
        target=target_for(python, platform.tag),
        wide=target_for(python, platform.wide),
    )


def environment_set(
    *,
    requires_python: SpecifierSet | None = None,
    floor: str | None = None,
    markers: Sequence[str] = (),
    platforms: Sequence[str] = (),
) -> tuple[Environment, ...]:
    """The environments a universal lock covers, oldest Python first.

    Python: CPython minors from ``floor`` (``--python-version``), else the lowest minor
    ``requires_python`` allows, else the running interpreter's, up to :data:`NEWEST_PYTHON`,
    keeping those ``requires_python`` allows. Platforms: ``platforms`` (wheel tags, or names
    of :data:`PLATFORMS` such as ``linux-ppc64le``), else :data:`DEFAULT_PLATFORMS`. With
    ``markers`` (``--environment``), an environment is kept when one of them holds in it (as
    uv's ``environments``): markers narrow the set, platforms widen it. Raises
    :class:`InputError` for an invalid or contradictory marker, one that matches no
    environment, or an empty set.
    """
    parsed: list[tuple[str, Marker]] = []
    for text in markers:
        try:
            marker = Marker(text)
        except InvalidMarker as exc:
            reason = str(exc).splitlines()[0] if str(exc) else "cannot be parsed"
            raise InputError(f"--environment {text!r} is not a valid marker: {reason}") from None
        try:
            algebra = from_pkg_marker(marker)
        except Exception:  # a marker dep-logic cannot model is still evaluated below
            algebra = AnyMarker()
        if algebra.is_empty():
            raise InputError(f"--environment {text!r} is contradictory: no environment can "
                             "satisfy it")
        parsed.append((text, marker))
    if floor is not None:
        probe = Target.from_options(python_version=floor, platforms=["win_amd64"])
        lowest = probe.python_version[:2]
    elif requires_python is not None:
        allowed = [m for m in _minors(OLDEST_PYTHON) if _allows(requires_python, m)]
        if not allowed:
            raise InputError(f"requires-python {requires_python} allows no CPython release "
                             f"from {_dotted(OLDEST_PYTHON)} to {_dotted(NEWEST_PYTHON)}")
        lowest = allowed[0]
    else:
        lowest = (sys.version_info.major, sys.version_info.minor)
    pythons = [
        m for m in _minors(lowest)
        if requires_python is None or _allows(requires_python, m)
    ]
    if platforms:
        pool = [_platform_from_tag(_platform_text(tag)) for tag in platforms]
    else:
        pool = [p for p in PLATFORMS if p.name in DEFAULT_PLATFORMS]
    candidates = [_make(python, platform) for python in pythons for platform in pool]
    if parsed:
        for text, marker in parsed:
            if not any(_evaluate(marker, env) for env in candidates):
                raise InputError(
                    f"--environment {text!r} matches none of the environments skimlock can "
                    f"lock for (CPython {_dotted(lowest)}-{_dotted(NEWEST_PYTHON)} on "
                    f"{', '.join(p.name for p in pool)})"
                )
        candidates = [e for e in candidates if any(_evaluate(m, e) for _, m in parsed)]
    if not candidates:
        raise InputError(f"no CPython from {_dotted(lowest)} to {_dotted(NEWEST_PYTHON)} (the "
                         "newest release skimlock knows) is allowed: the environment set is empty")
    seen: dict[str, Environment] = {}
    for env in candidates:
        other = seen.setdefault(env.marker(), env)
        if other is not env:
            raise InputError(
                f"environments {other.label} and {env.label} have the same marker values; "
                "a lock cannot tell them apart (lock them separately)"
            )
    return tuple(candidates)


def _evaluate(marker: Marker, env: Environment) -> bool:
    try:
        return marker.evaluate(env.marker_values())
    except UndefinedComparison as exc:
        raise InputError(f"--environment {str(marker)!r} cannot be evaluated: {exc}") from None


def _minors(lowest: tuple[int, int]) -> list[tuple[int, int]]:
    return [(3, minor) for minor in range(lowest[1], NEWEST_PYTHON[1] + 1)]


def _allows(spec: SpecifierSet, python: tuple[int, int]) -> bool:
    return spec.contains(Version(f"{python[0]}.{python[1]}.0"), prereleases=True)


def _dotted(python: tuple[int, int]) -> str:
    return f"{python[0]}.{python[1]}"


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


@functools.lru_cache(maxsize=4096)
def _marker(text: str) -> Marker:
    """A parsed marker (the merge evaluates the same few texts in every environment)."""
    return Marker(text)


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
        marker = _marker(candidate.text) if candidate.text else None
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
            bounds.append(f'python_version >= "{_dotted(low)}"')
        if high != ordered[-1]:
            bounds.append(f'python_version < "{_dotted((high[0], high[1] + 1))}"')
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


def environments_markers(environments: Sequence[Environment]) -> list[Marker]:
    """The lock's ``environments``: one marker per platform, with its Python range."""
    by_platform: dict[str, list[Environment]] = {}
    for env in environments:
        by_platform.setdefault(env.platform.name, []).append(env)
    markers = []
    for members in by_platform.values():
        pythons = sorted({e.python for e in members})
        low, high = pythons[0], pythons[-1]
        contiguous = len(pythons) == high[1] - low[1] + 1
        platform = members[0]
        base = f'{platform.platform_marker()} and implementation_name == "cpython"'
        if contiguous:
            text = (f'{base} and python_version >= "{_dotted(low)}" and '
                    f'python_version < "{_dotted((high[0], high[1] + 1))}"')
            markers.append(Marker(text))
        else:
            markers.extend(
                Marker(f'{base} and python_version == "{_dotted(p)}"') for p in pythons
            )
    return markers


def environment_from_label(label: str) -> Environment:
    """The environment a label such as ``cp312-linux-x86_64`` names (as recorded in a lock)."""
    head, _, platform_name = label.partition("-")
    digits = head[2:]
    if not head.startswith("cp") or len(digits) < 2 or not digits.isdigit() or not platform_name:
        raise InputError(f"not an environment label: {label!r} (e.g. cp312-linux-x86_64)")
    python = (int(digits[0]), int(digits[1:]))
    platform = next((p for p in PLATFORMS if p.name == platform_name), None)
    return _make(python, platform or _platform_from_tag(platform_name))
