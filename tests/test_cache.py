"""The on-disk cache as a store and an RFC 9111 planner (no HTTP here; the fetch tests cover the
wire side against real servers)."""

from __future__ import annotations

import email.utils
import threading
import time
from pathlib import Path

import pytest

from skimlock.cache import BUCKET, Cache, default_cache_dir, metadata_key

URL = "https://index.example/simple/demo/"
ACCEPT = "application/vnd.pypi.simple.v1+json"
BODY = b'{"meta": {"api-version": "1.1"}, "files": []}'


def _date(offset: float = 0.0) -> str:
    return email.utils.formatdate(time.time() + offset, usegmt=True)


def test_default_dir_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SKIMLOCK_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("SKIMLOCK_CACHE_DIR")
    assert default_cache_dir().name == "skimlock"


def test_a_page_without_freshness_information_is_fresh_for_the_default(tmp_path: Path) -> None:
    cache = Cache(tmp_path, default_max_age=600)
    stored = cache.store_page("Demo", URL, ACCEPT, status=200,
                              headers={"Content-Type": ACCEPT}, body=BODY)
    assert stored is not None
    assert "max-age=600" in stored.headers["cache-control"]
    plan = cache.page_plan("demo", URL, ACCEPT)
    assert plan.fresh is not None
    assert plan.fresh.body == BODY
    assert plan.fresh.content_type == ACCEPT


def test_a_stale_page_without_validators_is_fetched_again(tmp_path: Path) -> None:
    cache = Cache(tmp_path, default_max_age=600)
    cache.store_page("demo", URL, ACCEPT, status=200,
                     headers={"content-type": ACCEPT, "date": _date(-3600)}, body=BODY)
    plan = cache.page_plan("demo", URL, ACCEPT)
    assert plan.fresh is None
    assert plan.stored is None
    assert dict(plan.headers) == {"accept": ACCEPT}


def test_a_stale_page_with_an_etag_is_revalidated_and_freshened(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.store_page("demo", URL, ACCEPT, status=200, body=BODY, headers={
        "content-type": ACCEPT, "etag": '"abc"', "cache-control": "max-age=60",
        "date": _date(-120),
    })
    plan = cache.page_plan("demo", URL, ACCEPT)
    assert plan.fresh is None
    assert plan.stored is not None
    assert plan.headers["If-None-Match" if "If-None-Match" in plan.headers
                        else "if-none-match"] == '"abc"'
    freshened = cache.freshen_page("demo", plan.stored, ACCEPT,
                                   {"cache-control": "max-age=60", "etag": '"abc"'})
    assert freshened.body == BODY
    assert cache.page_plan("demo", URL, ACCEPT).fresh is not None


def test_refresh_forces_revalidation(tmp_path: Path) -> None:
    writer = Cache(tmp_path)
    writer.store_page("demo", URL, ACCEPT, status=200, body=BODY, headers={
        "content-type": ACCEPT, "last-modified": _date(-86400), "cache-control": "max-age=600",
    })
    writer.flush()
    assert Cache(tmp_path).page_plan("demo", URL, ACCEPT).fresh is not None
    for cache in (Cache(tmp_path, refresh=True), Cache(tmp_path, refresh_projects=["DEMO"])):
        plan = cache.page_plan("demo", URL, ACCEPT)
        assert plan.fresh is None
        assert plan.stored is not None
        assert any(k.lower() == "if-modified-since" for k in plan.headers)
    assert Cache(tmp_path, refresh_projects=["other"]).page_plan("demo", URL, ACCEPT).fresh


def test_no_store_is_not_stored(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    assert cache.store_page("demo", URL, ACCEPT, status=200, body=BODY,
                            headers={"cache-control": "no-store"}) is None
    assert cache.store_page("demo", URL, ACCEPT, status=404, body=b"", headers={}) is None
    assert cache.page("demo", URL, ACCEPT) is None


def test_pages_are_keyed_by_accept(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.store_page("demo", URL, ACCEPT, status=200, body=BODY, headers={"vary": "Accept"})
    assert cache.page("demo", URL, "text/html") is None
    assert cache.page("demo", URL, ACCEPT) is not None


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "other-bucket"])
def test_a_damaged_entry_is_never_used_and_is_removed(tmp_path: Path, damage: str) -> None:
    cache = Cache(tmp_path)
    key = metadata_key(sha256="AB" * 32, url="https://x/demo-1.0-py3-none-any.whl")
    cache.store_metadata("demo", key, b"Metadata-Version: 2.1\nName: demo\n",
                         strategy="metadata-range", file_size=1000, spent_bytes=300)
    cache.flush()
    [path] = (tmp_path / BUCKET / "metadata").rglob("*.entry")
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[:-5])
    elif damage == "flip":
        path.write_bytes(data[:-3] + b"X" + data[-2:])
    elif damage == "garbage":
        path.write_bytes(b"\x00\xff not json\n" + data)
    else:
        path.write_bytes(data.replace(f'"bucket":"{BUCKET}"'.encode(), b'"bucket":"v9"'))
    assert cache.metadata("demo", key) is None
    assert not path.exists()


