"""Tests for skimlock.simple: PEP 503/691 project pages, PEP 592/629/658/714/700 fields."""

from __future__ import annotations

import gzip
import json
import logging
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skimlock import simple
from skimlock.errors import ApiVersionError, IndexPageError, SkimlockError
from skimlock.simple import (
    CoreMetadata,
    IndexFile,
    ProjectPage,
    normalize,
    parse_project_page,
    project_url,
)

PAGES = Path(__file__).parent / "fixtures" / "pages"
PAGE_URL = "https://example.org/simple/demo/"
HTML = "text/html"
JSON = "application/vnd.pypi.simple.v1+json"
SHA = "a" * 64
SHA2 = "b" * 64


def html_page(body: str, head: str = "") -> bytes:
    return (
        f"<!DOCTYPE html><html><head>{head}<title>Links for demo</title></head>"
        f"<body><h1>Links for demo</h1>{body}</body></html>"
    ).encode()


def parse_html(body: str, head: str = "", *, url: str = PAGE_URL) -> ProjectPage:
    return parse_project_page(html_page(body, head), content_type=HTML, url=url, name="Demo")


def one_html(anchor: str) -> IndexFile:
    page = parse_html(anchor)
    assert len(page.records()) == 1, page.records()
    return page.records()[0]


def parse_json(data: Any, *, url: str = PAGE_URL) -> ProjectPage:
    return parse_project_page(json.dumps(data).encode(), content_type=JSON, url=url, name="demo")


def json_page(*files: dict[str, Any], **extra: Any) -> dict[str, Any]:
    page: dict[str, Any] = {"meta": {"api-version": "1.1"}, "name": "demo", "files": list(files)}
    page.update(extra)
    return page


def json_file(**fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "filename": "demo-1.0-py3-none-any.whl",
        "url": "https://files.example.org/demo-1.0-py3-none-any.whl",
        "hashes": {"sha256": SHA},
    }
    for key, value in fields.items():
        entry[key.replace("_", "-")] = value
    return entry


def one_json(**fields: Any) -> IndexFile:
    page = parse_json(json_page(json_file(**fields)))
    assert len(page.records()) == 1, page.records()
    return page.records()[0]


@pytest.fixture(autouse=True)
def _fresh_version_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simple, "_warned_versions", set())


# --- names and URLs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Requests", "requests"), ("Foo.Bar_baz", "foo-bar-baz"), ("a--_.b", "a-b")],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "index", ["https://pypi.org/simple", "https://pypi.org/simple/", "https://pypi.org/simple//"]
)
def test_project_url(index: str) -> None:
    assert project_url(index, "Zope.Interface") == "https://pypi.org/simple/zope-interface/"


# --- content-type dispatch -------------------------------------------------------------------

ANCHOR = f'<a href="demo-1.0.tar.gz#sha256={SHA}">demo-1.0.tar.gz</a>'


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html",
        "TEXT/HTML; charset=UTF-8",
        "application/vnd.pypi.simple.v1+html",
        "application/vnd.pypi.simple.latest+html",
        "",
        " text/html ;charset=utf-8",
    ],
)
def test_html_content_types(content_type: str) -> None:
    page = parse_project_page(html_page(ANCHOR), content_type=content_type, url=PAGE_URL,
                              name="demo")
    assert [f.filename for f in page.records()] == ["demo-1.0.tar.gz"]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/vnd.pypi.simple.v1+json",
        "Application/Vnd.PyPI.Simple.V1+JSON; charset=utf-8",
        "application/vnd.pypi.simple.latest+json",
    ],
)
def test_json_content_types(content_type: str) -> None:
    page = parse_project_page(json.dumps(json_page(json_file())).encode(),
                              content_type=content_type, url=PAGE_URL, name="demo")
    assert [f.filename for f in page.records()] == ["demo-1.0-py3-none-any.whl"]


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "application/vnd.pypi.simple.v2+json"]
)
def test_unexpected_content_type(content_type: str) -> None:
    with pytest.raises(IndexPageError, match="unexpected content type") as info:
        parse_project_page(b"{}", content_type=content_type, url=PAGE_URL, name="demo")
    assert content_type in str(info.value)


