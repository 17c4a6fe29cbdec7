"""Distribution graphs for the resolver and CLI tests, and a helper to serve them.

Each graph is a tuple of :class:`~index.DistSpec`; :func:`serve_graph` builds the distributions,
writes a tree for a :class:`~index.tree.Mode` and serves it on loopback.

:data:`RESOLVE_DISTS`, by scenario:

==================  ===========  ==========================================================
project             versions     what it is for
==================  ===========  ==========================================================
alpha/beta/gamma    as standard  extras (``alpha[fast]`` pulls ``gamma``); gamma 1.0 unusable
chain               1.0          extra ``x`` needs ``link[y]``; link's extra ``y`` needs tiny
markers             1.0          deps under ``python_version`` and ``sys_platform`` markers
oldonly, newonly    1.0          what ``markers`` pulls for Python < 3.10 / >= 3.10
winonly             1.0          what ``markers`` pulls on Windows only
rpindex             1.0, 2.0     2.0 has Requires-Python >=3.11 (on the index too)
rpmeta              1.0, 2.0     2.0's METADATA says >=3.99; its index entry says nothing
yanky               1.0, 2.0     2.0 yanked
allyanked           1.0          its only file is yanked
prerel              1.0, 2.0b1   a final release and a newer pre-release
onlypre             1.0a1        nothing but a pre-release
needspre            1.0          depends on ``prerel>=2.0b1``
bta, btb, btc       see below    backtracking: bta 2.0 needs btb<1, btc needs btb>=1
cfa, cfb, cfc       see below    conflict: cfa needs cfb<1, cfc needs cfb>=1
many                1.0 .. 10.0  ten versions; only the newest should be read
missingdep          1.0, 2.0     2.0 depends on a project no index has
badmarker           1.0          a dependency marker that cannot be evaluated
halfbad             1.0, 2.0     2.0 has an invalid Requires-Dist specifier (skipped)
wide, narrow, pivot see below    wide (5 versions) all need pivot<3; narrow 2.0 needs pivot>=3
sdistonly           1.0          only an sdist
tiny                1.0          a leaf
==================  ===========  ==========================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from index import STANDARD_DISTS, DistSpec, build_dist_set
from index.server import Server, serve_index
from index.tree import IndexTree, Mode, write_index
from index.wheels import wheel_filename

__all__ = [
    "CLI_DISTS",
    "GAP_DISTS",
    "INSTALL_DISTS",
    "RESOLVE_DISTS",
    "RESOLVE_REQUIRES_PYTHON",
    "RESOLVE_YANKED",
    "SECOND_INDEX_DISTS",
    "serve_graph",
    "write_graph",
]

_STANDARD_KEEP = {"alpha", "beta", "gamma", "tiny", "sdistonly", "yanky"}


def _w(
    name: str,
    version: str,
    *deps: str,
    requires_python: str | None = None,
    provides_extra: tuple[str, ...] = (),
    kind: Literal["wheel", "sdist"] = "wheel",
) -> DistSpec:
    return DistSpec(
        name=name,
        version=version,
        kind=kind,
        requires_dist=deps,
        requires_python=requires_python,
        provides_extra=provides_extra,
    )


RESOLVE_DISTS: tuple[DistSpec, ...] = (
    *(spec for spec in STANDARD_DISTS if spec.project in _STANDARD_KEEP),
    _w("chain", "1.0", 'link[y]; extra == "x"', provides_extra=("x",)),
    _w("link", "1.0", 'tiny; extra == "y"', provides_extra=("y",)),
    _w(
        "markers",
        "1.0",
        'oldonly; python_version < "3.10"',
        'newonly; python_version >= "3.10"',
        'winonly; sys_platform == "win32"',
    ),
    _w("oldonly", "1.0"),
    _w("newonly", "1.0"),
    _w("winonly", "1.0"),
    _w("rpindex", "1.0", requires_python=">=3.6"),
    _w("rpindex", "2.0", requires_python=">=3.11"),
    _w("rpmeta", "1.0"),
    _w("rpmeta", "2.0", requires_python=">=3.99"),
    _w("allyanked", "1.0"),
    _w("prerel", "1.0"),
    _w("prerel", "2.0b1"),
    _w("onlypre", "1.0a1"),
    _w("needspre", "1.0", "prerel>=2.0b1"),
    _w("bta", "1.0"),
    _w("bta", "2.0", "btb<1"),
    _w("btb", "0.5"),
    _w("btb", "1.0"),
    _w("btc", "1.0", "btb>=1"),
    _w("cfa", "1.0", "cfb<1"),
    _w("cfb", "0.5"),
    _w("cfb", "1.0"),
    _w("cfc", "1.0", "cfb>=1"),
    *(_w("many", f"{n}.0") for n in range(1, 11)),
    _w("missingdep", "1.0"),
    _w("missingdep", "2.0", "nosuchproject>=1"),
    _w("badmarker", "1.0", 'tiny; python_version ~= "abc"'),
    _w("halfbad", "1.0", "tiny"),
    _w("halfbad", "2.0", "tiny (<2.0de,>=1.0.0)"),
    *(_w("wide", f"{v}.0", "pivot<3") for v in range(1, 6)),
    _w("narrow", "1.0", "pivot>=1"),
    _w("narrow", "2.0", "pivot>=3"),
    _w("pivot", "2.0"),
    _w("pivot", "3.0"),
)

RESOLVE_YANKED: Mapping[str, str | None] = {
    wheel_filename("yanky", "2.0"): "broken build",
    wheel_filename("allyanked", "1.0"): None,
}

#: The index says nothing about rpmeta 2.0's Requires-Python (its METADATA does).
RESOLVE_REQUIRES_PYTHON: Mapping[str, str] = {wheel_filename("rpmeta", "2.0"): ""}

#: A second index: a newer ``alpha`` (dependency confusion bait) and a project only it has.
SECOND_INDEX_DISTS: tuple[DistSpec, ...] = (
    _w("alpha", "9.0"),
    _w("onlysecond", "1.0"),
)

#: A small graph for the CLI tests: four installable packages plus failure cases.
CLI_DISTS: tuple[DistSpec, ...] = (
    *(spec for spec in STANDARD_DISTS if spec.project in {"alpha", "beta", "gamma", "tiny"}),
    _w("cfa", "1.0", "cfb<1"),
    _w("cfb", "0.5"),
    _w("cfb", "1.0"),
    _w("cfc", "1.0", "cfb>=1"),
    _w("sdistonly", "1.0", kind="sdist"),
)

#: A conflict far from the newest versions: ``lowneed`` needs ``deep<3``, ``highneed`` needs
#: ``deep>=20,<25`` and ``deep`` has thirty versions (the versions that matter are 1.0-2.0 and
#: 20.0-24.0, none of the newest six).
GAP_DISTS: tuple[DistSpec, ...] = (
    *(_w("deep", f"{n}.0") for n in range(1, 31)),
    _w("lowneed", "1.0", "deep<3"),
    _w("highneed", "1.0", "deep>=20,<25"),
)

#: Dry-run installs into a venv that has ``app 1.0`` and ``lib 1.0``: ``app 2.0`` is newer,
#: ``lib 2.0`` too, ``needslib2`` needs ``lib>=2``.
INSTALL_DISTS: tuple[DistSpec, ...] = (
    _w("app", "1.0", "lib>=1.0"),
    _w("app", "2.0", "lib>=1.0"),
    _w("lib", "1.0"),
    _w("lib", "2.0"),
    _w("needslib2", "1.0", "lib>=2"),
)


def write_graph(
    root: Path,
    specs: Iterable[DistSpec],
    *,
    mode: Mode,
    yanked: Mapping[str, str | None] | None = None,
    requires_python: Mapping[str, str] | None = None,
) -> IndexTree:
    """Build ``specs`` under ``root/dists`` and write a tree for ``mode`` under ``root/tree``."""
    dists = build_dist_set(root / "dists", specs, yanked or {})
    return write_index(
        root / "tree", dists.paths, mode=mode, yanked=dists.yanked, requires_python=requires_python
    )


@contextmanager
def serve_graph(
    root: Path,
    specs: Iterable[DistSpec],
    *,
    mode: Mode = Mode.PEP658_SHA256,
    yanked: Mapping[str, str | None] | None = None,
    requires_python: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """Build, write and serve a graph until the block exits."""
    tree = write_graph(root, specs, mode=mode, yanked=yanked, requires_python=requires_python)
    with serve_index(tree) as server:
        yield server
