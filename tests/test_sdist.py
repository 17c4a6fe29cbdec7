"""sdists: static PKG-INFO read from the stream, PEP 517 builds, rejected candidates.

The reader (:mod:`skimlock.sdist`) is tested on archives made here; everything else runs against
a real loopback index (no ``.metadata`` served, so the sdist paths are exercised) that also
serves the build backends (setuptools, hatchling and its dependencies, flit-core, wheel) as
wheels repacked from the test venv: builds work offline. Builds cost about a second each, so the
index and its sdists are built once per module and each build happens once per test that needs
it.
"""

from __future__ import annotations

import io
import json
import random
import re
import sys
import tarfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from packaging.utils import canonicalize_name

from index.backends import (
    BACKEND_DISTS,
    build_real_sdist,
    hand_sdist,
    repack_installed,
    tar_to_zip,
)
from index.server import Server, serve_index
from index.tree import Mode, write_index
from index.wheels import build_sdist, build_wheel, make_metadata, read_pkg_info
from skimlock import sdist
from skimlock.build import BuildPolicy
from skimlock.cli import main
from skimlock.errors import (
    EXIT_METADATA,
    DynamicMetadataError,
    MetadataUnavailableError,
    SdistError,
)
from skimlock.fetch import Fetcher
from skimlock.inputs import collect_inputs
from skimlock.resolution import Resolution
from skimlock.resolve import ResolveOptions, resolve
from skimlock.stats import Category, Stats
from skimlock.target import Target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CAP = 1 << 20


# --- the reader, sans-I/O ----------------------------------------------------------------------


def pkg_info(version: str = "2.2", *, name: str = "demo", dynamic: tuple[str, ...] = ()) -> bytes:
    text = make_metadata(name, "1.0", requires_dist=["tiny>=1"], metadata_version=version)
    return text + b"".join(f"Dynamic: {field}\n".encode() for field in dynamic)


def chunks_of(data: bytes, size: int = 97) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_reads_pkg_info_and_stops_pulling(tmp_path: Path) -> None:
    big = bytes(range(256)) * 4096  # 1 MiB after PKG-INFO: must never be pulled
    path = hand_sdist(tmp_path, "demo-1.0.tar.gz", [
        ("demo-1.0/setup.cfg", b"[metadata]\n"),
        ("demo-1.0/PKG-INFO", pkg_info()),
        ("demo-1.0/big.bin", big),
    ])  # fmt: skip
    data = path.read_bytes()
    pulled = 0

    def counting() -> Iterator[bytes]:
        nonlocal pulled
        for chunk in chunks_of(data, 1024):
            pulled += len(chunk)
            yield chunk

    found = sdist.pkg_info_from_tar_stream(counting(), filename=path.name, max_metadata=CAP)
    assert found == pkg_info()
    assert pulled < len(data) // 2
    assert sdist.static_metadata(found, filename=path.name) == found


