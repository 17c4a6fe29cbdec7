"""The command line: the argparse parser of every command, its option groups and option types.

Sans-I/O and light to import (``skimlock --version`` loads nothing else); :mod:`skimlock.cli`
runs what was parsed. Prefix matching is off on every parser (``--python`` is not
``--python-version``), and every numeric option is checked by its type (a one-line usage
error, never a traceback).
"""

from __future__ import annotations

import argparse
import math

from . import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime
    from typing import Any

    #: A command: parsed arguments and the stderr console in, an exit code out.
    Handler = Callable[[argparse.Namespace, Any], int]

__all__ = ["DEFAULT_INDEX", "build_parser"]

DEFAULT_INDEX = "https://pypi.org/simple/"


def _add_common(parser: argparse.ArgumentParser) -> None:
    index = parser.add_argument_group("index")
    index.add_argument(
        "-i", "--index-url", default=None,
        help="base URL of the Simple Repository API "
        f"(default: $SKIMLOCK_INDEX_URL or {DEFAULT_INDEX})",
    )
    index.add_argument("--extra-index-url", action="append", metavar="URL",
                       help="another index, used for projects the first one lacks")
    index.add_argument("--trusted-host", action="append", metavar="HOST",
                       help="allow plain HTTP to this host (loopback is always allowed)")
    index.add_argument("--timeout", type=_seconds, default=30.0, metavar="SECONDS",
                       help="seconds per request (a number > 0; default 30)")
    cache = parser.add_argument_group("cache")
    cache.add_argument("--cache-dir", metavar="DIR",
                       help="the cache directory (default: $SKIMLOCK_CACHE_DIR or the user "
                       "cache directory)")
    cache.add_argument("--no-cache", action="store_true",
                       help="neither read nor write the cache (a cold run)")
    cache.add_argument("--offline", action="store_true",
                       help="no network at all: answer from the cache whatever its age")
    cache.add_argument("--refresh", action="store_true",
                       help="revalidate every cached index page (metadata never changes)")
    cache.add_argument("--refresh-package", action="append", metavar="NAME",
                       help="revalidate this project's cached index page (repeatable)")
    tgt = parser.add_argument_group("target (default: the running interpreter)")
    tgt.add_argument("--python-version", metavar="X.Y[.Z]",
                     help="target Python version; X.Y means X.Y.0")
    tgt.add_argument("--platform", action="append", metavar="TAG",
                     help="target platform tag, e.g. manylinux_2_28_x86_64 (repeatable)")
    tgt.add_argument("--implementation", choices=["cp", "pp"], help="target implementation")
    tgt.add_argument("--abi", action="append", metavar="ABI", help="target ABI tag (repeatable)")
    tgt.add_argument("--python", metavar="PATH",
                     help="target this interpreter or venv's python (its markers and tags; "
                     "`resolve` also compares with what is installed there)")
    parser.add_argument("--pre", action="store_true", help="allow pre-releases")
    parser.add_argument("--stats", metavar="FILE",
                        help="write bandwidth statistics as JSON (- for stdout)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log each request and metadata strategy; -vv adds resolver steps")
    parser.add_argument("-q", "--quiet", action="count", default=0,
                        help="print errors only (no pins table, no bandwidth line)")


