"""What a single-target lock claims: the patch releases over which its pins hold unchanged."""

from __future__ import annotations

from packaging.metadata import Metadata
from packaging.requirements import Requirement
from packaging.utils import NormalizedName
from packaging.version import Version

from skimlock.claim import PATCH_HORIZON, patch_range
from skimlock.resolution import Pin, Resolution
from skimlock.simple import IndexFile
from skimlock.target import Target


def _pin(name: str, *requires: str, requires_python: str | None = None,
         file_requires_python: str | None = None, extras: frozenset[str] = frozenset()) -> Pin:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    data = ("\n".join(lines) + "\n").encode()
    file = IndexFile(filename=f"{name}-1.0-py3-none-any.whl", url=f"https://x/{name}.whl",
                     requires_python=file_requires_python)
    return Pin(
        name=NormalizedName(name), version=Version("1.0"), index_url="https://x/simple",
        files=(file,), metadata_file=file, metadata=Metadata.from_email(data, validate=False),
        metadata_bytes=data, extras=frozenset(NormalizedName(e) for e in extras),
    )


def _resolution(python: str, *pins: Pin, roots: tuple[str, ...] = ()) -> Resolution:
    target = Target.from_options(python_version=python, platforms=["manylinux_2_28_x86_64"])
    return Resolution(target=target, requirements=tuple(Requirement(r) for r in roots),
                      pins=pins)


def test_nothing_patch_sensitive_claims_the_whole_minor_line() -> None:
    resolution = _resolution("3.11.7", _pin("a", "b; python_version < '3.12'"))
    assert patch_range(resolution) == (0, None)


def test_a_marker_on_the_full_version_narrows_the_claim() -> None:
    redis = _pin("redis", 'async-timeout; python_full_version < "3.11.3"')
    assert patch_range(_resolution("3.11.7", redis)) == (3, None)
    assert patch_range(_resolution("3.11.2", redis)) == (0, 2)


def test_requires_python_of_pins_and_files_and_roots_count() -> None:
    pin = _pin("a", requires_python=">=3.11.4")
    assert patch_range(_resolution("3.11.7", pin)) == (4, None)
    file_pin = _pin("b", file_requires_python="!=3.11.9")
    assert patch_range(_resolution("3.11.7", file_pin)) == (0, 8)
    assert patch_range(_resolution("3.11.10", file_pin)) == (10, None)
    rooted = _resolution("3.11.7", roots=('x; python_full_version >= "3.11.5"',))
    assert patch_range(rooted) == (5, None)


def test_extras_of_a_pin_are_probed() -> None:
    pin = _pin("a", 'b; extra == "fast" and python_full_version >= "3.11.8"',
               extras=frozenset({"fast"}))
    assert patch_range(_resolution("3.11.7", pin)) == (0, 7)


def test_the_horizon_bounds_the_probe() -> None:
    pin = _pin("a", f'b; python_full_version >= "3.11.{PATCH_HORIZON + 5}"')
    assert patch_range(_resolution("3.11.7", pin)) == (0, None)


def test_each_distinct_question_is_asked_once() -> None:
    # Thousands of files share a few Requires-Python values; the claim probes each value once
    # per patch release (issue 11 item 4: the writer must stay a small part of a lock).
    from skimlock.claim import _probes

    pins = [_pin(f"p{i}", 'x; python_full_version < "3.11.3"', requires_python=">=3.8",
                 file_requires_python=">=3.8" if i % 2 else ">=3.11.2") for i in range(40)]
    resolution = _resolution("3.11.7", *pins, roots=('x; python_full_version < "3.11.3"',))
    assert len(list(_probes(resolution))) == 3  # the marker, >=3.8, >=3.11.2 (not 121)
    assert patch_range(resolution) == (3, None)
