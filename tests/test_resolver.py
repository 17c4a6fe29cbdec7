"""Host names are resolved once per run, one lookup at a time (a resolver that drops some of
many simultaneous queries stalled runs for 5-10 s)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpcore
import httpx
import pytest

from index.server import Server
from skimlock.fetch import Fetcher
from skimlock.transport import _Addresses


def test_many_threads_share_one_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = socket.getaddrinfo

    def slow(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        calls.append(host)
        time.sleep(0.2)
        return real("127.0.0.1", port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    addresses = _Addresses()
    results: list[tuple[str, ...]] = []
    threads = [threading.Thread(target=lambda: results.append(addresses.lookup("index.test", 443)))
               for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == ["index.test"]
    assert results == [("127.0.0.1",)] * 16
    assert addresses.lookup("index.test", 443) == ("127.0.0.1",)
    assert calls == ["index.test"]


def test_a_failed_lookup_is_not_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: list[Any] = [socket.gaierror(-3, "Temporary failure in name resolution")] * 3

    def flaky(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        if answers:
            raise answers.pop()
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", flaky)
    addresses = _Addresses()
    with pytest.raises(httpcore.ConnectError, match="name resolution"):
        addresses.lookup("index.test", 80)
    assert addresses.lookup("index.test", 80) == ("127.0.0.1",)


def test_a_run_resolves_its_index_host_once(
    index_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the real fetch layer: many parallel requests to ``localhost``, one lookup."""
    calls: list[str] = []
    real = socket.getaddrinfo

    def counted(host: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counted)
    url = index_server.simple_url.replace("127.0.0.1", "localhost")
    names = ["alpha", "beta", "gamma", "tiny", "bigdir", "bigfile", "distfirst", "yanky"]
    with httpx.Client(trust_env=False) as client, Fetcher(client) as fetcher:
        futures = [fetcher.submit_page(url, name) for name in names]
        assert all(future.result() is not None for future in futures)
    assert calls.count("localhost") == 1


def test_a_lookup_the_resolver_drops_is_asked_again_beside_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from skimlock import transport

    monkeypatch.setattr(transport, "_LOOKUP_HEDGE", 0.1)
    calls: list[float] = []

    def lossy(host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        calls.append(time.monotonic())
        if len(calls) == 1:
            time.sleep(2.0)  # the first query was dropped: the system resends after seconds
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", lossy)
    started = time.monotonic()
    assert _Addresses().lookup("index.test", 443) == ("127.0.0.1",)
    assert time.monotonic() - started < 1.0
    assert len(calls) == 2


def test_fast_failures_are_retried_then_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def failing(host: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(host)
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", failing)
    with pytest.raises(httpcore.ConnectError, match="not known"):
        _Addresses().lookup("nowhere.test", 443)
    assert len(calls) == 3
