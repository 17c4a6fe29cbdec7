"""Build an sdist's metadata (PEP 517), the last resort: the only module that runs subprocesses.

Builds run code from the sdist (its build backend and ``setup.py``), so they happen only when the
index serves no ``.metadata`` for the sdist and its PKG-INFO is not static (PEP 643), and only
when the build policy allows it (``--no-build``, ``--no-build-package``).

How one build goes (the design uv uses, with PyPA ``build`` and ``pyproject-hooks`` doing the
PEP 517 part):

1. The sdist is downloaded through the fetch layer (hash verified) and extracted safely into a
   temporary directory: no absolute paths, no ``..``, no links, no devices
   (``tarfile``'s ``data`` filter on top of our own checks).
2. ``build.ProjectBuilder`` reads ``[build-system]`` (a project without ``pyproject.toml`` gets
   ``setuptools.build_meta:__legacy__``, as PEP 517 prescribes).
3. The build requirements are resolved by skimlock's own resolver for the running interpreter,
   from the same indexes with the same credentials, **wheels only** (a build requirement that
   would itself need a build is refused: no recursion). The wheels are downloaded through the
   fetch layer and installed into a ``build.env.DefaultIsolatedEnv`` with
   ``pip install --isolated --no-index --no-deps <files>``: pip only installs local files.
   The same for what ``get_requires_for_build_wheel`` adds.
4. ``prepare_metadata_for_build_wheel``, falling back to ``build_wheel``
   (``ProjectBuilder.metadata_path``); the METADATA is checked like any other.

Every byte (the sdist, the pages, metadata and wheels of the build requirements) is counted under
:attr:`~skimlock.stats.Category.BUILD`. Each subprocess has the time left of the build's timeout
and its output is captured (logged at info level, i.e. shown with ``-v``; its tail is in the
error). Nothing is cached across runs yet: :meth:`Builder.metadata` is the seam for a cache.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.utils import canonicalize_name

from . import coremeta, sdist
from .errors import BuildError, SkimlockError
from .fetch import FetchedMetadata, Fetcher
from .simple import IndexFile
from .stats import Category, MetadataSource, RequestRecord, Stats

__all__ = ["BuildPolicy", "Builder", "CountedAs", "ResolveWheels"]

logger = logging.getLogger(__name__)

#: Resolves PEP 508 build requirements (for the running interpreter, wheels only) to the wheel
#: files to install; raises a :class:`SkimlockError` when they cannot be resolved.
ResolveWheels = Callable[[Sequence[str]], Sequence[IndexFile]]

#: Lines of build output quoted in an error.
_TAIL_LINES = 12


@dataclass(frozen=True, kw_only=True, slots=True)
class BuildPolicy:
    """Whether sdists may be built: ``--no-build`` / ``--no-build-package``."""

    no_build: bool = False
    #: Normalized names never built.
    no_build_packages: frozenset[str] = frozenset()
    #: Seconds one build may take in all (environment, installs, hooks).
    timeout: float = 600.0

    def allowed(self, name: str) -> bool:
        return not self.no_build and canonicalize_name(name) not in self.no_build_packages

    def refusal(self, name: str) -> str:
        """Why ``name`` may not be built, and what option would allow it."""
        option = "--no-build" if self.no_build else f"--no-build-package {name}"
        return f"its metadata needs a build, which {option} forbids"


class CountedAs(Stats):
    """Stats that forward to ``parent`` with every request counted under ``category``
    (a second fetcher for build requirements records into one of these)."""

    def __init__(self, parent: Stats, category: Category) -> None:
        super().__init__()
        self._parent = parent
        self._category = category

    def record(self, record: RequestRecord) -> None:
        self._parent.record(
            RequestRecord(
                category=self._category, method=record.method, url=record.url,
                status=record.status, body_bytes=record.body_bytes, range=record.range,
                seconds=record.seconds,
            )
        )

    def metadata_obtained(self, source: MetadataSource) -> None:
        """Metadata of build requirements is not the lock's: not listed per file."""


