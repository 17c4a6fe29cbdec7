"""Tests for skimlock.inputs: requirement arguments, requirement files, pyproject.toml."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet

from skimlock.errors import InputError, UnsupportedRequirementError
from skimlock.inputs import InputRequirement, Inputs, collect_inputs


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def names(items: tuple[InputRequirement, ...]) -> list[str]:
    return [item.requirement.name for item in items]


def sources(items: tuple[InputRequirement, ...]) -> list[str]:
    return [item.source for item in items]


def file_error(
    tmp_path: Path, text: str, error: type[InputError] = InputError, *, line: int = 1
) -> InputError:
    """Read ``text`` as req.txt; assert it fails with ``error`` at ``req.txt:line``."""
    path = write(tmp_path / "req.txt", text)
    with pytest.raises(error) as info:
        collect_inputs(requirement_files=[path])
    assert type(info.value) is error
    assert info.value.source == str(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")
    return info.value


# --- requirement arguments -------------------------------------------------------------------


def test_requirement_arguments() -> None:
    inputs = collect_inputs(requirements=["requests>=2", 'rich[jupyter]; python_version>="3.9"'])
    assert names(inputs.requirements) == ["requests", "rich"]
    assert sources(inputs.requirements) == ["command line", "command line"]
    rich = inputs.requirements[1].requirement
    assert rich.extras == {"jupyter"}
    assert rich.marker == Marker('python_version >= "3.9"')
    assert inputs == Inputs(requirements=inputs.requirements)


def test_no_inputs_is_empty() -> None:
    assert collect_inputs() == Inputs()


def test_invalid_requirement_argument_names_string_and_reason() -> None:
    with pytest.raises(InputError) as info:
        collect_inputs(requirements=["foo>="])
    assert type(info.value) is InputError
    message = str(info.value)
    assert "'foo>='" in message
    assert "Expected" in message
    assert "\n" not in message


def test_option_as_requirement_argument() -> None:
    with pytest.raises(InputError, match="is an option"):
        collect_inputs(requirements=["-e ."])


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("name @ https://example.com/name-1.0.tar.gz", "direct URL"),
        ("name @ file:///tmp/name", "direct URL"),
        ("name @ git+https://github.com/o/name", "VCS"),
        ("git+https://github.com/o/name#egg=name", "VCS"),
        ("hg+https://example.com/repo", "VCS"),
        ("https://example.com/name-1.0-py3-none-any.whl", "direct URL"),
        ("file:///tmp/name", "direct URL"),
        ("./pkg", "local paths"),
        (".", "local paths"),
        ("../pkg[extra]", "local paths"),
        ("/abs/path", "local paths"),
        ("~/pkg", "local paths"),
        ("C:\\src\\pkg", "local paths"),
        ("pkg-1.0-py3-none-any.whl", "local paths"),
        ("pkg-1.0.tar.gz", "local paths"),
        ("pkg.zip; python_version > '3'", "local paths"),
    ],
)
def test_unsupported_requirement_forms(text: str, kind: str) -> None:
    with pytest.raises(UnsupportedRequirementError) as info:
        collect_inputs(requirements=[text])
    assert info.value.requirement == text
    assert "skimlock locks index packages only" in str(info.value)
    assert kind in info.value.reason


# --- requirement files: lines, comments, continuations, variables ---------------------------


def test_comments_blank_lines_and_sources(tmp_path: Path) -> None:
    path = write(
        tmp_path / "requirements.txt",
        "# a comment\n\nfoo>=1  # trailing comment\n   # indented comment\nbar\t# tab comment\n",
    )
    inputs = collect_inputs(requirement_files=[path])
    assert names(inputs.requirements) == ["foo", "bar"]
    assert sources(inputs.requirements) == [f"{path}:3", f"{path}:5"]
    assert str(inputs.requirements[0].requirement.specifier) == ">=1"


def test_hash_without_whitespace_is_not_a_comment(tmp_path: Path) -> None:
    error = file_error(tmp_path, "foo==1.0#frag\n")
    assert "#frag" in str(error)


def test_url_fragment_survives_comment_stripping(tmp_path: Path) -> None:
    error = file_error(
        tmp_path, "\nhttps://example.com/p.zip#egg=p\n", UnsupportedRequirementError, line=2
    )
    assert "#egg=p" in str(error)


def test_line_continuations(tmp_path: Path) -> None:
    path = write(
        tmp_path / "req.txt",
        "foo \\\n  >=1.0 \\\n  ; python_version > '3'\nbar\nbaz\\\n",
    )
    inputs = collect_inputs(requirement_files=[path])
    assert names(inputs.requirements) == ["foo", "bar", "baz"]
    assert sources(inputs.requirements) == [f"{path}:1", f"{path}:4", f"{path}:5"]
    foo = inputs.requirements[0].requirement
    assert str(foo.specifier) == ">=1.0"
    assert foo.marker == Marker("python_version > '3'")


def test_comment_line_ends_a_continuation(tmp_path: Path) -> None:
    path = write(tmp_path / "req.txt", "foo\\\n# comment\nbar\n")
    inputs = collect_inputs(requirement_files=[path])
    assert names(inputs.requirements) == ["foo", "bar"]
    assert sources(inputs.requirements) == [f"{path}:1", f"{path}:3"]


def test_error_in_continued_line_names_its_first_line(tmp_path: Path) -> None:
    file_error(tmp_path, "ok\nfoo \\\n  >=\n", line=2)


def test_crlf_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "req.txt"
    path.write_bytes(b"\xef\xbb\xbffoo\r\nbar \\\r\n >=2\r\n")
    inputs = collect_inputs(requirement_files=[path])
    assert names(inputs.requirements) == ["foo", "bar"]
    assert str(inputs.requirements[1].requirement.specifier) == ">=2"


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "req.txt"
    path.write_bytes(b"foo\n\xff\xfe\n")
    with pytest.raises(InputError, match="not UTF-8") as info:
        collect_inputs(requirement_files=[path])
    assert info.value.source == str(path)


def test_environment_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_INDEX", "https://user:secret@example.com/simple")
    monkeypatch.setenv("PKG_2", "foo")
    monkeypatch.setenv("lower", "nope")
    path = write(
        tmp_path / "req.txt",
        "-i ${MY_INDEX}\n${PKG_2}>=1\n--extra-index-url https://$PKG_2/${lower}\n"
        "# ${UNSET_BUT_IN_A_COMMENT}\n",
    )
    inputs = collect_inputs(requirement_files=[path])
    assert inputs.index_url == "https://user:secret@example.com/simple"
    assert names(inputs.requirements) == ["foo"]
    # Only ${NAME} with upper-case names is expanded.
    assert inputs.extra_index_urls == ("https://$PKG_2/${lower}",)


def test_unset_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKIMLOCK_TEST_UNSET", raising=False)
    error = file_error(tmp_path, "foo\n-i https://${SKIMLOCK_TEST_UNSET}/simple\n", line=2)
    assert "SKIMLOCK_TEST_UNSET" in str(error)


# --- requirement files: options --------------------------------------------------------------


def test_index_options(tmp_path: Path) -> None:
    path = write(
        tmp_path / "req.txt",
        "--index-url=https://a.example/simple\n"
        "-i https://a.example/simple\n"
        "--extra-index-url https://b.example/simple --extra-index-url=https://c.example/simple\n"
        "--extra-index-url https://b.example/simple\n"
        "--trusted-host b.example\n--trusted-host=c.example:8080\n"
        "--pre\n--require-hashes\n",
    )
    inputs = collect_inputs(requirement_files=[path])
    assert inputs.index_url == "https://a.example/simple"
    assert inputs.extra_index_urls == ("https://b.example/simple", "https://c.example/simple")
    assert inputs.trusted_hosts == ("b.example", "c.example:8080")
    assert inputs.pre is True
    assert inputs.requirements == ()


def test_defaults_without_options(tmp_path: Path) -> None:
    inputs = collect_inputs(requirement_files=[write(tmp_path / "r.txt", "foo\n")])
    assert inputs.index_url is None
    assert inputs.pre is False
    assert inputs.only_binary == inputs.no_binary == frozenset()


def test_short_option_with_attached_value(tmp_path: Path) -> None:
    write(tmp_path / "other.txt", "bar\n")
    path = write(tmp_path / "req.txt", "-rother.txt\n-ihttps://x.example/simple\n")
    inputs = collect_inputs(requirement_files=[path])
    assert names(inputs.requirements) == ["bar"]
    assert inputs.index_url == "https://x.example/simple"


def test_conflicting_index_urls(tmp_path: Path) -> None:
    error = file_error(
        tmp_path, "-i https://a.example/simple\n-i https://u:pw@b.example/simple\n", line=2
    )
    assert "conflicts" in str(error)
    assert "pw" not in str(error)


@pytest.mark.parametrize(
    ("text", "only", "no"),
    [
        ("--only-binary :all:\n", {":all:"}, set()),
        ("--only-binary=Foo_Bar,baz\n", {"foo-bar", "baz"}, set()),
        ("--only-binary=:all:\n--no-binary foo\n", {":all:"}, {"foo"}),
        ("--no-binary=foo\n--only-binary foo\n", {"foo"}, set()),
        ("--no-binary :all:\n--only-binary=numpy,scipy\n", {"numpy", "scipy"}, {":all:"}),
        ("--no-binary foo\n--only-binary :all:\n", {":all:"}, set()),
        ("--only-binary foo,bar\n--only-binary :none:\n", set(), set()),
        ("--only-binary foo\n--only-binary :none:,bar\n", {"bar"}, set()),
        ("--only-binary foo,\n", {"foo"}, set()),
    ],
)
def test_binary_options(tmp_path: Path, text: str, only: set[str], no: set[str]) -> None:
    inputs = collect_inputs(requirement_files=[write(tmp_path / "r.txt", text)])
    assert inputs.only_binary == frozenset(only)
    assert inputs.no_binary == frozenset(no)


def test_binary_option_bad_name(tmp_path: Path) -> None:
    error = file_error(tmp_path, "foo\n--no-binary foo,bad!name\n", line=2)
    assert "'bad!name'" in str(error)


def test_hashes_are_kept_on_their_requirement(tmp_path: Path) -> None:
    path = write(
        tmp_path / "req.txt",
        "foo==1.0 \\\n    --hash=sha256:aaaa \\\n    --hash SHA256:BBBB\n"
        "bar==2.0 ; python_version > '3' --hash=sha512:cccc\nbaz\n",
    )
    inputs = collect_inputs(requirement_files=[path])
    assert names(inputs.requirements) == ["foo", "bar", "baz"]
    assert str(inputs.requirements[0].requirement) == "foo==1.0"
    assert inputs.requirements[1].requirement.marker == Marker("python_version > '3'")
    assert [r.hashes for r in inputs.requirements] == [
        {"sha256:aaaa", "sha256:bbbb"}, {"sha512:cccc"}, set()
    ]
    assert not inputs.require_hashes


@pytest.mark.parametrize(
    ("value", "message"),
    [("md5:aaaa", "unsupported algorithm 'md5'"), ("sha256=aaaa", "expected ALGORITHM:HEX"),
     ("sha256:xyz", "expected ALGORITHM:HEX")],
)
def test_bad_hash_values(tmp_path: Path, value: str, message: str) -> None:
    error = file_error(tmp_path, f"ok\nfoo==1 --hash={value}\n", line=2)
    assert message in str(error)


def test_require_hashes_needs_pins_and_hashes(tmp_path: Path) -> None:
    hashed = "foo==1.0 --hash=sha256:aa\n"
    path = write(tmp_path / "a.txt", "--require-hashes\n" + hashed)
    assert collect_inputs(requirement_files=[path]).require_hashes
    path = write(tmp_path / "b.txt", "--require-hashes\n" + hashed + "bar==2\n")
    with pytest.raises(InputError) as info:
        collect_inputs(requirement_files=[path])
    assert str(info.value) == f"{path}:3: --require-hashes: 'bar==2' has no --hash"
    path = write(tmp_path / "c.txt", hashed + "bar>=2 --hash=sha256:bb\n")
    collect_inputs(requirement_files=[path])  # hashes alone do not require pins
    with pytest.raises(InputError) as info:
        collect_inputs(requirement_files=[path], require_hashes=True)
    assert str(info.value) == f"{path}:2: --require-hashes: 'bar>=2' must pin one version with =="
    with pytest.raises(InputError, match="command line: --require-hashes: 'baz==1' has no"):
        collect_inputs(requirements=["baz==1"], require_hashes=True)


def test_hash_on_its_own_line(tmp_path: Path) -> None:
    error = file_error(tmp_path, "foo\n--hash=sha256:aaaa\n", line=2)
    assert "must follow a requirement" in str(error)


@pytest.mark.parametrize(
    "option", ["--config-settings=k=v", "--global-option=--x", "--install-option x"]
)
def test_build_options_after_requirement(tmp_path: Path, option: str) -> None:
    error = file_error(tmp_path, f"ok\nfoo>=1 {option}\n", UnsupportedRequirementError, line=2)
    assert isinstance(error, UnsupportedRequirementError)
    assert error.requirement == "foo>=1"
    assert "never builds" in str(error)


def test_build_option_on_its_own_line(tmp_path: Path) -> None:
    error = file_error(tmp_path, "--global-option=--x\n")
    assert "never builds" in str(error)


@pytest.mark.parametrize("text", ["-e ./pkg", "--editable=./pkg", "--editable ./pkg", "-e./pkg"])
def test_editable(tmp_path: Path, text: str) -> None:
    error = file_error(tmp_path, f"foo\n\n{text}\n", UnsupportedRequirementError, line=3)
    assert isinstance(error, UnsupportedRequirementError)
    assert error.requirement == "./pkg"
    assert "editable" in error.reason


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("-f ./wheels", "find-links"),
        ("--find-links=https://example.com/", "find-links"),
        ("--no-index", "without an index"),
        ("--use-feature=fast-deps", "feature"),
        ("--prefer-binary", "--only-binary"),
        ("--frobnicate", "unknown option --frobnicate"),
        ("-Z", "unknown option -Z"),
        ("--pre=yes", "takes no value"),
        ("-i", "needs a value"),
        ("--index-url=", "needs a value"),
        ("--extra-index-url --pre", "needs a value"),
        ("--pre stray", "unexpected argument 'stray'"),
        ("-i 'https://unbalanced", "cannot split"),
        ("foo --pre", "cannot follow a requirement"),
        ("foo --bogus", "unknown option"),
        ("-r https://example.com/req.txt", "no way to fetch URLs here"),
    ],
)
def test_bad_option_lines(tmp_path: Path, text: str, words: str) -> None:
    error = file_error(tmp_path, f"# header\n{text}\n", line=2)
    assert words in str(error)


def test_url_requirement_in_file(tmp_path: Path) -> None:
    error = file_error(
        tmp_path, "foo\nbar @ https://example.com/bar.whl\n", UnsupportedRequirementError, line=2
    )
    assert "direct URL" in str(error)


def test_invalid_requirement_in_file(tmp_path: Path) -> None:
    error = file_error(tmp_path, "foo\n\nbar[baz\n", line=3)
    assert "'bar[baz'" in str(error)


# --- requirement files: includes and constraints ---------------------------------------------


def test_nested_includes_relative_to_including_file(tmp_path: Path) -> None:
    write(tmp_path / "reqs" / "sub" / "dev.txt", "pytest\n-c ../../constraints.txt\n")
    write(tmp_path / "constraints.txt", "urllib3<3\n-r more-constraints.txt\n")
    write(tmp_path / "more-constraints.txt", "idna==3.7\n")
    top = write(tmp_path / "reqs" / "base.txt", "requests\n--requirement sub/dev.txt\nrich\n")
    inputs = collect_inputs(requirement_files=[top])
    assert names(inputs.requirements) == ["requests", "pytest", "rich"]
    assert sources(inputs.requirements) == [
        f"{top}:1",
        f"{tmp_path / 'reqs' / 'sub' / 'dev.txt'}:1",
        f"{top}:3",
    ]
    # A -r inside a constraints file includes more constraints.
    assert names(inputs.constraints) == ["urllib3", "idna"]
    assert sources(inputs.constraints) == [
        f"{tmp_path / 'constraints.txt'}:1",
        f"{tmp_path / 'more-constraints.txt'}:1",
    ]


def test_absolute_include(tmp_path: Path) -> None:
    other = write(tmp_path / "elsewhere" / "other.txt", "bar\n")
    top = write(tmp_path / "req.txt", f"-r {other}\n")
    assert names(collect_inputs(requirement_files=[top]).requirements) == ["bar"]


def test_diamond_includes_are_not_a_cycle(tmp_path: Path) -> None:
    write(tmp_path / "common.txt", "six\n")
    write(tmp_path / "a.txt", "-r common.txt\n")
    write(tmp_path / "b.txt", "-r common.txt\n")
    top = write(tmp_path / "top.txt", "-r a.txt\n-r b.txt\n")
    assert names(collect_inputs(requirement_files=[top]).requirements) == ["six", "six"]


def test_include_cycle(tmp_path: Path) -> None:
    a = write(tmp_path / "a.txt", "foo\n-r b.txt\n")
    b = write(tmp_path / "b.txt", "bar\n\n-r ./a.txt\n")
    with pytest.raises(InputError, match="include cycle") as info:
        collect_inputs(requirement_files=[a])
    assert info.value.source == str(b)
    assert info.value.line == 3
    assert f"{a} -> {b} -> {a}" in str(info.value)


def test_file_including_itself(tmp_path: Path) -> None:
    error = file_error(tmp_path, "foo\n-r req.txt\n", line=2)
    assert "include cycle" in str(error)


def test_missing_top_level_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.txt"
    with pytest.raises(InputError, match="cannot read requirements file") as info:
        collect_inputs(requirement_files=[path])
    assert info.value.source == str(path)
    assert info.value.line is None


def test_missing_included_file(tmp_path: Path) -> None:
    error = file_error(tmp_path, "foo\n-c missing.txt\n", line=2)
    assert "cannot read constraints file" in str(error)
    assert str(tmp_path / "missing.txt") in str(error)


def test_directory_as_requirements_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read requirements file"):
        collect_inputs(requirement_files=[tmp_path])


def test_constraint_files(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.txt",
        "-i https://idx.example/simple\nfoo<2 ; python_version < '3.12'\nbar==1 --hash=sha256:aa\n",
    )
    inputs = collect_inputs(requirements=["foo"], constraint_files=[path])
    assert names(inputs.requirements) == ["foo"]
    assert names(inputs.constraints) == ["foo", "bar"]
    assert sources(inputs.constraints) == [f"{path}:2", f"{path}:3"]
    assert inputs.index_url == "https://idx.example/simple"


def test_constraint_with_extras(tmp_path: Path) -> None:
    path = write(tmp_path / "c.txt", "ok\nfoo[bar]<2\n")
    with pytest.raises(InputError, match="has extras") as info:
        collect_inputs(constraint_files=[path])
    assert (info.value.source, info.value.line) == (str(path), 2)


def test_constraint_must_be_named(tmp_path: Path) -> None:
    path = write(tmp_path / "c.txt", "./local\n")
    with pytest.raises(UnsupportedRequirementError) as info:
        collect_inputs(constraint_files=[path])
    assert (info.value.source, info.value.line) == (str(path), 1)


# --- pyproject.toml ----------------------------------------------------------------------------

PYPROJECT = """
[project]
name = "My_Project"
version = "1.0"
requires-python = ">=3.10"
dependencies = ["httpx>=0.27", "rich; sys_platform != 'win32'"]