@pytest.mark.parametrize(
    ("version", "dynamic", "static"),
    [
        ("2.2", (), True),
        ("2.4", ("License", "Summary"), True),
        ("2.2", ("Requires-Dist",), False),
        ("2.3", ("requires-python",), False),
        ("2.2", ("Provides-Extra",), False),
        ("2.1", (), False),
        ("1.0", (), False),
    ],
)
def test_static_rule(version: str, dynamic: tuple[str, ...], static: bool) -> None:
    data = pkg_info(version, dynamic=dynamic)
    if static:
        assert sdist.static_metadata(data, filename="demo-1.0.tar.gz") == data
    else:
        with pytest.raises(DynamicMetadataError):
            sdist.static_metadata(data, filename="demo-1.0.tar.gz")


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not-gzip", "not a gzip"),
        ("truncated", "truncated"),
        ("no-pkg-info", "no demo-1.0/PKG-INFO"),
        ("nested-only", "no demo-1.0/PKG-INFO"),
        ("symlink", "not a regular file"),
        ("hardlink", "not a regular file"),
        ("too-big", "over the"),
        ("empty", "not a"),
        ("garbage", "not a gzip"),
    ],
)
def test_bad_archives_are_sdist_errors(tmp_path: Path, case: str, message: str) -> None:
    good = [("demo-1.0/PKG-INFO", pkg_info())]
    members: dict[str, list[tuple[str, bytes | tarfile.TarInfo]]] = {
        "no-pkg-info": [("demo-1.0/setup.py", b"")],
        "nested-only": [("demo-1.0/demo.egg-info/PKG-INFO", pkg_info())],
        "symlink": [("", _link("demo-1.0/PKG-INFO", "/etc/passwd"))],
        "hardlink": [("", _link("demo-1.0/PKG-INFO", "demo-1.0/x", tarfile.LNKTYPE))],
        "too-big": [("demo-1.0/PKG-INFO", pkg_info() + b"X" * CAP)],
        "truncated": [("demo-1.0/data.bin", bytes(range(256)) * 400), *good],
    }
    path = hand_sdist(tmp_path, "demo-1.0.tar.gz", members.get(case, good),
                      compress=case != "not-gzip")
    data = path.read_bytes()
    if case == "truncated":
        data = data[: len(data) // 2]
    elif case == "empty":
        data = b""
    elif case == "garbage":
        data = b"<html>not found</html>" * 50
    with pytest.raises(SdistError, match=message):
        sdist.pkg_info_from_tar_stream(chunks_of(data), filename=path.name, max_metadata=CAP)


def test_gzip_bomb_is_capped(tmp_path: Path) -> None:
    path = hand_sdist(tmp_path, "demo-1.0.tar.gz", [
        ("demo-1.0/zeros", bytes(8 << 20)), ("demo-1.0/PKG-INFO", pkg_info())
    ])  # fmt: skip
    bomb = path.read_bytes()
    assert len(bomb) < 64 << 10
    with pytest.raises(SdistError, match="unpacked before PKG-INFO"):
        sdist.pkg_info_from_tar_stream(
            chunks_of(bomb, 4096), filename="demo-1.0.tar.gz", max_metadata=CAP,
            max_unpacked=1 << 20,
        )


def test_zip_reader_and_normalized_directory(tmp_path: Path) -> None:
    tar = hand_sdist(tmp_path, "demo_pkg-1.0.tar.gz", [("Demo.Pkg-1.0/PKG-INFO", pkg_info())])
    zipped = tar_to_zip(tar, tmp_path)
    with zipped.open("rb") as handle:
        assert sdist.pkg_info_from_zip(handle, filename=zipped.name, max_metadata=CAP) == pkg_info()
    with pytest.raises(SdistError, match="zip"):
        sdist.pkg_info_from_zip(io.BytesIO(b"PK junk"), filename=zipped.name, max_metadata=CAP)
    with pytest.raises(SdistError, match="invalid sdist file name"):
        sdist.sdist_identity("nodash.tar.gz")


def _device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    return info


@pytest.mark.parametrize(
    ("member", "why"),
    [
        (("demo-1.0/../../outside.txt", b"x"), "outside the archive"),
        (("/tmp/absolute.txt", b"x"), "outside the archive"),
        (("", _link("demo-1.0/link", "/etc/passwd")), "a link or a device"),
        (("", _link("demo-1.0/hard", "/etc/passwd", tarfile.LNKTYPE)), "a link or a device"),
        (("", _device("demo-1.0/null")), "a link or a device"),
    ],
)
def test_extraction_refuses_hostile_members(
    tmp_path: Path, member: tuple[str, bytes | tarfile.TarInfo], why: str
) -> None:
    from skimlock.build import _extract
    from skimlock.errors import BuildError

    archive = hand_sdist(tmp_path / "in", "demo-1.0.tar.gz", [
        ("demo-1.0/PKG-INFO", pkg_info()), member,
    ])  # fmt: skip
    target = tmp_path / "deep" / "out"
    target.parent.mkdir()
    with pytest.raises(BuildError, match=why):
        _extract(archive, target, archive.name)
    assert list(target.iterdir()) == []  # checked before anything is written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "in"]


def zip_sdist(tmp_path: Path, blob: int) -> bytes:
    tar = hand_sdist(tmp_path, "demo-1.0.tar.gz", [
        ("demo-1.0/PKG-INFO", pkg_info()),
        ("demo-1.0/blob.bin", random.Random(3).randbytes(blob)),
        *[(f"demo-1.0/pkg/mod{i}.py", b"x = 1\n" * i) for i in range(50)],
    ])  # fmt: skip
    return tar_to_zip(tar, tmp_path).read_bytes()


def test_zip_by_ranges_reads_only_the_directory_and_member(tmp_path: Path) -> None:
    data = zip_sdist(tmp_path, 1_000_000)
    asked: list[tuple[int | None, int]] = []
    received = 0

    def get(start: int | None, end: int) -> tuple[int, bytes, int]:
        nonlocal received
        asked.append((start, end))
        first = len(data) - end if start is None else start
        chunk = data[first : end + 1] if start is not None else data[first:]
        received += len(chunk)
        return first, chunk, len(data)

    found = sdist.pkg_info_by_ranges(get, filename="demo-1.0.zip", max_metadata=CAP)
    assert found == pkg_info()
    assert len(asked) == 2  # the tail (directory), then PKG-INFO's header and data
    assert received <= 2 * sdist.ZIP_SPAN < len(data) // 5
    assert sdist.pkg_info_by_ranges(lambda s, e: None, filename="demo-1.0.zip",
                                    max_metadata=CAP) is None


def test_zip_by_ranges_gives_up_when_bytes_never_come(tmp_path: Path) -> None:
    data = zip_sdist(tmp_path, 300_000)

    def stingy(start: int | None, end: int) -> tuple[int, bytes, int]:
        if start is None:
            return len(data) - end, data[-end:], len(data)
        return start, data[start : start + 1], len(data)  # one byte at a time

    with pytest.raises(SdistError, match="not reached after"):
        sdist.pkg_info_by_ranges(stingy, filename="demo-1.0.zip", max_metadata=CAP)


# --- the loopback index ------------------------------------------------------------------------


def in_tree_backend(name: str, version: str, body: str) -> list[tuple[str, bytes]]:
    """An sdist whose backend lives in the sdist itself (no build requirements): ``body`` is the
    code of ``prepare_metadata_for_build_wheel``."""
    base = f"{name}-{version}"
    backend = textwrap.dedent("""\
        import os, time
        NAME, VERSION = {name!r}, {version!r}
        def write(directory, requires):
            info = os.path.join(directory, f"{{NAME}}-{{VERSION}}.dist-info")
            os.makedirs(info)
            lines = ["Metadata-Version: 2.1", f"Name: {{NAME}}", f"Version: {{VERSION}}"]
            lines += [f"Requires-Dist: {{r}}" for r in requires]
            with open(os.path.join(info, "METADATA"), "w") as f:
                f.write("\\n".join(lines) + "\\n")
            return os.path.basename(info)
        def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
        {body}
        def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
            raise RuntimeError("no wheels here")
        """).format(name=name, version=version, body=textwrap.indent(body, "    "))
    pyproject = (
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
    )
    return [
        (f"{base}/PKG-INFO", make_metadata(name, version)),  # 2.1: a build must tell
        (f"{base}/pyproject.toml", pyproject.encode()),
        (f"{base}/backend.py", backend.encode()),
    ]


@pytest.fixture(scope="module")
def sdist_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    out = tmp_path_factory.mktemp("sdist-dists")
    work = tmp_path_factory.mktemp("sdist-src")
    paths = [repack_installed(name, out) for name in BACKEND_DISTS]
    paths += [build_wheel(out, n, v, requires_dist=d) for n, v, d in [
        ("tiny", "1.0", ()),
        ("top", "1.0", ("mid", "pinned==1.0")),
        ("mid", "1.0", ("pinned==1.0",)),
        ("pinned", "1.0", ()), ("pinned", "2.0", ()),
        ("failpkg", "0.9", ()), ("hangpkg", "0.9", ()), ("evilpkg", "0.9", ()),
        ("hashbad", "0.9", ()), ("notgzip", "0.9", ()), ("liar", "0.9", ()),
        ("both", "1.0", ("tiny",)),
    ]]  # fmt: skip
    paths += [
        build_real_sdist(work, out, "hatchling", "hatchstatic", "1.0", dependencies=["tiny"]),
        build_real_sdist(work, out, "flit-core", "flitpkg", "1.0", dependencies=["tiny"]),
        build_real_sdist(work, out, "setup.py", "legacypkg", "1.0", dependencies=["tiny"]),
        tar_to_zip(
            build_real_sdist(work, out, "setuptools", "stpkg", "1.0", dependencies=["tiny"]), out
        ),
        # the boto3/s3fs shape: the newest mid is sdist-only and conflicts with top's pin
        # (its backend also warns: pyproject-hooks re-issues that in our process)
        hand_sdist(out, "mid-2.0.tar.gz", in_tree_backend("mid", "2.0", textwrap.dedent("""\
            import warnings
            warnings.warn("the backend warns \\x1b[31m")
            return write(metadata_directory, ["pinned==2.0"])"""))),
        # setuptools-like: PKG-INFO first, then 2 MB that a static read must not receive
        hand_sdist(out, "earlyinfo-1.0.tar.gz", [
            ("earlyinfo-1.0/PKG-INFO",
             make_metadata("earlyinfo", "1.0", requires_dist=["tiny"], metadata_version="2.2")),
            ("earlyinfo-1.0/blob.bin", random.Random(7).randbytes(2_000_000)),
        ]),
        hand_sdist(out, "failpkg-1.0.tar.gz", in_tree_backend(
            "failpkg", "1.0", 'raise RuntimeError("boom from the backend")')),
        hand_sdist(out, "hangpkg-1.0.tar.gz", in_tree_backend(
            "hangpkg", "1.0", "time.sleep(600)")),
        hand_sdist(out, "evilpkg-1.0.tar.gz", [
            *in_tree_backend("evilpkg", "1.0", "return write(metadata_directory, [])"),
            ("evilpkg-1.0/../escaped.txt", b"outside"),
        ]),
        hand_sdist(out, "homewriter-1.0.tar.gz", in_tree_backend(
            "homewriter", "1.0", textwrap.dedent("""\
            import json, tempfile
            with open(os.path.expanduser("~/skimlock-marker"), "w") as f:
                f.write("home")
            with open(os.path.join(tempfile.gettempdir(), "skimlock-marker"), "w") as f:
                f.write("tmp")
            report = os.environ.get("HOMEWRITER_REPORT")
            if report:  # what of skimlock's settings the sdist's code could see
                with open(report, "w") as f:
                    json.dump(sorted(k for k in os.environ
                                     if k.startswith(("SKIMLOCK_", "PIP_")) or k == "NETRC"), f)
            return write(metadata_directory, [])""")),
        ),
        hand_sdist(out, "hashbad-1.0.tar.gz", in_tree_backend(
            "hashbad", "1.0", "return write(metadata_directory, [])")),
        hand_sdist(out, "notgzip-1.0.tar.gz", [("notgzip-1.0/PKG-INFO", pkg_info())],
                   compress=False),
        hand_sdist(out, "liar-1.0.tar.gz", [
            ("liar-1.0/PKG-INFO", make_metadata("other", "1.0", metadata_version="2.2"))]),
        build_sdist(out, "staticdeps", "1.0", requires_dist=["tiny"], metadata_version="2.2"),
        build_sdist(out, "old10", "1.0", metadata_version="1.0"),
        build_sdist(out, "both", "1.0", requires_dist=["tiny"], metadata_version="2.2"),
        tar_to_zip(hand_sdist(work, "zipstatic-1.0.tar.gz", [
            ("zipstatic-1.0/PKG-INFO",
             make_metadata("zipstatic", "1.0", requires_dist=["tiny"], metadata_version="2.2")),
            ("zipstatic-1.0/blob.bin", random.Random(5).randbytes(1_000_000)),
        ]), out),
    ]
    tree = write_index(tmp_path_factory.mktemp("sdist-tree"), paths, mode=Mode.NO_METADATA)
    # the index promises one hashbad-1.0.tar.gz and serves another
    (tree.root / "files" / "hashbad-1.0.tar.gz").write_bytes(
        hand_sdist(work, "hashbad-1.0.tar.gz", in_tree_backend(
            "hashbad", "1.0", "return write(metadata_directory, ['tiny'])")).read_bytes()
    )
    with serve_index(tree) as server:
        yield server


def run(server: Server, *requirements: str, **options: object) -> tuple[Resolution, Stats]:
    stats = Stats()
    inputs = collect_inputs(requirements=requirements)
    with (
        httpx.Client(trust_env=False, timeout=30.0) as client,
        Fetcher(client, stats=stats) as fetcher,
    ):
        resolution = resolve(
            inputs, fetcher=fetcher, target=Target.current(),
            options=ResolveOptions(indexes=(server.simple_url,), **options),  # type: ignore[arg-type]
        )
    return resolution, stats


def pins(resolution: Resolution) -> dict[str, str]:
    return {pin.name: str(pin.version) for pin in resolution.pins}


def test_index_serves_backend_wheels(sdist_server: Server) -> None:
    tree = sdist_server.tree
    assert tree is not None
    names = {canonicalize_name(p) for p in tree.projects}
    assert {"setuptools", "hatchling", "flit-core", "wheel", "packaging"} <= names
    assert read_pkg_info(tree.file("hatchstatic-1.0.tar.gz").path).startswith(
        b"Metadata-Version: 2."
    )


@pytest.mark.parametrize("name", ["hatchstatic", "flitpkg", "staticdeps"])
def test_static_pkg_info_needs_no_build(sdist_server: Server, name: str) -> None:
    resolution, stats = run(sdist_server, name, build=BuildPolicy(no_build=True))
    assert pins(resolution) == {name: "1.0", "tiny": "1.0"}
    summary = stats.summary()
    (source,) = [f for f in summary.files if f.filename.startswith(name)]
    assert source.category is Category.METADATA_SDIST
    assert summary.by_category[Category.BUILD].requests == 0
    assert summary.by_category[Category.METADATA_SDIST].requests == 1


def test_static_read_stops_receiving_after_pkg_info(sdist_server: Server) -> None:
    resolution, stats = run(sdist_server, "earlyinfo", build=BuildPolicy(no_build=True))
    assert pins(resolution) == {"earlyinfo": "1.0", "tiny": "1.0"}
    summary = stats.summary()
    (source,) = [f for f in summary.files if f.filename == "earlyinfo-1.0.tar.gz"]
    assert source.category is Category.METADATA_SDIST
    assert source.file_size is not None
    assert source.file_size > 2_000_000
    assert source.spent_bytes < 600_000  # closed early: only what arrived is counted
    assert summary.by_category[Category.METADATA_SDIST].body_bytes == source.spent_bytes


def test_zip_static_read_by_ranges(sdist_server: Server) -> None:
    sdist_server.log.clear()
    resolution, stats = run(sdist_server, "zipstatic", build=BuildPolicy(no_build=True))
    assert pins(resolution) == {"zipstatic": "1.0", "tiny": "1.0"}
    summary = stats.summary()
    (source,) = [f for f in summary.files if f.filename == "zipstatic-1.0.zip"]
    assert source.category is Category.METADATA_SDIST
    assert source.requests == 2
    assert source.spent_bytes <= 2 * sdist.ZIP_SPAN < (source.file_size or 0) // 5
    ranges = [e.range for e in sdist_server.log.entries if e.path.endswith("zipstatic-1.0.zip")]
    assert ranges[0] == f"bytes=-{sdist.ZIP_SPAN}"
    assert len(ranges) == 2


def test_hatchling_pkg_info_is_last_and_setuptools_earlier(sdist_server: Server) -> None:
    """Where PKG-INFO lies decides what a static read costs (see docs)."""
    tree = sdist_server.tree
    assert tree is not None
    with tarfile.open(tree.file("hatchstatic-1.0.tar.gz").path) as archive:
        names = archive.getnames()
    assert names[-1].endswith("/PKG-INFO")


@pytest.mark.parametrize(
    ("name", "backend"),
    [("legacypkg", "setuptools legacy setup.py"), ("stpkg", "setuptools pyproject, .zip")],
)
def test_builds_metadata_offline(sdist_server: Server, name: str, backend: str) -> None:
    resolution, stats = run(sdist_server, name)
    assert pins(resolution) == {name: "1.0", "tiny": "1.0"}, backend
    summary = stats.summary()
    (source,) = [f for f in summary.files if f.filename.startswith(name)]
    assert source.category is Category.BUILD  # setuptools 65 writes Metadata-Version 2.1
    build = summary.by_category[Category.BUILD]
    assert build.requests > 2  # the sdist, the backend's page(s) and wheel(s)
    assert build.body_bytes > (source.file_size or 0)
    assert "built 1 sdist (" in summary.line()
    assert name in summary.line()
    (pin,) = [p for p in resolution.pins if p.name == name]
    assert [f.filename for f in pin.files] == [source.filename]


def test_only_setuptools_sdists_need_a_build(sdist_server: Server) -> None:
    """setuptools 65 writes Metadata-Version 2.1: a build; --no-build rejects it."""
    with pytest.raises(MetadataUnavailableError) as caught:
        run(sdist_server, "legacypkg", build=BuildPolicy(no_build=True))
    first = str(caught.value).splitlines()[0]
    assert first.startswith("metadata unavailable:")
    assert "legacypkg 1.0" in first
    assert "--no-build" in first
    assert caught.value.exit_code == EXIT_METADATA
    with pytest.raises(MetadataUnavailableError, match="--no-build-package legacypkg"):
        run(sdist_server, "legacypkg",
            build=BuildPolicy(no_build_packages=frozenset({"legacypkg"})))


def test_backtracking_over_an_sdist_only_version(
    sdist_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """The boto3/s3fs shape: mid 2.0 is sdist-only and conflicts; mid 1.0 (a wheel) works."""
    for policy in (BuildPolicy(no_build=True), BuildPolicy()):
        caplog.clear()
        resolution, stats = run(sdist_server, "top", build=policy)
        assert pins(resolution) == {"top": "1.0", "mid": "1.0", "pinned": "1.0"}
        built = stats.summary().by_category[Category.BUILD].requests
        if policy.no_build:
            assert "rejected mid 2.0" in caplog.text
            assert built == 0
        else:
            assert built == 1  # the sdist; its in-tree backend needs nothing
            assert "rejected" not in caplog.text  # built, and its pinned==2.0 conflicts
            files = {f.filename: f.category for f in stats.summary().files}
            assert files["mid-2.0.tar.gz"] is Category.BUILD


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("failpkg", "boom from the backend"),
        ("hangpkg", "timed out"),
        ("evilpkg", "points outside the archive"),
        ("hashbad", "hash mismatch"),
        ("notgzip", "not a gzip"),
        ("liar", "Name"),
    ],
)
def test_bad_sdists_are_rejected_candidates(
    sdist_server: Server, caplog: pytest.LogCaptureFixture, tmp_path: Path, name: str, why: str
) -> None:
    resolution, _stats = run(sdist_server, name, build=BuildPolicy(timeout=2.0))
    assert pins(resolution) == {name: "0.9"}
    (record,) = [r for r in caplog.records if r.getMessage().startswith(f"rejected {name} 1.0")]
    assert why in record.getMessage()
    with pytest.raises(MetadataUnavailableError) as caught:
        run(sdist_server, f"{name}==1.0", build=BuildPolicy(timeout=2.0))
    assert why in str(caught.value).splitlines()[0]


