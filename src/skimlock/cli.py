"""Command-line interface: the only module that uses rich.

Commands: ``metadata`` (one file's core metadata), ``lock`` (write a lock file; ``--universal``
for many environments), ``resolve`` (a dry-run install) and ``check`` (verify a pylock.toml for a
target). Progress and messages go to stderr (plain when stderr is not a terminal,
``NO_COLOR`` honoured by rich); results go to stdout or files. Exit codes: see
:mod:`skimlock.errors`.
"""

from __future__ import annotations

# Start-up time (issue 11): this module is imported by every run, ``--version`` included, so
# at module level it imports only what parsing arguments needs. Each command imports what it
# uses inside its functions: httpx only when a command fetches, resolvelib only when it
# resolves, packaging.pylock and tomli_w only when a pylock is written, rich only on a terminal,
# importlib.metadata only when installed distributions are compared (tests/test_startup.py
# keeps it so). Names needed only in annotations are imported under TYPE_CHECKING.
import argparse
import contextlib
import os
import sys

from .errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, InputError, SkimlockError
from .options import DEFAULT_INDEX, build_parser
from .text import printable

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from pathlib import Path
    from typing import Any, NoReturn, TypeAlias

    import httpx
    from packaging.requirements import Requirement
    from packaging.utils import NormalizedName
    from packaging.version import Version
    from rich.console import Console
    from rich.text import Text

    from .cache import Cache
    from .fetch import Fetcher
    from .files import Output
    from .inputs import Inputs
    from .interpreter import Interpreter
    from .resolution import Resolution
    from .resolve import ResolveOptions
    from .stats import Stats, Summary
    from .target import Target

    #: rich's Console on a terminal, else :class:`_PlainConsole`.
    _Console: TypeAlias = "Console | _PlainConsole"

    #: What a resolve hands to a command: the resolution, the run's stats, the inputs, seconds
    #: taken and (``resolve`` only) the target's installed distributions.
    _Resolved: TypeAlias = tuple[
        Resolution, Stats, Inputs, float, "Mapping[NormalizedName, Version] | None"
    ]

# Seams: the commands call these through this module, so that a test can replace one
# (``monkeypatch.setattr(cli, "resolve", ...)``). Type checkers see the real ones; at run time
# each is a stand-in that imports its module when called.
if TYPE_CHECKING:
    from .fetch import FetchOptions
    from .files import write_outputs
    from .inputs import collect_inputs
    from .resolve import resolve
else:

    def FetchOptions(*args, **kwargs):
        from .fetch import FetchOptions

        return FetchOptions(*args, **kwargs)

    def write_outputs(*args, **kwargs):
        from .files import write_outputs

        return write_outputs(*args, **kwargs)

    def collect_inputs(*args, **kwargs):
        from .inputs import collect_inputs

        return collect_inputs(*args, **kwargs)

    def resolve(*args, **kwargs):
        from .resolve import resolve

        return resolve(*args, **kwargs)

__all__ = ["main"]