# --- captured PyPI pages ---------------------------------------------------------------------


def test_requests_fixture() -> None:
    raw = (PAGES / "requests.html").read_bytes()
    url = "https://pypi.org/simple/requests/"
    page = parse_project_page(raw, content_type="text/html", url=url, name="Requests")
    assert page.name == "requests"
    assert page.url == url
    assert page.api_version == "1.0"
    assert page.versions == ()
    assert len(page.records()) == raw.count(b"<a ")
    for f in page.records():
        assert f.url.startswith("https://files.pythonhosted.org/packages/")
        assert "#" not in f.url
        assert f.url.rsplit("/", 1)[1] == f.filename
        assert re.fullmatch("[0-9a-f]{64}", f.hashes["sha256"])
        assert f.requires_python is None or "&" not in f.requires_python
    by_name = {f.filename: f for f in page.records()}
    first = by_name["requests-0.10.0.tar.gz"]
    assert first.hashes == {
        "sha256": "210a82e678c45d433a4ad1f105974b3102a8ab5198872dc0a3238a8750d4c65e"
    }
    assert any(f.requires_python and f.requires_python.startswith(">=") for f in page.records())
    assert sum(f.yanked for f in page.records()) == raw.count(b"data-yanked")


def test_urllib3_fixture_yanked_and_requires_python() -> None:
    raw = (PAGES / "urllib3.html").read_bytes()
    page = parse_project_page(raw, content_type="text/html",
                              url="https://pypi.org/simple/urllib3/", name="urllib3")
    by_name = {f.filename: f for f in page.records()}
    broken = by_name["urllib3-1.25.tar.gz"]
    assert broken.yanked
    assert broken.yanked_reason == "Broken release"
    assert broken.requires_python == ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*, !=3.3.*, <4"
    assert sum(f.yanked for f in page.records()) == raw.count(b"data-yanked") > 0
    assert not by_name["urllib3-1.26.0.tar.gz"].yanked


def test_numpy_fixture() -> None:
    raw = gzip.decompress((PAGES / "numpy.html.gz").read_bytes())
    page = parse_project_page(raw, content_type="text/html",
                              url="https://pypi.org/simple/numpy/", name="numpy")
    assert len(page.records()) == raw.count(b"<a ") > 4000
    assert all(f.hashes.keys() == {"sha256"} for f in page.records())
    wheels = [f for f in page.records() if f.is_wheel]
    assert len(wheels) > 3000
    assert wheels[-1].metadata_url == wheels[-1].url + ".metadata"
    assert {f.requires_python for f in page.records()} >= {">=3.11", ">=3.7,<3.11", None}


# --- HTML syntax -----------------------------------------------------------------------------


def test_html_attribute_syntax_variants() -> None:
    body = (
        f"<A data-requires-python='&gt;=3.8' HREF='a-1.0.tar.gz#sha256={SHA}'>a-1.0.tar.gz</A>\n"
        f"<a\n  href=b-1.0.tar.gz#sha256={SHA}\n  data-yanked\n>\n  b-1.0.tar.gz\n</a>\n"
        '<a data-yanked="" href="/files/c-1.0.tar.gz?x=1&amp;y=2">c&#45;1.0.tar.gz</a>\n'
        '<a href="d.tar.gz" HREF="ignored.tar.gz" Data-Requires-Python="&lt;4,&gt;=3">'
        "d-1.0.tar.gz</a>"
    )
    a, b, c, d = parse_html(body).records()
    assert (a.filename, a.url, a.requires_python, a.hashes) == (
        "a-1.0.tar.gz", PAGE_URL + "a-1.0.tar.gz", ">=3.8", {"sha256": SHA})
    assert (b.filename, b.url, b.yanked, b.yanked_reason) == (
        "b-1.0.tar.gz", PAGE_URL + "b-1.0.tar.gz", True, None)
    assert b.hashes == {"sha256": SHA}
    assert (c.filename, c.url, c.yanked, c.yanked_reason) == (
        "c-1.0.tar.gz", "https://example.org/files/c-1.0.tar.gz?x=1&y=2", True, None)
    assert (d.url, d.requires_python) == (PAGE_URL + "d.tar.gz", "<4,>=3")


