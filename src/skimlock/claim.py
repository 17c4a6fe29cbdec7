"""What a single-target resolution may honestly claim in a lock's ``environments`` (sans-I/O).

A resolution is made for one interpreter, say CPython 3.11.7. Claiming only ``python_full_version
== "3.11.7"`` is true but useless on any other patch release; claiming ``python_version ==
"3.11"`` is wrong when a dependency's marker or ``Requires-Python`` compares patch releases (redis
needs async-timeout on ``python_full_version < "3.11.3"``).

So the claim is the widest run of patch releases around the target's over which every input the
lock's correctness rests on gives the same answer as for the target: the marker of every root
requirement, the marker of every ``Requires-Dist`` of every pin (with the pin's extras), the
``Requires-Python`` of every pin and of every file locked. Over that run the same pins, with the
same files, are a complete and valid installation, so the lock is right for each release in it
(a newer release might let the resolver pick newer versions; it would not make these wrong).
Patch releases are probed from 0 to :data:`PATCH_HORIZON`; a run that reaches it is open-ended.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from packaging.markers import Marker, UndefinedComparison
from packaging.metadata import InvalidMetadata
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from .resolution import Resolution

__all__ = ["PATCH_HORIZON", "PatchRange", "patch_range"]

#: Patch releases probed; a run of equal answers reaching it is taken as open-ended.
PATCH_HORIZON = 64

#: ``(first, last)`` patch releases claimed; ``last`` is None when open-ended.
PatchRange = tuple[int, int | None]


def patch_range(resolution: Resolution) -> PatchRange:
    """The patch releases of the target's ``X.Y`` over which ``resolution`` holds unchanged."""
    target = resolution.target
    major, minor, patch = target.python_version
    probes = list(_probes(resolution))
    if not probes:
        return (0, None)

    def answers(p: int) -> tuple[bool, ...]:
        full = f"{major}.{minor}.{p}"
        env = target.environment(None) | {"python_full_version": full}
        if target.implementation == "cp":
            env["implementation_version"] = full
        version = Version(full)
        return tuple(probe(env, version) for probe in probes)

    at_target = answers(patch)
    first = patch
    while first > 0 and answers(first - 1) == at_target:
        first -= 1
    last = patch
    while last < PATCH_HORIZON and answers(last + 1) == at_target:
        last += 1
    return (first, None if last >= PATCH_HORIZON else last)


Probe = Callable[[dict[str, str], Version], bool]


def _probes(resolution: Resolution) -> Iterator[Probe]:
    """One yes/no question per input the resolution's correctness rests on; only those that
    can depend on the patch release (they mention it, or compare versions of Python). Each
    distinct question is asked once: the files of a release mostly share one
    ``Requires-Python``, and a lock of 130 projects has thousands of files but a few dozen
    distinct questions (asked for up to 65 patch releases each)."""
    seen: set[tuple[str, str]] = set()

    def new(kind: str, text: str) -> bool:
        if (kind, text) in seen:
            return False
        seen.add((kind, text))
        return True

    for requirement in resolution.requirements:
        marker = requirement.marker
        if marker is not None and _patch_sensitive(text := str(marker)) and new(text, ""):
            yield _marker_probe(marker, "")
    for pin in resolution.pins:
        extras = ["", *sorted(pin.extras)]
        try:
            requires_dist = pin.metadata.requires_dist or ()
            requires_python = pin.metadata.requires_python
        except InvalidMetadata:  # the writer reports it; nothing to claim from it
            continue
        # Formatting a marker costs more than the rest of the claim: look at the markers of
        # a pin only when its METADATA names a patch-sensitive variable at all.
        mentions = _PATCH_VARIABLES.search(pin.metadata_bytes) is not None
        for requirement in requires_dist if mentions else ():
            marker = requirement.marker
            if marker is None or not _patch_sensitive(text := str(marker)):
                continue
            for extra in extras:
                if new(text, extra):
                    yield _marker_probe(marker, extra)
        if requires_python is not None and new(":python:", str(requires_python)):
            yield _specifier_probe(requires_python)
        for file in pin.files:
            if file.requires_python and new(":python:", file.requires_python):
                try:
                    yield _specifier_probe(SpecifierSet(file.requires_python))
                except InvalidSpecifier:
                    continue


_PATCH_VARIABLES = re.compile(rb"python_full_version|implementation_version")


def _patch_sensitive(marker: str) -> bool:
    return "python_full_version" in marker or "implementation_version" in marker


def _marker_probe(marker: Marker, extra: str) -> Probe:
    def probe(env: dict[str, str], _version: Version) -> bool:
        try:
            return marker.evaluate(env | {"extra": extra})
        except UndefinedComparison:
            return False

    return probe


def _specifier_probe(specifier: SpecifierSet) -> Probe:
    def probe(_env: dict[str, str], version: Version) -> bool:
        return specifier.contains(version, prereleases=True)

    return probe