def build_parser(handlers: Mapping[str, Handler]) -> argparse.ArgumentParser:
    """The parser of every command; ``handlers`` maps a command to the function that runs it
    (stored as ``args.func``)."""
    parser = argparse.ArgumentParser(
        prog="skimlock", allow_abbrev=False,
        description="Resolve Python requirements into a pinned lock without downloading wheels.",
    )
    parser.add_argument("--version", action="version", version=f"skimlock {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    meta = sub.add_parser(
        "metadata", allow_abbrev=False,
        help="print the core metadata of the file the target would use",
        description="Print the METADATA of the wheel that would be chosen for the target, "
        "read without downloading the wheel.",
    )
    meta.add_argument("requirement", help="e.g. requests==2.32.3")
    meta.add_argument("--json", action="store_true", help="print the JSON form of the metadata")
    _add_common(meta)
    meta.set_defaults(func=handlers["metadata"])

    lock = sub.add_parser(
        "lock", allow_abbrev=False, help="resolve and write a lock file (pylock.toml by default)",
        description="Resolve requirements for a target and write pylock.toml (PEP 751) or a "
        "hashed requirements.txt, reading metadata without downloading wheels.",
    )
    _add_inputs(lock)
    lock.add_argument("-o", "--output", metavar="FILE",
                      help="where to write (default pylock.toml or requirements.txt; - = stdout)")
    lock.add_argument("--format", choices=["pylock", "requirements"], default="pylock")
    lock.add_argument("--allow-missing-hashes", action="store_true",
                      help="lock files the index gives no hash for, without a hash")
    lock.add_argument("--overwrite-input", action="store_true",
                      help="allow -o (or --stats) to replace one of the input files")
    _add_universal(lock)
    _add_common(lock)
    keep = lock.add_argument_group("existing pins (a re-lock keeps them unless told otherwise)")
    keep.add_argument("--prefer", metavar="FILE",
                      help="prefer the pins of this pylock.toml or pinned requirements file "
                      "(default: the output file, when it exists)")
    keep.add_argument("-U", "--upgrade", action="store_true",
                      help="ignore existing pins: every project moves to the newest allowed")
    keep.add_argument("-P", "--upgrade-package", action="append", metavar="NAME",
                      help="let this project move (repeatable); others keep their pins "
                      "unless they must move with it")
    lock.set_defaults(func=handlers["lock"])

    check = sub.add_parser(
        "check", help="verify a pylock.toml for a target without downloading wheels",
        description="Check that a pylock.toml installs a consistent set for a target: what "
        "the lock selects there, that a wheel suits it, and that every requirement in the "
        "selected packages' metadata (read without downloading wheels) is satisfied.",
    )
    check.add_argument("lock_file", metavar="LOCK", help="the pylock.toml to check")
    check.add_argument("--all", dest="all_environments", action="store_true",
                       help="check every environment a skimlock universal lock records")
    _add_common(check)
    check.set_defaults(func=handlers["check"])

    res = sub.add_parser(
        "resolve", allow_abbrev=False, help="dry-run install: print what would be installed",
        description="Resolve and print what would be installed (compared with the running "
        "interpreter when it is the target). Nothing is downloaded or installed.",
    )
    _add_inputs(res)
    res.add_argument("--report", metavar="FILE",
                     help="write pip's installation report (JSON, version 1); - = stdout")
    res.add_argument("--ignore-installed", action="store_true",
                     help="report every package as to be installed, whatever is installed")
    res.add_argument("--overwrite-input", action="store_true",
                     help="allow --report (or --stats) to replace one of the input files")
    res.add_argument("-U", "--upgrade", action="store_true",
                     help="upgrade the named projects to the newest allowed versions (as pip)")
    res.add_argument("--upgrade-strategy", choices=["only-if-needed", "eager"],
                     default="only-if-needed",
                     help="with --upgrade: only-if-needed upgrades dependencies only when "
                     "required; eager upgrades them all (as pip)")
    _add_common(res)
    res.set_defaults(func=handlers["resolve"], dry_run_install=True)

    cache = sub.add_parser(
        "cache", allow_abbrev=False, help="show or clean the on-disk cache",
        description="The cache keeps index pages (under HTTP caching rules) and metadata "
        "(immutable, by file hash) between runs.",
    )
    cache.add_argument("action", choices=["dir", "info", "clean"],
                       help="dir: print its directory; info: what it holds; clean: empty it")
    cache.add_argument("project", nargs="?", metavar="NAME",
                       help="clean: only this project's pages and metadata")
    cache.add_argument("--cache-dir", metavar="DIR",
                       help="the cache directory (default: $SKIMLOCK_CACHE_DIR or the user "
                       "cache directory)")
    cache.add_argument("-v", "--verbose", action="count", default=0)
    cache.add_argument("-q", "--quiet", action="count", default=0)
    cache.set_defaults(func=handlers["cache"], index_url=None, stats=None)
    return parser


def _seconds(text: str) -> float:
    """argparse type: a finite number of seconds > 0 (one-line usage error otherwise)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds greater than 0")
    return value


def _add_universal(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "universal lock",
        "One lock for many environments: CPython from --python-version (else the project's "
        "requires-python, else the running Python) to the newest release, on Linux x86_64 and "
        "aarch64 (manylinux_2_28), macOS arm64 (11.0) and x86_64 (10.15), Windows amd64. "
        "--platform TAG (repeatable) replaces the platforms.",
    )
    group.add_argument("--universal", action="store_true",
                       help="write one lock valid for every environment of the set")
    group.add_argument("--environment", action="append", metavar="MARKER",
                       help="keep the environments where this PEP 508 marker holds (repeatable; "
                       "implies --universal), e.g. \"sys_platform == 'linux'\"")
    group.add_argument("--skip-unsatisfiable", action="store_true",
                       help="leave environments that cannot be satisfied out of the lock, with "
                       "a warning (default: stop with an error naming the first)")


def _add_inputs(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("inputs")
    group.add_argument("requirements", nargs="*", metavar="REQUIREMENT",
                       help="PEP 508 requirements, e.g. 'requests>=2' 'rich[jupyter]'")
    group.add_argument("-r", "--requirement", dest="requirement_file", action="append",
                       metavar="FILE", help="a requirements file (pip's format)")
    group.add_argument("-c", "--constraint", dest="constraint_file", action="append",
                       metavar="FILE", help="a constraints file")
    group.add_argument("--project", metavar="PYPROJECT",
                       help="lock [project].dependencies of this pyproject.toml")
    group.add_argument("--extra", action="append", metavar="NAME",
                       help="with --project: include this optional-dependencies extra")
    group.add_argument("--group", action="append", metavar="NAME",
                       help="with --project: include this PEP 735 dependency group")
    group.add_argument("--require-hashes", action="store_true",
                       help="as pip: every requirement pinned with == and given --hash, and "
                       "every locked project named with hashes")
    group.add_argument("--only-binary", action="append", metavar="NAMES",
                       help="never use sdists for these projects (:all: for every one)")
    group.add_argument("--no-binary", action="append", metavar="NAMES",
                       help="never use wheels for these projects (:all: for every one): their "
                       "sdists are read, or built (which runs code from the sdist)")
    group.add_argument("--no-build", action="store_true",
                       help="never build an sdist to read its metadata (a build runs code from "
                       "the sdist); versions that would need one are skipped")
    group.add_argument("--no-build-package", action="append", metavar="NAME",
                       help="never build sdists of this project (repeatable)")
    group.add_argument("--index-strategy", choices=["first", "merge"], default="first",
                       help="first: a project comes from the first index that has it (safe "
                       "against dependency confusion); merge: from every index")
    group.add_argument("--exclude-newer", type=_exclude_newer, metavar="DATE|DURATION",
                       help="ignore files uploaded after this time (RFC 3339 time, date, or a "
                       "duration back from now such as 7d, 24h, P7D); needs PEP 700 upload times")


def _exclude_newer(text: str) -> datetime:
    from .cooldown import parse_exclude_newer

    try:
        return parse_exclude_newer(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