def test_html_quoted_gt_inside_attribute() -> None:
    f = one_html('<a href="x-1.0.tar.gz" data-requires-python=">=3.9">x-1.0.tar.gz</a>')
    assert f.requires_python == ">=3.9"
    assert f.filename == "x-1.0.tar.gz"


def test_html_skips_anchors_without_href_comments_and_other_tags() -> None:
    body = (
        '<a name="top">top</a><abbr href="no.tar.gz">no</abbr><area href="no2.tar.gz">'
        '<!-- <a href="commented-1.0.tar.gz">commented-1.0.tar.gz</a> -->'
        '<a href="ok-1.0.tar.gz">ok-1.0.tar.gz</a><address>x</address>'
    )
    assert [f.filename for f in parse_html(body).records()] == ["ok-1.0.tar.gz"]


def test_html_filename_falls_back_to_href() -> None:
    body = (
        '<a href="https://h.example/p/demo-1.0%2Blocal.tar.gz#md5=ABCDEF"></a>'
        '<a href="https://h.example/p/demo-2.0.tar.gz"><span>demo 2</span></a>'
        '<a href="https://h.example/p/">   </a>'
    )
    first, second = parse_html(body).records()
    assert first.filename == "demo-1.0+local.tar.gz"
    assert first.hashes == {"md5": "abcdef"}
    assert second.filename == "demo-2.0.tar.gz"


def test_html_page_order_and_empty_page() -> None:
    body = "".join(f'<a href="p-{i}.tar.gz">p-{i}.tar.gz</a><br/>' for i in range(5))
    assert [f.filename for f in parse_html(body).records()] == [f"p-{i}.tar.gz" for i in range(5)]
    empty = parse_html("")
    assert empty.records() == ()
    assert empty.name == "demo"
    assert empty.api_version == "1.0"


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        (f"sha256={SHA}", {"sha256": SHA}),
        (f"SHA256={SHA.upper()}", {"sha256": SHA}),
        ("sha256=not-hex", {}),
        ("sha256=", {}),
        ("egg=abc", {}),
        (f"sha512={SHA2}&subdirectory=x", {"sha512": SHA2}),
        ("", {}),
    ],
)
def test_html_hash_fragment(fragment: str, expected: dict[str, str]) -> None:
    f = one_html(f'<a href="demo-1.0.tar.gz#{fragment}">demo-1.0.tar.gz</a>')
    assert f.hashes == expected
    assert f.url == PAGE_URL + "demo-1.0.tar.gz"


def test_html_requires_python_empty_is_none() -> None:
    assert one_html('<a href="x.tar.gz" data-requires-python="  ">x.tar.gz</a>').requires_python \
        is None
    assert one_html('<a href="x.tar.gz">x.tar.gz</a>').requires_python is None


def test_html_yanked() -> None:
    body = (
        '<a href="a.tar.gz">a.tar.gz</a>'
        '<a href="b.tar.gz" data-yanked>b.tar.gz</a>'
        '<a href="c.tar.gz" data-yanked="">c.tar.gz</a>'
        '<a href="d.tar.gz" data-yanked="bad &amp; broken">d.tar.gz</a>'
    )
    got = [(f.yanked, f.yanked_reason) for f in parse_html(body).records()]
    assert got == [(False, None), (True, None), (True, None), (True, "bad & broken")]


