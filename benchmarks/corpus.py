"""The wheel corpus of ``bench_metadata.py``: real wheels from PyPI, downloaded once.

``benchmarks/wheels.txt`` lists one ``name==version`` a line (``#`` starts a comment). Each entry
is one wheel for CPython 3.11 on manylinux x86_64 (a pure ``py3-none-any`` wheel when the project
ships no binary one), chosen by pip from https://pypi.org/simple. Wheels are kept in a cache
OUTSIDE the repository, by default ``~/.cache/skimlock-bench/wheels`` (``--cache DIR`` or the
``SKIMLOCK_BENCH_CACHE`` environment variable change the root); a wheel already there is not
downloaded again. No test depends on this cache.

Usage::

    .venv/bin/python benchmarks/corpus.py            # download what is missing
    .venv/bin/python benchmarks/corpus.py --pin      # pin unversioned lines of wheels.txt

``--pin`` is how the list was made: a line holding a bare project name is downloaded at the
newest version pip accepts for the target above and rewritten as ``name==version``; a project
without a suitable wheel is commented out with the reason.

pip runs isolated (``--isolated``, and without ``PIP_*`` index variables) so that the machine's
pip configuration (local find-links and extra indexes) cannot substitute other files.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    canonicalize_version,
    parse_wheel_filename,
)

__all__ = [
    "DEFAULT_CACHE",
    "WHEELS_TXT",
    "CorpusError",
    "Entry",
    "ensure_corpus",
    "find_wheel",
    "read_list",
    "wheels_dir",
]

HERE = Path(__file__).resolve().parent
WHEELS_TXT = HERE / "wheels.txt"
DEFAULT_CACHE = Path(
    os.environ.get("SKIMLOCK_BENCH_CACHE") or Path.home() / ".cache" / "skimlock-bench"
)
INDEX_URL = "https://pypi.org/simple"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux_2_17_x86_64")
#: Environment variables that would make pip look at other indexes or files.
_PIP_ENV = ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX")


class CorpusError(Exception):
    """The corpus list is malformed, or wheels could not be downloaded."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Entry:
    """One line of the list: a project and (once pinned) its version."""

    name: str
    version: str | None
    #: 1-based line number in the list.
    line: int

    @property
    def project(self) -> NormalizedName:
        return canonicalize_name(self.name)

    @property
    def requirement(self) -> str:
        return self.name if self.version is None else f"{self.name}=={self.version}"


def read_list(path: Path = WHEELS_TXT) -> list[Entry]:
    """The entries of a corpus list; a project named twice is an error."""
    entries: list[Entry] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        name, sep, version = (part.strip() for part in text.partition("=="))
        if not name or (sep and not version) or any(c in name for c in "<>=!~; "):
            raise CorpusError(f"{path}:{number}: expected 'name==version' or 'name', got {raw!r}")
        project = canonicalize_name(name)
        if project in seen:
            raise CorpusError(f"{path}:{number}: {name} is already listed on line {seen[project]}")
        seen[project] = number
        entries.append(Entry(name=name, version=version or None, line=number))
    return entries


def wheels_dir(cache: Path) -> Path:
    return cache / "wheels"


def find_wheel(directory: Path, entry: Entry) -> Path | None:
    """The cached wheel of ``entry`` (any version when the entry is not pinned yet)."""
    if not directory.is_dir():
        return None
    found: list[Path] = []
    for path in directory.glob("*.whl"):
        try:
            name, version, _build, _tags = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            continue
        if name != entry.project:
            continue
        if entry.version is None or canonicalize_version(version) == canonicalize_version(
            entry.version
        ):
            found.append(path)
    return max(found, key=lambda p: p.name) if found else None


def _pip_command(requirement: str, dest: Path) -> list[str]:
    command = [
        sys.executable, "-m", "pip", "download", "--isolated", "--no-deps",
        "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
        "--index-url", INDEX_URL, "--progress-bar", "off", "--quiet", "-d", str(dest),
    ]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    return [*command, requirement]


