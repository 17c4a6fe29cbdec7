"""Tests for skimlock.output: pylock.toml, requirements.txt, installation report."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timedelta, timezone

import pytest
from packaging.markers import Marker
from packaging.metadata import Metadata
from packaging.pylock import Pylock
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from skimlock.coremeta import metadata_json
from skimlock.errors import InvalidMetadataError, MissingHashError, ResolutionError
from skimlock.output import (
    PYLOCK_HEADER,
    build_pylock,
    build_report,
    dumps_pylock,
    render_pins_table_rows,
    render_pylock,
    render_requirements,
)
from skimlock.resolution import Pin, Resolution
from skimlock.simple import IndexFile
from skimlock.target import Target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

INDEX = "https://pypi.org/simple"
FILES = "https://files.example.org/packages"


def h(char: str) -> str:
    return char * 64


def wheel(filename: str, digest: str | None, **kwargs: object) -> IndexFile:
    return IndexFile(
        filename=filename,
        url=f"{FILES}/{filename}",
        hashes={"sha256": digest} if digest else {},
        **kwargs,  # type: ignore[arg-type]
    )


def metadata_bytes(name: str, version: str, *extra: str, body: str = "") -> bytes:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", *extra]
    text = "\n".join(lines) + "\n"
    if body:
        text += "\n" + body
    return text.encode()


def pin(
    name: str,
    version: str,
    files: tuple[IndexFile, ...],
    *extra_metadata: str,
    index_url: str = INDEX,
    **kwargs: object,
) -> Pin:
    data = metadata_bytes(name, version, *extra_metadata)
    return Pin(
        name=canonicalize_name(name),
        version=Version(version),
        index_url=index_url,
        files=files,
        metadata_file=files[0],
        metadata=Metadata.from_email(data, validate=False),
        metadata_bytes=data,
        **kwargs,  # type: ignore[arg-type]
    )


def n(name: str) -> NormalizedName:
    return canonicalize_name(name)


@pytest.fixture(scope="module")
def target() -> Target:
    return Target.from_options(python_version="3.12", platforms=["manylinux_2_28_x86_64"])


UPLOADED = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))


def sample(target: Target) -> Resolution:
    """anyio (requested) -> idna, sniffio; pure (requested, sdist only)."""
    anyio = pin(
        "anyio", "4.4.0",
        (
            wheel("anyio-4.4.0-py3-none-any.whl", h("a"), size=1234, upload_time=UPLOADED),
            wheel("anyio-4.4.0.tar.gz", h("b"), size=99),
        ),
        "Requires-Python: >=3.8",
        "Requires-Dist: idna>=2.8",
        "Requires-Dist: sniffio>=1.1",
        dependencies=(n("idna"), n("sniffio")),
        requested=True,
        via=("-r requirements.txt",),
    )
    idna = pin(
        "idna", "3.7",
        (wheel("idna-3.7-py3-none-any.whl", h("c")),),
        via=("anyio",),
    )
    sniffio = pin(
        "sniffio", "1.3.1",
        (
            wheel("sniffio-1.3.1-cp312-cp312-manylinux_2_28_x86_64.whl", h("e")),
            wheel("sniffio-1.3.1-py3-none-any.whl", h("d")),
        ),
        via=("pure", "anyio"),
    )
    pure = pin(
        "pure", "1.0",
        (wheel("pure-1.0.tar.gz", h("f")),),
        requested=True,
        requested_extras=frozenset({n("fast")}),
        extras=frozenset({n("fast")}),
        dependencies=(n("sniffio"),),
    )
    return Resolution(
        target=target,
        requirements=(Requirement("anyio>=4"), Requirement("pure[fast]")),
        pins=(anyio, idna, pure, sniffio),
    )


# --- pylock ----------------------------------------------------------------------------------


def roundtrip(pylock: Pylock) -> tuple[str, Pylock]:
    text = dumps_pylock(pylock)
    return text, Pylock.from_dict(tomllib.loads(text))


def test_pylock_roundtrips_and_validates(target: Target) -> None:
    text, lock = roundtrip(build_pylock(sample(target)))
    assert text.startswith(PYLOCK_HEADER + "\n")
    assert lock.lock_version == Version("1.0")
    assert lock.created_by == "skimlock"
    assert lock.environments == [target.environment_marker((0, None))]
    assert lock.requires_python == SpecifierSet("==3.12.*")
    assert [p.name for p in lock.packages] == ["anyio", "idna", "pure", "sniffio"]
    assert lock.tool == {
        "skimlock": {
            "target": "CPython 3.12.0 on manylinux_2_28_x86_64",
            "requirements": ["anyio>=4", "pure[fast]"],
        }
    }


def test_render_pylock_writes_what_packaging_writes(target: Target) -> None:
    # render_pylock builds the TOML table itself (validated once by Pylock.from_dict); it must
    # be exactly the table Pylock.to_dict gives, so the file is the same byte for byte.
    res = sample(target)
    assert render_pylock(res) == dumps_pylock(build_pylock(res))
    assert render_pylock(res, allow_missing_hashes=True, requires_python=SpecifierSet(">=3.9")) \
        == dumps_pylock(build_pylock(res, allow_missing_hashes=True,
                                     requires_python=SpecifierSet(">=3.9")))


def test_render_pylock_validates(target: Target) -> None:
    res = Resolution(target=target, requirements=(),
                     pins=(pin("x", "1", (wheel("x-2-py3-none-any.whl", h("1")),)),))
    with pytest.raises(ResolutionError, match=r"cannot write a valid pylock\.toml"):
        render_pylock(res)


def test_pylock_package_fields(target: Target) -> None:
    _, lock = roundtrip(build_pylock(sample(target)))
    anyio, idna, pure, sniffio = lock.packages
    assert anyio.version == Version("4.4.0")
    assert anyio.index == INDEX
    assert anyio.requires_python == SpecifierSet(">=3.8")
    assert idna.requires_python is None
    assert anyio.dependencies == [
        {"name": "idna", "version": "3.7"},
        {"name": "sniffio", "version": "1.3.1"},
    ]
    assert idna.dependencies is None
    assert pure.dependencies == [{"name": "sniffio", "version": "1.3.1"}]
    # Wheels only when the pin has one: the anyio sdist is not listed.
    assert anyio.sdist is None
    assert anyio.wheels is not None
    (w,) = anyio.wheels
    assert w.name == "anyio-4.4.0-py3-none-any.whl"
    assert w.url == f"{FILES}/anyio-4.4.0-py3-none-any.whl"
    assert w.hashes == {"sha256": h("a")}
    assert w.size == 1234
    assert w.upload_time == UPLOADED
    assert w.upload_time is not None
    assert w.upload_time.utcoffset() == timedelta(0)
    # Best first, as given.
    assert sniffio.wheels is not None
    assert [x.name for x in sniffio.wheels] == [
        "sniffio-1.3.1-cp312-cp312-manylinux_2_28_x86_64.whl",
        "sniffio-1.3.1-py3-none-any.whl",
    ]


def test_pylock_sdist_only_pin(target: Target) -> None:
    _, lock = roundtrip(build_pylock(sample(target)))
    pure = lock.packages[2]
    assert pure.wheels is None
    assert pure.sdist is not None
    assert pure.sdist.name == "pure-1.0.tar.gz"
    assert pure.sdist.url == f"{FILES}/pure-1.0.tar.gz"
    assert pure.sdist.hashes == {"sha256": h("f")}


def test_pylock_select_picks_the_best_wheel_for_the_target(target: Target) -> None:
    _, lock = roundtrip(build_pylock(sample(target)))
    chosen = {
        package.name: getattr(dist, "name", None)
        for package, dist in lock.select(environment=dict(target.markers),  # type: ignore[arg-type]
                                         tags=target.tags)
    }
    assert chosen == {
        "anyio": "anyio-4.4.0-py3-none-any.whl",
        "idna": "idna-3.7-py3-none-any.whl",
        "pure": "pure-1.0.tar.gz",
        "sniffio": "sniffio-1.3.1-cp312-cp312-manylinux_2_28_x86_64.whl",
    }


def test_pylock_requires_python_override(target: Target) -> None:
    lock = build_pylock(sample(target), requires_python=SpecifierSet(">=3.10"))
    assert lock.requires_python == SpecifierSet(">=3.10")


def test_pylock_only_lock_usable_hash_algorithms(target: Target) -> None:
    file = IndexFile(
        filename="x-1-py3-none-any.whl", url=f"{FILES}/x-1-py3-none-any.whl",
        hashes={"sha512": h("9"), "blake2b_256": h("8"), "sha256": h("7")},
    )
    res = Resolution(target=target, requirements=(), pins=(pin("x", "1", (file,)),))
    _, lock = roundtrip(build_pylock(res))
    assert lock.packages[0].wheels is not None
    assert lock.packages[0].wheels[0].hashes == {"sha256": h("7"), "sha512": h("9")}


def test_pylock_missing_hash_raises(target: Target) -> None:
    bad = wheel("x-1-py3-none-any.whl", None)
    res = Resolution(target=target, requirements=(), pins=(pin("x", "1", (bad,)),))
    with pytest.raises(MissingHashError) as info:
        build_pylock(res)
    assert info.value.filename == "x-1-py3-none-any.whl"
    assert info.value.url == f"{FILES}/x-1-py3-none-any.whl"


def test_pylock_allow_missing_hashes_drops_the_file(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    files = (
        wheel("x-1-cp312-cp312-manylinux_2_28_x86_64.whl", None),
        wheel("x-1-py3-none-any.whl", h("1")),
    )
    res = Resolution(target=target, requirements=(), pins=(pin("x", "1", files),))
    with caplog.at_level(logging.WARNING, logger="skimlock.output"):
        _, lock = roundtrip(build_pylock(res, allow_missing_hashes=True))
    assert lock.packages[0].wheels is not None
    assert [w.name for w in lock.packages[0].wheels] == ["x-1-py3-none-any.whl"]
    assert "x-1-cp312-cp312-manylinux_2_28_x86_64.whl" in caplog.text


def test_pylock_allow_missing_hashes_but_nothing_left(target: Target) -> None:
    res = Resolution(target=target, requirements=(),
                     pins=(pin("x", "1", (wheel("x-1.tar.gz", None),)),))
    with pytest.raises(ResolutionError, match=r"x 1: pylock\.toml needs a hash"):
        build_pylock(res, allow_missing_hashes=True)


def test_pylock_strips_credentials(target: Target) -> None:
    file = IndexFile(filename="x-1-py3-none-any.whl",
                     url="https://user:s3cret@files.example.org/x-1-py3-none-any.whl",
                     hashes={"sha256": h("1")})
    res = Resolution(target=target, requirements=(),
                     pins=(pin("x", "1", (file,), index_url="https://user:s3cret@idx.example/simple"),))
    text = dumps_pylock(build_pylock(res))
    assert "s3cret" not in text
    assert 'index = "https://idx.example/simple"' in text
    assert "https://files.example.org/x-1-py3-none-any.whl" in text
    assert "s3cret" not in json.dumps(build_report(res))


def test_pylock_unpinned_dependency_is_an_error(target: Target) -> None:
    res = Resolution(target=target, requirements=(),
                     pins=(pin("x", "1", (wheel("x-1-py3-none-any.whl", h("1")),),
                               dependencies=(n("ghost"),)),))
    with pytest.raises(ResolutionError, match="ghost"):
        build_pylock(res)


def test_pylock_invalid_lock_becomes_a_skimlock_error(target: Target) -> None:
    # A file whose name disagrees with the pinned version: packaging.pylock rejects it.
    res = Resolution(target=target, requirements=(),
                     pins=(pin("x", "1", (wheel("x-2-py3-none-any.whl", h("1")),)),))
    with pytest.raises(ResolutionError, match=r"cannot write a valid pylock\.toml"):
        build_pylock(res)


def test_pylock_invalid_requires_python(target: Target) -> None:
    res = Resolution(target=target, requirements=(),
                     pins=(pin("x", "1", (wheel("x-1-py3-none-any.whl", h("1")),),
                               "Requires-Python: >=3.8bogus!"),))
    with pytest.raises(InvalidMetadataError, match=r"x-1-py3-none-any\.whl"):
        build_pylock(res)


# --- requirements.txt ------------------------------------------------------------------------

EXPECTED_REQUIREMENTS = f"""\
# This file was autogenerated by skimlock for CPython 3.12.0 on manylinux_2_28_x86_64
anyio==4.4.0 \\
    --hash=sha256:{h("a")} \\
    --hash=sha256:{h("b")}
    # via -r requirements.txt
