"""Tests for skimlock.files: safe destinations, atomic replacement, all outputs or none."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import sys
import threading
from pathlib import Path

import pytest

from skimlock.errors import InputError
from skimlock.files import Output, check_destinations, check_pylock_name, write_outputs

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file types")


def write(path: Path | str, text: str) -> None:
    write_outputs([Output(destination=str(path), text=text)])


# --- regular files: atomic replacement ------------------------------------------------------


def test_creates_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "pylock.toml"
    write(path, "one\n")
    assert path.read_bytes() == b"one\n"
    write(path, "deux é\n")
    assert path.read_bytes() == "deux é\n".encode()
    assert os.listdir(tmp_path) == ["pylock.toml"]


@posix_only
def test_keeps_permissions(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("old\n")
    path.chmod(0o640)
    write(path, "new\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    fresh = tmp_path / "fresh.txt"
    write(fresh, "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


def test_encoding_failure_keeps_old_file(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_text("old\n")
    with pytest.raises(InputError, match="cannot write"):
        write(path, "bad \udc80 surrogate")
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_replace_failure_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.txt"
    path.write_text("old\n")

    def failing_replace(src: object, dst: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(InputError, match="Permission denied") as info:
        write(path, "new\n")
    assert isinstance(info.value.__cause__, PermissionError)
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_interrupt_cleans_up_and_propagates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.txt"

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write(path, "new\n")
    assert os.listdir(tmp_path) == []


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot write"):
        write(tmp_path / "nope" / "out.txt", "x")


# --- what is not a regular file ------------------------------------------------------------


@posix_only
def test_symlink_is_followed_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real" / "lock.toml"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "pylock.toml"
    link.symlink_to(Path("real") / "lock.toml")  # relative, as `ln -s` makes them
    write(link, "new\n")
    assert link.is_symlink()
    assert os.readlink(link) == str(Path("real") / "lock.toml")
    assert real.read_text() == "new\n"
    assert sorted(os.listdir(real.parent)) == ["lock.toml"]  # the temporary was next to it


@posix_only
def test_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "pylock.toml"
    link.symlink_to(tmp_path / "target.toml")
    write(link, "new\n")
    assert link.is_symlink()
    assert (tmp_path / "target.toml").read_text() == "new\n"


@posix_only
def test_fifo_is_written_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write(fifo, "through the pipe\n")
    reader.join(timeout=10)
    assert received == [b"through the pipe\n"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert os.listdir(tmp_path) == ["pipe"]


@posix_only
def test_character_device_is_written_not_replaced(tmp_path: Path) -> None:
    # A null device of our own (as /dev/null), so that a regression harms nothing.
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, AttributeError):
        pytest.skip("creating a device needs CAP_MKNOD")
    with contextlib.suppress(InputError):  # on a filesystem mounted nodev opening fails
        write(device, "discarded\n")
    assert stat.S_ISCHR(os.stat(device).st_mode), "the device was replaced"
    assert os.listdir(tmp_path) == ["null"]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_descriptor_link_appends_to_the_open_file(tmp_path: Path) -> None:
    # `-o /dev/stdout >> file`: the file behind the descriptor keeps its inode and its content.
    target = tmp_path / "out.txt"
    target.write_text("kept\n")
    with open(target, "ab") as handle:
        inode = os.fstat(handle.fileno()).st_ino
        write(f"/proc/self/fd/{handle.fileno()}", "appended\n")
    assert target.read_text() == "kept\nappended\n"
    assert target.stat().st_ino == inode
    assert os.listdir(tmp_path) == ["out.txt"]


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")
def test_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        with pytest.raises(InputError, match="it is a socket"):
            write(path, "x")
        assert stat.S_ISSOCK(os.stat(path).st_mode)


# --- all or nothing ------------------------------------------------------------------------


def test_one_failing_output_replaces_nothing(tmp_path: Path) -> None:
    lock = tmp_path / "pylock.toml"
    lock.write_text("old lock\n")
    with pytest.raises(InputError, match="cannot write"):
        write_outputs([
            Output(destination=str(lock), text="new lock\n"),
            Output(destination=str(tmp_path / "gone" / "stats.json"), text="{}\n"),
        ])
    assert lock.read_text() == "old lock\n"
    assert os.listdir(tmp_path) == ["pylock.toml"]


def test_all_outputs_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_outputs([
        Output(destination=str(tmp_path / "a"), text="A\n"),
        Output(destination="-", text="to stdout\n"),
        Output(destination=str(tmp_path / "b"), text="B\n"),
    ])
    assert (tmp_path / "a").read_text() == "A\n"
    assert (tmp_path / "b").read_text() == "B\n"
    assert capsys.readouterr().out == "to stdout\n"


# --- checks before a run -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["pylock.toml", "pylock.dev.toml", "sub/pylock.a_b-c.toml", "-"])
def test_valid_pylock_names(name: str) -> None:
    check_pylock_name(name)


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("fa.toml", "pylock.fa.toml"),
        ("lock.txt", "pylock.lock-txt.toml"),
        ("pylock.a.b.toml", "pylock.a-b.toml"),
        ("out/pylock", "out/pylock.pylock.toml"),
        ("pylock..toml", "pylock.name.toml"),
    ],
)
def test_invalid_pylock_names_suggest_one(name: str, suggestion: str) -> None:
    with pytest.raises(InputError) as info:
        check_pylock_name(name)
    message = str(info.value)
    assert "\n" not in message
    assert message.endswith(f"use -o {suggestion}")
    check_pylock_name(suggestion)


def test_check_refuses_directory_and_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        check_destinations([(str(tmp_path), "-o")])
    with pytest.raises(InputError, match="does not exist"):
        check_destinations([(str(tmp_path / "no" / "x.json"), "--stats")])


def test_check_refuses_two_outputs_on_one_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="name the same file"):
        check_destinations([(str(tmp_path / "x"), "-o"), (f"{tmp_path}/sub/../x", "--stats")])


@posix_only
def test_check_refuses_an_input_however_named(tmp_path: Path) -> None:
    source = tmp_path / "requirements.txt"
    source.write_text("tiny\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.txt").symlink_to(source)
    os.link(source, tmp_path / "hard.txt")
    for spelling in [str(source), f"{tmp_path}/sub/../requirements.txt",
                     str(tmp_path / "link.txt"), str(tmp_path / "hard.txt")]:
        with pytest.raises(InputError, match="would overwrite the input file"):
            check_destinations([(spelling, "-o")], inputs=[source])
        check_destinations([(spelling, "-o")], inputs=[source], overwrite_input=True)
    check_destinations([(str(tmp_path / "other.txt"), "-o")], inputs=[source])
