"""The test index behaves as its docstrings claim: built wheels, written trees, served pages,
ranges, the request log, and the third-party servers."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import struct
import subprocess
import sys
import time
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from index import DistSet
from index.server import HTML_LEGACY, HTML_V1, JSON_V1, negotiate, serve_index
from index.thirdparty import ThirdPartyServer
from index.tree import IndexTree, Mode, write_index
from index.wheels import build_sdist, build_wheel, read_metadata, wheel_filename

JSON_ACCEPT = {"Accept": JSON_V1}
HTML_ACCEPT = {"Accept": "text/html"}


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))


def anchors(page: str) -> dict[str, dict[str, str | None]]:
    """href file name (no fragment) to the anchor's attributes, unescaped."""
    parser = _Anchors()
    parser.feed(page)
    return {str(a["href"]).split("#")[0].rsplit("/", 1)[-1]: a for a in parser.anchors}


# -- wheels -------------------------------------------------------------------------------------


def test_wheel_record_matches_every_member(tmp_path: Path) -> None:
    path = build_wheel(tmp_path, "Some.Thing", "1.0", requires_dist=["x>1"], padding_files=3)
    assert path.name == "some_thing-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        record = archive.read("some_thing-1.0.dist-info/RECORD").decode()
        rows = {row[0]: row[1:] for row in csv.reader(io.StringIO(record))}
        assert set(rows) == set(names)
        for name in names:
            if name.endswith("RECORD"):
                assert rows[name] == ["", ""]
                continue
            data = archive.read(name)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert rows[name] == [f"sha256={digest}", str(len(data))]
        assert names[-1].endswith(".dist-info/RECORD")
        assert b"Tag: py3-none-any\n" in archive.read("some_thing-1.0.dist-info/WHEEL")
    assert read_metadata(path).startswith(
        b"Metadata-Version: 2.1\nName: Some.Thing\nVersion: 1.0\n"
    )
    assert b"Requires-Dist: x>1\n" in read_metadata(path)


def test_wheel_is_deterministic_and_metadata_override_is_verbatim(tmp_path: Path) -> None:
    first = build_wheel(tmp_path / "a", "same", "1.0", padding_files=10, padding_bytes=1000)
    second = build_wheel(tmp_path / "b", "same", "1.0", padding_files=10, padding_bytes=1000)
    assert first.read_bytes() == second.read_bytes()
    odd = b"Metadata-Version: 2.1\r\nName: other\r\nVersion: 9\r\n"
    assert read_metadata(build_wheel(tmp_path / "c", "same", "1.0", metadata=odd)) == odd


def test_big_central_directory_builds_fast(tmp_path: Path) -> None:
    start = time.perf_counter()
    path = build_wheel(tmp_path, "bigdir", "1.0", padding_files=3000)
    assert time.perf_counter() - start < 2.0
    data = path.read_bytes()
    cd_size, cd_offset = struct.unpack_from("<II", data, len(data) - 22 + 12)
    assert cd_offset + cd_size == len(data) - 22
    assert cd_size > 200 * 1024


def test_layout_knobs(dist_set: DistSet) -> None:
    with zipfile.ZipFile(dist_set.find("distfirst", "1.0").path) as archive:
        assert archive.namelist()[0] == "distfirst-1.0.dist-info/METADATA"
    big = dist_set.find("bigfile", "1.0")
    assert big.size > 3_000_000
    data = dist_set.find("zipsixtyfour", "1.0").path.read_bytes()
    assert data[-22:-18] == b"PK\x05\x06"
    assert struct.unpack_from("<HHII", data, len(data) - 22 + 8) == (
        0xFFFF,
        0xFFFF,
        0xFFFFFFFF,
        0xFFFFFFFF,
    )
    assert data[-42:-38] == b"PK\x06\x07"
    (zip64_offset,) = struct.unpack_from("<Q", data, len(data) - 42 + 8)
    assert data[zip64_offset : zip64_offset + 4] == b"PK\x06\x06"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
    with zipfile.ZipFile(dist_set.find("bigdir", "1.0").path) as archive:
        assert archive.testzip() is None
        assert len(archive.namelist()) == 3000 + 4
    assert (
        dist_set.find("mixed-case-name", "1.0").filename == "mixed_case_name-1.0-py3-none-any.whl"
    )