def test_html_size_and_upload_time() -> None:
    body = (
        '<a href="a.tar.gz" data-size="1234" data-upload-time="2024-05-06T07:08:09.123Z">a</a>'
        '<a href="b.tar.gz" data-size="-1" data-upload-time="yesterday">b</a>'
    )
    a, b = parse_html(body).records()
    assert a.size == 1234
    assert a.uploaded_at == datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=timezone.utc)
    assert (b.size, b.uploaded_at) == (None, None)


# --- URL resolution ----------------------------------------------------------------------------


def test_relative_urls_resolve_against_final_url() -> None:
    final = "https://mirror.example/pypi/simple/demo/"
    body = (
        '<a href="demo-1.tar.gz">1</a>'
        '<a href="../../packages/demo-2.tar.gz">2</a>'
        '<a href="/root/demo-3.tar.gz">3</a>'
        '<a href="//cdn.example/demo-4.tar.gz">4</a>'
        '<a href="http://other.example/demo-5.tar.gz#sha256=00">5</a>'
    )
    page = parse_html(body, url=final)
    assert page.url == final
    assert [f.url for f in page.records()] == [
        "https://mirror.example/pypi/simple/demo/demo-1.tar.gz",
        "https://mirror.example/pypi/packages/demo-2.tar.gz",
        "https://mirror.example/root/demo-3.tar.gz",
        "https://cdn.example/demo-4.tar.gz",
        "http://other.example/demo-5.tar.gz",
    ]


def test_base_href() -> None:
    head = '<base href="/files/">'
    page = parse_html('<a href="demo-1.tar.gz">demo-1.tar.gz</a>', head,
                      url="https://idx.example/simple/demo/")
    assert page.records()[0].url == "https://idx.example/files/demo-1.tar.gz"
    head = '<BASE HREF="https://cdn.example/x/"><base href="/ignored/">'
    page = parse_html('<a href="demo-1.tar.gz">d</a>', head)
    assert page.records()[0].url == "https://cdn.example/x/demo-1.tar.gz"


def test_json_relative_url() -> None:
    page = parse_json(
        json_page(json_file(url="../../files/demo-1.0-py3-none-any.whl#sha256=00")),
        url="https://idx.example/simple/demo/",
    )
    assert page.records()[0].url == "https://idx.example/files/demo-1.0-py3-none-any.whl"


# --- PEP 714 core metadata ---------------------------------------------------------------------


def _html_meta(attrs: str) -> CoreMetadata | None:
    return one_html(f'<a href="demo-1.0-py3-none-any.whl" {attrs}>demo-1.0-py3-none-any.whl</a>'
                    ).core_metadata


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ("", None),
        (f'data-core-metadata="sha256={SHA}"', CoreMetadata(hashes={"sha256": SHA})),
        (f'data-core-metadata="SHA256={SHA.upper()}"', CoreMetadata(hashes={"sha256": SHA})),
        ('data-core-metadata="true"', CoreMetadata()),
        (f'data-dist-info-metadata="sha256={SHA}"', CoreMetadata(hashes={"sha256": SHA})),
        ('data-dist-info-metadata="true"', CoreMetadata()),
        # Both present and different: the new key wins, in either attribute order.
        (f'data-dist-info-metadata="sha256={SHA2}" data-core-metadata="sha256={SHA}"',
         CoreMetadata(hashes={"sha256": SHA})),
        (f'data-core-metadata="sha256={SHA}" data-dist-info-metadata="true"',
         CoreMetadata(hashes={"sha256": SHA})),
        # New key present but unusable: the legacy key is not consulted.
        ('data-core-metadata="false" data-dist-info-metadata="true"', None),
        ('data-dist-info-metadata="true" data-core-metadata="sha256=zz"', None),
        ('data-core-metadata data-dist-info-metadata="true"', None),
        ('data-core-metadata="false"', None),
        ('data-dist-info-metadata="false"', None),
        ('data-core-metadata="sha256"', None),
    ],
)
def test_html_core_metadata_pep714(attrs: str, expected: CoreMetadata | None) -> None:
    assert _html_meta(attrs) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, None),
        ({"core-metadata": True}, CoreMetadata()),
        ({"core-metadata": {"sha256": SHA, "MD5": "ABC", "sha512": "nothex"}},
         CoreMetadata(hashes={"sha256": SHA, "md5": "abc"})),
        ({"core-metadata": {}}, CoreMetadata()),
        ({"dist-info-metadata": True}, CoreMetadata()),
        ({"dist-info-metadata": {"sha256": SHA}}, CoreMetadata(hashes={"sha256": SHA})),
        ({"core-metadata": {"sha256": SHA}, "dist-info-metadata": {"sha256": SHA2}},
         CoreMetadata(hashes={"sha256": SHA})),
        ({"core-metadata": False, "dist-info-metadata": True}, None),
        ({"core-metadata": None, "dist-info-metadata": True}, None),
        ({"core-metadata": "true", "dist-info-metadata": True}, None),
        ({"core-metadata": False}, None),
        ({"dist-info-metadata": False}, None),
        ({"core-metadata": 1}, None),
    ],
)
def test_json_core_metadata_pep714(fields: dict[str, Any], expected: CoreMetadata | None) -> None:
    entry = json_file()
    entry.update(fields)
    assert parse_json(json_page(entry)).records()[0].core_metadata == expected