idna==3.7 \\
    --hash=sha256:{h("c")}
    # via anyio
pure[fast]==1.0 \\
    --hash=sha256:{h("f")}
sniffio==1.3.1 \\
    --hash=sha256:{h("d")} \\
    --hash=sha256:{h("e")}
    # via
    #   anyio
    #   pure
"""


def test_requirements_exact_text(target: Target) -> None:
    assert render_requirements(sample(target)) == EXPECTED_REQUIREMENTS


def parse_requirements(text: str) -> dict[str, tuple[Requirement, set[str]]]:
    """A tiny requirements parser: join continuations, drop comments, split --hash options."""
    result: dict[str, tuple[Requirement, set[str]]] = {}
    logical = text.replace("\\\n", " ")
    for raw in logical.splitlines():
        line = raw.split("#", 1)[0].strip() if raw.lstrip().startswith("#") else raw.strip()
        if not line:
            continue
        words = line.split()
        req = Requirement(words[0])
        hashes = set()
        for word in words[1:]:
            assert word.startswith("--hash="), word
            hashes.add(word.removeprefix("--hash="))
        result[canonicalize_name(req.name)] = (req, hashes)
    return result


def test_requirements_parse_back(target: Target) -> None:
    res = sample(target)
    parsed = parse_requirements(render_requirements(res))
    assert set(parsed) == {p.name for p in res.pins}
    for p in res.pins:
        req, hashes = parsed[p.name]
        assert str(req.specifier) == f"=={p.version}"
        assert req.extras == set(p.extras)
        assert hashes == {f"sha256:{f.hashes['sha256']}" for f in p.files}


def test_requirements_dedupes_and_prefers_sha256(target: Target) -> None:
    files = (
        IndexFile(filename="x-1-py3-none-any.whl", url=f"{FILES}/a",
                  hashes={"sha512": h("9"), "sha256": h("2")}),
        IndexFile(filename="x-1-py2.py3-none-any.whl", url=f"{FILES}/b",
                  hashes={"sha256": h("2")}),
        IndexFile(filename="x-1.tar.gz", url=f"{FILES}/c", hashes={"sha512": h("3"), "md5": "0"}),
    )
    res = Resolution(target=target, requirements=(), pins=(pin("x", "1", files),))
    (_, hashes), = parse_requirements(render_requirements(res)).values()
    assert hashes == {f"sha256:{h('2')}", f"sha512:{h('3')}"}


def test_requirements_missing_hash(target: Target, caplog: pytest.LogCaptureFixture) -> None:
    files = (wheel("x-1-py3-none-any.whl", h("1")),
             IndexFile(filename="x-1.tar.gz", url=f"{FILES}/x-1.tar.gz", hashes={"md5": "00"}))
    res = Resolution(target=target, requirements=(), pins=(pin("x", "1", files),))
    with pytest.raises(MissingHashError, match=r"x-1\.tar\.gz"):
        render_requirements(res)
    with caplog.at_level(logging.WARNING, logger="skimlock.output"):
        text = render_requirements(res, allow_missing_hashes=True)
    assert text.splitlines()[1:] == ["x==1 \\", f"    --hash=sha256:{h('1')}"]
    assert "x-1.tar.gz" in caplog.text


def test_requirements_allow_missing_hashes_no_hash_at_all(target: Target) -> None:
    res = Resolution(target=target, requirements=(),
                     pins=(pin("x", "1", (wheel("x-1.tar.gz", None),), via=("-r in.txt",)),))
    text = render_requirements(res, allow_missing_hashes=True)
    assert text.splitlines()[1:] == ["x==1", "    # via -r in.txt"]
    assert parse_requirements(text)["x"][1] == set()


# --- installation report ---------------------------------------------------------------------


def check_report_schema(report: dict[str, object]) -> None:
    """pip's installation report, version 1: keys and types of everything we write."""
    assert set(report) == {"version", "pip_version", "install", "environment"}
    assert report["version"] == "1"
    assert isinstance(report["pip_version"], str)
    environment = report["environment"]
    assert isinstance(environment, dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in environment.items())
    install = report["install"]
    assert isinstance(install, list)
    for item in install:
        assert isinstance(item, dict)
        required = {"download_info", "is_direct", "is_yanked", "requested", "metadata"}
        assert required <= set(item) <= required | {"requested_extras"}
        info = item["download_info"]
        assert set(info) == {"url", "archive_info"}
        assert isinstance(info["url"], str)
        archive = info["archive_info"]
        assert isinstance(archive, dict)
        assert set(archive) <= {"hashes", "hash"}
        if archive:
            algo, _, digest = archive["hash"].partition("=")
            assert archive["hashes"][algo] == digest
        assert item["is_direct"] is False
        assert isinstance(item["is_yanked"], bool)
        assert isinstance(item["requested"], bool)
        if "requested_extras" in item:
            assert item["requested"] is True
            assert item["requested_extras"] == sorted(item["requested_extras"])
            assert all(isinstance(e, str) for e in item["requested_extras"])
        metadata = item["metadata"]
        assert isinstance(metadata, dict)
        assert isinstance(metadata["name"], str)
        assert isinstance(metadata["version"], str)
        assert isinstance(metadata["metadata_version"], str)
        for value in metadata.values():
            assert isinstance(value, str) or (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            )


