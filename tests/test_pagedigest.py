"""The pre-digested form of a page the cache keeps: a round trip, damage, and a warm run that
does not parse pages again."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import skimlock.fetch
from index.server import Server
from skimlock import pagedigest
from skimlock.cli import main
from skimlock.simple import parse_project_page

URL = "https://example.org/simple/demo/"


def _json_page() -> bytes:
    files = [
        {"filename": f"demo-{v}-py3-none-any.whl", "url": f"../../f/demo-{v}-py3-none-any.whl",
         "hashes": {"sha256": "ab" * 32}, "requires-python": ">=3.8", "size": 100 + n,
         "upload-time": "2024-01-02T03:04:05.000000Z", "yanked": v == "1.1"}
        for n, v in enumerate(["1.0", "1.1", "2.0"])
    ]
    files.append({"filename": "demo-2.0.tar.gz", "url": "../../f/demo-2.0.tar.gz",
                  "hashes": {"sha256": "cd" * 32}})
    return json.dumps({"meta": {"api-version": "1.1"}, "name": "demo", "files": files,
                       "versions": ["1.0", "1.1", "2.0"]}).encode()


def _html_page() -> bytes:
    return (b'<html><body><a href="../../f/demo-1.0.tar.gz#sha256=' + b"ab" * 32
            + b'" data-requires-python="&gt;=3.8">demo-1.0.tar.gz</a>'
            b'<a href="../../f/demo-2.0-py3-none-any.whl">demo-2.0-py3-none-any.whl</a>'
            b"</body></html>")


@pytest.mark.parametrize(("body", "content_type"), [
    (_json_page(), "application/vnd.pypi.simple.v1+json"), (_html_page(), "text/html"),
])
def test_round_trip_keeps_every_record(body: bytes, content_type: str) -> None:
    page = parse_project_page(body, content_type=content_type, url=URL, name="Demo")
    data = pagedigest.dump(page)
    assert data is not None
    again = pagedigest.load(data)
    assert again is not None
    assert (again.name, again.url, again.api_version, again.versions) == (
        page.name, page.url, page.api_version, page.versions)
    assert again.records() == page.records()
    assert [g.version for g in again.groups] == [g.version for g in page.groups]


@pytest.mark.parametrize("damage", [b"", b"\x00\x01", b"not msgpack at all"])
def test_damaged_data_is_not_a_page(damage: bytes) -> None:
    assert pagedigest.load(damage) is None
    page = parse_project_page(_json_page(), content_type="application/vnd.pypi.simple.v1+json",
                              url=URL, name="demo")
    data = pagedigest.dump(page)
    assert data is not None
    assert pagedigest.load(data[: len(data) // 2]) is None


def test_warm_runs_parse_no_page(
    index_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    argv = ["lock", "-i", index_server.simple_url, "--python-version", "3.12",
            "--platform", "manylinux_2_28_x86_64", "alpha", "-o", "-"]
    assert main(argv) == 0
    cold = capsys.readouterr().out
    # The first run that reads the pages from the cache digests them; later runs use that.
    assert main(argv) == 0
    assert capsys.readouterr().out == cold
    parsed: list[str] = []
    real = skimlock.fetch.parse_project_page

    def counted(*args: object, **kwargs: object) -> object:
        parsed.append(str(kwargs.get("name")))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(skimlock.fetch, "parse_project_page", counted)
    assert main(argv) == 0
    warm = capsys.readouterr().out
    assert parsed == []
    assert warm == cold
    assert list(Path(os.environ["SKIMLOCK_CACHE_DIR"]).rglob(f"*.{pagedigest.KIND}"))
