"""The environment a lock is made for: marker values and the ordered list of supported tags.

Sans-I/O. The default target is the running interpreter (``packaging.tags.sys_tags`` and
``packaging.markers.default_environment``). A foreign target is described by a Python version, zero
or more platform tags, an implementation and ABIs.

A bare ``--python-version X.Y`` is taken as ``X.Y.0``: the oldest interpreter of that minor
version. That is what pip does (it pads the version with zeros) and what uv assumes, and it is the
conservative choice: a lock made for X.Y.0 never relies on a patch release the user may not have.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from packaging import tags as _tags
from packaging.markers import Marker, default_environment
from packaging.tags import Tag
from packaging.version import Version

from .errors import InputError

__all__ = ["Target"]

_MANYLINUX_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_(.+)$")
_MANYLINUX_OLD = re.compile(r"^(manylinux1|manylinux2010|manylinux2014)_(.+)$")
_MUSLLINUX = re.compile(r"^musllinux_(\d+)_(\d+)_(.+)$")
_MACOSX = re.compile(r"^macosx_(\d+)_(\d+)_(.+)$")

_IMPLEMENTATIONS = {"cp": ("cpython", "CPython"), "pp": ("pypy", "PyPy")}


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
        version = (
            _parse_python_version(python_version)
            if python_version is not None
            else (running.major, running.minor, running.micro)
        )
        impl = implementation or _tags.interpreter_name()
        if impl not in _IMPLEMENTATIONS:
            raise InputError(f"unsupported implementation {impl!r}; use one of: cp, pp")
        if platforms:
            expanded = tuple(_expand_platforms(platforms))
            markers = _platform_markers(platforms[0])
        else:
            expanded = tuple(_tags.platform_tags())
            current = default_environment()
            markers = {
                key: str(current[key])
                for key in ("os_name", "sys_platform", "platform_machine", "platform_system",
                            "platform_release", "platform_version")
            }
        full = ".".join(map(str, version))
        impl_name, impl_python = _IMPLEMENTATIONS[impl]
        markers |= {
            "python_version": f"{version[0]}.{version[1]}",
            "python_full_version": full,
            "implementation_name": impl_name,
            "platform_python_implementation": impl_python,
            "implementation_version": full,
        }
        return cls(
            python_version=version,
            implementation=impl,
            platforms=expanded,
            tags=tuple(_target_tags(impl, version, abis, expanded)),
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

    def environment_marker(self) -> Marker:
        """A PEP 508 marker that holds in this target only (for pylock ``environments``)."""
        keys = ("sys_platform", "platform_machine", "implementation_name", "python_version")
        parts = [f'{key} == "{self.markers[key]}"' for key in keys if self.markers.get(key)]
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


def _expand_platforms(platforms: Iterable[str]) -> Iterable[str]:
    """Each platform tag followed by the older tags the same machine installs."""
    seen: set[str] = set()
    for raw in platforms:
        for tag in _expand_one(raw.strip().replace("-", "_").replace(".", "_")):
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


def _platform_markers(plat: str) -> dict[str, str]:
    """Marker values implied by a platform tag."""
    if plat.startswith(("manylinux", "musllinux", "linux")):
        arch = re.sub(r"^(manylinux_\d+_\d+|musllinux_\d+_\d+|manylinux\d+|linux)_", "", plat)
        return {"os_name": "posix", "sys_platform": "linux", "platform_system": "Linux",
                "platform_machine": arch, "platform_release": "", "platform_version": ""}
    if plat.startswith("macosx"):
        arch = plat.rsplit("_", 1)[-1]
        machine = {"universal2": "arm64", "intel": "x86_64"}.get(arch, arch)
        return {"os_name": "posix", "sys_platform": "darwin", "platform_system": "Darwin",
                "platform_machine": machine, "platform_release": "", "platform_version": ""}
    if plat.startswith("win"):
        machine = {"win_amd64": "AMD64", "win32": "x86", "win_arm64": "ARM64"}.get(plat, "AMD64")
        return {"os_name": "nt", "sys_platform": "win32", "platform_system": "Windows",
                "platform_machine": machine, "platform_release": "", "platform_version": ""}
    raise InputError(
        f"unknown --platform {plat!r}; use a wheel platform tag such as "
        "manylinux_2_28_x86_64, musllinux_1_2_aarch64, macosx_14_0_arm64 or win_amd64"
    )


def _target_tags(
    impl: str, version: tuple[int, int, int], abis: tuple[str, ...], platforms: tuple[str, ...]
) -> Iterable[Tag]:
    py = (version[0], version[1])
    interpreter = f"{impl}{version[0]}{version[1]}"
    if impl == "cp":
        yield from _tags.cpython_tags(py, abis=list(abis) or None, platforms=platforms)
    else:
        yield from _tags.generic_tags(interpreter, abis=list(abis) or None, platforms=platforms)
    yield from _tags.compatible_tags(py, interpreter=interpreter, platforms=platforms)