def entry() -> NoReturn:
    """The console script (and ``python -m skimlock``): :func:`main`, then the end of the
    process without tearing the interpreter down.

    Freeing a lock's objects one by one at interpreter exit took ~0.13 s after a 117-package
    lock on PyPI here (7 % of the run, more of a small one), for a process about to end. What
    a normal exit does that matters is done first: every non-daemon thread (the cache writer)
    is joined and both output streams are flushed.

    The cyclic garbage collector runs far less often than Python's default: a lock allocates
    many objects that live until the end (pages, candidates, metadata), and the default
    thresholds spent 75-85 ms of a 117-package lock on PyPI re-examining them in ~200
    collections, where these spend 25-30 ms in two, at the same peak memory; they still bound
    cyclic garbage. Not in :func:`main`, which tests call in their own process.
    """
    import gc
    import threading

    gc.set_threshold(50_000, 50, 1_000)
    code = main()
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            thread.join()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe, a closed stream
            stream.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code. Never lets an exception (or a traceback) out:
    an unexpected one is one ``error: internal error`` line (exit 70), with the traceback only
    under ``-v``; Ctrl-C is one ``interrupted`` line (exit 130)."""
    verbose = False
    console: _Console | None = None
    try:
        parser = build_parser({
            "metadata": _cmd_metadata, "lock": _cmd_lock, "check": _cmd_check,
            "resolve": _cmd_resolve, "cache": _cmd_cache,
        })
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version, or a usage error argparse has printed
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        verbose = args.verbose > 0
        from .stats import Stats

        args.index_url_given = args.index_url is not None
        args.run_stats = Stats()
        if args.index_url is None:
            args.index_url = os.environ.get("SKIMLOCK_INDEX_URL") or DEFAULT_INDEX
        console = _stderr_console()
        _setup_logging(console, args.verbose - args.quiet)
        try:
            _check_outputs(args)
            result: int = args.func(args, console)
            return result
        except SkimlockError as exc:
            _say(console, *exc.lines, prefix="error: ", style="bold red")
            _finish(args, console, args.run_stats.summary(), detail="failed", failed=True)
            return exc.exit_code
    except KeyboardInterrupt:
        _say(console, "interrupted", style="red")
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: one line, the traceback only when asked for
        return _internal_error(console, exc, verbose=verbose)


def _internal_error(console: _Console | None, exc: Exception, *, verbose: bool) -> int:
    import traceback

    head = f"internal error: {type(exc).__name__}: {exc}"
    if verbose:
        frames = "".join(traceback.format_tb(exc.__traceback__)).rstrip("\n")
        _say(console, "Traceback (most recent call last):", *frames.split("\n"))
        _say(console, head, prefix="error: ", style="bold red")
    else:
        _say(console, f"{head} (run with -v for the traceback)", prefix="error: ",
             style="bold red")
    return EXIT_INTERNAL


def _say(console: _Console | None, *lines: str, prefix: str = "", style: str | None = None
         ) -> None:
    """Print ``lines`` on stderr, each escaped on its own (:func:`printable`): the only line
    breaks are those between ``lines``; ``prefix`` goes before the first. Never markup."""
    for number, line in enumerate(lines):
        text = (prefix if number == 0 else "") + printable(line)
        if console is None:
            sys.stderr.write(text + "\n")
        else:
            console.print(text, markup=False, emoji=False, style=style, soft_wrap=True)


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

    return Console(stderr=True, highlight=False, markup=False, emoji=False)


def _live(
    progress: _Progress, console: _Console, args: argparse.Namespace
) -> contextlib.AbstractContextManager[Any]:
    """The live progress line on a terminal (not with ``-q``); nothing otherwise."""
    if isinstance(console, _PlainConsole) or args.quiet > 0:
        return contextlib.nullcontext()
    from rich.live import Live

    return Live(progress, console=console, refresh_per_second=8, transient=True)


def _cmd_metadata(args: argparse.Namespace, console: _Console) -> int:
    import json

    from packaging.specifiers import SpecifierSet
    from packaging.utils import canonicalize_name

    from .candidates import ProjectFiles
    from .coremeta import metadata_json
    from .errors import NoCompatibleFileError, ProjectNotFoundError, redact

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
        text = fetched.data.decode("utf-8", errors="replace")
        if sys.stdout.isatty():  # keep the lines, escape what would steer the terminal
            text = "\n".join(printable(line) for line in text.splitlines())
        sys.stdout.write(text)
        if not text.endswith("\n"):
            sys.stdout.write("\n")
    _finish(args, console, stats.summary(), detail=f"{fetched.file.filename} via "
            f"{fetched.source.category.value}")
    return 0


def _cmd_lock(args: argparse.Namespace, console: _Console) -> int:
    if args.universal or args.environment:
        return _cmd_lock_universal(args, console)
    from . import output
    from .files import STDOUT, Output
    from .stats import plural

    resolution, stats, inputs, elapsed, _installed_now = _resolve(args, console)
    if args.format == "requirements":
        text = output.render_requirements(
            resolution, allow_missing_hashes=args.allow_missing_hashes
        )
    else:
        text = output.render_pylock(  # build_pylock + dumps_pylock, validated once
            resolution,
            allow_missing_hashes=args.allow_missing_hashes,
            requires_python=inputs.requires_python,
        )
    destination = _lock_destination(args)
    _check_outputs(args, inputs.files_read)
    _pins_table(console, resolution, quiet=args.quiet > 0)
    written = "" if destination == STDOUT else f"wrote {destination}; "
    _finish(args, console, stats.summary(),
            detail=f"{written}{plural(len(resolution.pins), 'package')} for "
            f"{resolution.target.describe()} in {elapsed:.1f} s",
            outputs=[Output(destination=destination, text=text)])
    return 0


def _cmd_cache(args: argparse.Namespace, console: _Console) -> int:
    from pathlib import Path

    from packaging.utils import canonicalize_name

    from .cache import Cache, default_cache_dir
    from .stats import human_bytes, plural

    root = Path(args.cache_dir).expanduser() if args.cache_dir else default_cache_dir()
    cache = Cache(root)
    if args.action != "clean" and args.project:
        raise InputError(f"cache {args.action} takes no project name")
    if args.action == "dir":
        sys.stdout.write(f"{root}\n")
    elif args.action == "info":
        info = cache.info()
        sys.stdout.write(
            f"{info.bucket}: {plural(info.pages, 'page')}, "
            f"{info.metadata} metadata, {plural(info.hosts, 'host')}, "
            f"{human_bytes(info.bytes)}\n"
        )
    else:
        removed = cache.clean(args.project)
        what = f" of {canonicalize_name(args.project)}" if args.project else ""
        _say(console, f"removed {plural(removed, 'file')}{what} from {root}")
    return 0


def _lock_destination(args: argparse.Namespace) -> str:
    return str(args.output or (
        "requirements.txt" if args.format == "requirements" else "pylock.toml"
    ))


def _cmd_resolve(args: argparse.Namespace, console: _Console) -> int:
    import json

    from . import output
    from .files import Output
    from .stats import plural

    resolution, stats, inputs, elapsed, installed = _resolve(args, console)
    _check_outputs(args, inputs.files_read)
    outputs = []
    if args.report:
        report = output.build_report(resolution, installed=installed)
        text = json.dumps(report, indent=2, sort_keys=False) + "\n"
        outputs.append(Output(destination=args.report, text=text))
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
            lines = [f"# target: {printable(resolution.target.describe())}"]
            lines += ["\t".join(printable(cell) for cell in row) for row in table]
            sys.stdout.write("\n".join(lines) + "\n")
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    _finish(args, console, stats.summary(),
            detail=f"{plural(len(resolution.pins), 'package')} ({summary}) in {elapsed:.1f} s",
            outputs=outputs)
    return 0


def _cmd_lock_universal(args: argparse.Namespace, console: _Console) -> int:

    if args.abi or args.implementation not in (None, "cp"):
        raise InputError("--universal locks CPython environments; --abi and --implementation "
                         "do not apply")
    _import_httpx()
    from .fetch import make_client

    stats: Stats = args.run_stats
    with make_client(timeout=args.timeout) as client:
        inputs = _collect_inputs(args, client, stats)
        return _lock_universal(args, console, client, stats, inputs)


def _lock_universal(
    args: argparse.Namespace, console: _Console, client: httpx.Client, stats: Stats,
    inputs: Inputs,
) -> int:
    import time

    from . import output, universal
    from .files import STDOUT, Output
    from .pylock_universal import build_universal_pylock, render_universal_requirements
    from .stats import plural

    environments = universal.environment_set(
        requires_python=inputs.requires_python,
        floor=args.python_version,
        markers=args.environment or (),
        platforms=args.platform or (),
    )
    options = _resolve_options(args, inputs)
    progress = _Progress(stats, environments[0].target)
    started = time.monotonic()

    def on_pass(environment: universal.Environment) -> None:
        progress.target = environment.target

    with (
        _fetcher(args, stats, trusted_hosts=inputs.trusted_hosts, on_event=progress.event,
                 client=client) as fetcher,
        _live(progress, console, args),
    ):
        result = universal.resolve_universal(
            inputs, fetcher=fetcher, environments=environments, options=options,
            on_pass=on_pass, on_pin=progress.pin,
            skip_unsatisfiable=args.skip_unsatisfiable,
        )
        environments = result.environments
        packages = universal.merge(result, inputs)
    elapsed = time.monotonic() - started
    if args.format == "requirements":
        text = render_universal_requirements(
            packages, environments=environments, allow_missing_hashes=args.allow_missing_hashes
        )
    else:
        lock = build_universal_pylock(
            packages,
            environments=environments,
            requirements=[item.requirement for item in inputs.requirements],
            requires_python=inputs.requires_python,
            allow_missing_hashes=args.allow_missing_hashes,
        )
        text = output.dumps_pylock(lock)
    destination = _lock_destination(args)
    _check_outputs(args, inputs.files_read)
    if console.is_terminal and args.quiet == 0:
        rows = [(p.name, str(p.version), str(p.marker) if p.marker else "") for p in packages]
        _print_table(f"Locked for {len(environments)} environments",
                     ("package", "version", "marker"), rows, stderr=True)
    summary = stats.summary()
    args.stats_extra = {"environments": result.to_json(summary)}
    written = "" if destination == STDOUT else f"wrote {destination}; "
    projects = len({p.name for p in packages})
    _finish(args, console, summary,
            detail=f"{written}{plural(projects, 'project')} ({plural(len(packages), 'entry')}"
            f") for {len(environments)} environments in {elapsed:.1f} s; "
            f"{result.cost_line(summary)}",
            outputs=[Output(destination=destination, text=text)])
    return 0


def _cmd_check(args: argparse.Namespace, console: _Console) -> int:
    from pathlib import Path

    from . import check, universal
    from .target import Target

    path = Path(args.lock_file)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    lock = check.load_lock(text, str(path))
    targets: list[tuple[Target, str]] = []
    if args.all_environments:
        labels = check.recorded_environments(lock)
        if not labels:
            raise InputError(f"{path} records no environments ([tool.skimlock] environments); "
                             "name a target with --python-version and --platform instead")
        for label in labels:
            environment = universal.environment_from_label(label)
            targets.append((environment.target, environment.describe()))
    elif args.python_version and len(args.platform or ()) == 1 and not args.abi and \
            args.implementation in (None, "cp"):
        probe = Target.from_options(python_version=args.python_version, platforms=["win_amd64"])
        target = universal.target_for(probe.python_version[:2], args.platform[0])
        targets.append((target, target.describe()))
    else:
        target = _target(args)
        targets.append((target, target.describe()))
    stats: Stats = args.run_stats
    lines = []
    with _fetcher(args, stats) as fetcher:
        for target, where in targets:
            checked = check.check_lock(lock, target, fetcher=fetcher, describe=where)
            note = f" ({len(checked.from_sdist)} from sdist)" if checked.from_sdist else ""
            lines.append(f"ok: {where}: {len(checked.selected)} packages{note}")
    sys.stdout.write("\n".join(lines) + "\n")
    _finish(args, console, stats.summary(),
            detail=f"{path} holds for {len(targets)} environment(s)")
    return 0


def _status(
    name: str, version: Version, installed: Mapping[NormalizedName, Version] | None
) -> str:
    from packaging.utils import NormalizedName

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

    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version

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


def _resolve(args: argparse.Namespace, console: _Console) -> _Resolved:
    _import_httpx()
    from .fetch import make_client

    stats: Stats = args.run_stats
    with make_client(timeout=args.timeout) as client:
        return _resolve_with(args, console, client, stats)


def _collect_inputs(args: argparse.Namespace, client: httpx.Client, stats: Stats) -> Inputs:
    """Every input of the run. Requirement files named by URL come through the same client,
    counted as "input"."""
    from pathlib import Path

    with _fetcher(args, stats, client=client) as reader:
        inputs = collect_inputs(
            requirements=args.requirements,
            requirement_files=args.requirement_file or (),
            constraint_files=args.constraint_file or (),
            project=Path(args.project) if args.project else None,
            extras=args.extra or (),
            groups=args.group or (),
            require_hashes=args.require_hashes,
            fetch_url=reader.document,
        )
    if not inputs.requirements:
        raise InputError("nothing to resolve: name requirements, -r FILE or --project FILE")
    return inputs


def _resolve_with(
    args: argparse.Namespace, console: _Console, client: httpx.Client, stats: Stats
) -> _Resolved:
    import time


    inputs = _collect_inputs(args, client, stats)
    target = _target(args)
    installed = _installed_for(args, target)
    options = _resolve_options(
        args, inputs,
        preferred=_kept(args, installed, inputs) if installed else _lock_pins(args),
    )
    progress = _Progress(stats, target)
    started = time.monotonic()
    with (
        _fetcher(args, stats, trusted_hosts=inputs.trusted_hosts, on_event=progress.event,
                 client=client) as fetcher,
        _live(progress, console, args),
    ):
        resolution = resolve(
            inputs, fetcher=fetcher, target=target, options=options, on_pin=progress.pin
        )
    return resolution, stats, inputs, time.monotonic() - started, installed


def _resolve_options(
    args: argparse.Namespace, inputs: Inputs,
    preferred: Mapping[NormalizedName, Version] | None = None,
) -> ResolveOptions:
    """How to resolve, from the options and what the input files said."""
    from .build import BuildPolicy
    from .candidates import BinaryPolicy
    from .resolve import ResolveOptions

    return ResolveOptions(
        indexes=tuple(_indexes(args, inputs)),
        merge_indexes=args.index_strategy == "merge",
        pre=args.pre,
        binary=BinaryPolicy(
            only_binary=frozenset(_names(args.only_binary)) | inputs.only_binary,
            no_binary=frozenset(_names(args.no_binary)) | inputs.no_binary,
        ),
        preferred=dict(preferred or {}),
        build=BuildPolicy(
            no_build=args.no_build,
            no_build_packages=frozenset(_names(args.no_build_package)),
        ),
        exclude_newer=args.exclude_newer,
    )


def _installed_for(
    args: argparse.Namespace, target: Target
) -> Mapping[NormalizedName, Version] | None:
    """For ``resolve`` (a dry-run install): the distributions installed in the target, when the
    target is an interpreter (``--python``, or the running one) and not ``--ignore-installed``."""
    if not getattr(args, "dry_run_install", False) or args.ignore_installed:
        return None
    interpreter = _interpreter(args)
    if interpreter is not None:
        return interpreter.installed
    return _installed() if target.is_running else None


def _kept(
    args: argparse.Namespace, installed: Mapping[NormalizedName, Version] | None, inputs: Inputs
) -> dict[NormalizedName, Version]:
    """Installed versions to keep where the requirements accept them, as pip decides: all of
    them by default; with ``--upgrade``, not the named projects (only-if-needed) or none (eager).
    """
    from packaging.utils import canonicalize_name

    if not installed:
        return {}
    if not args.upgrade:
        return dict(installed)
    if args.upgrade_strategy == "eager":
        return {}
    named = {canonicalize_name(item.requirement.name) for item in inputs.requirements}
    return {name: version for name, version in installed.items() if name not in named}


def _lock_pins(args: argparse.Namespace) -> dict[NormalizedName, Version]:
    """For ``lock``: the pins of the existing lock (``--prefer FILE``, else the output file if
    it exists) as preferences, less ``--upgrade-package`` names; none with ``--upgrade``.
    An output file that cannot be read as a lock is only warned about (it is about to be
    replaced); a ``--prefer`` file that cannot is an error."""
    if args.func is not _cmd_lock or args.upgrade:
        return {}
    import logging
    from pathlib import Path

    from .files import STDOUT
    from .prefer import read_preferences, release

    logger = logging.getLogger("skimlock")

    explicit = args.prefer is not None
    path = Path(args.prefer if explicit else _lock_destination(args))
    if not explicit and (str(path) == STDOUT or not path.is_file()):
        return {}
    try:
        pins = read_preferences(path)
    except InputError as exc:
        if explicit:
            raise
        logger.warning("not keeping the pins of %s: %s", path, exc)
        return {}
    kept = release(pins, args.upgrade_package or ())
    logger.info("keeping the pins of %s where the requirements allow (%d projects)",
                path, len(kept))
    return {name: max(versions) for name, versions in kept.items()}


class _Progress:
    """What the live line on stderr shows while resolving (read by rich's refresh thread)."""

    def __init__(self, stats: Stats, target: Target) -> None:
        self.stats = stats
        self.target = target
        self.pages = 0
        self.metadata = 0
        self.step = ""

    def event(self, kind: str) -> None:
        if kind == "page":
            self.pages += 1
        elif kind == "metadata":
            self.metadata += 1

    def pin(self, what: str) -> None:
        """A resolver step: ``looking up x>=1 (from ...)``, ``pinned x 1.0``, ``rejected ...``."""
        self.step = what

    def text(self) -> str:
        from .stats import human_bytes, plural

        last = self.stats.last.rstrip("/").rsplit("/", 1)[-1]
        fetched = f"; last fetched {last}" if last else ""
        step = f"; {self.step}" if self.step else "; fetching index pages"
        return (
            f"resolving for {self.target.describe()}: {plural(self.pages, 'project')} seen, "
            f"{self.metadata} metadata fetched, {human_bytes(self.stats.body_bytes)} in "
            f"{plural(self.stats.requests, 'request')}{step}{fetched}"
        )

    def __rich__(self) -> Text:
        from rich.text import Text

        return Text(printable(self.text()))


def _pins_table(console: _Console, resolution: Resolution, *, quiet: bool) -> None:
    if not console.is_terminal or quiet:
        return
    from . import output

    rows = output.render_pins_table_rows(resolution)
    title = f"Pinned for {resolution.target.describe()}"
    _print_table(title, ("package", "version", "why"), rows, stderr=True)


def _print_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], *, stderr: bool
) -> None:
    """A rich table on a terminal. Every cell and the title are escaped (:func:`printable`) and
    given as :class:`~rich.text.Text`, so rich never reads markup in them."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE, title=Text(printable(title)))
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(Text(printable(cell)) for cell in row))
    Console(stderr=stderr, highlight=False, soft_wrap=True, markup=False, emoji=False
            ).print(table)


def _names(values: Sequence[str] | None) -> set[str]:
    from packaging.utils import canonicalize_name

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
    failed: bool = False, outputs: Sequence[Output] = (),
) -> None:
    """Write the run's ``outputs`` and ``--stats`` together (all or none replaced, see
    :mod:`skimlock.files`), then the bandwidth line on stderr (after every run, failed or not).
    After a failure only ``--stats`` is written, and an error writing it is only printed."""
    import json

    from .files import Output

    everything = list(outputs)
    # After a failure, --stats is written only if its checks passed and no write was tried.
    if args.stats and (getattr(args, "outputs_checked", False) or not failed):
        document = summary.to_json()
        document.update(getattr(args, "stats_extra", {}))
        text = json.dumps(document, indent=2) + "\n"
        everything.append(Output(destination=args.stats, text=text))
    args.outputs_checked = False
    try:
        write_outputs(everything)
    except SkimlockError as exc:
        if not failed:
            raise
        _say(console, *exc.lines, prefix="error: ", style="bold red")
    if failed and summary.requests == 0:
        return  # nothing was fetched (a usage error, say): no bandwidth to report
    if args.verbose - args.quiet >= 0:
        _say(console, f"{detail}: {summary.line()}")


def _check_outputs(args: argparse.Namespace, files_read: Sequence[Path] | None = None) -> None:
    """Refuse bad destinations before any work (and again once every input file is known):
    see :func:`skimlock.files.check_destinations`. Without ``files_read``, the input files
    named on the command line stand for them."""
    from pathlib import Path

    from .files import check_destinations, check_pylock_name

    args.outputs_checked = False
    destinations: list[tuple[str, str]] = []
    if args.func is _cmd_cache:
        return
    if args.func is _cmd_lock:
        lock = _lock_destination(args)
        if args.format == "pylock":
            check_pylock_name(lock)
        destinations.append((lock, "-o" if args.output else "lock file"))
    if getattr(args, "report", None):
        destinations.append((args.report, "--report"))
    if args.stats:
        destinations.append((args.stats, "--stats"))
    if files_read is None:
        named = [*(getattr(args, "requirement_file", None) or ()),
                 *(getattr(args, "constraint_file", None) or ())]
        project = getattr(args, "project", None)
        if project:
            named.append(os.path.join(project, "pyproject.toml")
                         if os.path.isdir(project) else project)
        files_read = [Path(p) for p in named]
    check_destinations(destinations, inputs=files_read,
                       overwrite_input=getattr(args, "overwrite_input", False))
    args.outputs_checked = True


def _requirement(text: str) -> Requirement:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "cannot be parsed"
        raise InputError(f"invalid requirement {text!r}: {reason}") from None


def _interpreter(args: argparse.Namespace) -> Interpreter | None:
    """The ``--python`` interpreter, queried once per run."""
    if not getattr(args, "python", None):
        return None
    found: Interpreter | None = getattr(args, "interpreter_found", None)
    if found is None:
        from .interpreter import query

        found = query(args.python, timeout=max(args.timeout, 30.0))
        args.interpreter_found = found
    return found


def _target(args: argparse.Namespace) -> Target:
    if getattr(args, "python", None):
        given = [flag for flag, value in (
            ("--python-version", args.python_version), ("--platform", args.platform),
            ("--implementation", args.implementation), ("--abi", args.abi),
        ) if value]
        if given:
            raise InputError(f"--python describes the target already; drop {', '.join(given)}")
        interpreter = _interpreter(args)
        assert interpreter is not None
        return interpreter.target()
    from .target import Target

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
    return list(dict.fromkeys(_index_url(url) for url in [first, *extra]))


def _index_url(value: str) -> str:
    """An index URL; a local directory (a PEP 503 tree, or a flat directory of distributions)
    becomes its ``file://`` URL, served by :mod:`skimlock.filetransport`."""
    from pathlib import Path

    _import_httpx()
    from .filetransport import local_url

    if "://" in value:
        return local_url(value)
    path = Path(value).expanduser()
    if not path.is_dir():
        raise InputError(f"index {value!r} is neither a URL nor a directory")
    return local_url(path.resolve().as_uri() + "/")


