"""The requirement sets, their local indexes and their byte floors.

* :func:`load_sets` reads ``sets.toml``.
* :func:`prepare_set` decides which wheels a set's local index lists and fetches them once into
  the bench cache (``~/.cache/skimlock-bench/peer-wheels``, outside the repo): every wheel whose
  metadata skimlock read while resolving the set against PyPI (the pins, plus the versions it
  visited while backtracking), plus uv's pins when they differ. So the local index lists the
  closure (and the backtracking path), not every release a project has: pages are much smaller
  than PyPI's, and a tool that would have visited other versions sees fewer. The files come
  from ``pip download --no-deps`` of the exact ``name==version`` for the benchmark target (pip
  verifies the page's sha256).
* :func:`write_trees` writes the static Simple-API tree for each index mode with
  ``tests/index/tree.py`` and hard-links the copies back to the cached wheels (one copy on disk).
* :func:`local_floor` / the ``pypi_page_bytes`` of a prepared set give the physical floor: the
  index pages of the pinned projects as served (locally the JSON page every tool negotiates;
  through the gateway, which serves HTML only, the smallest variant) plus the exact METADATA
  bytes of the pinned wheels.
* :func:`classify` sorts a request from the local server's log into index page / metadata /
  whole wheel.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import tomllib
import tools
from packaging.utils import canonicalize_name, parse_wheel_filename

sys.path.insert(0, str(tools.REPO / "tests"))

from index.server import LoggedRequest
from index.tree import IndexTree, Mode, write_index

__all__ = [
    "INDEX_MODES",
    "BenchSet",
    "Prepared",
    "classify",
    "load_sets",
    "local_floor",
    "prepare_set",
    "write_trees",
]

SETS_FILE = Path(__file__).with_name("sets.toml")
#: The local index modes benchmarked, by the name used in the results.
INDEX_MODES: dict[str, Mode] = {
    "metadata": Mode.PEP658_SHA256,
    "ranges": Mode.NO_METADATA,
    "no-ranges": Mode.NO_RANGES,
}
_PREPARED_VERSION = 1


@dataclass(frozen=True, kw_only=True, slots=True)
class BenchSet:
    name: str
    requirements: tuple[str, ...]
    note: str
    quick: bool
    local: bool
    huge: bool


def load_sets(path: Path = SETS_FILE) -> dict[str, BenchSet]:
    with path.open("rb") as f:
        raw = tomllib.load(f)["sets"]
    return {
        name: BenchSet(
            name=name,
            requirements=tuple(entry["requirements"]),
            note=entry.get("note", ""),
            quick=bool(entry.get("quick", False)),
            local=bool(entry.get("local", True)),
            huge=bool(entry.get("huge", False)),
        )
        for name, entry in raw.items()
    }


@dataclass(frozen=True, kw_only=True, slots=True)
class Prepared:
    """What the bench cache knows about one set."""

    name: str
    #: Reference pins (uv's against PyPI, else skimlock's): the floor is computed over these.
    pins: dict[str, str]
    #: Wheel file names of the reference pins.
    pinned_files: dict[str, str]
    #: Every wheel the local index lists (cached under wheels_dir).
    files: tuple[str, ...]
    wheels_dir: Path
    #: Smallest size of each pinned project's page as PyPI (through this gateway) serves it.
    pypi_page_bytes: dict[str, int]
    #: Exact METADATA bytes per pinned wheel file.
    metadata_bytes: dict[str, int]
    #: Full size of each pinned wheel file.
    wheel_sizes: dict[str, int]
    notes: tuple[str, ...]

    @property
    def pypi_floor(self) -> int:
        return sum(self.pypi_page_bytes.values()) + sum(self.metadata_bytes.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _PREPARED_VERSION,
            "name": self.name,
            "pins": self.pins,
            "pinned_files": self.pinned_files,
            "files": list(self.files),
            "pypi_page_bytes": self.pypi_page_bytes,
            "metadata_bytes": self.metadata_bytes,
            "wheel_sizes": self.wheel_sizes,
            "notes": list(self.notes),
        }


def set_dir(name: str) -> Path:
    return tools.bench_cache() / "sets" / name


def _requirements_key(bench_set: BenchSet) -> str:
    return hashlib.sha256("\n".join(bench_set.requirements).encode()).hexdigest()[:16]


def prepare_set(bench_set: BenchSet, *, download: bool, log: Any = print) -> Prepared:
    """Resolve the set against PyPI once (skimlock with --stats, and uv), pick the wheels and,
    when ``download``, fetch them. Cached in ``<bench cache>/sets/<name>/prepared.json``."""
    base = set_dir(bench_set.name)
    wheels_dir = tools.bench_cache() / "peer-wheels"
    cache_file = base / f"prepared-{_requirements_key(bench_set)}.json"
    if cache_file.exists():
        data = json.loads(cache_file.read_text(encoding="utf-8"))
        if data.get("version") == _PREPARED_VERSION and (
            not download or all((wheels_dir / f).exists() for f in data["files"])
        ):
            return _prepared_from_json(data, wheels_dir)
    base.mkdir(parents=True, exist_ok=True)
    wheels_dir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []

    log(f"  [{bench_set.name}] resolving against PyPI with skimlock and uv to pick the wheels")
    sk = tools.run_tool(tools.TOOLS["skimlock"], base / "prep-skimlock", bench_set.requirements,
                        tools.PYPI + "/", timeout=600)
    uv = tools.run_tool(tools.TOOLS["uv"], base / "prep-uv", bench_set.requirements,
                        tools.PYPI, timeout=600)
    if not sk.ok:
        notes.append(f"skimlock failed against PyPI while preparing: {sk.error}")
    if not uv.ok:
        notes.append(f"uv failed against PyPI while preparing: {uv.error}")
    if not sk.ok and not uv.ok:
        msg = f"{bench_set.name}: neither skimlock nor uv could resolve it against PyPI"
        raise RuntimeError(msg)

    visited: dict[str, str] = {}  # filename -> url
    metadata_bytes_seen: dict[str, int] = {}
    sizes_seen: dict[str, int] = {}
    if sk.stats is not None:
        for record in sk.stats.get("request_log", []):  # type: ignore[union-attr]
            url = str(record["url"]).split("#")[0]
            if url.endswith(".whl.metadata"):
                url = url[: -len(".metadata")]
            if url.endswith(".whl"):
                visited.setdefault(url.rsplit("/", 1)[-1], url)
        for entry in sk.stats.get("files", []):  # type: ignore[union-attr]
            metadata_bytes_seen[entry["filename"]] = int(entry["metadata_bytes"])
            if entry.get("file_size") is not None:
                sizes_seen[entry["filename"]] = int(entry["file_size"])
    pins = uv.pins if uv.ok else sk.pins
    if uv.ok and sk.ok and uv.pins != sk.pins:
        differ = sorted(
            f"{n}: uv {uv.pins.get(n)} / skimlock {sk.pins.get(n)}"
            for n in set(uv.pins) | set(sk.pins)
            if uv.pins.get(n) != sk.pins.get(n)
        )
        notes.append("skimlock and uv pick different versions against PyPI: " + "; ".join(differ))

    by_release: dict[tuple[str, str], str] = {}
    for filename in visited:
        name, version, _, _ = parse_wheel_filename(filename)
        by_release.setdefault((name, str(version)), filename)
    wanted_releases = set(by_release) | {(canonicalize_name(n), v) for n, v in pins.items()}

    files: dict[tuple[str, str], str] = {}
    if download:
        files = _download(sorted(wanted_releases), wheels_dir, base, log)
        refused = sorted(f"{n}=={v}" for n, v in wanted_releases if (n, v) not in files)
        if refused:
            notes.append("pip download refused (so the local index does not list): "
                         + ", ".join(refused))
        for release, filename in by_release.items():
            got = files.get(release)
            if got is not None and got != filename:
                notes.append(f"pip download chose {got}, skimlock read {filename}")
    else:
        files = dict(by_release)
    pinned_files = {
        name: files.get((name, version), by_release.get((name, version), ""))
        for name, version in pins.items()
    }
    metadata_bytes: dict[str, int] = {}
    wheel_sizes: dict[str, int] = {}
    for name, filename in pinned_files.items():
        path = wheels_dir / filename
        if filename and path.exists():
            from index.wheels import read_metadata

            metadata_bytes[filename] = len(read_metadata(path))
            wheel_sizes[filename] = path.stat().st_size
        elif filename in metadata_bytes_seen:
            metadata_bytes[filename] = metadata_bytes_seen[filename]
            wheel_sizes[filename] = sizes_seen.get(filename, 0)
        else:
            notes.append(f"no METADATA size known for {name} ({filename or 'no file'})")
    page_bytes = _pypi_page_sizes(pins)
    prepared = Prepared(
        name=bench_set.name,
        pins=pins,
        pinned_files=pinned_files,
        files=tuple(sorted(files.values())),
        wheels_dir=wheels_dir,
        pypi_page_bytes=page_bytes,
        metadata_bytes=metadata_bytes,
        wheel_sizes=wheel_sizes,
        notes=tuple(notes),
    )
    cache_file.write_text(json.dumps(prepared.to_json(), indent=1), encoding="utf-8")
    return prepared


def _prepared_from_json(data: Mapping[str, Any], wheels_dir: Path) -> Prepared:
    return Prepared(
        name=data["name"],
        pins=data["pins"],
        pinned_files=data["pinned_files"],
        files=tuple(data["files"]),
        wheels_dir=wheels_dir,
        pypi_page_bytes=data["pypi_page_bytes"],
        metadata_bytes=data["metadata_bytes"],
        wheel_sizes=data["wheel_sizes"],
        notes=tuple(data["notes"]),
    )


def _download(
    releases: Sequence[tuple[str, str]], wheels_dir: Path, work: Path, log: Any
) -> dict[tuple[str, str], str]:
    """``pip download --no-deps`` each release for the target; batches hold one version of a
    project each (pip refuses two). Returns (name, version) -> file name."""
    have: dict[tuple[str, str], str] = {}
    for path in wheels_dir.glob("*.whl"):
        name, version, _, _ = parse_wheel_filename(path.name)
        have.setdefault((name, str(version)), path.name)
    missing = [r for r in releases if r not in have]
    batches: list[list[tuple[str, str]]] = []
    for release in missing:
        for batch in batches:
            if all(other[0] != release[0] for other in batch):
                batch.append(release)
                break
        else:
            batches.append([release])
    pip = tools.peer_dir("pip") / "bin" / "pip"
    for batch in batches:
        log(f"    pip download {len(batch)} wheels")
        staging = work / "download"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)

        def fetch(releases: Sequence[tuple[str, str]], staging: Path = staging) -> bool:
            return subprocess.run(
                [str(pip), "--isolated", "download", "--no-deps", "--only-binary=:all:",
                 "--disable-pip-version-check", "-q", *tools.pip_target_args(),
                 "--index-url", tools.PYPI, "-d", str(staging),
                 *(f"{name}=={version}" for name, version in releases)],
                check=False, env=tools.isolated_env(work / "pip-download-run"),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ).returncode == 0

        if not fetch(batch):
            # One by one, so one release pip refuses (e.g. invalid metadata) skips only itself.
            for release in batch:
                if not fetch([release]):
                    log(f"    pip download refused {release[0]}=={release[1]}: not listed")
        for path in staging.glob("*.whl"):
            name, version, _, _ = parse_wheel_filename(path.name)
            os.replace(path, wheels_dir / path.name)
            have[(name, str(version))] = path.name
    return {r: have[r] for r in releases if r in have}


def _pypi_page_sizes(pins: Mapping[str, str]) -> dict[str, int]:
    """The smallest body of each project's page among the variants this gateway serves."""
    accepts = ("text/html", "application/vnd.pypi.simple.v1+json")
    sizes: dict[str, int] = {}
    with httpx.Client(timeout=60, trust_env=False, verify=_ca_bundle(),
                      headers={"Accept-Encoding": "identity"}) as client:
        for name in pins:
            best: int | None = None
            for accept in accepts:
                response = client.get(f"{tools.PYPI}/{name}/", headers={"Accept": accept})
                if response.status_code == 200:
                    size = len(response.content)
                    best = size if best is None else min(best, size)
            if best is not None:
                sizes[name] = best
    return sizes