def test_metadata_round_trip_and_keys(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    by_hash = metadata_key(sha256="Ab" * 32, url="https://a/x.whl")
    assert by_hash == "sha256-" + "ab" * 32
    assert metadata_key(sha256=None, url="https://a/x.whl").startswith("url-")
    cache.store_metadata("demo", by_hash, b"Name: demo\n", strategy="metadata-pep658",
                         file_size=None, spent_bytes=11)
    got = cache.metadata("Demo", by_hash)
    assert got is not None
    assert (got.data, got.strategy, got.file_size, got.spent_bytes) == (
        b"Name: demo\n", "metadata-pep658", None, 11)


def test_digested_forms_are_bound_to_the_page_body(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.store_digested("demo", "a" * 64, "parsed1", b"packed")
    assert cache.digested("demo", "a" * 64, "parsed1") == b"packed"
    assert cache.digested("demo", "b" * 64, "parsed1") is None
    assert cache.digested("demo", "a" * 64, "parsed2") is None


def test_hosts_expire(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = Cache(tmp_path)
    cache.store_host("files.example:8443", suffix=False, ranges=True)
    assert cache.host("files.example:8443") == {"suffix": False, "ranges": True}
    monkeypatch.setattr(time, "time", lambda: 1e12)
    assert cache.host("files.example:8443") is None


def test_concurrent_writers_leave_a_whole_entry(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    bodies = [bytes([i]) * 200_000 for i in range(8)]

    def write(body: bytes) -> None:
        for _ in range(5):
            cache.store_page("demo", URL, ACCEPT, status=200, body=body, headers={})

    threads = [threading.Thread(target=write, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    page = cache.page("demo", URL, ACCEPT)
    assert page is not None
    assert page.body in bodies
    cache.flush()
    on_disk = Cache(tmp_path).page("demo", URL, ACCEPT)  # a new reader: the disk only
    assert on_disk is not None
    assert on_disk.body == page.body  # the latest store is the one written
    assert not list((tmp_path / BUCKET).rglob("*.tmp"))


def test_an_unwritable_cache_warns_once_and_still_reads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cache = Cache(blocker / "cache")  # every mkdir below a regular file fails, even for root
    with caplog.at_level("WARNING", logger="skimlock.cache"):
        cache.store_page("demo", URL, ACCEPT, status=200, body=BODY, headers={})
        cache.flush()  # writes are behind the run: the failure is seen by the writer
        assert cache.store_page("demo", URL, ACCEPT, status=200, body=BODY, headers={}) is None
        cache.store_metadata("demo", "k", b"x", strategy="s", file_size=None, spent_bytes=0)
        cache.flush()
    assert len([r for r in caplog.records if "cannot write" in r.getMessage()]) == 1
    assert cache.page("demo", URL, ACCEPT) is None


def test_info_and_clean(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.store_page("demo", URL, ACCEPT, status=200, body=BODY, headers={})
    cache.store_page("other", URL + "x/", ACCEPT, status=200, body=BODY, headers={})
    cache.store_metadata("demo", "k1", b"x", strategy="s", file_size=None, spent_bytes=0)
    cache.store_host("h", suffix=True, ranges=True)
    info = cache.info()
    assert (info.pages, info.metadata, info.hosts) == (2, 1, 1)
    assert info.bytes > 0
    cache.store_metadata("demo-extra", "k1", b"y", strategy="s", file_size=None, spent_bytes=0)
    assert cache.clean("Demo") == 2
    assert cache.page("demo", URL, ACCEPT) is None
    assert cache.page("other", URL + "x/", ACCEPT) is not None
    stored = cache.metadata("demo-extra", "k1")  # a name that starts with "demo" is kept
    assert stored is not None
    assert stored.data == b"y"
    assert cache.clean() == 3
    assert cache.info().pages == 0


def test_project_names_cannot_escape_the_cache(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c")
    cache.store_metadata("../../etc", "../../passwd", b"x", strategy="s", file_size=None,
                         spent_bytes=0)
    cache.flush()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written
    assert all((tmp_path / "c") in p.parents for p in written)


def test_cache_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from skimlock.cli import main

    root = tmp_path / "cache"
    cache = Cache(root)
    cache.store_page("demo", URL, ACCEPT, status=200, body=BODY, headers={})
    cache.store_metadata("demo", "k1", b"x", strategy="s", file_size=None, spent_bytes=0)
    cache.flush()  # the command reads the directory with a cache of its own
    assert main(["cache", "dir", "--cache-dir", str(root)]) == 0
    assert capsys.readouterr().out == f"{root}\n"
    assert main(["cache", "info", "--cache-dir", str(root)]) == 0
    assert "1 page, 1 metadata, 0 hosts" in capsys.readouterr().out
    assert main(["cache", "clean", "Demo", "--cache-dir", str(root)]) == 0
    assert "removed 2 files of demo" in capsys.readouterr().err
    assert main(["cache", "info", "demo", "--cache-dir", str(root)]) == 2
    assert "takes no project name" in capsys.readouterr().err
