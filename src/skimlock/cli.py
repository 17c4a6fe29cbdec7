"""Command-line interface: the only module that uses rich.

Commands: ``metadata`` (one file's core metadata), ``lock`` (write a lock file) and ``resolve``
(a dry-run install). Progress and messages go to stderr (plain when stderr is not a terminal,
``NO_COLOR`` honoured by rich); results go to stdout or files. Exit codes: see
:mod:`skimlock.errors`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from . import __version__, output
from .candidates import BinaryPolicy, ProjectFiles
from .cooldown import parse_exclude_newer
from .coremeta import metadata_json
from .errors import (
    EXIT_USAGE,
    InputError,
    NoCompatibleFileError,
    ProjectNotFoundError,
    SkimlockError,
    redact,
)
from .fetch import Fetcher, FetchOptions, make_client
from .inputs import Inputs, collect_inputs
from .resolution import Resolution
from .resolve import ResolveOptions, resolve
from .stats import Stats, Summary, human_bytes
from .target import Target

if TYPE_CHECKING:
    from typing import TypeAlias

    from rich.console import Console
    from rich.text import Text

    #: rich's Console on a terminal, else :class:`_PlainConsole`.
    _Console: TypeAlias = "Console | _PlainConsole"

__all__ = ["main"]

DEFAULT_INDEX = "https://pypi.org/simple/"

logger = logging.getLogger("skimlock")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse has printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    args.index_url_given = args.index_url is not None
    args.run_stats = Stats()
    if args.index_url is None:
        args.index_url = os.environ.get("SKIMLOCK_INDEX_URL") or DEFAULT_INDEX
    console = _stderr_console()
    _setup_logging(console, args.verbose - args.quiet)
    try:
        result: int = args.func(args, console)
        return result
    except SkimlockError as exc:
        console.print(f"error: {exc}", markup=False, style="bold red", soft_wrap=True)
        _finish(args, console, args.run_stats.summary(), detail="failed", failed=True)
        return exc.exit_code
    except KeyboardInterrupt:
        console.print("interrupted", style="red", soft_wrap=True)
        return 130


# --- commands ----------------------------------------------------------------------------------


class _PlainConsole:
    """stderr when it is not a terminal: plain lines, no rich (importing rich costs ~50 ms,
    a tenth of a small run, and scripts and CI never see its output anyway)."""

    is_terminal = False

    def print(self, text: object = "", **_style: Any) -> None:
        sys.stderr.write(f"{text}\n")


def _stderr_console() -> _Console:
    if not sys.stderr.isatty():
        return _PlainConsole()
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _live(progress: _Progress, console: Console) -> contextlib.AbstractContextManager[Any]:
    from rich.live import Live

    return Live(progress, console=console, refresh_per_second=8, transient=True)


def _cmd_metadata(args: argparse.Namespace, console: _Console) -> int:
    requirement = _requirement(args.requirement)
    target = _target(args)
    stats: Stats = args.run_stats
    with _fetcher(args, stats) as fetcher:
        name = canonicalize_name(requirement.name)
        page = None
        index_url = ""
        for index_url in _indexes(args):
            page = fetcher.page(index_url, name)
            if page is not None:
                break
        if page is None:
            raise ProjectNotFoundError(name, tuple(_indexes(args)))
        files = ProjectFiles(page, index_url=index_url)
        pinned = any(s.operator in ("==", "===") for s in requirement.specifier)
        candidate = next(
            files.candidates(
                target,
                specifier=requirement.specifier or SpecifierSet(),
                prereleases=True if args.pre else None,
                pinned=pinned,
            ),
            None,
        )
        if candidate is None:
            raise NoCompatibleFileError(
                name, str(requirement.specifier) or "any version",
                f"no file on {redact(page.url)} suits {target.describe()}",
            )
        fetched = fetcher.metadata(candidate.metadata_file)
    if args.json:
        document = {
            "filename": fetched.file.filename,
            "url": redact(fetched.file.url),
            "strategy": fetched.source.category.value,
            "metadata": metadata_json(fetched.data),
        }
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(fetched.data.decode("utf-8", errors="replace"))
        if not fetched.data.endswith(b"\n"):
            sys.stdout.write("\n")
    _finish(args, console, stats.summary(), detail=f"{fetched.file.filename} via "
            f"{fetched.source.category.value}")
    return 0


def _cmd_lock(args: argparse.Namespace, console: _Console) -> int:
    resolution, stats, inputs, elapsed = _resolve(args, console)
    if args.format == "requirements":
        text = output.render_requirements(
            resolution, allow_missing_hashes=args.allow_missing_hashes
        )
    else:
        lock = output.build_pylock(
            resolution,
            allow_missing_hashes=args.allow_missing_hashes,
            requires_python=inputs.requires_python,
        )
        text = output.dumps_pylock(lock)
    destination = args.output or (
        "requirements.txt" if args.format == "requirements" else "pylock.toml"
    )
    if destination == "-":
        sys.stdout.write(text)
    else:
        output.atomic_write(Path(destination), text)
    _pins_table(console, resolution, installed=None)
    written = "" if destination == "-" else f"wrote {destination}; "
    _finish(args, console, stats.summary(),
            detail=f"{written}{len(resolution.pins)} packages for "
            f"{resolution.target.describe()} in {elapsed:.1f} s")
    return 0


def _cmd_resolve(args: argparse.Namespace, console: _Console) -> int:
    resolution, stats, _inputs, elapsed = _resolve(args, console)
    installed = (
        _installed() if resolution.target.is_running and not args.ignore_installed else None
    )
    if args.report:
        report = output.build_report(resolution, installed=installed)
        text = json.dumps(report, indent=2, sort_keys=False) + "\n"
        if args.report == "-":
            sys.stdout.write(text)
        else:
            output.atomic_write(Path(args.report), text)
    rows = output.render_pins_table_rows(resolution)
    pins = sorted(resolution.pins, key=lambda p: p.name)  # the order of the rows
    table: list[tuple[str, ...]] = []
    counts: dict[str, int] = {}
    for pin, (label, version, why) in zip(pins, rows, strict=True):
        status = _status(pin.name, pin.version, installed)
        counts[status] = counts.get(status, 0) + 1
        table.append((label, version, status, why))
    if args.report != "-":
        title = f"Would install for {resolution.target.describe()}"
        if sys.stdout.isatty():
            _print_table(title, ("package", "version", "status", "why"), table, stderr=False)
        else:  # one tab-separated line per package, for scripts
            lines = [f"# target: {resolution.target.describe()}"]
            lines += ["\t".join(row) for row in table]
            sys.stdout.write("\n".join(lines) + "\n")
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    _finish(args, console, stats.summary(),
            detail=f"{len(resolution.pins)} packages ({summary}) in {elapsed:.1f} s")
    return 0


def _status(name: str, version: Version, installed: dict[NormalizedName, Version] | None) -> str:
    if installed is None:
        return "would install"
    have = installed.get(NormalizedName(name))
    if have is None:
        return "would install"
    if have == version:
        return "already satisfied"
    return "would upgrade" if have < version else "would downgrade"


def _installed() -> dict[NormalizedName, Version]:
    import importlib.metadata  # only `resolve` needs it; it costs 40 ms to import

    found: dict[NormalizedName, Version] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue
        try:
            found.setdefault(canonicalize_name(name), Version(dist.version))
        except InvalidVersion:
            continue
    return found


def _resolve(
    args: argparse.Namespace, console: _Console
) -> tuple[Resolution, Stats, Inputs, float]:
    inputs = collect_inputs(
        requirements=args.requirements,
        requirement_files=[Path(p) for p in args.requirement_file or ()],
        constraint_files=[Path(p) for p in args.constraint_file or ()],
        project=Path(args.project) if args.project else None,
        extras=args.extra or (),
        groups=args.group or (),
    )
    if not inputs.requirements:
        raise InputError("nothing to resolve: name requirements, -r FILE or --project FILE")
    target = _target(args)
    indexes = _indexes(args, inputs)
    binary = BinaryPolicy(
        only_binary=frozenset(_names(args.only_binary)) | inputs.only_binary,
        no_binary=frozenset(_names(args.no_binary)) | inputs.no_binary,
    )
    options = ResolveOptions(
        indexes=tuple(indexes),
        merge_indexes=args.index_strategy == "merge",
        pre=args.pre,
        binary=binary,
        exclude_newer=args.exclude_newer,
    )
    stats: Stats = args.run_stats
    progress = _Progress(stats, target)
    started = time.monotonic()
    with _fetcher(args, stats, trusted_hosts=inputs.trusted_hosts,
                  on_event=progress.event) as fetcher:
        live = (
            _live(progress, console)
            if not isinstance(console, _PlainConsole) and args.quiet == 0
            else contextlib.nullcontext()
        )
        with live:
            resolution = resolve(
                inputs, fetcher=fetcher, target=target, options=options, on_pin=progress.pin
            )
    return resolution, stats, inputs, time.monotonic() - started


class _Progress:
    """What the live line on stderr shows while resolving (read by rich's refresh thread)."""

    def __init__(self, stats: Stats, target: Target) -> None:
        self.stats = stats
        self.target = target
        self.pages = 0
        self.metadata = 0
        self.pinned = ""

    def event(self, kind: str) -> None:
        if kind == "page":
            self.pages += 1
        elif kind == "metadata":
            self.metadata += 1

    def pin(self, what: str) -> None:
        self.pinned = what

    def __rich__(self) -> Text:
        from rich.text import Text

        return Text(
            f"resolving for {self.target.describe()}: {self.pages} projects seen, "
            f"{self.metadata} metadata fetched, {human_bytes(self.stats.body_bytes)} in "
            f"{self.stats.requests} requests; trying {self.pinned}"
        )


def _pins_table(console: _Console, resolution: Resolution, *, installed: None) -> None:
    if not console.is_terminal:
        return
    rows = output.render_pins_table_rows(resolution)
    title = f"Pinned for {resolution.target.describe()}"
    _print_table(title, ("package", "version", "why"), rows, stderr=True)


def _print_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], *, stderr: bool
) -> None:
    """A rich table on a terminal."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE, title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(stderr=stderr, highlight=False, soft_wrap=True).print(table)


def _names(values: Sequence[str] | None) -> set[str]:
    names: set[str] = set()
    for value in values or ():
        for raw in value.split(","):
            part = raw.strip()
            if part:
                names.add(part if part.startswith(":") else canonicalize_name(part))
    if ":none:" in names:
        names = {n for n in names if n != ":none:"} - {":all:"}
    return names


# --- shared plumbing ---------------------------------------------------------------------------


def _finish(
    args: argparse.Namespace, console: _Console, summary: Summary, *, detail: str,
    failed: bool = False,
) -> None:
    """The bandwidth line on stderr (after every run, failed or not) and ``--stats``."""
    if args.stats:
        text = json.dumps(summary.to_json(), indent=2) + "\n"
        if args.stats == "-":
            sys.stdout.write(text)
        else:
            try:
                output.atomic_write(Path(args.stats), text)
            except SkimlockError as exc:
                if not failed:
                    raise
                console.print(f"error: {exc}", markup=False, style="bold red", soft_wrap=True)
    if args.verbose - args.quiet >= 0:
        console.print(f"{detail}: {summary.line()}", markup=False, soft_wrap=True)


def _requirement(text: str) -> Requirement:
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "cannot be parsed"
        raise InputError(f"invalid requirement {text!r}: {reason}") from None


def _target(args: argparse.Namespace) -> Target:
    return Target.from_options(
        python_version=args.python_version,
        platforms=args.platform or (),
        implementation=args.implementation,
        abis=args.abi or (),
    )


def _indexes(args: argparse.Namespace, inputs: Inputs | None = None) -> list[str]:
    first = args.index_url
    if inputs is not None and inputs.index_url and args.index_url_given is False:
        first = inputs.index_url
    extra = [*(args.extra_index_url or ()), *(inputs.extra_index_urls if inputs else ())]
    return list(dict.fromkeys([first, *extra]))


@contextlib.contextmanager
def _fetcher(
    args: argparse.Namespace,
    stats: Stats,
    *,
    trusted_hosts: Sequence[str] = (),
    on_event: Callable[[str], None] | None = None,
) -> Iterator[Fetcher]:
    """A fetcher over a client of its own; both are closed when the block exits.
    ``trusted_hosts`` adds to ``--trusted-host`` (e.g. those named in requirement files)."""
    trusted = frozenset(args.trusted_host or ()) | frozenset(trusted_hosts)
    with (
        make_client(timeout=args.timeout) as client,
        Fetcher(client, stats=stats, options=FetchOptions(trusted_hosts=trusted),
                on_event=on_event) as fetcher,
    ):
        yield fetcher


def _setup_logging(console: _Console, level: int) -> None:
    handler: logging.Handler
    if not isinstance(console, _PlainConsole):
        from rich.logging import RichHandler

        handler = RichHandler(console=console, show_time=False, show_path=False, markup=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger("skimlock")
    root.handlers[:] = [handler]
    root.propagate = False
    root.setLevel(
        logging.ERROR if level < 0 else logging.DEBUG if level > 0 else logging.WARNING
    )


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
    index.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    tgt = parser.add_argument_group("target (default: the running interpreter)")
    tgt.add_argument("--python-version", metavar="X.Y[.Z]",
                     help="target Python version; X.Y means X.Y.0")
    tgt.add_argument("--platform", action="append", metavar="TAG",
                     help="target platform tag, e.g. manylinux_2_28_x86_64 (repeatable)")
    tgt.add_argument("--implementation", choices=["cp", "pp"], help="target implementation")
    tgt.add_argument("--abi", action="append", metavar="ABI", help="target ABI tag (repeatable)")
    parser.add_argument("--pre", action="store_true", help="allow pre-releases")
    parser.add_argument("--stats", metavar="FILE",
                        help="write bandwidth statistics as JSON (- for stdout)")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("-q", "--quiet", action="count", default=0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skimlock",
        description="Resolve Python requirements into a pinned lock without downloading wheels.",
    )
    parser.add_argument("--version", action="version", version=f"skimlock {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    meta = sub.add_parser(
        "metadata", help="print the core metadata of the file the target would use",
        description="Print the METADATA of the wheel that would be chosen for the target, "
        "read without downloading the wheel.",
    )
    meta.add_argument("requirement", help="e.g. requests==2.32.3")
    meta.add_argument("--json", action="store_true", help="print the JSON form of the metadata")
    _add_common(meta)
    meta.set_defaults(func=_cmd_metadata)

    lock = sub.add_parser(
        "lock", help="resolve and write a lock file (pylock.toml by default)",
        description="Resolve requirements for a target and write pylock.toml (PEP 751) or a "
        "hashed requirements.txt, reading metadata without downloading wheels.",
    )
    _add_inputs(lock)
    lock.add_argument("-o", "--output", metavar="FILE",
                      help="where to write (default pylock.toml or requirements.txt; - = stdout)")
    lock.add_argument("--format", choices=["pylock", "requirements"], default="pylock")
    lock.add_argument("--allow-missing-hashes", action="store_true",
                      help="lock files the index gives no hash for, without a hash")
    _add_common(lock)
    lock.set_defaults(func=_cmd_lock)

    res = sub.add_parser(
        "resolve", help="dry-run install: print what would be installed",
        description="Resolve and print what would be installed (compared with the running "
        "interpreter when it is the target). Nothing is downloaded or installed.",
    )
    _add_inputs(res)
    res.add_argument("--report", metavar="FILE",
                     help="write pip's installation report (JSON, version 1); - = stdout")
    res.add_argument("--ignore-installed", action="store_true",
                     help="report every package as to be installed, whatever is installed")
    _add_common(res)
    res.set_defaults(func=_cmd_resolve)
    return parser


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
    group.add_argument("--only-binary", action="append", metavar="NAMES",
                       help="never use sdists for these projects (:all: for every one)")
    group.add_argument("--no-binary", action="append", metavar="NAMES",
                       help="never use wheels for these projects (:all: for every one)")
    group.add_argument("--index-strategy", choices=["first", "merge"], default="first",
                       help="first: a project comes from the first index that has it (safe "
                       "against dependency confusion); merge: from every index")
    group.add_argument("--exclude-newer", type=_exclude_newer, metavar="DATE|DURATION",
                       help="ignore files uploaded after this time (RFC 3339 time, date, or a "
                       "duration back from now such as 7d, 24h, P7D); needs PEP 700 upload times")


def _exclude_newer(text: str) -> datetime:
    try:
        return parse_exclude_newer(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

