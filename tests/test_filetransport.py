"""``file://`` through httpx (:mod:`skimlock.filetransport`): ranges, trees, flat directories."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from skimlock.filetransport import FileTransport, local_url


def uri(path: Path) -> str:
    """httpx takes ``file:///x`` for a relative URL (no host): skimlock uses ``localhost``."""
    return local_url(path.as_uri())


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(mounts={"file://": FileTransport()}, trust_env=False) as running:
        yield running


def test_whole_file_and_single_ranges(client: httpx.Client, tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(range(100)))
    url = uri(path)
    whole = client.get(url)
    assert (whole.status_code, whole.content) == (200, bytes(range(100)))
    assert whole.headers["accept-ranges"] == "bytes"
    cases = {
        "bytes=10-19": (206, bytes(range(10, 20)), "bytes 10-19/100"),
        "bytes=90-": (206, bytes(range(90, 100)), "bytes 90-99/100"),
        "bytes=-5": (206, bytes(range(95, 100)), "bytes 95-99/100"),
        "bytes=-500": (206, bytes(range(100)), "bytes 0-99/100"),
        "bytes=95-500": (206, bytes(range(95, 100)), "bytes 95-99/100"),
        "bytes=100-": (416, b"", "bytes */100"),
        "bytes=0-1,5-6": (200, bytes(range(100)), None),
    }
    for header, (status, body, content_range) in cases.items():
        response = client.get(url, headers={"Range": header})
        assert response.status_code == status, header
        assert response.content == body, header
        assert response.headers.get("content-range") == content_range, header
        assert int(response.headers.get("content-length", "0")) == len(body), header
    head = client.head(url)
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "100")


def test_missing_foreign_host_and_methods(client: httpx.Client, tmp_path: Path) -> None:
    assert client.get(uri(tmp_path / "nope")).status_code == 404
    assert client.get("file://example.com/etc/hostname").status_code == 404
    assert client.post(uri(tmp_path)).status_code == 405


def test_tree_directory_answers_with_its_index_html(client: httpx.Client, tmp_path: Path) -> None:
    (tmp_path / "simple" / "foo").mkdir(parents=True)
    (tmp_path / "simple" / "foo" / "index.html").write_text("<a href='x'>x</a>")
    response = client.get(uri(tmp_path / "simple" / "foo") + "/")
    assert response.status_code == 200
    assert response.text == "<a href='x'>x</a>"
    assert response.headers["content-type"].startswith("text/html")


def test_flat_directory_pages_are_generated(client: httpx.Client, tmp_path: Path) -> None:
    (tmp_path / "Foo_Bar-1.0-py3-none-any.whl").write_bytes(b"wheel")
    (tmp_path / "foo_bar-0.9.tar.gz").write_bytes(b"sdist")
    (tmp_path / "other-1.0-py3-none-any.whl").write_bytes(b"other")
    (tmp_path / "notes.txt").write_text("not a distribution")
    page = client.get(uri(tmp_path) + "/foo-bar/")
    assert page.status_code == 200
    assert "../Foo_Bar-1.0-py3-none-any.whl#sha256=" in page.text
    assert "../foo_bar-0.9.tar.gz#sha256=" in page.text
    assert "other" not in page.text
    assert client.get(uri(tmp_path) + "/missing/").status_code == 404
    listing = client.get(uri(tmp_path) + "/")
    assert "other-1.0-py3-none-any.whl" in listing.text
    assert "notes.txt" not in listing.text


def test_local_url() -> None:
    assert local_url("file:///a/b/") == "file://localhost/a/b/"
    assert local_url("FILE:///a") == "file://localhost/a"
    assert local_url("file://localhost/a") == "file://localhost/a"
    assert local_url("https://h/a") == "https://h/a"


def test_a_server_cannot_redirect_to_a_local_file(
    make_tree: object, tmp_path: Path
) -> None:
    """A remote index answering with a redirect to ``file://`` must not make skimlock read this
    machine's files (the file transport is mounted on the same client)."""
    from functools import partial

    from index.faults import Respond, path_is
    from index.server import serve_index
    from index.tree import Mode
    from skimlock.errors import FetchError
    from skimlock.fetch import Fetcher

    secret = tmp_path / "secret.txt"
    secret.write_text("not for the index\n")
    tree = make_tree(Mode.PEP658_SHA256)  # type: ignore[operator]
    redirect = partial(Respond, when=path_is("/simple/alpha/"), status=302,
                       headers={"Location": secret.as_uri()})
    with (
        serve_index(tree, middleware=[redirect]) as server,
        httpx.Client(trust_env=False, mounts={"file://": FileTransport()}) as client,
        Fetcher(client) as fetcher,
        pytest.raises(FetchError, match="redirect to a local file refused"),
    ):
        fetcher.page(server.simple_url, "alpha")