@contextlib.contextmanager
def _fetcher(
    args: argparse.Namespace,
    stats: Stats,
    *,
    trusted_hosts: Sequence[str] = (),
    on_event: Callable[[str], None] | None = None,
    client: httpx.Client | None = None,
) -> Iterator[Fetcher]:
    """A fetcher over ``client`` or else a client of its own; what it made is closed when the
    block exits. ``trusted_hosts`` adds to ``--trusted-host`` (e.g. those named in requirement
    files)."""
    _import_httpx()
    from .fetch import Fetcher, make_client

    trusted = frozenset(args.trusted_host or ()) | frozenset(trusted_hosts)
    options = FetchOptions(trusted_hosts=trusted, offline=args.offline)
    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(make_client(timeout=args.timeout))
        yield stack.enter_context(
            Fetcher(client, stats=stats, options=options, on_event=on_event,
                    cache=_cache(args))
        )


def _cache(args: argparse.Namespace) -> Cache | None:
    """The on-disk cache of this run, or None with ``--no-cache``."""
    from pathlib import Path

    from .cache import Cache, default_cache_dir

    if args.no_cache:
        if args.offline:
            raise InputError("--offline answers from the cache: it cannot go with --no-cache")
        return None
    root = Path(args.cache_dir).expanduser() if args.cache_dir else default_cache_dir()
    return Cache(root, refresh=args.refresh, refresh_projects=args.refresh_package or ())


