"""The on-disk cache end to end: repeat locks against real loopback servers, with and without
HTTP validators, offline, after a change on the index, with damaged entries, run concurrently."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from index.faults import PageValidators
from index.graphs import _w, write_graph
from index.server import Server, serve_index
from index.tree import IndexTree, Mode
from skimlock.cli import main

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LINUX = ["--python-version", "3.12", "--platform", "manylinux_2_28_x86_64"]
DISTS = (_w("alpha", "1.0"), _w("alpha", "2.0", "beta>=1"), _w("beta", "1.0"), _w("beta", "1.1"))
NEWER = (*DISTS, _w("alpha", "3.0", "beta>=1"))


pytestmark = pytest.mark.usefixtures("cli_isolated")


@pytest.fixture
def tree(tmp_path: Path) -> IndexTree:
    return write_graph(tmp_path / "index", DISTS, mode=Mode.NO_METADATA)


@pytest.fixture
def server(tree: IndexTree) -> Iterator[Server]:
    with serve_index(tree) as running:
        yield running


def lock(server: Server, *args: str) -> int:
    return main(["lock", "-i", server.simple_url, *LINUX, *args])


def stats() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path("s.json").read_text())
    return data


def pins() -> dict[str, str]:
    return {p["name"]: p["version"]
            for p in tomllib.loads(Path("pylock.toml").read_text())["packages"]}


def test_a_relock_within_the_freshness_window_spends_no_network_bytes(server: Server) -> None:
    assert lock(server, "alpha", "--stats", "s.json") == 0
    cold = stats()
    assert cold["requests"] > 0
    first = Path("pylock.toml").read_text()
    server.log.clear()
    assert lock(server, "alpha", "--stats", "s.json") == 0
    warm = stats()
    assert not server.log.entries
    assert (warm["requests"], warm["body_bytes"]) == (0, 0)
    assert warm["cache"]["pages"]["hits"] == 2
    assert warm["cache"]["metadata"] == {
        "hits": 2, "bytes": cold["by_category"]["metadata-range"]["body_bytes"]}
    assert all(f["cached"] for f in warm["files"])
    assert Path("pylock.toml").read_text() == first


def test_no_cache_is_a_cold_run(server: Server) -> None:
    assert lock(server, "alpha") == 0
    server.log.clear()
    assert lock(server, "alpha", "--no-cache", "--stats", "s.json") == 0
    assert stats()["requests"] == len(server.log.entries) > 0


def test_validators_make_a_relock_cost_only_304s(tree: IndexTree) -> None:
    with serve_index(tree, middleware=[PageValidators]) as server:
        assert lock(server, "alpha") == 0
        server.log.clear()
        assert lock(server, "alpha", "--stats", "s.json") == 0
        pages = [e for e in server.log.entries if e.path.startswith("/simple/")]
        assert {e.status for e in server.log.entries} == {304}
        assert len(pages) == len(server.log.entries) == 2
    warm = stats()
    assert warm["body_bytes"] == 0
    assert warm["cache"]["revalidated"]["hits"] == 2
    assert warm["cache"]["metadata"]["hits"] == 2


def test_offline_answers_from_the_cache_with_the_network_unplugged(tree: IndexTree) -> None:
    with serve_index(tree) as server:
        assert lock(server, "alpha") == 0
        url = server.simple_url
    # The server is gone: its port is closed.
    assert main(["lock", "-i", url, *LINUX, "alpha", "--offline", "--refresh",
                 "--stats", "s.json"]) == 0
    assert stats()["requests"] == 0
    assert pins() == {"alpha": "2.0", "beta": "1.1"}
    # Within the freshness window a plain run needs no network either; --refresh does.
    assert main(["lock", "-i", url, *LINUX, "alpha"]) == 0
    assert main(["lock", "-i", url, *LINUX, "alpha", "--refresh"]) == 3


def test_offline_miss_is_one_line(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    assert lock(server, "alpha", "--offline") == 3
    err = capsys.readouterr().err
    assert "the index page of alpha is not in the cache and --offline forbids the network" in err
    assert "run once without --offline" in err
    assert "Traceback" not in err
    assert not server.log.entries
    assert lock(server, "alpha", "--offline", "--no-cache") == 2


def test_a_new_version_appears_after_refresh_package(
    server: Server, tree: IndexTree, tmp_path: Path
) -> None:
    assert lock(server, "alpha") == 0
    assert pins()["alpha"] == "2.0"
    newer = write_graph(tmp_path / "newer", NEWER, mode=Mode.NO_METADATA).root
    shutil.copytree(newer, tree.root, dirs_exist_ok=True)
    assert lock(server, "alpha", "-P", "alpha") == 0
    assert pins()["alpha"] == "2.0"  # the cached page is still fresh
    assert lock(server, "alpha", "-P", "alpha", "--refresh-package", "alpha") == 0
    assert pins()["alpha"] == "3.0"


def test_damaged_entries_are_fetched_again(server: Server, capsys: pytest.CaptureFixture[str],
                                           ) -> None:
    assert lock(server, "alpha") == 0
    root = Path(os.environ["SKIMLOCK_CACHE_DIR"])
    entries = list(root.rglob("*.entry"))
    assert len(entries) == 4  # two pages, two metadata
    for entry in entries:
        data = entry.read_bytes()
        entry.write_bytes(data[: len(data) - 7])
    server.log.clear()
    assert lock(server, "alpha", "--stats", "s.json") == 0
    assert stats()["cache"]["metadata"]["hits"] == 0
    assert len(server.log.entries) == stats()["requests"] >= 4
    assert "ignoring corrupt cache entry" in capsys.readouterr().err
    assert pins() == {"alpha": "2.0", "beta": "1.1"}


def test_an_unusable_cache_directory_warns_once(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "blocker").write_text("a file where the cache directory would go")
    assert lock(server, "alpha", "--cache-dir", str(tmp_path / "blocker" / "cache")) == 0
    err = capsys.readouterr().err
    assert err.count("cannot write to the cache") == 1
    assert pins() == {"alpha": "2.0", "beta": "1.1"}


def test_concurrent_runs_share_one_cache(server: Server, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "skimlock", "lock", "-i", server.simple_url, *LINUX, "alpha",
             "-o", f"pylock.run{n}.toml", "-q"],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for n in range(4)
    ]
    for run in runs:
        _out, err = run.communicate(timeout=60)
        assert run.returncode == 0, err.decode()
    locks = {(tmp_path / f"pylock.run{n}.toml").read_text().split("[tool", 1)[0]
             for n in range(4)}
    assert len(locks) == 1
    assert not list(Path(os.environ["SKIMLOCK_CACHE_DIR"]).rglob("*.tmp"))
    assert main(["lock", "-i", server.simple_url, *LINUX, "alpha", "--offline"]) == 0


def test_the_console_entry_ends_the_process_with_everything_written(
    server: Server, tmp_path: Path
) -> None:
    """``python -m skimlock`` (the console script's ``entry``) ends without interpreter
    teardown: the lock on stdout is whole, the cache writer has finished (an offline run
    finds every entry), and the exit code is main's."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "skimlock", "lock", "-i", server.simple_url, *LINUX]
    done = subprocess.run([*command, "alpha", "-o", "-", "-q"], env=env, cwd=tmp_path,
                          capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    document = tomllib.loads(done.stdout.decode())
    assert {p["name"] for p in document["packages"]} == {"alpha", "beta"}
    assert main(["lock", "-i", server.simple_url, *LINUX, "alpha", "--offline"]) == 0
    failed = subprocess.run([*command, "alpha", "--offline", "--no-cache"], env=env,
                            cwd=tmp_path, capture_output=True, timeout=60, check=False)
    assert failed.returncode == 2
    assert b"--offline" in failed.stderr
