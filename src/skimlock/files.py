"""Writing a run's output files: safely, and all of them or none.

Every file a command writes (the lock, ``--report``, ``--stats``) goes through
:func:`write_outputs`, which decides per destination how to write it:

* ``-`` is standard output.
* A path that names a stream — a character device (``/dev/null``, a terminal), a FIFO, or a
  descriptor link such as ``/dev/stdout`` or ``/proc/self/fd/1`` — is opened for writing and
  written directly: never renamed over, never truncated, never created. A socket or a block
  device is refused (a lock written over a disk is never what was meant).
* Anything else is a regular file, replaced atomically: a temporary file is written next to it,
  flushed and fsynced, then renamed over it. A symlink is followed to its final target, and that
  target is replaced (the link stays a link). An existing file keeps its permission bits.

All or nothing (best effort): every temporary file is written first; if any fails, they are all
removed and no destination is touched. Then the streams are written, then the temporaries are
renamed over their destinations in the order given. Only a failure between two renames (rare:
both are in place, in directories already shown writable) leaves a run half-written.

Before a run spends any time, :func:`check_destinations` refuses what can be known to fail or to
harm: a destination that is a directory or in a missing directory, two outputs on the same file,
an output that is one of the run's input files (unless the user allows it), and a pylock file
name PEP 751 does not allow.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

__all__ = [
    "Output",
    "check_destinations",
    "check_pylock_name",
    "write_outputs",
]

STDOUT = "-"

#: ``/proc/<pid>/fd/<n>``: a descriptor link (``/dev/stdout`` and ``/dev/fd/<n>`` lead here).
_FD_LINK = re.compile(r"^/proc/[^/]+/fd/\d+$")


@dataclass(frozen=True, kw_only=True, slots=True)
class Output:
    """One destination of a run and the text to write there."""

    #: ``-`` for standard output, else a path as the user gave it.
    destination: str
    text: str


@dataclass(frozen=True, kw_only=True, slots=True)
class _Plan:
    output: Output
    #: ``stdout``, ``stream`` or ``file``.
    kind: str
    #: The path written: the final target of any symlinks for a file.
    path: Path


# --- checks ----------------------------------------------------------------------------------


def check_pylock_name(destination: str) -> None:
    """Refuse a pylock destination whose file name PEP 751 does not allow."""
    if destination == STDOUT or _is_stream(destination):
        return
    from packaging.pylock import is_valid_pylock_path  # only a pylock destination needs it

    path = Path(destination)
    if is_valid_pylock_path(path):
        return
    stem = path.name.removesuffix(".toml").removeprefix("pylock.")
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-") or "name"
    suggestion = path.with_name(f"pylock.{name}.toml")
    raise InputError(
        f"{destination}: a PEP 751 lock file must be named pylock.toml or pylock.<name>.toml "
        f"(no dot in <name>); use -o {suggestion}"
    )


def check_destinations(
    outputs: Sequence[tuple[str, str]],
    *,
    inputs: Iterable[Path] = (),
    overwrite_input: bool = False,
) -> None:
    """Refuse destinations that cannot be written or would harm, before any work is done.

    ``outputs`` are ``(destination, option)`` pairs (``option`` names the flag in messages);
    ``inputs`` the files the run reads. Raises :class:`InputError`.
    """
    read = {_identity(Path(p)): str(p) for p in inputs}
    seen: dict[tuple[object, ...], str] = {}
    for destination, option in outputs:
        if destination == STDOUT or _is_stream(destination):
            continue
        final = _final_path(Path(destination))
        if final.is_dir():
            raise InputError(f"cannot write {destination} ({option}): it is a directory")
        if not final.parent.is_dir():
            raise InputError(f"cannot write {destination} ({option}): directory "
                             f"{final.parent} does not exist")
        key = _identity(final)
        if key in seen:
            raise InputError(f"{option} {destination} and {seen[key]} name the same file")
        seen[key] = f"{option} {destination}"
        if key in read and not overwrite_input:
            raise InputError(
                f"{option} {destination} would overwrite the input file {read[key]}; "
                "write elsewhere, or pass --overwrite-input to replace it"
            )


def _identity(path: Path) -> tuple[object, ...]:
    """The same key for the same file, however it is named (symlinks, ``..``, hard links)."""
    final = _final_path(path)
    try:
        info = os.stat(final)
    except OSError:
        return ("path", os.path.normcase(str(final)))
    return ("inode", info.st_dev, info.st_ino)


# --- resolving a destination -----------------------------------------------------------------


def _final_path(path: Path) -> Path:
    """``path`` with its directories and every symlink resolved (a dangling link gives the path
    it points at, which a write creates)."""
    return Path(os.path.realpath(path))


def _is_stream(destination: str) -> bool:
    """Is ``destination`` written directly (a device, FIFO, socket or descriptor link)?"""
    if destination == STDOUT:
        return False
    current = os.path.abspath(destination)
    for _ in range(40):  # the kernel's own limit on symlinks followed
        head, tail = os.path.split(current)
        current = os.path.join(os.path.realpath(head), tail)
        if _FD_LINK.match(current):
            return True
        if not os.path.islink(current):
            break
        current = os.path.normpath(os.path.join(os.path.dirname(current), os.readlink(current)))
    try:
        mode = os.stat(current).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _plan(output: Output) -> _Plan:
    destination = output.destination
    if destination == STDOUT:
        return _Plan(output=output, kind="stdout", path=Path(destination))
    if _is_stream(destination):
        path = Path(destination)
        with contextlib.suppress(OSError):
            mode = os.stat(path).st_mode
            if stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
                what = "block device" if stat.S_ISBLK(mode) else "socket"
                raise InputError(f"cannot write {destination}: it is a {what}")
        return _Plan(output=output, kind="stream", path=path)
    return _Plan(output=output, kind="file", path=_final_path(Path(destination)))


# --- writing ---------------------------------------------------------------------------------


def write_outputs(outputs: Sequence[Output]) -> None:
    """Write every output, or (best effort) none: see the module docstring.

    Raises :class:`InputError` for an OS or encoding error, naming the destination; when it is
    raised before the renames, no existing file was replaced.
    """
    plans = [_plan(o) for o in outputs]
    encoded = [_encode(plan) for plan in plans]
    temporaries: list[tuple[Path, Path, str]] = []  # (temporary, final, destination)
    try:
        for plan, data in zip(plans, encoded, strict=True):
            if plan.kind == "file":
                temporary = _write_temporary(plan.path, data, plan.output.destination)
                temporaries.append((temporary, plan.path, plan.output.destination))
        for plan, data in zip(plans, encoded, strict=True):
            if plan.kind == "stdout":
                sys.stdout.write(plan.output.text)
                sys.stdout.flush()
            elif plan.kind == "stream":
                _write_stream(plan.path, data, plan.output.destination)
        while temporaries:
            temporary, final, destination = temporaries[0]
            try:
                os.replace(temporary, final)
            except OSError as error:
                raise _error(destination, error) from error
            temporaries.pop(0)
            _fsync_directory(final.parent)
    finally:
        for temporary, _, _ in temporaries:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _encode(plan: _Plan) -> bytes:
    try:
        return plan.output.text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InputError(f"cannot write {plan.output.destination}: the text is not valid "
                         f"Unicode ({error.reason})") from error


def _error(destination: str, error: OSError) -> InputError:
    return InputError(f"cannot write {destination}: {error.strerror or error}")


def _write_temporary(final: Path, data: bytes, destination: str) -> Path:
    """A fsynced temporary file next to ``final`` holding ``data``, with ``final``'s mode."""
    temporary: Path | None = None
    try:
        temporary, fd = _create_temporary(final)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temporary, stat.S_IMODE(os.stat(final).st_mode))
        return temporary
    except BaseException as error:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        if isinstance(error, OSError):
            raise _error(destination, error) from error
        raise


def _write_stream(path: Path, data: bytes, destination: str) -> None:
    """Write to a device, FIFO or descriptor link: no create, no truncate; append to a regular
    file behind a descriptor link (``>>`` keeps working)."""
    flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
    except OSError as error:
        raise _error(destination, error) from error


def _create_temporary(path: Path) -> tuple[Path, int]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        candidate = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
        try:
            return candidate, os.open(candidate, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name next to {path}")


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable where the OS allows fsync on a directory (best effort)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