def test_sdist_has_pkg_info(tmp_path: Path) -> None:
    path = build_sdist(tmp_path, "Sdist.Only", "1.0", requires_python=">=3.9")
    assert path.name == "sdist_only-1.0.tar.gz"
    assert b"Requires-Python: >=3.9\n" in read_metadata(path)


def test_pip_installs_the_wheels(tmp_path: Path, dist_set: DistSet) -> None:
    # Not bigdir: writing its 3,000 files costs seconds of file system time; zipfile checks it.
    names = ["tiny", "distfirst", "zipsixtyfour", "bigfile", "Mixed_Case.Name"]
    wheels = [str(dist_set.find(n, "1.0").path) for n in names]
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
         "--disable-pip-version-check", "--no-compile", "--target", str(target), *wheels],
        check=True,
    )  # fmt: skip
    code = (
        "import tiny, distfirst, zipsixtyfour, bigfile, mixed_case_name as m; print(m.__version__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(target)},
        check=True,
        capture_output=True,
        text=True,
    )
    assert result.stdout == "1.0\n"
    installed = target / "zipsixtyfour-1.0.dist-info" / "METADATA"
    assert installed.read_bytes() == dist_set.metadata("zipsixtyfour-1.0-py3-none-any.whl")


# -- tree ---------------------------------------------------------------------------------------

EXPECTED_KEYS = {
    Mode.PEP658_SHA256: ("hash", None),
    Mode.PEP658_TRUE: ("true", None),
    Mode.LEGACY_ONLY: (None, "hash"),
    Mode.BOTH_KEYS_DIFFER: ("hash", "wrong"),
    Mode.NO_METADATA: (None, None),
    Mode.NO_RANGES: (None, None),
}


def _expected(kind: str | None, digest: str) -> str | None:
    if kind == "hash":
        return f"sha256={digest}"
    return kind


@pytest.mark.parametrize("mode", list(Mode))
def test_tree_advertises_metadata_per_mode(make_tree: Any, dist_set: DistSet, mode: Mode) -> None:
    tree: IndexTree = make_tree(mode)
    filename = "alpha-2.0-py3-none-any.whl"
    digest = hashlib.sha256(dist_set.metadata(filename)).hexdigest()
    new, legacy = EXPECTED_KEYS[mode]

    attrs = anchors((tree.root / "simple/alpha/index.html").read_text())[filename]
    assert attrs.get("data-core-metadata") == _expected(new, digest)
    if legacy == "wrong":
        assert attrs["data-dist-info-metadata"] not in (None, f"sha256={digest}")
        assert str(attrs["data-dist-info-metadata"]).startswith("sha256=")
    else:
        assert attrs.get("data-dist-info-metadata") == _expected(legacy, digest)

    page = json.loads((tree.root / "simple/alpha/index.json").read_text())
    entry = next(f for f in page["files"] if f["filename"] == filename)
    json_new = {"hash": {"sha256": digest}, "true": True, None: None}[new]
    assert entry.get("core-metadata") == json_new
    if legacy == "wrong":
        assert entry["dist-info-metadata"]["sha256"] != digest
    else:
        assert entry.get("dist-info-metadata") == {"hash": {"sha256": digest}, None: None}[legacy]

    metadata_file = tree.root / "files" / f"{filename}.metadata"
    assert metadata_file.exists() is mode.serves_metadata
    if mode.serves_metadata:
        assert metadata_file.read_bytes() == dist_set.metadata(filename)
    assert tree.metadata(filename) == dist_set.metadata(filename)