# --- JSON pages --------------------------------------------------------------------------------


def test_json_full_page() -> None:
    page = parse_json({
        "meta": {"api-version": "1.1", "_last-serial": 7},
        "name": "Demo",
        "versions": ["1.0", "2.0", 3],
        "files": [
            {
                "filename": "demo-1.0.tar.gz",
                "url": "https://files.example.org/demo-1.0.tar.gz#md5=00",
                "hashes": {"SHA256": SHA.upper(), "blake2b": "not hex", "md5": 5},
                "requires-python": ">=3.8",
                "yanked": "broken build",
                "size": 1234,
                "upload-time": "2023-01-02T03:04:05.123456Z",
            },
            {
                "filename": "demo-2.0-py3-none-any.whl",
                "url": "https://files.example.org/demo-2.0-py3-none-any.whl",
                "hashes": {},
                "requires-python": "",
                "yanked": True,
            },
            {
                "filename": "demo-3.0.tar.gz",
                "url": "https://files.example.org/demo-3.0.tar.gz",
                "hashes": {"sha256": SHA2},
                "yanked": False,
                "size": True,
                "upload-time": "not a date",
            },
        ],
    })
    assert (page.name, page.api_version, page.versions) == ("demo", "1.1", ("1.0", "2.0"))
    a, b, c = page.records()
    assert a == IndexFile(
        filename="demo-1.0.tar.gz",
        url="https://files.example.org/demo-1.0.tar.gz",
        hashes={"sha256": SHA},
        requires_python=">=3.8",
        yanked=True,
        yanked_reason="broken build",
        size=1234,
        upload_time_text="2023-01-02T03:04:05.123456Z",
    )
    assert (b.hashes, b.requires_python, b.yanked, b.yanked_reason) == ({}, None, True, None)
    assert (c.yanked, c.yanked_reason, c.size, c.uploaded_at) == (False, None, None, None)