def download(entry: Entry, directory: Path) -> Path:
    """Download the wheel of ``entry`` into ``directory`` with pip; its path."""
    directory.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in _PIP_ENV}
    with tempfile.TemporaryDirectory(dir=directory, prefix=".download-") as tmp:
        result = subprocess.run(
            _pip_command(entry.requirement, Path(tmp)),
            env=env, capture_output=True, text=True, check=False,
        )
        wheels = sorted(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or len(wheels) != 1:
            lines = (result.stderr or result.stdout).strip().splitlines()
            reason = lines[-1] if lines else f"pip exited {result.returncode}"
            raise CorpusError(f"{entry.requirement}: {reason}")
        target = directory / wheels[0].name
        shutil.move(wheels[0], target)
    return target


def ensure_corpus(
    cache: Path = DEFAULT_CACHE,
    entries: Sequence[Entry] | None = None,
    *,
    jobs: int = 4,
    verbose: bool = True,
) -> list[Path]:
    """The wheels of ``entries`` (default: wheels.txt), in list order, downloading missing ones.

    Raises :class:`CorpusError` naming every entry that could not be had.
    """
    entries = read_list() if entries is None else list(entries)
    directory = wheels_dir(cache)
    paths: dict[int, Path] = {}
    missing: list[Entry] = []
    for entry in entries:
        cached = find_wheel(directory, entry)
        if cached is None:
            missing.append(entry)
        else:
            paths[entry.line] = cached
    errors: list[str] = []
    if missing:
        if verbose:
            print(f"downloading {len(missing)} wheels into {directory}", file=sys.stderr)

        def fetch(entry: Entry) -> tuple[Entry, Path | str]:
            try:
                return entry, download(entry, directory)
            except CorpusError as exc:
                return entry, str(exc)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for entry, got in pool.map(fetch, missing):
                if isinstance(got, Path):
                    paths[entry.line] = got
                    if verbose:
                        print(f"  {got.name}", file=sys.stderr)
                else:
                    errors.append(got)
    if errors:
        raise CorpusError("could not download:\n  " + "\n  ".join(errors))
    return [paths[e.line] for e in entries]


def pin(list_path: Path, cache: Path, *, jobs: int) -> int:
    """Download unpinned entries and rewrite them as ``name==version`` (or comment them out)."""
    entries = read_list(list_path)
    directory = wheels_dir(cache)
    lines = list_path.read_text(encoding="utf-8").splitlines()

    def fetch(entry: Entry) -> tuple[Entry, str]:
        path = find_wheel(directory, entry)
        try:
            path = path or download(entry, directory)
        except CorpusError as exc:
            reason = str(exc).split(": ", 1)[-1]
            return entry, f"# {entry.name}: no wheel for cp311 manylinux x86_64 ({reason})"
        _name, version, _build, _tags = parse_wheel_filename(path.name)
        return entry, f"{entry.name}=={version}"

    todo = [e for e in entries if e.version is None]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for entry, text in pool.map(fetch, todo):
            lines[entry.line - 1] = text
            print(text, file=sys.stderr)
    list_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help=f"cache root; wheels go to CACHE/wheels (default {DEFAULT_CACHE})")
    parser.add_argument("--list", type=Path, default=WHEELS_TXT, help="the corpus list")
    parser.add_argument("--jobs", type=int, default=4, help="parallel pip downloads")
    parser.add_argument("--pin", action="store_true", help="pin unversioned lines of the list")
    args = parser.parse_args(argv)
    try:
        if args.pin:
            return pin(args.list, args.cache, jobs=args.jobs)
        paths = ensure_corpus(args.cache, read_list(args.list), jobs=args.jobs)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    total = sum(p.stat().st_size for p in paths)
    print(f"{len(paths)} wheels, {total / 1e9:.2f} GB in {wheels_dir(args.cache)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
