"""Conflict reports list the versions that matter to the conflict (``index.graphs.GAP_DISTS``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from index.graphs import GAP_DISTS, serve_graph
from index.server import Server
from skimlock.errors import ResolutionError
from skimlock.fetch import Fetcher
from skimlock.inputs import collect_inputs
from skimlock.resolve import ResolveOptions, resolve
from skimlock.target import Target

PY312 = Target.from_options(python_version="3.12", platforms=["manylinux_2_28_x86_64"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve_graph(tmp_path_factory.mktemp("gap"), GAP_DISTS) as running:
        yield running


def explain(server: Server, *requirements: str, constraints: Path | None = None) -> str:
    inputs = collect_inputs(requirements=requirements,
                            constraint_files=[constraints] if constraints else [])
    with (
        httpx.Client(trust_env=False, timeout=10.0) as client,
        Fetcher(client) as fetcher,
        pytest.raises(ResolutionError) as caught,
    ):
        resolve(inputs, fetcher=fetcher, target=PY312,
                options=ResolveOptions(indexes=(server.simple_url,)))
    return str(caught.value)


def test_the_versions_at_the_edges_of_the_gap_are_listed(server: Server) -> None:
    message = explain(server, "lowneed", "highneed")
    assert "deep<3 required by lowneed 1.0" in message
    assert "deep<25,>=20 required by highneed 1.0" in message
    assert (
        "of 30 versions on the index, deep<3 allows 2.0, 1.0; "
        "deep<25,>=20 allows 22.0, 21.0, 20.0 (and 2 more)"
    ) in message or (
        "of 30 versions on the index, deep<25,>=20 allows 22.0, 21.0, 20.0 (and 2 more); "
        "deep<3 allows 2.0, 1.0"
    ) in message
    # Not the newest twelve, which neither side allows.
    assert "30.0" not in message
    assert "25.0" not in message


def test_a_constraint_is_one_side_of_the_conflict(
    server: Server, tmp_path: Path
) -> None:
    constraints = tmp_path / "c.txt"
    constraints.write_text("deep>=29\n")
    message = explain(server, "deep<2", constraints=constraints)
    assert "of 30 versions on the index" in message
    assert "deep<2 allows 1.0" in message
    assert "deep>=29 allows 29.0, 30.0" not in message  # newest first
    assert "deep>=29 allows 30.0, 29.0" in message


def test_a_requirement_no_version_matches_lists_the_nearest(server: Server) -> None:
    assert "no version of deep matches deep>=40; the nearest of 30 versions on the index: " \
        "30.0, 29.0, 28.0" in explain(server, "deep>=40")
    assert "the nearest of 30 versions on the index: 3.0, 2.0, 1.0" in explain(server, "deep<0.5")