def test_json_defaults() -> None:
    page = parse_project_page(b'{"files": []}', content_type=JSON, url=PAGE_URL, name="demo")
    assert (page.api_version, page.records(), page.versions) == ("1.0", (), ())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-01-02T03:04:05Z", datetime(2023, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("2023-01-02T03:04:05.1Z", datetime(2023, 1, 2, 3, 4, 5, 100000, tzinfo=timezone.utc)),
        ("2023-01-02T03:04:05.123456789z",
         datetime(2023, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)),
        ("2023-01-02 03:04:05", datetime(2023, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
        ("2023-01-02T03:04:05+02:00",
         datetime(2023, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))),
        ("2023-01-02T03:04-0130",
         datetime(2023, 1, 2, 3, 4, tzinfo=timezone(-timedelta(hours=1, minutes=30)))),
        ("2023-02-30T00:00:00Z", None),
        ("2023-13-02T03:04:05.123456Z", None),
        ("2023-01-02T03:04:05.12345xZ", None),
        ("2023-01-02 03:04:05.123456Z", datetime(2023, 1, 2, 3, 4, 5, 123456,
                                                 tzinfo=timezone.utc)),
        ("2023-01-02T03:04:05+24:00", None),
        ("2023-01-02", None),
        ("", None),
        (12345, None),
    ],
)
def test_upload_time(value: object, expected: datetime | None) -> None:
    got = one_json(upload_time=value).uploaded_at
    assert got == expected
    if got is not None:
        assert got.tzinfo is not None
        assert expected is not None
        assert got.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (b"", "invalid JSON"),
        (b"[]", "not an object"),
        (b'"x"', "not an object"),
        (b'{"meta": {}}', "'files' must be a list, found missing"),
        (b'{"files": {}}', "'files' must be a list, found a dict"),
        (b'{"files": [1]}', r"files\[0\] is not an object"),
        (b'{"files": [{"url": "x"}]}', r"files\[0\] has no string 'filename'"),
        (b'{"meta": [], "files": []}', "'meta' is not an object"),
        (b'{"meta": {"api-version": 1.0}, "files": []}', "api-version' is not a string"),
        (b'{"meta": {"api-version": "one"}, "files": []}', "invalid repository API version"),
        (b'{"files": [], "versions": "1.0"}', "'versions' is not a list"),
        (b'{"files": []}\xff', "not valid UTF-8"),
        (b"[" * 100_000, "invalid JSON|nested too deeply"),
    ],
)
def test_json_structural_errors(content: bytes, reason: str) -> None:
    with pytest.raises(IndexPageError, match=reason) as info:
        parse_project_page(content, content_type=JSON, url=PAGE_URL, name="demo")
    assert "\n" not in str(info.value)
    assert info.value.url == PAGE_URL


def test_json_entry_without_url_fails_when_its_version_is_reached() -> None:
    content = json.dumps(json_page(
        json_file(filename="demo-2.0.tar.gz"),
        {"filename": "demo-1.0.tar.gz", "url": None},
    )).encode()
    page = parse_project_page(content, content_type=JSON, url=PAGE_URL, name="demo")
    by_version = {g.version: g for g in page.groups}
    assert [f.filename for f in by_version["2.0"].records()] == ["demo-2.0.tar.gz"]
    with pytest.raises(IndexPageError, match=r"files\[1\] has no string 'url'"):
        by_version["1.0"].records()


@pytest.mark.parametrize(
    "fields",
    [
        {"hashes": ["sha256", SHA]},
        {"yanked": 1},
        {"requires-python": [">=3"]},
        {"filename": "   "},
        {"url": "http://[::1/demo.whl"},
    ],
)
def test_json_invalid_entries_are_skipped(
    fields: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="skimlock.simple")
    bad = json_file()
    bad.update(fields)
    good = json_file(filename="demo-2.0.tar.gz")
    page = parse_json(json_page(bad, good))
    assert [f.filename for f in page.records()] == ["demo-2.0.tar.gz"]
    assert any("skipping" in r.getMessage() for r in caplog.records)


def test_json_bom_is_accepted() -> None:
    content = b"\xef\xbb\xbf" + json.dumps(json_page(json_file())).encode()
    assert len(parse_project_page(content, content_type=JSON, url=PAGE_URL,
                                  name="demo").records()) == 1


def test_error_messages_redact_credentials() -> None:
    with pytest.raises(IndexPageError) as info:
        parse_project_page(b"{", content_type=JSON, url="https://u:s3cret@idx.example/simple/d/",
                           name="d")
    assert "s3cret" not in str(info.value)
    assert "idx.example" in str(info.value)


# --- HTML decoding -------------------------------------------------------------------------------


