"""Tests for skimlock.coremeta: checking core metadata and its PEP 566 JSON form."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from skimlock.coremeta import metadata_json, parse_metadata
from skimlock.errors import InvalidMetadataError, MetadataMismatchError, SkimlockError

WHEEL = "foo_bar-1.0-py3-none-any.whl"


def meta(*lines: str, body: str = "") -> bytes:
    return ("\n".join(lines) + "\n\n" + body).encode()


GOOD = meta(
    "Metadata-Version: 2.1",
    "Name: Foo.Bar",
    "Version: 1.0",
    "Requires-Python: >=3.8",
    "Requires-Dist: requests>=2",
    "Requires-Dist: pytest; extra == 'test'",
    "Provides-Extra: Test",
)


def test_valid_metadata() -> None:
    result = parse_metadata(GOOD, filename=WHEEL)
    assert result.name == "Foo.Bar"
    assert result.version == Version("1.0")
    assert result.requires_python == SpecifierSet(">=3.8")
    assert result.requires_dist == [
        Requirement("requests>=2"),
        Requirement("pytest; extra=='test'"),
    ]
    assert result.provides_extra == ["test"]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_the_body_is_not_read_as_headers(newline: str) -> None:
    """The long description after the first empty line is never parsed as fields, whatever
    it holds, with LF or CRLF line ends."""
    body = "Requires-Dist: evil\n\nVersion: 9\n" * 50
    data = GOOD.decode().replace("\n", newline).encode() + body.encode()
    result = parse_metadata(data, filename=WHEEL)
    assert result.version == Version("1.0")
    assert [str(r) for r in result.requires_dist or []] == [
        "requests>=2", 'pytest; extra == "test"']


def test_optional_fields_may_be_absent() -> None:
    result = parse_metadata(meta("Name: foo-bar", "Version: 1.0"), filename=WHEEL)
    assert result.requires_dist is None
    assert result.requires_python is None
    assert result.provides_extra is None


def test_junk_in_fields_a_resolver_does_not_read_is_accepted() -> None:
    data = meta(
        "Metadata-Version: 9.9",
        "Name: foo_bar",
        "Version: 1.0",
        "Summary: two",
        "  lines",
        "License: \u00e9\u00e9 whatever",
        "License-Expression: not a license (",
        "Classifier: Not :: A :: Classifier",
        "Description-Content-Type: text/bogus; charset=latin1",
        "Dynamic: Name",
        "Project-URL: a, https://a",
        "Project-URL: a, https://b",
        "Home-page: \u2603",
        "X-Custom: 1",
        body="\u00e9 body",
    ) + b"\xff\xfe"
    assert parse_metadata(data, filename=WHEEL).name == "foo_bar"
    assert parse_metadata(data + b"\nLicense: \xff", filename=WHEEL).version == Version("1.0")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Requires-Dist: foo >=>1", "Requires-Dist 'foo >=>1' is not a valid requirement: "),
        ("Requires-Dist: foo; os_nam == 'x'", "Requires-Dist \"foo; os_nam == 'x'\" is not a"),
        ("Requires-Python: >=3.x", "Requires-Python '>=3.x' is not a valid version specifier"),
        ("Provides-Extra: not valid!", "Provides-Extra 'not valid!' is not a valid extra name"),
    ],
)
def test_invalid_checked_field(line: str, message: str) -> None:
    data = meta("Metadata-Version: 2.1", "Name: foo-bar", "Version: 1.0",
                "Requires-Dist: ok", line)
    with pytest.raises(InvalidMetadataError) as error:
        parse_metadata(data, filename=WHEEL)
    assert message in str(error.value)
    assert str(error.value).startswith(f"invalid metadata in {WHEEL}: ")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (("Version: 1.0",), "no Name field"),
        (("Name: foo-bar",), "no Version field"),
        (("Name: ", "Version: 1.0"), "no Name field"),
        (("Name: foo-bar", "Name: foo-bar", "Version: 1.0"), "Name is given 2 times"),
        (("Name: foo-bar", "Version: 1.0", "Requires-Python: >=3", "Requires-Python: <4"),
         "Requires-Python is given 2 times"),
        (("Name: -foo-", "Version: 1.0"), "Name '-foo-' is not a valid project name"),
        (("Name: foo-bar", "Version: one"), "Version 'one' is not a valid version"),
    ],
)
def test_missing_repeated_or_invalid_identity(lines: tuple[str, ...], message: str) -> None:
    with pytest.raises(InvalidMetadataError, match=message):
        parse_metadata(meta(*lines), filename=WHEEL)


def test_non_utf8_requirement() -> None:
    data = meta("Name: foo-bar", "Version: 1.0", "Requires-Dist: a").replace(
        b"\n\n", b"\nRequires-Dist: b\xe9\n\n"
    )
    with pytest.raises(InvalidMetadataError, match="Requires-Dist 'b\u00e9' is not valid UTF-8"):
        parse_metadata(data, filename=WHEEL)


@pytest.mark.parametrize(
    ("filename", "field", "expected", "actual"),
    [
        ("bar-1.0-py3-none-any.whl", "Name", "bar", "Foo.Bar"),
        ("foo_bar-1.1-py3-none-any.whl", "Version", "1.1", "1.0"),
        ("foo-bar-2.0.tar.gz", "Version", "2.0", "1.0"),
    ],
)
def test_identity_mismatch(filename: str, field: str, expected: str, actual: str) -> None:
    with pytest.raises(MetadataMismatchError) as error:
        parse_metadata(GOOD, filename=filename)
    found = (error.value.field, error.value.expected, error.value.actual)
    assert found == (field, expected, actual)
    assert error.value.exit_code == 4


@pytest.mark.parametrize(
    "filename",
    [
        "foo_bar-1.0-py3-none-any.whl",
        "foo_bar-1.0.0-py3-none-any.whl.metadata",
        "Foo.Bar-1.0-1-cp311-cp311-manylinux_2_17_x86_64.whl",
        "foo_bar-1.0.tar.gz",
        "foo-bar-1.0.zip",
        "foo_bar-1.0.tar.gz.metadata",
        "foo-bar-1.0.tar.bz2",
        "foo-bar-1.0.tgz",
    ],
)
def test_expected_identity_from_file_name(filename: str) -> None:
    assert parse_metadata(GOOD, filename=filename).name == "Foo.Bar"


@pytest.mark.parametrize("filename", ["foo.whl", "foo-bar.tar.gz", "foo-1.0.exe", "foo-x!y.zip"])
def test_unusable_file_name(filename: str) -> None:
    with pytest.raises(InvalidMetadataError, match="cannot tell the project name and version"):
        parse_metadata(GOOD, filename=filename)


def test_size_cap() -> None:
    with pytest.raises(InvalidMetadataError, match="more than the 10 bytes allowed"):
        parse_metadata(GOOD, filename=WHEEL, max_size=10)
    assert parse_metadata(GOOD, filename=WHEEL, max_size=len(GOOD)).name == "Foo.Bar"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048) | st.text(max_size=500).map(str.encode))
def test_arbitrary_bytes_raise_only_skimlock_errors(data: bytes) -> None:
    with contextlib.suppress(SkimlockError):
        parse_metadata(data, filename=WHEEL)
    with contextlib.suppress(SkimlockError):
        parse_metadata(b"Name: foo-bar\nVersion: 1.0\n" + data, filename=WHEEL)
    json.dumps(metadata_json(data))


# --- PEP 566 JSON ----------------------------------------------------------------------------


def test_metadata_json() -> None:
    data = meta(
        "Metadata-Version: 2.1",
        "Name: foo-bar",
        "Version: 1.0",
        "Summary: A \u00e9 thing",
        "Keywords: one, two ,,three",
        "Classifier: A :: B",
        "Classifier: C :: D",
        "Requires-Dist: x>=1",
        "Project-URL: Home, https://example.org",
        "Provides-Extra: test",
        "Home-page: https://example.org",
        "Author-email: A <a@example.org>",
        "X-Unknown: dropped",
        body="The long\ndescription.\n",
    )
    assert metadata_json(data) == {
        "metadata_version": "2.1",
        "name": "foo-bar",
        "version": "1.0",
        "summary": "A \u00e9 thing",
        "keywords": ["one", "two", "three"],
        "classifier": ["A :: B", "C :: D"],
        "requires_dist": ["x>=1"],
        "project_url": ["Home, https://example.org"],
        "provides_extra": ["test"],
        "home_page": "https://example.org",
        "author_email": "A <a@example.org>",
        "description": "The long\ndescription.\n",
    }


def test_metadata_json_description_header_and_bad_bytes() -> None:
    data = b"Name: x\nName: y\nDescription: in the header\nLicense: \xff\n\n"
    assert metadata_json(data) == {
        "name": "x",
        "description": "in the header",
        "license": "\ufffd",
    }