def test_report_schema_and_values(target: Target) -> None:
    report = build_report(sample(target))
    check_report_schema(report)
    json.dumps(report)  # serializable
    assert report["environment"] == dict(target.markers)
    install = report["install"]
    assert isinstance(install, list)
    by_name = {item["metadata"]["name"]: item for item in install}
    assert list(by_name) == ["anyio", "idna", "pure", "sniffio"]
    anyio = by_name["anyio"]
    assert anyio["download_info"] == {
        "url": f"{FILES}/anyio-4.4.0-py3-none-any.whl",
        "archive_info": {"hashes": {"sha256": h("a")}, "hash": f"sha256={h('a')}"},
    }
    assert anyio["requested"] is True
    assert "requested_extras" not in anyio
    assert anyio["metadata"]["requires_dist"] == ["idna>=2.8", "sniffio>=1.1"]
    assert anyio["metadata"]["requires_python"] == ">=3.8"
    assert by_name["pure"]["requested_extras"] == ["fast"]
    assert by_name["idna"]["requested"] is False
    assert by_name["sniffio"]["download_info"]["url"].endswith("manylinux_2_28_x86_64.whl")


def test_report_yanked_and_hashless(target: Target) -> None:
    file = IndexFile(filename="x-1-py3-none-any.whl", url=f"{FILES}/x-1-py3-none-any.whl",
                     yanked=True, yanked_reason="broken")
    report = build_report(Resolution(target=target, requirements=(),
                                     pins=(pin("x", "1", (file,)),)))
    check_report_schema(report)
    (item,) = report["install"]  # type: ignore[misc]
    assert item["is_yanked"] is True
    assert item["download_info"]["archive_info"] == {}