def test_html_decoding() -> None:
    latin = '<a href="caf\xe9-1.0.tar.gz">caf\xe9-1.0.tar.gz</a>'.encode("latin-1")
    page = parse_project_page(latin, content_type="text/html; charset=ISO-8859-1", url=PAGE_URL,
                              name="demo")
    assert page.records()[0].filename == "caf\xe9-1.0.tar.gz"
    with pytest.raises(IndexPageError, match="not valid utf-8"):
        parse_project_page(latin, content_type="text/html", url=PAGE_URL, name="demo")
    with pytest.raises(IndexPageError, match="unknown charset"):
        parse_project_page(b"", content_type="text/html; charset=klingon", url=PAGE_URL,
                           name="demo")
    bom = b"\xef\xbb\xbf" + html_page(ANCHOR)
    assert len(parse_project_page(bom, content_type=HTML, url=PAGE_URL, name="d").records()) == 1


# --- PEP 629 api-version -----------------------------------------------------------------------

META = '<meta name="pypi:repository-version" content="{}">'


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.4", "1"])
def test_supported_versions_are_silent(version: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    assert parse_html(ANCHOR, META.format(version)).api_version == version
    assert parse_json(json_page(meta={"api-version": version})).api_version == version
    assert caplog.records == []


@pytest.mark.parametrize("version", ["2.0", "0.9", "2"])
def test_unsupported_major_version(version: str) -> None:
    with pytest.raises(ApiVersionError) as info:
        parse_html(ANCHOR, META.format(version))
    assert info.value.version == version
    assert version in str(info.value)
    with pytest.raises(ApiVersionError):
        parse_json(json_page(json_file(), meta={"api-version": version}))


def test_newer_minor_version_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="skimlock.simple")
    page = parse_html(ANCHOR, META.format("1.9"))
    assert page.api_version == "1.9"
    assert len(page.records()) == 1
    parse_json(json_page(json_file(), meta={"api-version": "1.9"}))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "1.9" in warnings[0].getMessage()
    assert warnings[0].name == "skimlock.simple"
    parse_json(json_page(meta={"api-version": "1.10"}))
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


def test_html_meta_attribute_variants() -> None:
    head = "<META CONTENT='1.2' NAME='pypi:repository-version'><meta name=x content=9.0>"
    assert parse_html(ANCHOR, head).api_version == "1.2"
    with pytest.raises(IndexPageError, match="invalid repository API version"):
        parse_html(ANCHOR, META.format("latest"))


# --- robustness ----------------------------------------------------------------------------------

CONTENT_TYPES = st.sampled_from([HTML, JSON, "", "text/html; charset=latin-1"])
HTMLISH = st.text(
    alphabet=st.one_of(st.sampled_from(list("<a href='\"#=&;>/ \n-.sha256:0fAF[]")),
                       st.characters()),
    max_size=300,
)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                         st.text(max_size=20))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=10,
)
FILE_KEYS = st.sampled_from(["filename", "url", "hashes", "requires-python", "yanked", "size",
                             "upload-time", "core-metadata", "dist-info-metadata"])


def _parse_or_skimlock_error(content: bytes, content_type: str) -> None:
    try:
        page = parse_project_page(content, content_type=content_type, url=PAGE_URL, name="demo")
    except SkimlockError as exc:
        assert str(exc)  # noqa: PT017 -- any SkimlockError is a pass; it must have a message
        return
    for f in page.records():
        assert isinstance(f.filename, str)
        assert f.filename
        assert "#" not in f.url


@settings(max_examples=300, deadline=None)
@given(content=st.binary(max_size=400), content_type=CONTENT_TYPES)
def test_fuzz_bytes(content: bytes, content_type: str) -> None:
    _parse_or_skimlock_error(content, content_type)


@settings(max_examples=300, deadline=None)
@given(text=HTMLISH, content_type=CONTENT_TYPES)
def test_fuzz_text(text: str, content_type: str) -> None:
    _parse_or_skimlock_error(text.encode("utf-8", "surrogatepass"), content_type)