def _printable_formatter(fmt: str) -> logging.Formatter:
    """A formatter that escapes every log message (:func:`printable`): messages interpolate
    index- and package-controlled strings, so one record stays one line and cannot steer the
    terminal. (The class is made here so that logging is imported only when a command runs.)"""
    import logging

    class _PrintableFormatter(logging.Formatter):
        def formatMessage(self, record: logging.LogRecord) -> str:
            record.message = printable(record.message)
            return super().formatMessage(record)

        def formatException(self, ei: Any) -> str:
            return "\n".join(printable(line)
                             for line in super().formatException(ei).split("\n"))

    return _PrintableFormatter(fmt)


def _import_httpx() -> None:
    """Import httpx without its command-line client. When click is installed, ``import httpx``
    also imports ``httpx._main`` (click, pygments and rich: about 60 ms), which skimlock never
    calls. A ``None`` in :data:`sys.modules` makes that one import fail, so httpx defines its
    stub ``main`` instead; the entry is removed again, so ``httpx._main`` stays importable."""
    if "httpx" in sys.modules:
        return
    blocked = "httpx._main" not in sys.modules
    if blocked:
        sys.modules["httpx._main"] = None  # type: ignore[assignment]
    try:
        import httpx  # noqa: F401
    finally:
        if blocked and sys.modules.get("httpx._main", False) is None:
            del sys.modules["httpx._main"]


def _setup_logging(console: _Console, level: int) -> None:
    import logging

    handler: logging.Handler
    if not isinstance(console, _PlainConsole):
        from rich.logging import RichHandler

        handler = RichHandler(console=console, show_time=False, show_path=False, markup=False)
        handler.setFormatter(_printable_formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_printable_formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger("skimlock")
    root.handlers[:] = [handler]
    root.propagate = False
    # -v: every request and metadata outcome (INFO); -vv: resolver steps too (DEBUG).
    root.setLevel(
        logging.ERROR if level < 0 else logging.WARNING if level == 0
        else logging.INFO if level == 1 else logging.DEBUG
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