[project.optional-dependencies]
Dev_Tools = ["ruff"]
cli = ["click>=8"]
all = ["my-project[cli,dev-tools]"]

[dependency-groups]
test = ["pytest>=8", {include-group = "lint"}]
lint = ["ruff"]
docs = ["sphinx", "my.project[cli]; python_version >= '3.11'"]
"""


def test_project_dependencies_and_requires_python(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    inputs = collect_inputs(project=path)
    assert names(inputs.requirements) == ["httpx", "rich"]
    where = f"{path} [project.dependencies]"
    assert sources(inputs.requirements) == [where, where]
    assert inputs.requires_python == SpecifierSet(">=3.10")


def test_project_directory(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", PYPROJECT)
    inputs = collect_inputs(project=tmp_path)
    assert names(inputs.requirements) == ["httpx", "rich"]
    assert inputs.requirements[0].source.startswith(str(tmp_path / "pyproject.toml"))


def test_extras_compare_normalized(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    inputs = collect_inputs(project=path, extras=["dev-tools", "CLI"])
    assert names(inputs.requirements) == ["httpx", "rich", "ruff", "click"]
    assert sources(inputs.requirements)[2:] == [
        f"{path} [project.optional-dependencies] Dev_Tools",
        f"{path} [project.optional-dependencies] cli",
    ]


def test_unknown_extra_lists_available(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    with pytest.raises(InputError) as info:
        collect_inputs(project=path, extras=["nope"])
    assert info.value.source == str(path)
    assert "unknown extra 'nope' (available: Dev_Tools, all, cli)" in str(info.value)


def test_groups_with_includes(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    inputs = collect_inputs(project=path, groups=["TEST"], project_dependencies=False)
    assert names(inputs.requirements) == ["pytest", "ruff"]
    assert sources(inputs.requirements) == [f"{path} [dependency-groups] test"] * 2


def test_groups_added_to_project_dependencies(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    inputs = collect_inputs(project=path, groups=["lint", "lint"])
    assert names(inputs.requirements) == ["httpx", "rich", "ruff"]


def test_self_reference_in_extra(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    inputs = collect_inputs(project=path, extras=["all"], project_dependencies=False)
    # my-project[cli,dev-tools] stands for the dependencies plus both extras.
    assert names(inputs.requirements) == ["httpx", "rich", "click", "ruff"]
    assert sources(inputs.requirements) == [
        f"{path} [project.dependencies]",
        f"{path} [project.dependencies]",
        f"{path} [project.optional-dependencies] cli",
        f"{path} [project.optional-dependencies] Dev_Tools",
    ]


def test_self_reference_not_repeated_when_locked_at_top(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    inputs = collect_inputs(project=path, extras=["all", "cli"])
    assert names(inputs.requirements) == ["httpx", "rich", "ruff", "click"]


def test_self_reference_in_group_ands_the_marker(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    inputs = collect_inputs(project=path, groups=["docs"], project_dependencies=False)
    assert names(inputs.requirements) == ["sphinx", "httpx", "rich", "click"]
    sphinx, httpx, rich, click = (item.requirement for item in inputs.requirements)
    assert sphinx.marker is None
    assert httpx.marker == Marker("python_version >= '3.11'")
    assert rich.marker == Marker("python_version >= '3.11' and sys_platform != 'win32'")
    assert str(click.specifier) == ">=8"
    assert click.marker == Marker("python_version >= '3.11'")
    assert inputs.requirements[0].source == f"{path} [dependency-groups] docs"
    assert inputs.requirements[3].source == f"{path} [project.optional-dependencies] cli"


def test_self_reference_cycle_between_extras(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "p"\ndependencies = []\n'
        '[project.optional-dependencies]\na = ["p[b]", "x"]\nb = ["p[a]", "y"]\n',
    )
    inputs = collect_inputs(project=path, extras=["a"])
    assert names(inputs.requirements) == ["y", "x"]


def test_self_reference_with_specifier(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "p"\n[dependency-groups]\ndev = ["p[x]>=1"]\n',
    )
    with pytest.raises(InputError, match="self-reference") as info:
        collect_inputs(project=path, groups=["dev"])
    assert info.value.source == f"{path} [dependency-groups] dev"


def test_self_reference_to_unknown_extra(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "p"\n[dependency-groups]\ndev = ["p[nope]"]\n',
    )
    with pytest.raises(InputError, match="unknown extra 'nope' \\(available: none\\)") as info:
        collect_inputs(project=path, groups=["dev"])
    assert info.value.source == f"{path} [dependency-groups] dev"


def test_dynamic_dependencies(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "p"\ndynamic = ["dependencies"]\n[dependency-groups]\ndev = ["x"]\n',
    )
    with pytest.raises(InputError, match="dynamic") as info:
        collect_inputs(project=path)
    assert info.value.source == str(path)
    # Groups alone need no build.
    inputs = collect_inputs(project=path, groups=["dev"], project_dependencies=False)
    assert names(inputs.requirements) == ["x"]


def test_dynamic_optional_dependencies(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pyproject.toml", '[project]\nname = "p"\ndynamic = ["optional-dependencies"]\n'
    )
    with pytest.raises(InputError, match="dynamic"):
        collect_inputs(project=path, extras=["x"])


def test_unknown_group_lists_available(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", PYPROJECT)
    with pytest.raises(InputError) as info:
        collect_inputs(project=path, groups=["nope"])
    assert info.value.source == f"{path} [dependency-groups]"
    assert "unknown dependency group 'nope' (available: docs, lint, test)" in str(info.value)


def test_group_include_cycle(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pyproject.toml",
        '[dependency-groups]\na = ["x", {include-group = "b"}]\nb = [{include-group = "a"}]\n',
    )
    with pytest.raises(InputError, match="Cyclic") as info:
        collect_inputs(project=path, groups=["a"])
    assert info.value.source == f"{path} [dependency-groups] a"


def test_group_includes_unknown_group(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", '[dependency-groups]\na = [{include-group = "z"}]\n')
    with pytest.raises(InputError, match="'z' not found") as info:
        collect_inputs(project=path, groups=["a"])
    assert info.value.source == f"{path} [dependency-groups] a"


def test_group_bad_include_object(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", '[dependency-groups]\na = [{include = "z"}]\n')
    with pytest.raises(InputError, match="Invalid dependency group item"):
        collect_inputs(project=path, groups=["a"])


def test_duplicate_normalized_group_names(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", '[dependency-groups]\nDev = ["x"]\ndev = ["y"]\n')
    with pytest.raises(InputError, match="Duplicate") as info:
        collect_inputs(project=path, groups=["dev"])
    assert info.value.source == f"{path} [dependency-groups]"


def test_group_not_an_array(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", '[dependency-groups]\ndev = "x"\n')
    with pytest.raises(InputError, match="must be an array") as info:
        collect_inputs(project=path, groups=["dev"])
    assert info.value.source == f"{path} [dependency-groups] dev"


def test_unsupported_requirement_in_group(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pyproject.toml",
        '[dependency-groups]\ndev = ["x @ git+https://example.com/x"]\n',
    )
    with pytest.raises(UnsupportedRequirementError, match="VCS") as info:
        collect_inputs(project=path, groups=["dev"])
    assert info.value.source == f"{path} [dependency-groups] dev"


def test_invalid_requirement_in_dependencies(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", '[project]\nname = "p"\ndependencies = ["x>="]\n')
    with pytest.raises(InputError, match="invalid requirement 'x>='") as info:
        collect_inputs(project=path)
    assert info.value.source == f"{path} [project.dependencies]"


def test_dependencies_not_strings(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", '[project]\nname = "p"\ndependencies = "x"\n')
    with pytest.raises(InputError, match="array of strings"):
        collect_inputs(project=path)


def test_invalid_requires_python(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", '[project]\nname = "p"\nrequires-python = "3.10"\n')
    with pytest.raises(InputError, match="requires-python") as info:
        collect_inputs(project=path)
    assert info.value.source == f"{path} [project.requires-python]"


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", '[project]\nname = "p"\nversion 1\n')
    with pytest.raises(InputError, match="invalid TOML") as info:
        collect_inputs(project=path)
    assert info.value.source == str(path)
    assert "line 3" in str(info.value)


def test_missing_project_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read project file") as info:
        collect_inputs(project=tmp_path)
    assert info.value.source == str(tmp_path / "pyproject.toml")


def test_no_project_table(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", '[tool.x]\na = 1\n[dependency-groups]\nd = ["x"]\n')
    with pytest.raises(InputError, match="no \\[project\\] table"):
        collect_inputs(project=path)
    with pytest.raises(InputError, match="no extras"):
        collect_inputs(project=path, extras=["x"])
    inputs = collect_inputs(project=path, groups=["d"])
    assert names(inputs.requirements) == ["x"]
    assert inputs.requires_python is None


def test_extras_and_groups_need_a_project() -> None:
    with pytest.raises(InputError, match="need a project"):
        collect_inputs(extras=["x"])
    with pytest.raises(InputError, match="need a project"):
        collect_inputs(groups=["x"])


def test_merged_sources_in_order(tmp_path: Path) -> None:
    project = write(tmp_path / "pyproject.toml", PYPROJECT)
    req = write(tmp_path / "req.txt", "--pre\nfoo\n")
    con = write(tmp_path / "con.txt", "foo<3\n")
    inputs = collect_inputs(
        requirements=["bar"],
        requirement_files=[req],
        constraint_files=[con],
        project=project,
        groups=["lint"],
    )
    assert names(inputs.requirements) == ["bar", "foo", "httpx", "rich", "ruff"]
    assert sources(inputs.requirements) == [
        "command line",
        f"{req}:2",
        f"{project} [project.dependencies]",
        f"{project} [project.dependencies]",
        f"{project} [dependency-groups] lint",
    ]
    assert names(inputs.constraints) == ["foo"]
    assert inputs.pre is True
    assert inputs.requires_python == SpecifierSet(">=3.10")


# --- standard input and URLs ------------------------------------------------------------------


def test_requirements_from_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "more.txt", "bar\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"foo>=1\n-r more.txt\n")))
    inputs = collect_inputs(requirement_files=["-"])
    assert names(inputs.requirements) == ["foo", "bar"]
    assert sources(inputs.requirements) == ["<stdin>:1", "more.txt:1"]
    with pytest.raises(InputError, match="only once"):
        collect_inputs(requirement_files=["-"], constraint_files=["-"])


def test_requirements_from_urls_go_through_the_callable(tmp_path: Path) -> None:
    served = {
        "https://h.test/dir/req.txt": b"foo==1 --hash=sha256:aa\n-c sub/c.txt\n",
        "https://h.test/dir/sub/c.txt": b"foo<2\n",
    }
    asked: list[str] = []

    def fetch(url: str) -> bytes:
        asked.append(url)
        return served[url]

    inputs = collect_inputs(requirement_files=["https://h.test/dir/req.txt"], fetch_url=fetch)
    assert asked == ["https://h.test/dir/req.txt", "https://h.test/dir/sub/c.txt"]
    assert sources(inputs.requirements) == ["https://h.test/dir/req.txt:1"]
    assert sources(inputs.constraints) == ["https://h.test/dir/sub/c.txt:1"]
    local = write(tmp_path / "local.txt", "baz\n")
    assert names(collect_inputs(requirement_files=[local.as_uri()]).requirements) == ["baz"]
    served["https://h.test/evil.txt"] = f"-r {local.as_uri()}\n".encode()
    with pytest.raises(InputError, match="may include only URLs"):
        collect_inputs(requirement_files=["https://h.test/evil.txt"], fetch_url=fetch)