@settings(max_examples=300, deadline=None)
@given(
    files=st.lists(st.dictionaries(FILE_KEYS, JSON_VALUES, max_size=9), max_size=4),
    meta=st.dictionaries(st.sampled_from(["api-version", "x"]), JSON_VALUES, max_size=2),
    versions=JSON_VALUES,
)
def test_fuzz_json_structure(files: list[dict[str, Any]], meta: dict[str, Any],
                             versions: Any) -> None:
    content = json.dumps({"meta": meta, "files": files, "versions": versions}).encode()
    _parse_or_skimlock_error(content, JSON)


# --- lazy groups and link schemes ------------------------------------------------------------


@pytest.mark.parametrize("href", ["javascript:alert(1)", "JavaScript:void(0)", "data:,x",
                                  "mailto:a@b.example", "ftp://files.example/demo-1.0.tar.gz"])
def test_links_that_are_not_file_urls_are_skipped(href: str) -> None:
    body = (f'<a href="{href}">demo-1.0.tar.gz</a>'
            '<a href="https://f.example/demo-1.0.tar.gz">demo-1.0.tar.gz</a>')
    assert [f.url for f in parse_html(body).records()] == ["https://f.example/demo-1.0.tar.gz"]
    page = parse_json(json_page(json_file(filename="demo-1.0.tar.gz", url=href),
                                json_file(filename="demo-1.0.tar.gz")))
    assert [f.url for f in page.records()] == [json_file()["url"]]


def test_file_links_only_on_a_local_index() -> None:
    body = ('<a href="file:///srv/demo-1.0.tar.gz">demo-1.0.tar.gz</a>'
            '<a href="d/demo-2.tar.gz">x</a>')
    # A remote page may not point at local files (a hostile index reading this machine's).
    assert [f.url for f in parse_html(body).records()] == [
        "https://example.org/simple/demo/d/demo-2.tar.gz"
    ]
    local = parse_html(body, url="file:///srv/simple/demo/")
    assert [f.url for f in local.records()] == [
        "file:///srv/demo-1.0.tar.gz", "file:///srv/simple/demo/d/demo-2.tar.gz"
    ]


@pytest.mark.parametrize("fmt", ["html", "json"])
def test_groups_by_version_keep_page_order(fmt: str) -> None:
    names = ["demo-2.0.tar.gz", "demo-1.0-py3-none-any.whl", "demo-2.0-py3-none-any.whl",
             "other.exe", "demo-1.0.tar.gz"]
    if fmt == "html":
        page = parse_html("".join(f'<a href="/f/{n}">{n}</a>' for n in names))
    else:
        page = parse_json(json_page(*(json_file(filename=n, url=f"/f/{n}") for n in names)))
    assert {g.version: [f.filename for f in g.records()] for g in page.groups} == {
        "2.0": ["demo-2.0.tar.gz", "demo-2.0-py3-none-any.whl"],
        "1.0": ["demo-1.0-py3-none-any.whl", "demo-1.0.tar.gz"],
        "": ["other.exe"],
    }
    assert [f.filename for f in page.records()] == names


def test_upload_time_is_kept_as_text_until_read() -> None:
    f = one_json(upload_time="2023-01-02T03:04:05Z")
    assert (f.upload_time, f.upload_time_text) == (None, "2023-01-02T03:04:05Z")
    assert f.uploaded_at == datetime(2023, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize("fmt", ["html", "json"])
@pytest.mark.parametrize("first", ["other.exe", "demo-1.0.tar.gz"])
def test_every_entry_is_kept_whatever_comes_first(fmt: str, first: str) -> None:
    names = [first, first, "demo-2.0.tar.gz", "x.exe", first]
    if fmt == "html":
        page = parse_html("".join(f'<a href="/f/{i}/{n}">{n}</a>' for i, n in enumerate(names)))
    else:
        page = parse_json(json_page(*(json_file(filename=n, url=f"/f/{i}/{n}")
                                      for i, n in enumerate(names))))
    assert [f.filename for f in page.records()] == names