def test_report_installed_filter() -> None:
    res = sample(Target.current())
    installed = {n("idna"): Version("3.7"), n("anyio"): Version("4.0"), n("other"): Version("1")}
    report = build_report(res, installed=installed)
    check_report_schema(report)
    names = [item["metadata"]["name"] for item in report["install"]]  # type: ignore[attr-defined]
    assert names == ["anyio", "pure", "sniffio"]
    assert len(build_report(res)["install"]) == 4  # type: ignore[arg-type]


def test_metadata_json_pep566() -> None:
    data = (
        b"Metadata-Version: 2.1\n"
        b"Name: Foo-Bar\n"
        b"Version: 1.0\n"
        b"Summary: caf\xc3\xa9 tool\n"
        b"Keywords: one, two,three\n"
        b"Classifier: A :: B\n"
        b"Classifier: C :: D\n"
        b"Project-URL: Home, https://example.org\n"
        b"Requires-Dist: bar>=1; extra == 'x'\n"
        b"Provides-Extra: x\n"
        b"Description-Content-Type: text/markdown\n"
        b"\n"
        b"# Foo\n\nLong text.\n"
    )
    assert metadata_json(data) == {
        "metadata_version": "2.1",
        "name": "Foo-Bar",
        "version": "1.0",
        "summary": "café tool",
        "keywords": ["one", "two", "three"],
        "classifier": ["A :: B", "C :: D"],
        "project_url": ["Home, https://example.org"],
        "requires_dist": ["bar>=1; extra == 'x'"],
        "provides_extra": ["x"],
        "description_content_type": "text/markdown",
        "description": "# Foo\n\nLong text.\n",
    }


def test_metadata_json_folded_description_header() -> None:
    data = (
        b"Metadata-Version: 1.1\nName: old\nVersion: 0.1\n"
        b"Description: first line\n        |\n        |    indented\n"
    )
    result = metadata_json(data)
    assert result["description"] == "first line\n\n    indented"
    assert "classifier" not in result


# --- table rows ------------------------------------------------------------------------------


def test_pins_table_rows(target: Target) -> None:
    assert render_pins_table_rows(sample(target)) == [
        ("anyio", "4.4.0", "-r requirements.txt"),
        ("idna", "3.7", "anyio"),
        ("pure[fast]", "1.0", "requested"),
        ("sniffio", "1.3.1", "anyio, pure"),
    ]


def test_environment_marker_holds_for_target(target: Target) -> None:
    # The pylock environments entry must accept the target it was made for.
    lock = build_pylock(sample(target))
    assert lock.environments is not None
    (marker,) = lock.environments
    assert isinstance(marker, Marker)
    assert marker.evaluate(dict(target.markers))  # type: ignore[arg-type]