class Builder:
    """Builds sdist metadata for a run; memoizes per sdist URL. Close with :meth:`close`."""

    def __init__(
        self,
        *,
        fetcher: Fetcher,
        resolve_wheels: ResolveWheels,
        policy: BuildPolicy | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.resolve_wheels = resolve_wheels
        self.policy = policy or BuildPolicy()
        self._lock = threading.Lock()
        self._results: dict[str, Future[FetchedMetadata]] = {}
        #: Build requirements resolved, and wheels downloaded, once per run (many builds of one
        #: project while backtracking need the same setuptools).
        self._resolved: dict[tuple[str, ...], Sequence[IndexFile]] = {}
        self._wheels: dict[str, Path] = {}
        self._wheel_dir: tempfile.TemporaryDirectory[str] | None = None

    def close(self) -> None:
        """Remove the wheels kept for this run."""
        if self._wheel_dir is not None:
            self._wheel_dir.cleanup()
            self._wheel_dir = None
            self._wheels.clear()

    def metadata(self, file: IndexFile) -> FetchedMetadata:
        """The metadata of the sdist ``file``, built (once per run). Raises
        :class:`BuildError` (or another :class:`SkimlockError` about the sdist)."""
        name, _version = sdist.sdist_identity(file.filename)
        if not self.policy.allowed(name):
            raise BuildError(file.filename, self.policy.refusal(name))
        with self._lock:
            future = self._results.get(file.url)
            owner = future is None
            if future is None:
                future = Future()
                self._results[file.url] = future
        if owner:
            try:
                future.set_result(self._build(file))
            except BaseException as exc:
                future.set_exception(exc)
        return future.result()

    # -- one build ----------------------------------------------------------------------------

    def _build(self, file: IndexFile) -> FetchedMetadata:
        # ``build`` re-issues the backend's warnings in this process: keep them with the
        # captured output (shown with -v) instead of letting them reach the terminal.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return self._build_once(file)
            finally:
                for warning in caught:
                    logger.debug("%s: %s", file.filename, warning.message)

    def _build_once(self, file: IndexFile) -> FetchedMetadata:
        from build import BuildBackendException, BuildException, ProjectBuilder
        from build.env import DefaultIsolatedEnv

        started = time.monotonic()
        deadline = started + self.policy.timeout
        logger.info("building the metadata of %s (this runs code from the sdist)", file.filename)
        with tempfile.TemporaryDirectory(prefix="skimlock-build-") as temp:
            root = Path(temp)
            runner = _Runner(deadline=deadline, scratch=root)
            archive = root / file.filename
            size = self.fetcher.download(file, str(archive), Category.BUILD)
            source = _extract(archive, root / "src", file.filename)
            try:
                # Resolve and fetch the build requirements before making an environment: an
                # unresolvable one fails the build in a fraction of a second.
                requires = sorted(ProjectBuilder(source).build_system_requires)
                installed: set[str] = set()
                first = self._fetch_wheels(requires, installed)
                with DefaultIsolatedEnv() as env:
                    builder = ProjectBuilder.from_isolated_env(env, source, runner=runner)
                    _pip_install(env.python_executable, first, root, runner)
                    more = sorted(builder.get_requires_for_build("wheel"))
                    if set(more) - set(requires):
                        extra = self._fetch_wheels(sorted({*requires, *more}), installed)
                        _pip_install(env.python_executable, extra, root, runner)
                    out = root / "metadata"
                    out.mkdir()
                    dist_info = Path(builder.metadata_path(out))
            except subprocess.TimeoutExpired:
                raise BuildError(
                    file.filename, f"timed out after {self.policy.timeout:.0f} s",
                    output=runner.output,
                ) from None
            except (BuildBackendException, BuildException, subprocess.CalledProcessError) as exc:
                if isinstance(getattr(exc, "exception", None), subprocess.TimeoutExpired):
                    raise BuildError(
                        file.filename, f"timed out after {self.policy.timeout:.0f} s",
                        output=runner.output,
                    ) from None
                raise BuildError(
                    file.filename, f"{_describe(exc)}{runner.tail()}", output=runner.output
                ) from None
            except _Unresolvable as exc:
                raise BuildError(file.filename, str(exc), output=runner.output) from None
            except OSError as exc:
                raise BuildError(file.filename, f"{exc}", output=runner.output) from None
            log_output(file.filename, runner.output)
            metadata_path = dist_info / "METADATA"
            try:
                data = metadata_path.read_bytes()
            except OSError as exc:
                raise BuildError(file.filename, f"the build wrote no METADATA ({exc})") from None
        metadata = coremeta.parse_metadata(
            data, filename=file.filename, max_size=self.fetcher.options.max_metadata
        )
        source_record = MetadataSource(
            filename=file.filename, category=Category.BUILD, file_size=file.size or size,
            spent_bytes=size, requests=1, metadata_bytes=len(data),
        )
        self.fetcher.stats.metadata_obtained(source_record)
        logger.info("built metadata of %s in %.1f s", file.filename, time.monotonic() - started)
        return FetchedMetadata(file=file, data=data, metadata=metadata, source=source_record)

    def _fetch_wheels(self, requires: Sequence[str], installed: set[str]) -> list[str]:
        """Resolve ``requires`` to wheels (once per run) and download those not downloaded yet
        in this run; the paths of those not installed in this environment yet."""
        if not requires:
            return []
        key = tuple(requires)
        wheels = self._resolved.get(key)
        if wheels is None:
            try:
                wheels = self.resolve_wheels(requires)
            except SkimlockError as exc:
                raise _Unresolvable(
                    f"its build requirements ({', '.join(requires)}) do not resolve to wheels: "
                    f"{str(exc).splitlines()[0]}"
                ) from None
            self._resolved[key] = wheels
        if self._wheel_dir is None:
            self._wheel_dir = tempfile.TemporaryDirectory(prefix="skimlock-wheels-")
        paths = []
        for wheel in wheels:
            if wheel.url in installed:
                continue
            path = self._wheels.get(wheel.url)
            if path is None:
                path = Path(self._wheel_dir.name) / f"{len(self._wheels)}" / wheel.filename
                path.parent.mkdir()
                self.fetcher.download(wheel, str(path), Category.BUILD)
                self._wheels[wheel.url] = path
            paths.append(str(path))
            installed.add(wheel.url)
        return paths


def _pip_install(python: str, paths: Sequence[str], root: Path, runner: _Runner) -> None:
    """Install local wheel files into the environment of ``python``: no index, no config."""
    if paths:
        runner(
            [*_pip(python), "install", "--isolated", "--no-index", "--no-deps",
             "--no-warn-script-location", "--no-compile", "--disable-pip-version-check",
             "--no-input", *paths],
            cwd=str(root),
        )


class _Unresolvable(Exception):
    """Build requirements that skimlock's resolver cannot turn into wheels."""


def _pip(python: str) -> list[str]:
    """pip for the build environment: this interpreter's pip aimed at it (``--python``), as
    ``build`` does when one is installed (its environments then have no pip of their own)."""
    import importlib.util

    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip", "--python", python]
    return [python, "-Im", "pip"]


class _Runner:
    """A pyproject-hooks subprocess runner: captured output, a deadline, its own process group
    (killed whole on timeout)."""

    def __init__(self, *, deadline: float, scratch: Path) -> None:
        self.deadline = deadline
        #: HOME and TMPDIR of the subprocesses: what a build writes "at home" or in the temp
        #: directory stays in the build's own directory and is removed with it.
        self._home = scratch / "home"
        self._tmp = scratch / "tmp"
        self._output: list[str] = []

    @property
    def output(self) -> str:
        return "".join(self._output)

    def tail(self) -> str:
        lines = [line for line in self.output.splitlines() if line.strip()][-_TAIL_LINES:]
        return (": " + " | ".join(lines)) if lines else ""

    def __call__(
        self, cmd: Sequence[str], cwd: str | None = None,
        extra_environ: Mapping[str, str] | None = None,
    ) -> None:
        env = dict(os.environ)
        # No index, no config: pip installs local files only. And the code of the sdist gets
        # none of skimlock's own settings (an index URL may carry a token) nor its netrc.
        for key in [k for k in env if k.startswith(("PIP_", "SKIMLOCK_")) or k == "NETRC"]:
            del env[key]
        env.update(extra_environ or {})
        self._home.mkdir(exist_ok=True)
        self._tmp.mkdir(exist_ok=True)
        env.update(HOME=str(self._home), TMPDIR=str(self._tmp))
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise subprocess.TimeoutExpired(list(cmd), 0)
        process = subprocess.Popen(
            list(cmd), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            out, _ = process.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            _kill(process)
            out, _ = process.communicate()
            self._output.append(out.decode("utf-8", "replace"))
            raise
        self._output.append(out.decode("utf-8", "replace"))
        if process.returncode != 0:
            raise subprocess.CalledProcessError(process.returncode, list(cmd))


def _kill(process: subprocess.Popen[Any]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        process.kill()


def _describe(exc: BaseException) -> str:
    cause = exc.__cause__ or getattr(exc, "exception", None)
    if isinstance(exc, subprocess.CalledProcessError) or isinstance(
        cause, subprocess.CalledProcessError
    ):
        return "the build backend failed"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --- safe extraction ---------------------------------------------------------------------------


def _safe_name(name: str, filename: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith(("/", "\\")) or ".." in path.parts or "\\" in name:
        raise BuildError(filename, f"archive member {name!r} points outside the archive")
    return path


def _extract(archive: Path, destination: Path, filename: str) -> Path:
    """Extract the sdist into ``destination`` (regular files and directories only) and return
    its project directory (the one top-level directory)."""
    destination.mkdir()
    try:
        if filename.endswith(".zip"):
            with zipfile.ZipFile(archive) as zipped:
                for info in zipped.infolist():
                    _safe_name(info.filename, filename)
                    mode = info.external_attr >> 16
                    if mode and mode & 0o170000 not in (0, 0o100000, 0o040000):
                        raise BuildError(filename, f"archive member {info.filename!r} is a link "
                                         "or a device")
                zipped.extractall(destination)
        else:
            with tarfile.open(archive, "r:gz") as tar:
                members = tar.getmembers()
                for member in members:
                    _safe_name(member.name, filename)
                    if not (member.isreg() or member.isdir()):
                        raise BuildError(
                            filename, f"archive member {member.name!r} is a link or a device"
                        )
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(destination, members=members, filter="data")
                else:  # pragma: no cover - Python without extraction filters
                    tar.extractall(destination, members=members)
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise BuildError(filename, f"cannot extract the archive ({exc})") from None
    tops = list(destination.iterdir())
    if len(tops) != 1 or not tops[0].is_dir():
        raise BuildError(filename, "the archive does not hold exactly one top-level directory")
    return tops[0]


def log_output(filename: str, output: str) -> None:
    """A build's output at info level (``-v``): one log record per line, so that each line is
    escaped on its own and the output stays readable."""
    if not output.strip() or not logger.isEnabledFor(logging.INFO):
        return
    logger.info("build output of %s:", filename)
    for line in output.splitlines():
        logger.info("  %s", line)
