"""User-given hashes (``--hash`` in requirement and constraint files) against the resolved pins.

Sans-I/O. As ``pip lock`` does, a pinned version must have a file whose index hash is one the user
gave for that requirement, else it is an integrity error; only the matching files are kept for the
lock. With ``--require-hashes`` every pinned project must also be named with hashes (pip's
hash-checking mode covers dependencies too).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from packaging.utils import canonicalize_name

from .errors import InputError, RequirementHashError
from .inputs import InputRequirement
from .resolution import Pin
from .simple import IndexFile

__all__ = ["apply_hashes"]


def apply_hashes(
    pins: Sequence[Pin], applying: Iterable[InputRequirement], *, require_hashes: bool
) -> tuple[Pin, ...]:
    """``pins`` with each hashed project's files cut to those matching every requirement's
    hashes. ``applying``: the requirements and constraints whose markers hold for the target."""
    hashed: dict[str, list[InputRequirement]] = {}
    for item in applying:
        if item.hashes:
            hashed.setdefault(canonicalize_name(item.requirement.name), []).append(item)
    result = []
    missing = []
    for pin in pins:
        items = hashed.get(pin.name)
        if not items:
            if require_hashes:
                missing.append(f"{pin.name} {pin.version}")
            result.append(pin)
            continue
        files = pin.files
        for item in items:
            matching = tuple(f for f in files if _matches(f, item.hashes))
            if not matching:
                raise RequirementHashError(
                    pin.name, str(pin.version), item.source, tuple(sorted(item.hashes)),
                    _available(pin.files, item.hashes),
                )
            files = matching
        result.append(replace(pin, files=files))
    if missing:
        raise InputError(
            "--require-hashes: every locked project needs a --hash in the requirements, and "
            f"these have none: {', '.join(missing)}"
        )
    return tuple(result)


def _matches(file: IndexFile, hashes: frozenset[str]) -> bool:
    return any(f"{algorithm}:{digest}" in hashes for algorithm, digest in file.hashes.items())


def _available(files: Sequence[IndexFile], hashes: frozenset[str]) -> tuple[str, ...]:
    """``algorithm:hex`` of each file for the algorithms the user used."""
    algorithms = {h.split(":", 1)[0] for h in hashes}
    return tuple(
        f"{algorithm}:{digest} ({file.filename})"
        for file in files
        for algorithm, digest in sorted(file.hashes.items())
        if algorithm in algorithms
    )