def test_tree_pages_carry_pep_592_691_700_fields(make_tree: Any, dist_set: DistSet) -> None:
    tree: IndexTree = make_tree(Mode.PEP658_SHA256)
    beta = anchors((tree.root / "simple/beta/index.html").read_text())
    assert beta["beta-1.1-py3-none-any.whl"]["data-requires-python"] == ">=3.8"
    assert "data-requires-python" not in beta["beta-1.0-py3-none-any.whl"]
    raw = (tree.root / "simple/beta/index.html").read_text()
    assert 'data-requires-python="&gt;=3.8"' in raw
    href = beta["beta-1.1-py3-none-any.whl"]["href"]
    sha = dist_set.get("beta-1.1-py3-none-any.whl").sha256
    assert href == f"../../files/beta-1.1-py3-none-any.whl#sha256={sha}"

    reason = dist_set.yanked["yanky-2.0-py3-none-any.whl"]
    yanky = anchors((tree.root / "simple/yanky/index.html").read_text())
    assert yanky["yanky-2.0-py3-none-any.whl"]["data-yanked"] == reason
    assert "data-yanked" not in yanky["yanky-1.0-py3-none-any.whl"]

    page = json.loads((tree.root / "simple/alpha/index.json").read_text())
    assert page["meta"] == {"api-version": "1.1"}
    assert page["name"] == "alpha"
    assert page["versions"] == ["1.0", "2.0"]
    sdist = next(f for f in page["files"] if f["filename"] == "alpha-2.0.tar.gz")
    assert sdist["url"] == "../../files/alpha-2.0.tar.gz"
    assert sdist["size"] == dist_set.get("alpha-2.0.tar.gz").size
    assert sdist["hashes"] == {"sha256": dist_set.get("alpha-2.0.tar.gz").sha256}
    assert sdist["yanked"] is False
    assert sdist["upload-time"].endswith("Z")
    yanky_json = json.loads((tree.root / "simple/yanky/index.json").read_text())
    assert {f["filename"]: f["yanked"] for f in yanky_json["files"]} == {
        "yanky-1.0-py3-none-any.whl": False,
        "yanky-2.0-py3-none-any.whl": reason,
    }
    listing = json.loads((tree.root / "simple/index.json").read_text())
    assert {p["name"] for p in listing["projects"]} == set(dist_set.projects())


def test_tree_overrides_and_rejects_unknown_names(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "d", "solo", "1.0", requires_python=">=3")
    tree = write_index(
        tmp_path / "t",
        [wheel],
        mode=Mode.NO_METADATA,
        yanked={wheel.name: None},
        requires_python={wheel.name: "<4,>=3.9"},
    )
    attrs = anchors((tree.root / "simple/solo/index.html").read_text())[wheel.name]
    assert attrs["data-requires-python"] == "<4,>=3.9"
    assert attrs["data-yanked"] == ""
    assert json.loads((tree.root / "simple/solo/index.json").read_text())["files"][0]["yanked"]
    with pytest.raises(ValueError, match="not in dists"):
        write_index(tmp_path / "u", [wheel], mode=Mode.NO_METADATA, yanked={"nope.whl": None})


# -- our server ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, HTML_LEGACY),
        ("*/*", HTML_LEGACY),
        ("text/html", HTML_LEGACY),
        (JSON_V1, JSON_V1),
        (HTML_V1, HTML_V1),
        (f"{JSON_V1}, {HTML_V1};q=0.2, text/html;q=0.01", JSON_V1),
        (f"{JSON_V1};q=0.1, text/html", HTML_LEGACY),
        (f"{JSON_V1};q=0, */*", HTML_LEGACY),
        (f"text/html;q=0.5, {HTML_V1};q=0.9", HTML_V1),
        ("application/*", JSON_V1),
        ("application/json", None),
        (f"{JSON_V1};q=0", None),
    ],
)
def test_negotiate(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept) == expected


def test_pages_by_negotiation(index_server: Any, http_client: httpx.Client) -> None:
    url = index_server.project_url("alpha")
    as_json = http_client.get(url, headers=JSON_ACCEPT)
    assert as_json.status_code == 200
    assert as_json.headers["content-type"] == JSON_V1
    assert as_json.headers["vary"] == "Accept"
    assert as_json.json()["name"] == "alpha"

    as_v1_html = http_client.get(url, headers={"Accept": HTML_V1})
    assert as_v1_html.headers["content-type"] == HTML_V1
    as_html = http_client.get(url, headers=HTML_ACCEPT)
    assert as_html.headers["content-type"] == "text/html; charset=utf-8"
    assert 'href="../../files/alpha-1.0-py3-none-any.whl#sha256=' in as_html.text
    assert http_client.get(url, headers={"Accept": "application/json"}).status_code == 406

    listing = http_client.get(index_server.simple_url, headers=JSON_ACCEPT)
    assert listing.headers["content-type"] == JSON_V1
    assert {"name": "alpha"} in listing.json()["projects"]
    assert 'href="alpha/"' in http_client.get(index_server.simple_url).text


def test_relative_urls_resolve_to_files(index_server: Any, http_client: httpx.Client) -> None:
    page = http_client.get(index_server.project_url("beta"), headers=JSON_ACCEPT)
    entry = page.json()["files"][0]
    resolved = page.url.join(entry["url"])
    assert str(resolved) == index_server.file_url(entry["filename"])
    body = http_client.get(resolved).content
    assert hashlib.sha256(body).hexdigest() == entry["hashes"]["sha256"]


