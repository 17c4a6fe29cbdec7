"""A byte-counting HTTPS ``CONNECT`` proxy on 127.0.0.1 (RFC 9110 section 9.3.6), for benchmarks.

Every tool under test is pointed at it with ``HTTPS_PROXY``; it opens a plain TCP tunnel to the
requested ``host:port`` and counts the bytes that cross it in each direction. There is no TLS
interception, so what is counted is the whole encrypted stream: TLS handshakes and records, HTTP
headers, HTTP/2 framing and (compressed) bodies. Requests inside a tunnel cannot be seen; the unit
of "requests" here is the tunnel (one TCP+TLS connection).

Anything other than ``CONNECT`` is answered ``405``: the benchmarks only speak HTTPS to PyPI.

Usage::

    with CountingProxy() as proxy:          # runs its own asyncio loop in a thread
        before = proxy.snapshot()
        ... run a tool with HTTPS_PROXY=proxy.url ...
        proxy.wait_idle()
        per_host = proxy.snapshot().minus(before)
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

__all__ = ["CountingProxy", "HostTotal", "Snapshot"]

_HEADER_LIMIT = 64 * 1024
_CHUNK = 256 * 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class HostTotal:
    """What crossed the tunnels to one ``host:port``."""

    tunnels: int = 0
    #: Client to server (requests, TLS client records).
    bytes_up: int = 0
    #: Server to client (responses, TLS server records).
    bytes_down: int = 0

    def minus(self, other: HostTotal) -> HostTotal:
        return HostTotal(
            tunnels=self.tunnels - other.tunnels,
            bytes_up=self.bytes_up - other.bytes_up,
            bytes_down=self.bytes_down - other.bytes_down,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Snapshot:
    """Totals per ``host:port`` at one moment."""

    hosts: dict[str, HostTotal] = field(default_factory=dict)
    #: CONNECT requests refused (bad request line, unreachable target, non-CONNECT method).
    refused: int = 0

    def minus(self, before: Snapshot) -> Snapshot:
        zero = HostTotal()
        hosts = {
            host: total.minus(before.hosts.get(host, zero)) for host, total in self.hosts.items()
        }
        return Snapshot(
            hosts={h: t for h, t in hosts.items() if t.tunnels or t.bytes_up or t.bytes_down},
            refused=self.refused - before.refused,
        )

    @property
    def bytes_down(self) -> int:
        return sum(t.bytes_down for t in self.hosts.values())

    @property
    def bytes_up(self) -> int:
        return sum(t.bytes_up for t in self.hosts.values())

    @property
    def tunnels(self) -> int:
        return sum(t.tunnels for t in self.hosts.values())


class CountingProxy:
    """The proxy; a context manager that serves on ``127.0.0.1:<free port>`` in a thread."""

    def __init__(self, *, connect_timeout: float = 30.0) -> None:
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._totals: dict[str, list[int]] = {}
        self._refused = 0
        self._active = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self.port = 0

    # --- public -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def snapshot(self) -> Snapshot:
        with self._lock:
            hosts = {
                host: HostTotal(tunnels=t[0], bytes_up=t[1], bytes_down=t[2])
                for host, t in self._totals.items()
            }
            return Snapshot(hosts=hosts, refused=self._refused)

    @property
    def active_tunnels(self) -> int:
        with self._lock:
            return self._active

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every tunnel has closed (a tool's process has exited); False on timeout."""
        deadline = time.monotonic() + timeout
        while self.active_tunnels:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def __enter__(self) -> CountingProxy:
        self._thread = threading.Thread(target=self._run, name="counting-proxy", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            msg = "counting proxy did not start"
            raise RuntimeError(msg)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    # --- loop ---------------------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(
            asyncio.start_server(self._handle, host="127.0.0.1", port=0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._started.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            with contextlib.suppress(Exception):
                loop.run_until_complete(self._server.wait_closed())
            loop.close()

    def _add(self, host: str, *, tunnels: int = 0, up: int = 0, down: int = 0) -> None:
        with self._lock:
            total = self._totals.setdefault(host, [0, 0, 0])
            total[0] += tunnels
            total[1] += up
            total[2] += down

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        if len(head) > _HEADER_LIMIT:
            await self._refuse(writer, 431, "Request Header Fields Too Large")
            return
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split()
        if len(parts) != 3 or parts[0].upper() != "CONNECT":
            await self._refuse(writer, 405, "Method Not Allowed")
            return
        target = parts[1]
        host, sep, port_text = target.rpartition(":")
        if not sep or not port_text.isdigit():
            await self._refuse(writer, 400, "Bad Request")
            return
        host = host.strip("[]")
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(host, int(port_text)), self._connect_timeout
            )
        except (OSError, asyncio.TimeoutError):
            await self._refuse(writer, 502, "Bad Gateway")
            return
        with self._lock:
            self._active += 1
        self._add(target, tunnels=1)
        try:
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(
                self._pipe(reader, upstream_writer, target, upstream=True),
                self._pipe(upstream_reader, writer, target, upstream=False),
            )
        finally:
            for w in (writer, upstream_writer):
                with contextlib.suppress(Exception):
                    w.close()
            with self._lock:
                self._active -= 1

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        target: str,
        *,
        upstream: bool,
    ) -> None:
        try:
            while True:
                chunk = await source.read(_CHUNK)
                if not chunk:
                    break
                if upstream:
                    self._add(target, up=len(chunk))
                else:
                    self._add(target, down=len(chunk))
                sink.write(chunk)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                if sink.can_write_eof():
                    sink.write_eof()

    async def _refuse(self, writer: asyncio.StreamWriter, status: int, reason: str) -> None:
        with self._lock:
            self._refused += 1
        with contextlib.suppress(Exception):
            writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\n\r\n".encode())
            await writer.drain()
            writer.close()
