"""Candidate selection from index data only (sans-I/O): pages are built by hand."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from skimlock.candidates import BinaryPolicy, Candidate, ProjectFiles
from skimlock.errors import UploadTimeMissingError
from skimlock.provider import Req
from skimlock.simple import IndexFile, ProjectPage, parse_project_page
from skimlock.target import Target

INDEX = "https://one.example/simple/"
LINUX = "manylinux_2_28_x86_64"


@pytest.fixture(scope="module")
def py312() -> Target:
    return Target.from_options(python_version="3.12", platforms=[LINUX], implementation="cp")


@pytest.fixture(scope="module")
def py38() -> Target:
    return Target.from_options(python_version="3.8", platforms=[LINUX], implementation="cp")


def file(
    filename: str,
    *,
    yanked: bool = False,
    requires_python: str | None = None,
    base: str = "https://files.example/",
) -> IndexFile:
    return IndexFile(
        filename=filename,
        url=base + filename,
        hashes={"sha256": "0" * 64},
        requires_python=requires_python,
        yanked=yanked,
        yanked_reason="bad" if yanked else None,
    )


def project(name: str, *files: IndexFile, index: str = INDEX) -> ProjectFiles:
    page = ProjectPage(
        name=canonicalize_name(name),
        url=f"{index}{canonicalize_name(name)}/",
        api_version="1.1",
        files=files,
    )
    return ProjectFiles(page, index_url=index)


def found(candidates: list[Candidate]) -> list[tuple[str, list[str]]]:
    return [(str(c.version), [f.filename for f in c.files]) for c in candidates]


def versions(files: ProjectFiles, target: Target, **kwargs: object) -> list[str]:
    return [str(c.version) for c in files.candidates(target, **kwargs)]  # type: ignore[arg-type]


# --- wheel tags and order ------------------------------------------------------------------------


def test_tags_filter_and_order_best_wheel_first(py312: Target) -> None:
    files = project(
        "foo",
        file("foo-1.0.tar.gz"),
        file("foo-1.0-py3-none-any.whl"),
        file("foo-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
        file("foo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"),
        file("foo-1.0-cp312-cp312-win_amd64.whl"),
        file("foo-1.0-cp312-abi3-manylinux_2_17_x86_64.whl"),
        file("foo-2.0-cp312-cp312-win_amd64.whl"),
        file("foo-1.5.tar.gz"),
    )
    assert files.versions == (Version("2.0"), Version("1.5"), Version("1.0"))
    assert found(list(files.candidates(py312))) == [
        ("1.5", ["foo-1.5.tar.gz"]),
        (
            "1.0",
            [
                "foo-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                "foo-1.0-cp312-abi3-manylinux_2_17_x86_64.whl",
                "foo-1.0-py3-none-any.whl",
                "foo-1.0.tar.gz",
            ],
        ),
    ]
    best = next(files.candidates(py312, specifier=SpecifierSet("<1.5")))
    assert best.metadata_file.filename.startswith("foo-1.0-cp312-cp312-manylinux")
    assert best.index_url == INDEX


def test_abi3_and_target_python(py38: Target) -> None:
    files = project(
        "foo",
        file("foo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"),
        file("foo-1.0-cp37-abi3-manylinux_2_17_x86_64.whl"),
        file("foo-1.0-cp39-abi3-manylinux_2_17_x86_64.whl"),
    )
    assert found(list(files.candidates(py38))) == [
        ("1.0", ["foo-1.0-cp37-abi3-manylinux_2_17_x86_64.whl"])
    ]


def test_newer_manylinux_than_the_target_is_skipped(py312: Target) -> None:
    files = project(
        "foo",
        file("foo-2.0-cp312-cp312-manylinux_2_34_x86_64.whl"),
        file("foo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"),
    )
    assert versions(files, py312) == ["1.0"]


# --- Requires-Python of the file ----------------------------------------------------------------


def test_file_requires_python(py312: Target, py38: Target) -> None:
    files = project(
        "foo",
        file("foo-3.0-py3-none-any.whl", requires_python=">=3.13"),
        file("foo-2.0-py3-none-any.whl", requires_python=">=3.9"),
        file("foo-1.0-py3-none-any.whl", requires_python=">=3.6, <3.9"),
        file("foo-0.5-py3-none-any.whl", requires_python="not a specifier"),
    )
    assert versions(files, py312) == ["2.0", "0.5"]
    assert versions(files, py38) == ["1.0", "0.5"]


def test_requires_python_x_y_target_is_x_y_0() -> None:
    target = Target.from_options(python_version="3.11", platforms=[LINUX])
    files = project("foo", file("foo-1.0-py3-none-any.whl", requires_python=">=3.11.4"))
    assert versions(files, target) == []


# --- PEP 592 yanking -----------------------------------------------------------------------------


def test_yanked_only_when_pinned(py312: Target) -> None:
    files = project(
        "foo",
        file("foo-2.0-py3-none-any.whl", yanked=True),
        file("foo-1.0-py3-none-any.whl"),
    )
    assert versions(files, py312) == ["1.0"]
    assert versions(files, py312, specifier=SpecifierSet("==2.0")) == []
    pinned = list(files.candidates(py312, specifier=SpecifierSet("==2.0"), pinned=True))
    assert [str(c.version) for c in pinned] == ["2.0"]
    assert pinned[0].yanked


def test_yanked_file_next_to_a_good_one_is_never_used(py312: Target) -> None:
    files = project(
        "foo",
        file("foo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", yanked=True),
        file("foo-1.0-py3-none-any.whl"),
    )
    for pinned in (False, True):
        (candidate,) = files.candidates(py312, pinned=pinned)
        assert [f.filename for f in candidate.files] == ["foo-1.0-py3-none-any.whl"]
        assert not candidate.yanked


@pytest.mark.parametrize(
    ("specifier", "pinned"),
    [("==1.0", True), ("===1.0", True), (">=1,==1.0", True), ("==1.*", False), (">=1", False),
     ("~=1.0", False), ("!=1.0", False)],
)
def test_what_pins_a_version(specifier: str, pinned: bool) -> None:
    req = Req(name=canonicalize_name("foo"), specifier=SpecifierSet(specifier))
    assert req.pinned is pinned


# --- pre-releases --------------------------------------------------------------------------------


def test_prereleases_follow_pep_440(py312: Target) -> None:
    files = project(
        "foo",
        file("foo-2.0b1-py3-none-any.whl"),
        file("foo-1.0-py3-none-any.whl"),
        file("foo-1.0rc1-py3-none-any.whl"),
    )
    assert versions(files, py312) == ["1.0"]
    assert versions(files, py312, prereleases=True) == ["2.0b1", "1.0", "1.0rc1"]
    # The specifier names a pre-release: pre-releases are allowed.
    assert versions(files, py312, specifier=SpecifierSet(">=2.0b1")) == ["2.0b1"]
    assert versions(files, py312, specifier=SpecifierSet(">=1.0rc1")) == ["2.0b1", "1.0",
                                                                          "1.0rc1"]
    # Nothing final satisfies: the pre-releases that do are used.
    assert versions(files, py312, specifier=SpecifierSet(">1.0")) == ["2.0b1"]
    assert versions(files, py312, specifier=SpecifierSet(">1.0"), prereleases=False) == []


def test_only_prereleases_exist(py312: Target) -> None:
    files = project("foo", file("foo-1.0a2-py3-none-any.whl"), file("foo-1.0a1-py3-none-any.whl"))
    assert versions(files, py312) == ["1.0a2", "1.0a1"]
    assert versions(files, py312, prereleases=False) == []


def test_prerelease_when_no_final_release_suits_the_target(py312: Target) -> None:
    files = project(
        "foo",
        file("foo-2.0rc1-py3-none-any.whl"),
        file("foo-1.0-cp312-cp312-win_amd64.whl"),
        file("foo-0.9-py3-none-any.whl", yanked=True),
    )
    assert versions(files, py312) == ["2.0rc1"]
    # A final release that is usable wins over the pre-release fallback.
    usable = project(
        "foo", file("foo-2.0rc1-py3-none-any.whl"), file("foo-0.1-py3-none-any.whl")
    )
    assert versions(usable, py312) == ["0.1"]


# --- --only-binary / --no-binary -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (BinaryPolicy(), ["foo-1.0-py3-none-any.whl", "foo-1.0.tar.gz"]),
        (BinaryPolicy(only_binary=frozenset({"foo"})), ["foo-1.0-py3-none-any.whl"]),
        (BinaryPolicy(only_binary=frozenset({":all:"})), ["foo-1.0-py3-none-any.whl"]),
        (BinaryPolicy(only_binary=frozenset({"bar"})), ["foo-1.0-py3-none-any.whl",
                                                        "foo-1.0.tar.gz"]),
        (BinaryPolicy(no_binary=frozenset({"foo"})), ["foo-1.0.tar.gz"]),
        (BinaryPolicy(no_binary=frozenset({":all:"})), ["foo-1.0.tar.gz"]),
        (BinaryPolicy(no_binary=frozenset({":all:"}), only_binary=frozenset({"foo"})),
         ["foo-1.0-py3-none-any.whl"]),
        (BinaryPolicy(only_binary=frozenset({":all:"}), no_binary=frozenset({"foo"})),
         ["foo-1.0.tar.gz"]),
    ],
)
def test_binary_policy(py312: Target, policy: BinaryPolicy, expected: list[str]) -> None:
    files = project("foo", file("foo-1.0-py3-none-any.whl"), file("foo-1.0.tar.gz"),
                    file("foo-0.5.tar.gz"))
    first = next(files.candidates(py312, binary=policy))
    assert [f.filename for f in first.files] == expected


def test_only_binary_skips_sdist_only_versions(py312: Target) -> None:
    files = project("foo", file("foo-2.0.tar.gz"), file("foo-1.0-py3-none-any.whl"))
    policy = BinaryPolicy(only_binary=frozenset({":all:"}))
    assert versions(files, py312, binary=policy) == ["1.0"]


# --- malformed entries ---------------------------------------------------------------------------


def test_invalid_filenames_are_skipped(py312: Target) -> None:
    files = project(
        "foo-bar",
        file("foo_bar-1.0.whl"),  # too few parts
        file("foo_bar-notaversion-py3-none-any.whl"),
        file("foo_bar-2.0-py3-none.whl"),
        file("other-3.0-py3-none-any.whl"),  # another project's wheel
        file("other-3.0.tar.gz"),
        file("foo_bar-4.0.exe"),
        file("foo_bar-4.0.tar.bz2"),
        file("foo_bar-5.0-py3-none-any.whl.metadata"),
        file("foo_bar-1!x-py3-none-any.whl"),
        file("Foo.Bar-1.0.tar.gz"),  # a legacy spelling: still this project
        file("foo_bar-1.0-py3-none-any.whl"),
    )
    assert found(list(files.candidates(py312))) == [
        ("1.0", ["foo_bar-1.0-py3-none-any.whl", "Foo.Bar-1.0.tar.gz"])
    ]
    assert Version("4.0") not in files.versions


# --- --index-strategy merge ----------------------------------------------------------------------


def test_merge_of_two_indexes(py312: Target) -> None:
    second = "https://two.example/simple/"
    one = project(
        "foo",
        file("foo-1.0-py3-none-any.whl"),
        file("foo-1.0.tar.gz"),
        index=INDEX,
    )
    two = project(
        "foo",
        file("foo-1.0-py3-none-any.whl", base="https://mirror.example/"),
        file("foo-2.0-py3-none-any.whl", base="https://mirror.example/"),
        index=second,
    )
    merged = ProjectFiles.merge([one, two])
    assert merged.versions == (Version("2.0"), Version("1.0"))
    newest, older = merged.candidates(py312)
    assert (newest.version, newest.index_url) == (Version("2.0"), second)
    assert (older.version, older.index_url) == (Version("1.0"), INDEX)
    # A filename listed by both indexes is taken from the first.
    assert [f.url for f in older.files] == [
        "https://files.example/foo-1.0-py3-none-any.whl",
        "https://files.example/foo-1.0.tar.gz",
    ]
    # Merging leaves the inputs alone.
    assert one.versions == (Version("1.0"),)
    assert [str(c.version) for c in one.candidates(py312)] == ["1.0"]


# --- parsed pages: lazy groups, repeated URLs, --exclude-newer ---------------------------------


JSON = "application/vnd.pypi.simple.v1+json"


def parsed(entries: list[dict[str, object]], *, fmt: str = "json",
           exclude_newer: datetime | None = None) -> ProjectFiles:
    url = f"{INDEX}foo/"
    if fmt == "json":
        content = json.dumps({"meta": {"api-version": "1.1"}, "files": entries}).encode()
        page = parse_project_page(content, content_type=JSON, url=url, name="foo")
    else:
        anchors = "".join(
            f'<a href="{e["url"]}#sha256={e["hashes"]["sha256"]}"'  # type: ignore[index]
            + (f' data-requires-python="{e["requires-python"]}"' if "requires-python" in e
               else "")
            + (f' data-upload-time="{e["upload-time"]}"' if "upload-time" in e else "")
            + f'>{e["filename"]}</a>'
            for e in entries
        )
        page = parse_project_page(f"<html><body>{anchors}</body></html>".encode(),
                                  content_type="text/html", url=url, name="foo")
    return ProjectFiles(page, index_url=INDEX, exclude_newer=exclude_newer)


def entry(filename: str, digest: str = "a", **extra: object) -> dict[str, object]:
    return {"filename": filename, "url": f"https://files.example/{filename}",
            "hashes": {"sha256": digest * 64}, **{k.replace("_", "-"): v for k, v in extra.items()}}


@pytest.mark.parametrize("fmt", ["json", "html"])
def test_repeated_url_same_hash_merged_contradicting_dropped(
    py312: Target, fmt: str, caplog: pytest.LogCaptureFixture
) -> None:
    files = parsed([
        entry("foo-1.0-py3-none-any.whl"),
        entry("foo-1.0.tar.gz", "b"),
        entry("foo-1.0-py3-none-any.whl"),
        entry("foo-1.0.tar.gz", "c"),
        entry("foo-1.0.tar.gz", "b"),
    ], fmt=fmt)
    assert [f.filename for f in files.files(Version("1.0"))] == ["foo-1.0-py3-none-any.whl"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "foo-1.0.tar.gz" in warnings[0]
    assert "different sha256 hashes" in warnings[0]


def test_repeated_url_with_other_algorithms_joins_hashes() -> None:
    first = IndexFile(filename="foo-1.0.tar.gz", url="https://f.example/foo-1.0.tar.gz",
                      hashes={"sha256": "a" * 64})
    second = IndexFile(filename="foo-1.0.tar.gz", url="https://f.example/foo-1.0.tar.gz",
                       hashes={"md5": "b" * 32, "sha256": "a" * 64})
    (only,) = project("foo", first, second).files(Version("1.0"))
    assert only.hashes == {"sha256": "a" * 64, "md5": "b" * 32}


@pytest.mark.parametrize("fmt", ["json", "html"])
def test_exclude_newer(py312: Target, fmt: str) -> None:
    entries = [
        entry("foo-1.0-py3-none-any.whl", upload_time="2024-01-01T00:00:00Z"),
        entry("foo-2.0-py3-none-any.whl", upload_time="2024-03-01T00:00:00.5Z"),
        entry("foo-2.0.tar.gz", upload_time="2024-02-01T00:00:00+00:00"),
    ]
    cutoff = datetime(2024, 2, 15, tzinfo=timezone.utc)
    files = parsed(entries, fmt=fmt, exclude_newer=cutoff)
    assert found(list(files.candidates(py312))) == [
        ("2.0", ["foo-2.0.tar.gz"]), ("1.0", ["foo-1.0-py3-none-any.whl"])
    ]
    early = parsed(entries, fmt=fmt, exclude_newer=datetime(2023, 1, 1, tzinfo=timezone.utc))
    assert list(early.candidates(py312)) == []
    assert versions(parsed(entries, fmt=fmt), py312) == ["2.0", "1.0"]


@pytest.mark.parametrize("upload_time", [None, "not a time"])
def test_exclude_newer_without_upload_time_raises(py312: Target, upload_time: str | None) -> None:
    extra = {} if upload_time is None else {"upload_time": upload_time}
    files = parsed([entry("foo-1.0-py3-none-any.whl", **extra)],
                   exclude_newer=datetime(2030, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(UploadTimeMissingError, match="needs upload times") as info:
        list(files.candidates(py312))
    assert info.value.exit_code == 3
    assert "\n" not in str(info.value)


def test_versions_are_built_only_when_reached(py312: Target) -> None:
    entries = [entry(f"foo-{v}-py3-none-any.whl") for v in ("1.0", "2.0", "3.0")]
    entries.append({"filename": "foo-0.5.tar.gz", "url": None})  # broken, never reached
    files = parsed(entries)
    best = next(files.candidates(py312))
    assert str(best.version) == "3.0"
    assert set(files._built) == {Version("3.0")}


@pytest.mark.parametrize("fmt", ["json", "html"])
@pytest.mark.parametrize(
    ("requires", "expected"),
    [
        ([">=3.13", ">=3.13"], ["1.0"]),
        ([">=3.13", ""], ["2.0", "1.0"]),  # an empty Requires-Python admits every Python
        ([">=3.13", "nonsense"], ["2.0", "1.0"]),  # so does one that does not parse
        ([">=3.13", ">=3.8"], ["2.0", "1.0"]),
    ],
)
def test_requires_python_quick_reject_matches_the_full_check(
    py312: Target, fmt: str, requires: list[str], expected: list[str]
) -> None:
    entries = [entry("foo-1.0-py3-none-any.whl")]
    entries += [
        entry(name, requires_python=rp)
        for name, rp in zip(["foo-2.0-py3-none-any.whl", "foo-2.0.tar.gz"], requires,
                            strict=True)
    ]
    assert versions(parsed(entries, fmt=fmt), py312) == expected


@pytest.mark.parametrize(
    "texts",
    [
        ["1.0", "1.0.1", "1.10", "1.9", "2", "0.0.1", "1.0.0.1", "10.0", "1.01.2", "3.0.0"],
        ["1.0", "1.0.0", "1.0rc1", "1!0.5", "2.0.post1", "2.0", "2.0.dev3", "1.5+local"],
        ["1.0", "v1.1", "1.2", " 1.3"],
    ],
)
def test_versions_sort_like_packaging(texts: list[str]) -> None:
    page = parse_project_page(
        json.dumps({"files": [entry(f"foo-{t}.tar.gz") for t in texts]}).encode(),
        content_type=JSON, url=f"{INDEX}foo/", name="foo",
    )
    files = ProjectFiles(page, index_url=INDEX)
    assert list(files.versions) == sorted({Version(t) for t in texts}, reverse=True)
