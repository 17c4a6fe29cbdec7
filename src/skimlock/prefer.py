"""Pins of an existing lock, read as preferences for a re-lock (reads one local file).

A re-lock keeps what the lock already pins unless told otherwise (uv's behaviour): the resolver
tries the preferred version of a project first whenever the requirements allow it, so unchanged
inputs reproduce the lock, and a changed input moves only what it must. Preferences are never
constraints: a pin that no longer fits is simply not tried first.

Accepted files: a PEP 751 ``pylock.toml`` (``pylock.*.toml``; validated with
:mod:`packaging.pylock`; a universal lock may pin several versions of one project, each is
preferred), or a pip requirements file whose requirements pin ``name==version`` (others are
ignored), read with skimlock's own requirements-file reader.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from .errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

__all__ = ["Preferences", "read_preferences", "release"]

#: Project name to the versions to try first, most preferred first.
Preferences = Mapping[NormalizedName, tuple[Version, ...]]


def read_preferences(path: Path) -> dict[NormalizedName, tuple[Version, ...]]:
    """The pins of the lock or requirements file at ``path``.

    Raises :class:`InputError` when the file cannot be read or is not a valid lock or
    requirements file (the caller decides whether that is fatal).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path} for its pins: {exc}") from None
    if _looks_like_pylock(path, text):
        return _from_pylock(path, text)
    return _from_requirements(path)


def release(
    preferences: Mapping[NormalizedName, tuple[Version, ...]], names: Iterable[str]
) -> dict[NormalizedName, tuple[Version, ...]]:
    """``preferences`` without the projects named (``--upgrade-package``)."""
    released = {canonicalize_name(name) for name in names}
    return {name: versions for name, versions in preferences.items() if name not in released}


def _looks_like_pylock(path: Path, text: str) -> bool:
    return (path.name.startswith("pylock.") and path.name.endswith(".toml")) or (
        "lock-version" in text and "[[packages]]" in text
    )


def _from_pylock(path: Path, text: str) -> dict[NormalizedName, tuple[Version, ...]]:
    from packaging.pylock import Pylock, PylockValidationError

    try:
        lock = Pylock.from_dict(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, PylockValidationError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path} is not a valid pylock.toml: {first}") from None
    found: dict[NormalizedName, list[Version]] = {}
    for package in lock.packages:
        if package.version is None:
            continue
        versions = found.setdefault(canonicalize_name(package.name), [])
        if package.version not in versions:
            versions.append(package.version)
    return {name: tuple(versions) for name, versions in found.items()}


def _from_requirements(path: Path) -> dict[NormalizedName, tuple[Version, ...]]:
    from .inputs import collect_inputs

    inputs = collect_inputs(requirement_files=[path])
    found: dict[NormalizedName, list[Version]] = {}
    for item in inputs.requirements:
        for spec in item.requirement.specifier:
            if spec.operator != "==" or spec.version.endswith(".*"):
                continue
            try:
                version = Version(spec.version)
            except InvalidVersion:
                continue
            versions = found.setdefault(canonicalize_name(item.requirement.name), [])
            if version not in versions:
                versions.append(version)
    return {name: tuple(versions) for name, versions in found.items()}