def _ca_bundle() -> str | bool:
    for candidate in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"):
        if Path(candidate).exists():
            return candidate
    return True


def write_trees(prepared: Prepared, modes: Iterable[str]) -> dict[str, IndexTree]:
    """The local tree of the set for each mode (rewritten when the file list changed)."""
    trees: dict[str, IndexTree] = {}
    key = hashlib.sha256("\n".join(prepared.files).encode()).hexdigest()[:16]
    for mode_name in modes:
        mode = INDEX_MODES[mode_name]
        root = set_dir(prepared.name) / "trees" / f"{mode_name}-{key}"
        if root.exists():
            shutil.rmtree(root)
        tree = write_index(root, [prepared.wheels_dir / f for f in prepared.files], mode=mode)
        for tree_file in tree.files:
            source = prepared.wheels_dir / tree_file.filename
            tree_file.path.unlink()
            os.link(source, tree_file.path)
        trees[mode_name] = tree
    return trees


def local_floor(tree: IndexTree, prepared: Prepared) -> dict[str, int]:
    """Index pages of the pinned projects plus the exact METADATA of the pinned wheels, as this
    tree serves them. Pages count as the PEP 691 JSON variant (every tool benchmarked negotiates
    JSON from this server); ``index_pages_html`` is the smaller HTML variant, for reference."""
    pages = 0
    pages_html = 0
    metadata = 0
    for name, filename in prepared.pinned_files.items():
        page_dir = tree.root / "simple" / name
        if page_dir.is_dir():
            pages += (page_dir / "index.json").stat().st_size
            pages_html += (page_dir / "index.html").stat().st_size
        if filename:
            with contextlib.suppress(KeyError):
                metadata += len(tree.metadata(filename))
    return {"index_pages": pages, "metadata": metadata, "total": pages + metadata,
            "index_pages_html": pages_html}


def classify(entry: LoggedRequest) -> str:
    """index / metadata-pep658 / metadata-range / wheel / other, from the server's side."""
    path = entry.path
    if path.startswith("/simple"):
        return "index"
    if path.endswith(".metadata"):
        return "metadata-pep658"
    if path.endswith((".whl", ".tar.gz", ".zip")):
        if entry.method == "HEAD" or entry.status in (206, 416):
            return "metadata-range"
        return "wheel"
    return "other"
