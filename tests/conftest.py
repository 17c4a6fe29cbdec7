"""Session fixtures for the test index (see ``tests/index``).

* ``dist_set``: the standard distributions (:data:`index.STANDARD_DISTS`), built once.
* ``make_tree(mode)``: the standard set written as a static tree for ``mode`` (cached).
* ``make_index(mode, fmt)``: a running server for that tree (one per (mode, fmt), cached).
* ``index_server``: a running server with a cleared request log; parametrize it indirectly
  with a :class:`~index.tree.Mode` or a ``(Mode, fmt)`` pair (default PEP658_SHA256,
  negotiate).
* ``simple_repository_server`` / ``pypiserver``: third-party servers over the same set
  (mark tests using them with ``@pytest.mark.interop``).
* ``http_client``: an httpx client that ignores proxy environment variables (loopback only).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from index import DistSet, build_dist_set
from index.server import Format, Server, serve_index
from index.thirdparty import (
    ThirdPartyServer,
    run_pypiserver,
    run_simple_repository_server,
    write_project_dirs,
)
from index.tree import IndexTree, Mode, write_index

MakeTree = Callable[[Mode], IndexTree]
MakeIndex = Callable[..., Server]


@pytest.fixture(scope="session")
def dist_set(tmp_path_factory: pytest.TempPathFactory) -> DistSet:
    return build_dist_set(tmp_path_factory.mktemp("dists"))


@pytest.fixture(scope="session")
def make_tree(tmp_path_factory: pytest.TempPathFactory, dist_set: DistSet) -> MakeTree:
    trees: dict[Mode, IndexTree] = {}

    def make(mode: Mode) -> IndexTree:
        if mode not in trees:
            root = tmp_path_factory.mktemp(f"tree-{mode.value}")
            trees[mode] = write_index(root, dist_set.paths, mode=mode, yanked=dist_set.yanked)
        return trees[mode]

    return make


@pytest.fixture(scope="session")
def make_index(make_tree: MakeTree) -> Iterator[MakeIndex]:
    servers: dict[tuple[Mode, Format], Server] = {}
    with ExitStack() as stack:

        def make(mode: Mode = Mode.PEP658_SHA256, fmt: Format = "negotiate") -> Server:
            if (mode, fmt) not in servers:
                servers[mode, fmt] = stack.enter_context(serve_index(make_tree(mode), fmt=fmt))
            return servers[mode, fmt]

        yield make
        for server in servers.values():  # stop them in parallel; the stack then joins each
            server.request_stop()


@pytest.fixture
def index_server(request: pytest.FixtureRequest, make_index: MakeIndex) -> Server:
    param = getattr(request, "param", Mode.PEP658_SHA256)
    mode, fmt = param if isinstance(param, tuple) else (param, "negotiate")
    server = make_index(mode, fmt)
    server.log.clear()
    return server


@pytest.fixture(scope="session")
def thirdparty_dir(tmp_path_factory: pytest.TempPathFactory, dist_set: DistSet) -> Path:
    return write_project_dirs(tmp_path_factory.mktemp("thirdparty"), dist_set.paths)


@pytest.fixture(scope="session")
def simple_repository_server(
    tmp_path_factory: pytest.TempPathFactory, thirdparty_dir: Path
) -> Iterator[ThirdPartyServer]:
    log = tmp_path_factory.mktemp("logs") / "simple-repository-server.log"
    with run_simple_repository_server(thirdparty_dir, log) as server:
        yield server


@pytest.fixture(scope="session")
def pypiserver(
    tmp_path_factory: pytest.TempPathFactory, thirdparty_dir: Path
) -> Iterator[ThirdPartyServer]:
    log = tmp_path_factory.mktemp("logs") / "pypiserver.log"
    with run_pypiserver(thirdparty_dir, log) as server:
        yield server


@pytest.fixture
def http_client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        yield client


@pytest.fixture(autouse=True)
def _skimlock_logger_restored() -> Iterator[None]:
    """``skimlock.cli.main`` installs a handler bound to the test's captured stderr on the
    ``skimlock`` logger; put the logger back as it was after each test."""
    log = logging.getLogger("skimlock")
    saved = (list(log.handlers), log.propagate, log.level)
    try:
        yield
    finally:
        log.handlers[:] = saved[0]
        log.propagate, log.level = saved[1], saved[2]


@pytest.fixture(autouse=True)
def _private_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each test gets an empty on-disk cache of its own (never the user's): a page cached by
    one test must not answer another test's server."""
    monkeypatch.setenv("SKIMLOCK_CACHE_DIR", str(tmp_path_factory.mktemp("skimlock-cache")))


@pytest.fixture
def cli_isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """For tests that run the CLI: no proxy, index or colour settings from the environment, no
    netrc, and files land in the test's own directory."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy", "SKIMLOCK_INDEX_URL", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.chdir(tmp_path)
