"""Re-locking keeps the pins of the existing lock (uv's behaviour); -P and -U move them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from index.graphs import CLI_DISTS, serve_graph
from index.server import Server
from skimlock.cli import main

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LINUX = ["--python-version", "3.12", "--platform", "manylinux_2_28_x86_64"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve_graph(tmp_path_factory.mktemp("relock-graph"), CLI_DISTS) as running:
        yield running


pytestmark = pytest.mark.usefixtures("cli_isolated")


def lock(server: Server, *args: str) -> int:
    return main(["lock", "-i", server.simple_url, *LINUX, *args])


def pins(path: str = "pylock.toml") -> dict[str, str]:
    data = tomllib.loads(Path(path).read_text())
    return {p["name"]: p["version"] for p in data["packages"]}


def test_a_relock_keeps_the_pins_and_reproduces_the_lock(server: Server) -> None:
    assert lock(server, "alpha==1.0", "beta==1.0") == 0
    first = tomllib.loads(Path("pylock.toml").read_text())
    assert pins() == {"alpha": "1.0", "beta": "1.0"}
    assert lock(server, "alpha", "beta") == 0
    assert pins() == {"alpha": "1.0", "beta": "1.0"}
    # Only the recorded requirements differ: every package is written identically.
    again = tomllib.loads(Path("pylock.toml").read_text())
    assert again["packages"] == first["packages"]
    assert again["environments"] == first["environments"]


def test_upgrade_package_moves_one_project(server: Server) -> None:
    assert lock(server, "alpha==1.0", "beta==1.0") == 0
    assert lock(server, "alpha", "beta", "-P", "beta") == 0
    assert pins() == {"alpha": "1.0", "beta": "1.1"}
    assert lock(server, "alpha", "beta", "--upgrade") == 0
    assert pins() == {"alpha": "2.0", "beta": "1.1"}


def test_a_changed_input_moves_only_what_it_must(server: Server) -> None:
    assert lock(server, "alpha==1.0", "beta==1.0") == 0
    assert lock(server, "alpha>=2", "beta") == 0
    assert pins() == {"alpha": "2.0", "beta": "1.0"}  # alpha 2.0 needs beta>=1.0: 1.0 stays


def test_prefer_reads_a_requirements_file(server: Server) -> None:
    Path("old.txt").write_text("alpha==1.0\nbeta==1.0\n")
    assert lock(server, "alpha", "beta", "--prefer", "old.txt", "-o", "pylock.new.toml") == 0
    assert pins("pylock.new.toml") == {"alpha": "1.0", "beta": "1.0"}


def test_an_unreadable_output_is_ignored_with_a_warning(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("pylock.toml").write_text("this is = not a lock\n")
    assert lock(server, "beta") == 0
    assert pins() == {"beta": "1.1"}
    assert "not keeping the pins of pylock.toml" in capsys.readouterr().err


def test_a_bad_prefer_file_is_a_usage_error(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("pylock.old.toml").write_text("lock-version = [\n")
    assert lock(server, "beta", "--prefer", "pylock.old.toml") == 2
    err = capsys.readouterr().err
    assert "pylock.old.toml is not a valid pylock.toml" in err
    assert "Traceback" not in err
    assert not Path("pylock.toml").exists()
