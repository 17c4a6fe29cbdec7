"""The environments of a universal lock: CPython minor versions times platforms (sans-I/O).

An :class:`Environment` is one concrete machine a lock covers (a
:class:`~skimlock.target.Target`: marker values and tags) plus a *wide* target that lists the
wheels a machine of that kind may install. :func:`environment_set` builds the set a user asks
for (CPython from a floor to :data:`NEWEST_PYTHON` on :data:`DEFAULT_PLATFORMS`, narrowed by
``--environment`` markers, widened by ``--platform``); :func:`environments_markers` is the
lock's ``environments``; :func:`environment_from_label` reads back a label recorded in a lock.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from dep_logic.markers import AnyMarker, BaseMarker, from_pkg_marker
from packaging.markers import InvalidMarker, Marker, UndefinedComparison
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from .errors import InputError
from .target import Target

__all__ = [
    "DEFAULT_PLATFORMS",
    "NEWEST_PYTHON",
    "OLDEST_PYTHON",
    "PLATFORMS",
    "Environment",
    "Platform",
    "environment_from_label",
    "environment_set",
    "environments_markers",
    "parsed_marker",
    "python_text",
    "target_for",
]

#: The newest CPython minor release (3.15.0 came out in October 2026; numpy and pywin32 ship
#: cp315 wheels). The default environment set ends here.
NEWEST_PYTHON = (3, 15)
#: The oldest CPython minor a universal lock considers.
OLDEST_PYTHON = (3, 8)

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
            marker = parsed_marker(str(marker))
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
                             f"from {python_text(OLDEST_PYTHON)} to {python_text(NEWEST_PYTHON)}")
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
                    f"lock for (CPython {python_text(lowest)}-{python_text(NEWEST_PYTHON)} on "
                    f"{', '.join(p.name for p in pool)})"
                )
        candidates = [e for e in candidates if any(_evaluate(m, e) for _, m in parsed)]
    if not candidates:
        raise InputError(
            f"no CPython from {python_text(lowest)} to {python_text(NEWEST_PYTHON)} (the newest "
            "release skimlock knows) is allowed: the environment set is empty"
        )
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


def python_text(python: tuple[int, int]) -> str:
    """``(3, 12)`` -> ``3.12``."""
    return f"{python[0]}.{python[1]}"


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
            text = (f'{base} and python_version >= "{python_text(low)}" and '
                    f'python_version < "{python_text((high[0], high[1] + 1))}"')
            markers.append(Marker(text))
        else:
            markers.extend(
                Marker(f'{base} and python_version == "{python_text(p)}"') for p in pythons
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


@functools.lru_cache(maxsize=4096)
def parsed_marker(text: str) -> Marker:
    """A parsed marker (a universal lock evaluates the same few texts in every environment)."""
    return Marker(text)
