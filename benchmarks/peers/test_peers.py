"""Tests for the peer-benchmark harness (not collected by the default run: ``testpaths = tests``).

Run with ``.venv/bin/python -m pytest benchmarks/peers -q``. Loopback only, no peers needed.
"""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

import tools
from proxy import CountingProxy

import corpus
from index.server import LoggedRequest


def _echo_server() -> tuple[socket.socket, int]:
    """A TCP server on 127.0.0.1 that answers every connection with 'x' * 10_000 after reading
    one line."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(100)
                conn.sendall(b"x" * 10_000)

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def _connect(proxy: CountingProxy, port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", proxy.port)) as s:
        s.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(1)
        assert head.startswith(b"HTTP/1.1 200")
        s.sendall(payload)
        body = b""
        while chunk := s.recv(65536):
            body += chunk
        return body


def test_proxy_counts_tunnel_bytes_both_ways() -> None:
    server, port = _echo_server()
    with CountingProxy() as proxy:
        before = proxy.snapshot()
        assert _connect(proxy, port, b"hello\n") == b"x" * 10_000
        assert _connect(proxy, port, b"hi\n") == b"x" * 10_000
        assert proxy.wait_idle()
        delta = proxy.snapshot().minus(before)
    server.close()
    total = delta.hosts[f"127.0.0.1:{port}"]
    assert total.tunnels == 2
    assert total.bytes_down == 20_000
    assert total.bytes_up == len(b"hello\n") + len(b"hi\n")


def test_proxy_refuses_plain_http() -> None:
    with CountingProxy() as proxy, socket.create_connection(("127.0.0.1", proxy.port)) as s:
        s.sendall(b"GET http://example.invalid/ HTTP/1.1\r\nHost: example.invalid\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 405")
        assert proxy.snapshot().refused == 1


def _entry(method: str, path: str, status: int) -> LoggedRequest:
    return LoggedRequest(method=method, path=path, query="", range=None, request_headers={},
                         status=status, response_headers={}, body_bytes=1)


@pytest.mark.parametrize(
    ("method", "path", "status", "category"),
    [
        ("GET", "/simple/requests/", 200, "index"),
        ("GET", "/files/a-1-py3-none-any.whl.metadata", 200, "metadata-pep658"),
        ("GET", "/files/a-1-py3-none-any.whl", 206, "metadata-range"),
        ("HEAD", "/files/a-1-py3-none-any.whl", 200, "metadata-range"),
        ("GET", "/files/a-1-py3-none-any.whl", 200, "wheel"),
        ("GET", "/favicon.ico", 404, "other"),
    ],
)
def test_classify(method: str, path: str, status: int, category: str) -> None:
    assert corpus.classify(_entry(method, path, status)) == category


def test_pins_parsers(tmp_path: Path) -> None:
    (tmp_path / "uv.txt").write_text(
        "# header\nRequests==2.32.5 \\\n    --hash=sha256:ab\n    # via -r x\n"
        "charset_normalizer==3.4.0 ; python_version >= '3'\n", encoding="utf-8")
    assert tools._pins_from_requirements(tmp_path / "uv.txt") == {
        "requests": "2.32.5", "charset-normalizer": "3.4.0"}
    (tmp_path / "pylock.toml").write_text(
        'lock-version = "1.0"\n[[packages]]\nname = "Foo_Bar"\nversion = "1.0"\n',
        encoding="utf-8")
    assert tools._pins_from_pylock(tmp_path / "pylock.toml") == {"foo-bar": "1.0"}


def test_sets_file_is_valid() -> None:
    sets = corpus.load_sets()
    assert len(sets) >= 8
    assert all(s.requirements for s in sets.values())
    assert any(s.huge for s in sets.values())
    assert any(s.quick for s in sets.values())


def test_pip_target_lists_older_manylinux_tags() -> None:
    args = tools.pip_target_args()
    assert "manylinux_2_17_x86_64" in args
    assert "manylinux2014_x86_64" in args
    assert args[args.index("--python-version") + 1] == "3.11"


def _logging_tool(name: str, log: Path) -> tools.Tool:
    """A tool whose every run appends its name to ``log`` (a real subprocess, like a peer)."""

    def build(run_dir: Path, _reqs: object, _index: str, env: dict[str, str]) -> tools.Invocation:
        code = f"sum(range(2_000_000)); open({str(log)!r}, 'a').write({name!r})"
        return tools.Invocation(argv=[sys.executable, "-c", code], env=env,
                                pins=lambda _d, _o: {})

    return tools.Tool(name=name, program=name, downloads_wheels=False, target_args="",
                      build=build)


def test_runs_alternate_and_record_cpu_time(tmp_path: Path) -> None:
    import run

    log = tmp_path / "order.txt"
    cells = [
        run.Cell(_logging_tool(name, log), tmp_path / name, [], "http://127.0.0.1:9/",
                 runs=runs, warmup=True, timeout=60, extra_env=None,
                 before_run=lambda: None, after_run=lambda _o: {"total_bytes": 0})
        for name, runs in (("A", 3), ("B", 3), ("C", 1))
    ]
    results = run.measure_alternating(cells)
    assert log.read_text() == "ABC" + "ABC" + "AB" + "AB"
    assert [len(r["wall_s"]) for r in results] == [3, 3, 1]
    assert all(r["status"] == "ok" for r in results)
    assert all(len(r["cpu_s"]) == len(r["wall_s"]) and min(r["cpu_s"]) > 0 for r in results)


def test_time_v_cpu_and_paired_ratio() -> None:
    import report

    assert tools._time_v_cpu(
        "\tUser time (seconds): 1.25\n\tSystem time (seconds): 0.50\n") == 1.75
    assert tools._time_v_cpu("no numbers") is None
    sk = {"alternating": True, "wall_s": [2.0, 3.0, 4.0]}
    uv = {"alternating": True, "wall_s": [1.0, 1.0, 4.0]}
    assert report._paired_ratio(sk, uv, "wall_s") == 2.0
    assert report._paired_ratio({**sk, "alternating": False}, uv, "wall_s") is None
    assert report._paired_ratio(sk, {**uv, "wall_s": [1.0]}, "wall_s") is None
