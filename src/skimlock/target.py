"""The environment a lock is made for: marker values and the ordered list of supported tags.

Sans-I/O. The default target is the running interpreter (``packaging.tags.sys_tags`` and
``packaging.markers.default_environment``). A foreign target is described by a Python version, zero
or more platform tags, an implementation and ABIs; :meth:`Target.for_environment` builds one from
exactly those facts (nothing is taken from the running interpreter), which is what a locker that
composes several targets needs.

A bare ``--python-version X.Y`` is taken as ``X.Y.0``: the oldest interpreter of that minor
version. That is what pip does (it pads the version with zeros) and what uv assumes, and it is the
conservative choice: a lock made for X.Y.0 never relies on a patch release the user may not have.

Platform tags become the marker values a real interpreter on that platform reports
(``platform.machine()`` is ``uname -m`` on Linux and macOS and ``PROCESSOR_ARCHITECTURE`` on
Windows); ``os_name``/``sys_platform``/``platform_system`` are ``posix``/``linux``/``Linux``,
``posix``/``darwin``/``Darwin`` or ``nt``/``win32``/``Windows``:

- ``manylinux1|2010|2014_ARCH``, ``manylinux_X_Y_ARCH``, ``musllinux_X_Y_ARCH``, ``linux_ARCH``:
  ``platform_machine`` is ARCH (x86_64, i686, aarch64, ppc64le, s390x, armv7l, ...), which Linux
  wheel tags copy from ``uname -m``;
- ``macosx_X_Y_x86_64`` / ``_arm64``: ``x86_64`` / ``arm64``; a fat format runs on several Macs
  and the environment names one: ``universal2`` -> ``arm64`` (Apple silicon, the Macs sold today;
  lock ``macosx_X_Y_x86_64`` for an Intel Mac), ``intel``/``fat64``/``fat3``/``universal`` ->
  ``x86_64``, ``i386``/``fat`` -> ``i386``, ``ppc``/``ppc64`` -> ``Power Macintosh``;
- ``win_amd64`` / ``win32`` / ``win_arm64``: ``AMD64`` / ``x86`` / ``ARM64``.

``i686``/``win32`` stand for a 32-bit OS: a 32-bit interpreter on a 64-bit OS reports the OS's
machine (``x86_64``, ``AMD64``), as ``platform.machine()`` does, and no single tag describes it.

Several ``--platform`` tags must describe one machine: ``macosx_11_0_arm64`` with
``macosx_10_9_universal2`` is one Apple silicon Mac, ``manylinux_2_28_x86_64`` with
``manylinux2014_x86_64`` one Linux PC; Linux with Windows, or x86_64 with aarch64, is refused (that
is a universal lock, not a target).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from packaging import tags as _tags
from packaging.markers import Marker, default_environment
from packaging.tags import Tag
from packaging.version import Version

from .errors import InputError

__all__ = ["Target"]

_MANYLINUX_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_([a-z0-9_]+)$")
_MANYLINUX_OLD = re.compile(r"^(manylinux1|manylinux2010|manylinux2014)_([a-z0-9_]+)$")
_MUSLLINUX = re.compile(r"^musllinux_(\d+)_(\d+)_([a-z0-9_]+)$")
_LINUX = re.compile(r"^linux_([a-z0-9_]+)$")
_MACOSX = re.compile(r"^macosx_(\d+)_(\d+)_([a-z0-9_]+)$")

#: macOS binary format in a tag -> the ``platform.machine()`` of the Macs that run it, the one
#: the marker environment names first. ``universal2`` is arm64 + x86_64; ``intel`` is i386 +
#: x86_64; ``fat64`` ppc64 + x86_64; ``fat3`` and ``universal`` i386 + ppc + x86_64; ``fat``
#: i386 + ppc. PowerPC Macs report ``Power Macintosh``.
_MAC_MACHINES: Mapping[str, tuple[str, ...]] = {
    "arm64": ("arm64",),
    "x86_64": ("x86_64",),
    "universal2": ("arm64", "x86_64"),
    "intel": ("x86_64", "i386"),
    "fat64": ("x86_64", "Power Macintosh"),
    "fat3": ("x86_64", "i386", "Power Macintosh"),
    "universal": ("x86_64", "i386", "Power Macintosh"),
    "fat": ("i386", "Power Macintosh"),
    "i386": ("i386",),
    "ppc": ("Power Macintosh",),
    "ppc64": ("Power Macintosh",),
}
#: Windows platform tag -> ``platform.machine()`` (the ``PROCESSOR_ARCHITECTURE`` value).
_WINDOWS_MACHINES: Mapping[str, str] = {"win_amd64": "AMD64", "win32": "x86", "win_arm64": "ARM64"}
_FAMILIES: Mapping[str, dict[str, str]] = {
    "linux": {"os_name": "posix", "sys_platform": "linux", "platform_system": "Linux"},
    "macos": {"os_name": "posix", "sys_platform": "darwin", "platform_system": "Darwin"},
    "windows": {"os_name": "nt", "sys_platform": "win32", "platform_system": "Windows"},
}

_IMPLEMENTATIONS = {"cp": ("cpython", "CPython"), "pp": ("pypy", "PyPy")}
#: The first PyPy release of each Python minor version: a target's ``implementation_version``
#: (the oldest PyPy that runs it, as X.Y means X.Y.0). All are 7.3.x, the ``pp73`` ABI.
_PYPY_FIRST_RELEASE: Mapping[tuple[int, int], str] = {
    (3, 6): "7.3.0", (3, 7): "7.3.2", (3, 8): "7.3.6", (3, 9): "7.3.8", (3, 10): "7.3.12",
    (3, 11): "7.3.18",
}
_UNIVERSAL_HINT = (
    "a lock made for one target describes one machine; lock once per platform, or make one lock "
    "for several platforms with `skimlock lock --universal`"
)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Platform:
    """What one platform tag says about the machine that installs it."""

    tag: str
    family: str
    #: ``platform.machine()`` values of the machines that install this tag, the preferred first.
    machines: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    """A Python environment: what its markers say and which wheel tags it installs, best first."""

    python_version: tuple[int, int, int]
    #: Interpreter abbreviation as used in tags: ``cp`` or ``pp``.
    implementation: str
    #: Platform tags, most specific first (expanded: manylinux_2_28 also lists 2_27 ... 2_5).
    platforms: tuple[str, ...]
    #: Supported tags, best first.
    tags: tuple[Tag, ...]
    #: PEP 508 marker environment (without ``extra``).
    markers: Mapping[str, str]
    #: True when this is the interpreter skimlock runs in.
    is_running: bool = False
    _rank: Mapping[Tag, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self._rank:
            rank: dict[Tag, int] = {}
            for index, tag in enumerate(self.tags):
                rank.setdefault(tag, index)
            object.__setattr__(self, "_rank", rank)

    # -- constructors -------------------------------------------------------------------------

    @classmethod
    def current(cls) -> Target:
        """The running interpreter."""
        info = sys.version_info
        return cls(
            python_version=(info.major, info.minor, info.micro),
            implementation=_tags.interpreter_name(),
            platforms=tuple(_tags.platform_tags()),
            tags=tuple(_tags.sys_tags()),
            markers={k: str(v) for k, v in default_environment().items()},
            is_running=True,
        )

    @classmethod
    def for_environment(
        cls,
        *,
        python_version: str,
        implementation: str,
        platforms: Sequence[str],
        abis: Sequence[str] = (),
    ) -> Target:
        """A target from its facts alone, nothing taken from the running interpreter.

        ``python_version`` is ``X.Y.Z`` (``X.Y`` means ``X.Y.0``), ``implementation`` ``cp`` or
        ``pp``, ``platforms`` one or more wheel platform tags of one machine (e.g.
        ``["manylinux_2_28_x86_64"]``), ``abis`` the ABI tags (default: those of that
        implementation and version). The result has a full marker environment (every PEP 508
        variable but ``extra``; ``platform_release`` and ``platform_version`` are empty) and the
        ordered tag list. Raises :class:`InputError` for an unknown tag, implementation or
        version, and for tags of different machines.
        """
        if not platforms:
            raise InputError("a target needs at least one platform tag")
        version = _parse_python_version(python_version)
        cls._check_implementation(implementation)
        return cls._build(
            version=version,
            impl=implementation,
            abis=tuple(abis),
            platforms=tuple(_expand_platforms(platforms)),
            platform_markers=_platform_markers(platforms),
        )

    @classmethod
    def from_options(
        cls,
        *,
        python_version: str | None = None,
        platforms: Iterable[str] = (),
        implementation: str | None = None,
        abis: Iterable[str] = (),
    ) -> Target:
        """A target from ``--python-version``, ``--platform``, ``--implementation``, ``--abi``.

        With no options at all this is :meth:`current`. Options not given are taken from the
        running interpreter.
        """
        platforms = tuple(platforms)
        abis = tuple(abis)
        if python_version is None and not platforms and implementation is None and not abis:
            return cls.current()
        running = sys.version_info
        if python_version is None:
            python_version = f"{running.major}.{running.minor}.{running.micro}"
        impl = implementation or _tags.interpreter_name()
        if platforms:
            return cls.for_environment(
                python_version=python_version, implementation=impl, platforms=platforms,
                abis=abis,
            )
        version = _parse_python_version(python_version)
        cls._check_implementation(impl)
        current = default_environment()
        host = {
            key: str(current[key])
            for key in ("os_name", "sys_platform", "platform_machine", "platform_system",
                        "platform_release", "platform_version")
        }
        return cls._build(version=version, impl=impl, abis=abis,
                          platforms=tuple(_tags.platform_tags()), platform_markers=host)

    @staticmethod
    def _check_implementation(impl: str) -> None:
        if impl not in _IMPLEMENTATIONS:
            raise InputError(f"unsupported implementation {impl!r}; use one of: cp, pp")

    @classmethod
    def _build(
        cls,
        *,
        version: tuple[int, int, int],
        impl: str,
        abis: tuple[str, ...],
        platforms: tuple[str, ...],
        platform_markers: Mapping[str, str],
    ) -> Target:
        full = ".".join(map(str, version))
        impl_name, impl_python = _IMPLEMENTATIONS[impl]
        markers = dict(platform_markers) | {
            "python_version": f"{version[0]}.{version[1]}",
            "python_full_version": full,
            "implementation_name": impl_name,
            "platform_python_implementation": impl_python,
            "implementation_version": _implementation_version(impl, version),
        }
        return cls(
            python_version=version,
            implementation=impl,
            platforms=platforms,
            tags=tuple(_target_tags(impl, version, abis or _default_abis(impl, version),
                                    platforms)),
            markers=markers,
            is_running=False,
        )

    # -- queries ------------------------------------------------------------------------------

    @property
    def python_full_version(self) -> Version:
        return Version(".".join(map(str, self.python_version)))

    def tag_rank(self, file_tags: Iterable[Tag]) -> int | None:
        """The best (lowest) rank of any of ``file_tags``; None when none is supported."""
        ranks = [self._rank[t] for t in file_tags if t in self._rank]
        return min(ranks) if ranks else None

    def environment(self, extra: str | None = None) -> dict[str, str]:
        """Marker environment, with ``extra`` set (empty string when None)."""
        env = dict(self.markers)
        env["extra"] = extra or ""
        return env

    def evaluate(self, marker: Marker | None, extras: Iterable[str] = ()) -> bool:
        """Does ``marker`` hold for this target with any of ``extras`` (or none) active?"""
        if marker is None:
            return True
        candidates = [*extras] or [""]
        return any(
            marker.evaluate(self.environment(extra))
            for extra in candidates
        )

    def environment_marker(self, patches: tuple[int, int | None] | None = None) -> Marker:
        """A PEP 508 marker for pylock ``environments``: this platform, machine and
        implementation, and the Python releases the lock claims.

        Without ``patches`` it claims exactly the target's full Python version
        (``python_full_version``, not ``python_version``: dependency markers and
        ``Requires-Python`` may compare patch releases, so a resolution for 3.11.7 says nothing
        about 3.11.2 by itself). ``patches`` = ``(first, last)`` widens that to the patch
        releases of the target's ``X.Y`` over which the resolution was shown to hold
        (:func:`skimlock.claim.patch_range`); ``last`` None means "and every later one".
        """
        keys = ("sys_platform", "platform_machine", "implementation_name")
        parts = [f'{key} == "{self.markers[key]}"' for key in keys if self.markers.get(key)]
        major, minor, patch = self.python_version
        if patches is None:
            parts.append(f'python_full_version == "{major}.{minor}.{patch}"')
        else:
            first, last = patches
            if first > 0:
                parts.append(f'python_full_version >= "{major}.{minor}.{first}"')
            if last is None:
                parts.append(f'python_version == "{major}.{minor}"')
            else:
                parts.append(f'python_full_version < "{major}.{minor}.{last + 1}"')
        return Marker(" and ".join(parts))

    def describe(self) -> str:
        """One line for the user, e.g. ``CPython 3.12.0 on manylinux_2_28_x86_64``."""
        impl = _IMPLEMENTATIONS.get(self.implementation, (self.implementation,) * 2)[1]
        version = ".".join(map(str, self.python_version))
        # The first portable tag (packaging lists the local "linux_x86_64" first).
        portable = [p for p in self.platforms if not p.startswith("linux_")] or self.platforms
        where = portable[0] if portable else self.markers.get("sys_platform", "?")
        suffix = " (running interpreter)" if self.is_running else ""
        return f"{impl} {version} on {where}{suffix}"


def _parse_python_version(text: str) -> tuple[int, int, int]:
    match = re.fullmatch(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", text.strip())
    if not match or match.group(2) is None:
        raise InputError(f"--python-version wants X.Y or X.Y.Z, got {text!r}")
    major, minor, micro = (int(g) if g is not None else 0 for g in match.groups())
    if major != 3:
        raise InputError(f"--python-version {text!r}: only Python 3 is supported")
    return (major, minor, micro)


def _implementation_version(impl: str, version: tuple[int, int, int]) -> str:
    """CPython's is its Python version; PyPy's is its own release (see _PYPY_FIRST_RELEASE)."""
    if impl == "pp":
        known = sorted(_PYPY_FIRST_RELEASE.items())
        minor = (version[0], version[1])
        # A Python line no PyPy release has (yet): the newest known, the closest fact there is.
        return _PYPY_FIRST_RELEASE.get(minor, known[0][1] if minor < known[0][0] else known[-1][1])
    return ".".join(map(str, version))


def _default_abis(impl: str, version: tuple[int, int, int]) -> tuple[str, ...]:
    """The ABI tag an interpreter of that implementation and version builds extensions for.

    Derived from the target alone, never from the running interpreter (whose debug or
    free-threaded build says nothing about the target): CPython ``cpXY`` (``cpXYm`` before 3.8,
    when pymalloc was in the ABI); ``abi3`` and ``none`` are added by ``packaging.tags``. PyPy
    ``pypyXY_pp73``: the 7.3 series shares one ABI per Python version (``pp310-pypy310_pp73``
    wheels), as ``packaging.tags`` reads from PyPy's extension suffix.
    """
    nodot = f"{version[0]}{version[1]}"
    if impl == "pp":
        return (f"pypy{nodot}_pp73",)
    return (f"cp{nodot}m",) if (version[0], version[1]) < (3, 8) else (f"cp{nodot}",)


def _normalize_tag(raw: str) -> str:
    return raw.strip().replace("-", "_").replace(".", "_")


def _parse_platform(raw: str) -> _Platform:
    """The OS family and the machines of one platform tag; InputError for an unknown tag."""
    plat = _normalize_tag(raw)
    match = (_MANYLINUX_OLD.match(plat) or _MANYLINUX.match(plat) or _MUSLLINUX.match(plat)
             or _LINUX.match(plat))
    if match:
        # Linux wheel tags carry ``uname -m`` verbatim.
        return _Platform(tag=plat, family="linux", machines=(match.groups()[-1],))
    if (match := _MACOSX.match(plat)) and match.group(3) in _MAC_MACHINES:
        return _Platform(tag=plat, family="macos", machines=_MAC_MACHINES[match.group(3)])
    if plat in _WINDOWS_MACHINES:
        return _Platform(tag=plat, family="windows", machines=(_WINDOWS_MACHINES[plat],))
    raise InputError(
        f"unknown --platform {raw!r}; use a wheel platform tag such as "
        "manylinux_2_28_x86_64, musllinux_1_2_aarch64, macosx_14_0_arm64 or win_amd64"
    )


def _platform_markers(platforms: Iterable[str]) -> dict[str, str]:
    """Marker values of the one machine that installs all of ``platforms``.

    Tags of different OS families, or of one family but different machines, are refused: one
    target is one marker environment.
    """
    parsed = [_parse_platform(p) for p in platforms]
    first = parsed[0]
    machines = list(first.machines)
    for other in parsed[1:]:
        if other.family != first.family:
            raise InputError(
                f"--platform {first.tag} and {other.tag} are for different operating systems; "
                + _UNIVERSAL_HINT
            )
        common = [m for m in machines if m in other.machines]
        if not common:
            raise InputError(
                f"--platform {first.tag} and {other.tag} are for different machines "
                f"({'/'.join(machines)} and {'/'.join(other.machines)}); " + _UNIVERSAL_HINT
            )
        machines = common
    return _FAMILIES[first.family] | {
        "platform_machine": machines[0], "platform_release": "", "platform_version": "",
    }


def _expand_platforms(platforms: Iterable[str]) -> Iterable[str]:
    """Each platform tag followed by the older tags the same machine installs."""
    seen: set[str] = set()
    for raw in platforms:
        for tag in _expand_one(_normalize_tag(raw)):
            if tag not in seen:
                seen.add(tag)
                yield tag


def _expand_one(plat: str) -> Iterable[str]:
    if match := _MANYLINUX_OLD.match(plat):
        major, minor = _MANYLINUX_LEGACY[match.group(1)]
        yield from _manylinux(major, minor, match.group(2))
    elif match := _MANYLINUX.match(plat):
        yield from _manylinux(int(match.group(1)), int(match.group(2)), match.group(3))
    elif match := _MUSLLINUX.match(plat):
        major, minor, arch = int(match.group(1)), int(match.group(2)), match.group(3)
        yield from (f"musllinux_{major}_{m}_{arch}" for m in range(minor, -1, -1))
    elif match := _MACOSX.match(plat):
        major, minor, arch = int(match.group(1)), int(match.group(2)), match.group(3)
        yield from _tags.mac_platforms((major, minor), arch)
    else:
        yield plat


def _manylinux(major: int, minor: int, arch: str) -> Iterable[str]:
    legacy = {v: k for k, v in _MANYLINUX_LEGACY.items()}
    for m in range(minor, 4, -1):
        yield f"manylinux_{major}_{m}_{arch}"
        if (major, m) in legacy:
            yield f"{legacy[(major, m)]}_{arch}"


def _target_tags(
    impl: str, version: tuple[int, int, int], abis: tuple[str, ...], platforms: tuple[str, ...]
) -> Iterable[Tag]:
    py = (version[0], version[1])
    interpreter = f"{impl}{version[0]}{version[1]}"
    if impl == "cp":
        yield from _tags.cpython_tags(py, abis=list(abis), platforms=platforms)
    else:
        yield from _tags.generic_tags(interpreter, abis=list(abis), platforms=platforms)
    yield from _tags.compatible_tags(py, interpreter=interpreter, platforms=platforms)
