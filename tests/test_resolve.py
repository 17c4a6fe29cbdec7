"""resolve() with a real Fetcher against the local index (see ``index/graphs.py``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from packaging.utils import canonicalize_name

from index import DistSet, build_dist_set
from index.graphs import (
    RESOLVE_DISTS,
    RESOLVE_REQUIRES_PYTHON,
    RESOLVE_YANKED,
    SECOND_INDEX_DISTS,
    _w,
    write_graph,
)
from index.server import Server, serve_index
from index.tree import Mode, write_index
from skimlock.candidates import BinaryPolicy
from skimlock.errors import (
    InputError,
    MetadataUnavailableError,
    ProjectNotFoundError,
    ResolutionError,
)
from skimlock.fetch import Fetcher
from skimlock.inputs import Inputs, collect_inputs
from skimlock.provider import Indexes
from skimlock.resolution import Resolution
from skimlock.resolve import ResolveOptions, resolve
from skimlock.stats import Category, Stats
from skimlock.target import Target

LINUX = "manylinux_2_28_x86_64"
PY312 = Target.from_options(python_version="3.12", platforms=[LINUX])
PY38 = Target.from_options(python_version="3.8", platforms=[LINUX])


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> DistSet:
    return build_dist_set(tmp_path_factory.mktemp("resolve-dists"), RESOLVE_DISTS, RESOLVE_YANKED)


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, dists: DistSet
) -> Iterator[dict[str, Server]]:
    """``pep658``, ``ranges`` (no metadata served) and ``second`` (another index)."""
    second_dists = build_dist_set(tmp_path_factory.mktemp("second-dists"), SECOND_INDEX_DISTS, {})
    trees = {
        "pep658": write_index(tmp_path_factory.mktemp("pep658"), dists.paths,
                              mode=Mode.PEP658_SHA256, yanked=dists.yanked,
                              requires_python=RESOLVE_REQUIRES_PYTHON),
        "ranges": write_index(tmp_path_factory.mktemp("ranges"), dists.paths,
                              mode=Mode.NO_METADATA, yanked=dists.yanked,
                              requires_python=RESOLVE_REQUIRES_PYTHON),
        "second": write_index(tmp_path_factory.mktemp("second"), second_dists.paths,
                              mode=Mode.PEP658_TRUE),
    }
    with ExitStack() as stack:
        running = {key: stack.enter_context(serve_index(tree)) for key, tree in trees.items()}
        yield running
        for server in running.values():
            server.request_stop()


@pytest.fixture
def pep658(servers: dict[str, Server]) -> Server:
    servers["pep658"].log.clear()
    return servers["pep658"]


@pytest.fixture
def ranges(servers: dict[str, Server]) -> Server:
    return servers["ranges"]


@pytest.fixture
def second(servers: dict[str, Server]) -> Server:
    servers["second"].log.clear()
    return servers["second"]


def run(
    index: Server | Sequence[Server],
    *requirements: str,
    inputs: Inputs | None = None,
    target: Target = PY312,
    stats: Stats | None = None,
    **options: object,
) -> Resolution:
    urls = tuple(s.simple_url for s in ([index] if isinstance(index, Server) else index))
    with (
        httpx.Client(trust_env=False, timeout=10.0) as client,
        Fetcher(client, stats=stats) as fetcher,
    ):
        return resolve(
            inputs if inputs is not None else collect_inputs(requirements=requirements),
            fetcher=fetcher,
            target=target,
            options=ResolveOptions(indexes=urls, **options),  # type: ignore[arg-type]
        )


def pins(resolution: Resolution) -> dict[str, str]:
    return {pin.name: str(pin.version) for pin in resolution.pins}


def read(stats: Stats) -> list[str]:
    """File names whose metadata was fetched, sorted."""
    return sorted(f.filename for f in stats.summary().files)


# --- extras and markers --------------------------------------------------------------------------


def test_extras_pull_their_dependencies(pep658: Server) -> None:
    stats = Stats()
    result = run(pep658, "alpha[fast]", stats=stats)
    assert pins(result) == {"alpha": "2.0", "beta": "1.1", "gamma": "0.9"}
    by_name = {pin.name: pin for pin in result.pins}
    assert by_name["alpha"].extras == {"fast"}
    assert by_name["alpha"].requested
    assert by_name["alpha"].requested_extras == {"fast"}
    assert by_name["alpha"].dependencies == ("beta", "gamma")
    assert by_name["gamma"].via == ("alpha",)
    assert not by_name["gamma"].requested
    # gamma 1.0 (a cp27 wheel only) was never a candidate, so its metadata was never read.
    assert read(stats) == [
        "alpha-2.0-py3-none-any.whl", "beta-1.1-py3-none-any.whl", "gamma-0.9-py3-none-any.whl"
    ]
    assert pins(run(pep658, "alpha")) == {"alpha": "2.0", "beta": "1.1"}


def test_extra_of_a_dependency(pep658: Server) -> None:
    result = run(pep658, "chain[x]")
    assert pins(result) == {"chain": "1.0", "link": "1.0", "tiny": "1.0"}
    link = next(p for p in result.pins if p.name == "link")
    assert link.extras == {"y"}
    assert link.dependencies == ("tiny",)
    assert pins(run(pep658, "chain")) == {"chain": "1.0"}


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (PY38, {"markers": "1.0", "oldonly": "1.0"}),
        (PY312, {"markers": "1.0", "newonly": "1.0"}),
        (Target.from_options(python_version="3.12", platforms=["win_amd64"]),
         {"markers": "1.0", "newonly": "1.0", "winonly": "1.0"}),
    ],
    ids=["py38", "py312", "win"],
)
def test_markers_follow_the_target_not_the_interpreter(
    pep658: Server, target: Target, expected: dict[str, str]
) -> None:
    assert pins(run(pep658, "markers", target=target)) == expected


def test_root_marker_false_for_the_target_is_skipped(pep658: Server) -> None:
    result = run(pep658, "tiny", 'alpha; python_version < "3.9"', target=PY312)
    assert pins(result) == {"tiny": "1.0"}


# --- Requires-Python -----------------------------------------------------------------------------


def test_requires_python_on_the_index_filters_before_metadata(pep658: Server) -> None:
    stats = Stats()
    assert pins(run(pep658, "rpindex", target=PY38, stats=stats)) == {"rpindex": "1.0"}
    assert read(stats) == ["rpindex-1.0-py3-none-any.whl"]
    assert pins(run(pep658, "rpindex", target=PY312)) == {"rpindex": "2.0"}


@pytest.mark.parametrize("mode", ["pep658", "ranges"])
def test_stricter_requires_python_in_metadata_backtracks(
    servers: dict[str, Server], mode: str
) -> None:
    stats = Stats()
    assert pins(run(servers[mode], "rpmeta", stats=stats)) == {"rpmeta": "1.0"}
    assert read(stats) == ["rpmeta-1.0-py3-none-any.whl", "rpmeta-2.0-py3-none-any.whl"]


def test_requires_python_conflict_is_explained(pep658: Server) -> None:
    with pytest.raises(ResolutionError) as caught:
        run(pep658, "rpmeta==2.0")
    message = str(caught.value)
    assert "rpmeta 2.0 requires Python >=3.99" in message
    assert "CPython 3.12.0" in message
    assert caught.value.exit_code == 1


# --- yanked --------------------------------------------------------------------------------------


def test_yanked_only_when_pinned(pep658: Server, tmp_path: Path) -> None:
    assert pins(run(pep658, "yanky")) == {"yanky": "1.0"}
    pinned = run(pep658, "yanky==2.0")
    assert pins(pinned) == {"yanky": "2.0"}
    assert pinned.pins[0].files[0].yanked
    with pytest.raises(
        ResolutionError, match=r"versions of yanky the requirements allow: 2\.0 \(yanked\) \(of 2 "
    ):
        run(pep658, "yanky>=1.5")
    with pytest.raises(ResolutionError):
        run(pep658, "allyanked")
    assert pins(run(pep658, "allyanked==1.0")) == {"allyanked": "1.0"}
    constraints = tmp_path / "c.txt"
    constraints.write_text("yanky==2.0\n")
    inputs = collect_inputs(requirements=["yanky"], constraint_files=[constraints])
    assert pins(run(pep658, inputs=inputs)) == {"yanky": "2.0"}


# --- pre-releases --------------------------------------------------------------------------------


def test_prerelease_rules(pep658: Server) -> None:
    assert pins(run(pep658, "prerel")) == {"prerel": "1.0"}
    assert pins(run(pep658, "prerel", pre=True)) == {"prerel": "2.0b1"}
    assert pins(run(pep658, "prerel>=2.0b1")) == {"prerel": "2.0b1"}
    assert pins(run(pep658, "prerel>1.0")) == {"prerel": "2.0b1"}
    assert pins(run(pep658, "onlypre")) == {"onlypre": "1.0a1"}
    assert pins(run(pep658, "needspre")) == {"needspre": "1.0", "prerel": "2.0b1"}


# --- backtracking and conflicts ------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_backtracking_finishes(pep658: Server) -> None:
    stats = Stats()
    result = run(pep658, "bta", "btc", stats=stats)
    assert pins(result) == {"bta": "1.0", "btb": "1.0", "btc": "1.0"}
    # Only candidates that were tried had their metadata read.
    assert set(read(stats)) <= {
        "bta-2.0-py3-none-any.whl", "bta-1.0-py3-none-any.whl", "btb-0.5-py3-none-any.whl",
        "btb-1.0-py3-none-any.whl", "btc-1.0-py3-none-any.whl",
    }


def test_conflict_names_both_sides_and_the_versions(pep658: Server) -> None:
    with pytest.raises(ResolutionError) as caught:
        run(pep658, "cfa", "cfc")
    message = str(caught.value)
    assert "cfb<1 required by cfa 1.0" in message
    assert "cfb>=1 required by cfc 1.0" in message
    assert "of 2 versions on the index, cfb<1 allows 0.5; cfb>=1 allows 1.0" in message
    # The chain above the parent that asked, up to the input.
    assert "cfb<1 required by cfa 1.0 ← command line" in message
    assert caught.value.exit_code == 1


def test_no_usable_file_is_explained(pep658: Server) -> None:
    with pytest.raises(ResolutionError) as caught:
        run(pep658, "gamma==1.0")
    assert "gamma==1.0 required by command line" in str(caught.value)
    assert "1.0 (no file for the target)" in str(caught.value)


def test_missing_dependency_backtracks(pep658: Server) -> None:
    assert pins(run(pep658, "missingdep")) == {"missingdep": "1.0"}
    with pytest.raises(ResolutionError, match="nosuchproject was not found on"):
        run(pep658, "missingdep==2.0")
    with pytest.raises(ProjectNotFoundError, match="'nosuchproject' was not found"):
        run(pep658, "nosuchproject")


# --- inputs --------------------------------------------------------------------------------------


def test_constraints_limit_versions_without_adding_projects(
    pep658: Server, tmp_path: Path
) -> None:
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("beta<1.1\ntiny==1.0\n")
    inputs = collect_inputs(requirements=["alpha"], constraint_files=[constraints])
    assert pins(run(pep658, inputs=inputs)) == {"alpha": "2.0", "beta": "1.0"}
    constraints.write_text("beta<1.0\n")
    with pytest.raises(ResolutionError):
        run(pep658, inputs=collect_inputs(requirements=["alpha==2.0"],
                                          constraint_files=[constraints]))


def test_pyproject_groups_and_extras(pep658: Server, tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        "[project]\n"
        'name = "app"\nversion = "0"\n'
        'requires-python = ">=3.10"\n'
        'dependencies = ["alpha"]\n'
        "[project.optional-dependencies]\n"
        'fast = ["tiny"]\n'
        "[dependency-groups]\n"
        'dev = ["markers"]\n'
    )
    plain = run(pep658, inputs=collect_inputs(project=pyproject))
    assert pins(plain) == {"alpha": "2.0", "beta": "1.1"}
    full = run(pep658, inputs=collect_inputs(project=pyproject, extras=["fast"], groups=["dev"]))
    assert pins(full) == {
        "alpha": "2.0", "beta": "1.1", "tiny": "1.0", "markers": "1.0", "newonly": "1.0"
    }
    tiny = next(p for p in full.pins if p.name == "tiny")
    assert tiny.requested
    assert "optional-dependencies" in tiny.via[0]
    # The project's own requires-python is checked against the target.
    with pytest.raises(ResolutionError, match=r"requires Python >=3\.10"):
        run(pep658, inputs=collect_inputs(project=pyproject), target=PY38)


def test_binary_policy_applies(pep658: Server) -> None:
    result = run(pep658, "alpha", binary=BinaryPolicy(no_binary=frozenset({"alpha"})))
    alpha = next(p for p in result.pins if p.name == "alpha")
    assert [f.filename for f in alpha.files] == ["alpha-2.0.tar.gz"]


# --- several indexes -----------------------------------------------------------------------------


def test_first_index_that_has_a_project_is_the_only_one_used(
    pep658: Server, second: Server
) -> None:
    result = run([pep658, second], "alpha", "onlysecond")
    assert pins(result) == {"alpha": "2.0", "beta": "1.1", "onlysecond": "1.0"}
    index_of = {pin.name: pin.index_url for pin in result.pins}
    assert index_of["alpha"] == pep658.simple_url
    assert index_of["onlysecond"] == second.simple_url
    assert second.log.matching("/simple/alpha/") == ()
    assert second.log.matching("/files/alpha") == ()


def test_merge_strategy_uses_every_index(pep658: Server, second: Server) -> None:
    result = run([pep658, second], "alpha", merge_indexes=True)
    assert pins(result) == {"alpha": "9.0"}
    assert result.pins[0].index_url == second.simple_url
    assert result.pins[0].files[0].url.startswith(second.base_url)


# --- sdists and metadata strategies --------------------------------------------------------------


def test_sdist_only(pep658: Server, ranges: Server) -> None:
    result = run(pep658, "sdistonly")
    assert [f.filename for f in result.pins[0].files] == ["sdistonly-1.0.tar.gz"]
    # Without .metadata its PKG-INFO (2.1) is not authoritative: a build, whose requirement
    # (setuptools) this index lacks, so the version is rejected and nothing else is left.
    with pytest.raises(MetadataUnavailableError) as caught:
        run(ranges, "sdistonly")
    first = str(caught.value).splitlines()[0]
    assert first.startswith("metadata unavailable:")
    assert "sdistonly 1.0" in first
    assert "setuptools" in first
    assert caught.value.exit_code == 5


def test_same_lock_with_and_without_served_metadata(pep658: Server, ranges: Server) -> None:
    requirements = ["alpha[fast]", "chain[x]", "markers", "many", "rpmeta", "bta", "btc",
                    "yanky"]

    def shape(result: Resolution) -> list[tuple[object, ...]]:
        return [(p.name, p.version, p.extras, p.dependencies, p.via, p.metadata_bytes,
                 tuple(f.filename for f in p.files)) for p in result.pins]

    stats = Stats()
    with_ranges = run(ranges, *requirements, stats=stats)
    assert shape(run(pep658, *requirements)) == shape(with_ranges)
    categories = {f.category for f in stats.summary().files}
    assert categories == {Category.METADATA_RANGE}


@pytest.mark.parametrize(
    ("mode", "category"),
    [("pep658", Category.METADATA_PEP658), ("ranges", Category.METADATA_RANGE)],
)
def test_metadata_is_read_only_for_candidates_tried(
    servers: dict[str, Server], mode: str, category: Category
) -> None:
    stats = Stats()
    assert pins(run(servers[mode], "many", stats=stats)) == {"many": "10.0"}
    summary = stats.summary()
    assert [f.filename for f in summary.files] == ["many-10.0-py3-none-any.whl"]
    assert summary.by_category[Category.INDEX_PAGE].requests == 1
    assert summary.by_category[category].requests >= 1
    assert summary.by_category[Category.FULL_DOWNLOAD].requests == 0
    stats = Stats()
    assert pins(run(servers[mode], "many<4", stats=stats)) == {"many": "3.0"}
    assert read(stats) == ["many-3.0-py3-none-any.whl"]


def test_a_conflict_between_named_projects_backtracks_the_one_named_last(
    pep658: Server,
) -> None:
    # Named projects are decided in input order: "wide" (5 versions, all pivot<3) first, so the
    # conflict with narrow 2.0 (pivot>=3) steps back on narrow instead of walking wide's versions.
    stats = Stats()
    result = run(pep658, "wide", "narrow", stats=stats)
    assert pins(result) == {"wide": "5.0", "narrow": "1.0", "pivot": "2.0"}
    assert [f for f in read(stats) if f.startswith("wide-")] == ["wide-5.0-py3-none-any.whl"]


def test_names_are_normalized(pep658: Server) -> None:
    result = run(pep658, "Chain[X]", "TINY")
    assert pins(result) == {"chain": "1.0", "link": "1.0", "tiny": "1.0"}
    assert {p.name for p in result.pins} == {canonicalize_name(n) for n in pins(result)}


# --- index lookups -------------------------------------------------------------------------------


class _ClosingFetcher:
    """Answers the first page request later with "not found", then refuses work (closed)."""

    def __init__(self) -> None:
        self.first: Future[None] = Future()
        self.calls = 0

    def submit_page(self, index_url: str, name: str) -> Future[None]:
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("cannot schedule new futures after shutdown")
        return self.first


def test_lookup_fails_instead_of_hanging_when_the_fetcher_closes() -> None:
    fetcher = _ClosingFetcher()
    urls = ["https://one.example/simple/", "https://two.example/simple/"]
    indexes = Indexes(fetcher, urls)  # type: ignore[arg-type]
    future = indexes.submit(canonicalize_name("foo"))
    fetcher.first.set_result(None)  # index 1 lacks it; asking index 2 fails
    assert isinstance(future.exception(timeout=5), RuntimeError)
    assert indexes.submit(canonicalize_name("foo")) is future


def test_prerelease_asked_for_by_a_dependency_applies_to_the_root_too(pep658: Server) -> None:
    assert pins(run(pep658, "prerel", "needspre")) == {"needspre": "1.0", "prerel": "2.0b1"}
    with pytest.raises(ResolutionError):
        run(pep658, "prerel<2", "needspre")


def test_newest_version_with_invalid_metadata_is_skipped(pep658: Server) -> None:
    # google-cloud-bigquery 1.28.2 on PyPI has "pyarrow (<2.0de,>=1.0.0)": pip skips it.
    assert pins(run(pep658, "halfbad")) == {"halfbad": "1.0", "tiny": "1.0"}


def test_version_with_invalid_metadata_is_skipped_and_explained(pep658: Server) -> None:
    # Like pip, a version whose metadata cannot be used is ignored (with a warning); when no
    # other version is left, the explanation says why that one was skipped.
    with pytest.raises(ResolutionError) as caught:
        run(pep658, "badmarker")
    assert "1.0 (skipped: " in str(caught.value)
    assert "python_version ~= \"abc\"" in str(caught.value)
    with pytest.raises(InputError, match="command line: tiny"):
        run(pep658, 'tiny; python_version ~= "abc"')


def test_prefetch_follows_the_requested_extras(tmp_path: Path) -> None:
    """``app[web]`` prefetches what the extra adds (and what that needs) before the resolver
    asks; ``app`` alone does not fetch the extra's projects."""
    import time

    from skimlock.provider import Provider, Req

    tree = write_graph(tmp_path / "g", (
        _w("app", "1.0", "core>=1", "server>=1; extra == 'web'", provides_extra=("web",)),
        _w("core", "1.0"), _w("server", "1.0", "wire>=1"), _w("wire", "1.0"),
    ), mode=Mode.PEP658_SHA256)
    target = Target.from_options(python_version="3.12", platforms=["manylinux_2_28_x86_64"])

    def pages_fetched(extras: frozenset[str]) -> set[str]:
        with serve_index(tree) as server, httpx.Client() as client, \
                Fetcher(client, stats=Stats()) as fetcher:
            provider = Provider(indexes=Indexes(fetcher, [server.simple_url]), target=target)
            provider.prefetch(Req(name=canonicalize_name("app"),
                                  extras=frozenset(canonicalize_name(e) for e in extras)))
            wanted = {"app", "core", "server", "wire"} if extras else {"app", "core"}
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                seen = {e.path.strip("/").split("/")[-1]
                        for e in server.log.matching("/simple/")}
                if wanted <= seen:
                    break
                time.sleep(0.02)
            time.sleep(0.2)  # anything else it would fetch has had time to start
            return {e.path.strip("/").split("/")[-1] for e in server.log.matching("/simple/")}

    assert pages_fetched(frozenset({"web"})) == {"app", "core", "server", "wire"}
    assert pages_fetched(frozenset()) == {"app", "core"}