@pytest.mark.parametrize(
    ("index_server", "content_type"),
    [
        ((Mode.PEP658_SHA256, "html"), "text/html; charset=utf-8"),
        ((Mode.PEP658_SHA256, "json"), JSON_V1),
    ],
    indirect=["index_server"],
)
def test_fixed_format_ignores_accept(
    index_server: Any, http_client: httpx.Client, content_type: str
) -> None:
    for headers in (JSON_ACCEPT, HTML_ACCEPT, {}):
        response = http_client.get(index_server.project_url("alpha"), headers=headers)
        assert response.headers["content-type"] == content_type
        assert "vary" not in response.headers


def test_redirects_and_404(index_server: Any, http_client: httpx.Client) -> None:
    response = http_client.get(index_server.project_url("Mixed_Case.Name"))
    assert response.status_code == 301
    assert response.headers["location"] == "/simple/mixed-case-name/"
    followed = http_client.get(
        index_server.project_url("Mixed_Case.Name"), headers=JSON_ACCEPT, follow_redirects=True
    )
    assert followed.status_code == 200
    assert followed.json()["name"] == "mixed-case-name"
    assert http_client.get(index_server.project_url("missing")).status_code == 404
    assert http_client.get(index_server.file_url("missing.whl")).status_code == 404


def test_suffix_range_and_416(index_server: Any, http_client: httpx.Client) -> None:
    wheel = index_server.tree.file("bigdir-1.0-py3-none-any.whl")
    data = wheel.path.read_bytes()
    url = index_server.file_url(wheel.filename)

    suffix = http_client.get(url, headers={"Range": "bytes=-100"})
    assert suffix.status_code == 206
    assert (
        suffix.headers["content-range"] == f"bytes {wheel.size - 100}-{wheel.size - 1}/{wheel.size}"
    )
    assert suffix.content == data[-100:]

    middle = http_client.get(url, headers={"Range": "bytes=10-19"})
    assert (middle.status_code, middle.content) == (206, data[10:20])

    multi = http_client.get(url, headers={"Range": "bytes=0-9,-10"})
    assert multi.status_code == 206
    assert multi.headers["content-type"].startswith("multipart/byteranges")

    beyond = http_client.get(url, headers={"Range": f"bytes={wheel.size}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{wheel.size}"


@pytest.mark.parametrize("index_server", [Mode.NO_RANGES], indirect=True)
def test_no_ranges_answers_whole_file(index_server: Any, http_client: httpx.Client) -> None:
    wheel = index_server.tree.file("tiny-1.0-py3-none-any.whl")
    response = http_client.get(
        index_server.file_url(wheel.filename), headers={"Range": "bytes=-100"}
    )
    assert response.status_code == 200
    assert response.content == wheel.path.read_bytes()
    assert "accept-ranges" not in response.headers
    assert "content-range" not in response.headers
    assert http_client.get(index_server.file_url(f"{wheel.filename}.metadata")).status_code == 404
    entry = index_server.log.matching("/files/tiny")[0]
    assert entry.range == "bytes=-100"  # the log shows what the client sent


@pytest.mark.parametrize(
    "index_server", [Mode.PEP658_SHA256, Mode.PEP658_TRUE, Mode.LEGACY_ONLY], indirect=True
)
def test_metadata_files_are_byte_identical(
    index_server: Any, http_client: httpx.Client, dist_set: DistSet
) -> None:
    for dist in dist_set.dists:
        response = http_client.get(index_server.file_url(f"{dist.filename}.metadata"))
        assert response.status_code == 200
        assert response.content == dist.metadata


def test_request_log_counts_bytes(index_server: Any, http_client: httpx.Client) -> None:
    assert len(index_server.log) == 0  # the fixture cleared it
    wheel = index_server.tree.file("bigfile-1.0-py3-none-any.whl")
    http_client.get(index_server.file_url(wheel.filename), headers={"Range": "bytes=-5000"})
    http_client.head(index_server.file_url(wheel.filename))
    http_client.get(index_server.file_url(wheel.filename))
    page = http_client.get(index_server.project_url("alpha"))

    ranged, head, whole = index_server.log.matching("/files/")
    assert (ranged.method, ranged.status, ranged.range, ranged.body_bytes) == (
        "GET",
        206,
        "bytes=-5000",
        5000,
    )
    assert (head.method, head.status, head.body_bytes) == ("HEAD", 200, 0)
    assert head.response_headers["content-length"] == str(wheel.size)
    assert (whole.status, whole.range, whole.body_bytes) == (200, None, wheel.size)
    assert index_server.log.bytes_sent("/files/") == 5000 + wheel.size
    assert index_server.log.bytes_sent("/simple/") == len(page.content)
    assert len(index_server.log.matching(method="GET")) == 3


def test_middleware_hook_wraps_inside_the_log(make_tree: Any, http_client: httpx.Client) -> None:
    calls: list[str] = []

    def refuse_suffix(app: Any) -> Any:
        async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
            ranges = dict(scope.get("headers", [])).get(b"range", b"")
            if ranges.startswith(b"bytes=-"):
                await send({"type": "http.response.start", "status": 404, "headers": []})
                await send({"type": "http.response.body", "body": b"nope"})
                return
            await app(scope, receive, send)

        return wrapped

    def trace(name: str) -> Any:
        def wrap(app: Any) -> Any:
            async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
                calls.append(name)
                await app(scope, receive, send)

            return wrapped

        return wrap

    with serve_index(
        make_tree(Mode.NO_METADATA), middleware=[trace("outer"), refuse_suffix, trace("inner")]
    ) as server:
        url = server.file_url("tiny-1.0-py3-none-any.whl")
        assert http_client.get(url, headers={"Range": "bytes=-10"}).status_code == 404
        assert http_client.get(url, headers={"Range": "bytes=0-9"}).status_code == 206
        assert calls == ["outer", "outer", "inner"]
        first, second = server.log.entries
        assert (first.status, first.body_bytes, second.status) == (404, 4, 206)


def test_serve_index_from_path_needs_a_mode(make_tree: Any) -> None:
    with (
        pytest.raises(TypeError, match="needs a mode"),
        serve_index(make_tree(Mode.NO_METADATA).root),
    ):
        pass


# -- third-party servers ------------------------------------------------------------------------


@pytest.mark.interop
def test_simple_repository_server(
    simple_repository_server: ThirdPartyServer, http_client: httpx.Client, dist_set: DistSet
) -> None:
    listing = http_client.get(simple_repository_server.simple_url)
    assert 'href="alpha/"' in listing.text
    url = simple_repository_server.project_url("alpha")
    page = http_client.get(url)
    filename = "alpha-2.0-py3-none-any.whl"
    attrs = anchors(page.text)[filename]
    assert attrs["data-core-metadata"] == "true"

    as_json = http_client.get(url, headers=JSON_ACCEPT)
    assert as_json.headers["content-type"] == JSON_V1
    entry = next(f for f in as_json.json()["files"] if f["filename"] == filename)
    assert entry["core-metadata"] is True
    metadata = http_client.get(page.url.join(str(attrs["href"]) + ".metadata"))
    assert metadata.status_code == 200
    assert metadata.content == dist_set.metadata(filename)

    wheel = dist_set.get(filename)
    suffix = http_client.get(page.url.join(str(attrs["href"])), headers={"Range": "bytes=-100"})
    assert suffix.status_code == 206
    assert suffix.content == wheel.path.read_bytes()[-100:]


@pytest.mark.interop
def test_pypiserver(
    pypiserver: ThirdPartyServer, http_client: httpx.Client, dist_set: DistSet
) -> None:
    assert 'href="alpha/"' in http_client.get(pypiserver.simple_url).text
    page = http_client.get(pypiserver.project_url("alpha"))
    filename = "alpha-2.0-py3-none-any.whl"
    attrs = anchors(page.text)[filename]
    assert "data-core-metadata" not in attrs
    assert "data-dist-info-metadata" not in attrs
    wheel = dist_set.get(filename)
    assert str(attrs["href"]).endswith(f"#sha256={wheel.sha256}")

    url = page.url.join(str(attrs["href"]).split("#")[0])
    suffix = http_client.get(url, headers={"Range": "bytes=-100"})
    assert suffix.status_code == 206
    assert (
        suffix.headers["content-range"] == f"bytes {wheel.size - 100}-{wheel.size - 1}/{wheel.size}"
    )
    assert suffix.content == wheel.path.read_bytes()[-100:]


def test_wheel_filename_spelling() -> None:
    assert wheel_filename("A-B.c", "1.0.0-rc1", "cp311-cp311-linux_x86_64") == (
        "a_b_c-1.0.0rc1-cp311-cp311-linux_x86_64.whl"
    )