def test_build_writes_home_and_tmp_inside_its_directory(
    sdist_server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TMPDIR", str(tmp))
    report = tmp_path / "report.json"
    monkeypatch.setenv("HOMEWRITER_REPORT", str(report))
    monkeypatch.setenv("SKIMLOCK_INDEX_URL", "https://user:token@index.example/simple/")
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    monkeypatch.setenv("PIP_INDEX_URL", "https://user:token@index.example/simple/")
    resolution, _stats = run(sdist_server, "homewriter")
    assert pins(resolution) == {"homewriter": "1.0"}
    # The build ran, and saw none of skimlock's settings (an index URL may carry a token).
    assert json.loads(report.read_text()) == []
    assert not (home / "skimlock-marker").exists()
    assert not (tmp / "skimlock-marker").exists()
    assert not list(tmp.rglob("skimlock-marker"))  # and the build's own directory is gone


def test_old_metadata_version_is_not_trusted(
    sdist_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """Metadata-Version 1.0 without Requires-Dist says nothing about dependencies: a build."""
    caplog.set_level("INFO", logger="skimlock")
    with pytest.raises(MetadataUnavailableError, match="--no-build forbids"):
        run(sdist_server, "old10", build=BuildPolicy(no_build=True))


# --- the command line --------------------------------------------------------------------------


@pytest.fixture
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy", "SKIMLOCK_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("_isolated")
def test_cli_no_build_and_no_binary(
    sdist_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["lock", "-i", sdist_server.simple_url, "-o", "-"]
    assert main([*base, "legacypkg", "--no-build"]) == EXIT_METADATA
    out, err = capsys.readouterr()
    assert out == ""
    error = next(line for line in err.splitlines() if line.startswith("error:"))
    assert error.startswith("error: metadata unavailable:")
    assert "legacypkg" in error
    assert "--no-build" in error
    assert "Traceback" not in err
    # --no-binary: tiny's wheel may not be used, and tiny has no sdist
    assert main([*base, "hatchstatic", "--no-binary", "tiny"]) == 1
    capsys.readouterr()
    # a version with a wheel and an sdist: the wheel, unless --no-binary names the project
    assert main([*base, "both"]) == 0
    (both,) = [p for p in tomllib.loads(capsys.readouterr().out)["packages"] if p["name"] == "both"]
    assert [w["name"] for w in both["wheels"]] == ["both-1.0-py3-none-any.whl"]
    assert main([*base, "both", "--no-binary", "both", "--no-build", "--stats", "s.json"]) == 0
    (both,) = [p for p in tomllib.loads(capsys.readouterr().out)["packages"] if p["name"] == "both"]
    assert both["sdist"]["name"] == "both-1.0.tar.gz"
    assert "wheels" not in both
    stats = json.loads(Path("s.json").read_text())
    assert {f["filename"]: f["strategy"] for f in stats["files"]}["both-1.0.tar.gz"] == (
        "metadata-sdist"
    )
    assert main([*base, "staticdeps", "--no-build"]) == 0
    data = tomllib.loads(capsys.readouterr().out)
    (package,) = [p for p in data["packages"] if p["name"] == "staticdeps"]
    assert package["sdist"]["name"] == "staticdeps-1.0.tar.gz"
    assert re.fullmatch(r"[0-9a-f]{64}", package["sdist"]["hashes"]["sha256"])


def test_help_says_builds_run_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lock", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--no-build-package" in text
    assert "runs code from the sdist" in text


@pytest.mark.usefixtures("_isolated")
def test_cli_build_output_with_verbose(
    sdist_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["lock", "-i", sdist_server.simple_url, "-o", "-", "failpkg==1.0"]
    assert main(base) == EXIT_METADATA
    quiet = capsys.readouterr().err
    assert "boom from the backend" in quiet  # the tail of the output, in the warning
    assert "build output of failpkg-1.0.tar.gz" not in quiet
    assert main([*base, "-v"]) == EXIT_METADATA
    assert "build output of failpkg-1.0.tar.gz" in capsys.readouterr().err
