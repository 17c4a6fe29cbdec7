"""Fault injection for the test index: small ASGI middlewares.

Each class takes the wrapped app first and its options as keywords, so a partial of it is a
:data:`~index.server.Middleware` for ``serve_index(tree, middleware=[...])``::

    serve_index(tree, middleware=[partial(FailFirst, when=path_is("/simple/alpha/"), times=2)])

They sit inside the request logger, so the server's log shows what the client sent and what the
fault finally answered. ``when`` selects requests by URL path (see :func:`path_is`,
:func:`path_endswith`, :func:`is_file`); requests it does not select pass through untouched.

=====================  ===========================================================================
middleware             what it does to the selected requests
=====================  ===========================================================================
``Respond``            answers with a fixed status, body and headers (a replaced page, a 404...)
``ServeFile``          serves another file in place of the real one (ranges work: starlette's)
``RangeLiar``          answers a Range request with a different range than the one asked
``GzipRanges``         gzips the body of every 206 answer and says ``Content-Encoding: gzip``
``RefuseSuffixRanges`` refuses ``Range: bytes=-N`` with a status; absolute ranges still work
``RefuseRanges``       refuses every Range request with a status; plain GETs still work
``FailFirst``          the first ``times`` selected requests get a status (503 by default)
``Delay``              sleeps before handling (for client timeouts); the first ``times`` only
``IgnoreRanges``       drops Range from requests but still says ``Accept-Ranges: bytes``
``BadContentRange``    replaces the Content-Range header of every 206 answer
``HugeBody``           answers 200 with a streamed body of any size (never held in memory)
``CutBody``            sends part of the body, then closes (FIN) or resets (RST) the connection,
                       or stalls; the first ``times`` only
``Redirect``           answers with a redirect to ``location(path)``
``Rewrite``            serves the request as if it were for ``path(path)`` (aliases)
``RequireAuth``        answers 401 unless the request carries the expected Authorization header
``Trickle``            answers 200 and sends the body one byte every ``interval`` seconds
``Stall``              holds a selected request without answering until the client goes away
``Encoded``            answers with a fixed, already encoded body and a ``Content-Encoding``
=====================  ===========================================================================

``CutBody`` needs the connection's transport, which only the outermost ASGI layer can reach:
serve with :func:`serve_faulty`, which also puts a :class:`Switch` inside the request logger so
one running server can take a different set of faults per test.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import re
import socket
import struct
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.responses import FileResponse, Response

from index.server import ASGIApp, Format, Middleware, RequestLog, Server, build_app, run_asgi
from index.tree import IndexTree

__all__ = [
    "BadContentRange",
    "PageValidators",
    "CutBody",
    "Encoded",
    "Delay",
    "ExposeTransport",
    "FailFirst",
    "FaultyServer",
    "GzipRanges",
    "HugeBody",
    "IgnoreRanges",
    "RangeLiar",
    "RefuseRanges",
    "RefuseSuffixRanges",
    "Redirect",
    "RequireAuth",
    "Respond",
    "Rewrite",
    "ServeFile",
    "Stall",
    "Switch",
    "Trickle",
    "When",
    "all_paths",
    "gzip_bomb",
    "is_file",
    "path_endswith",
    "path_is",
    "path_startswith",
    "serve_faulty",
]

Scope = dict[str, Any]
#: Selects requests by URL path.
When = Callable[[str], bool]

_SUFFIX_RANGE = re.compile(r"^\s*bytes\s*=\s*-\d+\s*$", re.IGNORECASE)


def all_paths(_path: str) -> bool:
    """Every request."""
    return True


def path_is(*paths: str) -> When:
    """Requests for exactly one of ``paths`` (e.g. ``/simple/alpha/``)."""
    wanted = frozenset(paths)
    return lambda path: path in wanted


def path_endswith(*suffixes: str) -> When:
    """Requests whose path ends with one of ``suffixes`` (e.g. ``.metadata``)."""
    return lambda path: path.endswith(suffixes)


def path_startswith(*prefixes: str) -> When:
    """Requests whose path starts with one of ``prefixes`` (e.g. ``/simple/``)."""
    return lambda path: path.startswith(prefixes)


def is_file(path: str) -> bool:
    """Distribution files under ``/files/`` (not their ``.metadata``)."""
    return path.startswith("/files/") and not path.endswith(".metadata")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _selected(scope: Scope, when: When) -> bool:
    return scope["type"] == "http" and when(scope["path"])


class Respond:
    """Answer selected requests with ``status``, ``body`` and ``headers``; the app never runs."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        when: When,
        status: int = 200,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.app = app
        self.when = when
        self.status = status
        self.body = body
        self.headers = dict(headers or {})

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if not _selected(scope, self.when):
            await self.app(scope, receive, send)
            return
        response = Response(self.body, status_code=self.status, headers=self.headers)
        await response(scope, receive, send)


class ServeFile:
    """Serve the file at ``source`` for selected requests (Range handled by starlette)."""

    def __init__(self, app: ASGIApp, *, when: When, source: Path) -> None:
        self.app = app
        self.when = when
        self.source = source

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if not _selected(scope, self.when):
            await self.app(scope, receive, send)
            return
        await FileResponse(self.source)(scope, receive, send)


class RangeLiar:
    """Answer a selected Range request with ``bytes=0-{length - 1}`` of the file instead: a real
    206 with a correct Content-Range, for a range nobody asked for."""

    def __init__(self, app: ASGIApp, *, when: When = is_file, length: int = 100) -> None:
        self.app = app
        self.when = when
        self.length = length

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if not _selected(scope, self.when) or _header(scope, b"range") is None:
            await self.app(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"range"]
        headers.append((b"range", f"bytes=0-{self.length - 1}".encode()))
        await self.app({**scope, "headers": headers}, receive, send)


class GzipRanges:
    """Gzip the body of every 206 answer to a selected request (``Content-Encoding: gzip``),
    like a misconfigured proxy that compresses partial content."""

    def __init__(self, app: ASGIApp, *, when: When = is_file) -> None:
        self.app = app
        self.when = when

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if not _selected(scope, self.when):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        body = bytearray()

        async def buffering_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                if message["status"] != 206:
                    await send(message)
                return
            if start.get("status") != 206:
                await send(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body", False):
                return
            packed = gzip.compress(bytes(body), mtime=0)
            headers = [
                (k, v)
                for k, v in start.get("headers", [])
                if k.lower() not in (b"content-length", b"content-encoding")
            ]
            headers += [
                (b"content-encoding", b"gzip"),
                (b"content-length", str(len(packed)).encode()),
            ]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": packed, "more_body": False})

        await self.app(scope, receive, buffering_send)


class RefuseSuffixRanges:
    """Answer ``Range: bytes=-N`` on selected requests with ``status`` (501 like some CDNs, 404
    like Nexus) and ``headers``; absolute ranges (``bytes=A-B``) and plain GETs pass through."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        when: When = is_file,
        status: int = 501,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.app = app
        self.when = when
        self.status = status
        self.headers = dict(headers or {})

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        value = _header(scope, b"range") if _selected(scope, self.when) else None
        if value is None or not _SUFFIX_RANGE.match(value):
            await self.app(scope, receive, send)
            return
        response = Response(
            b"suffix ranges are not supported", status_code=self.status, headers=self.headers
        )
        await response(scope, receive, send)


class RefuseRanges(RefuseSuffixRanges):
    """Answer every Range request (absolute ones too) with ``status`` and ``headers``; plain
    GETs pass through."""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if not _selected(scope, self.when) or _header(scope, b"range") is None:
            await self.app(scope, receive, send)
            return
        response = Response(b"ranges are not supported", status_code=self.status,
                            headers=self.headers)
        await response(scope, receive, send)


class FailFirst:
    """The first ``times`` selected requests get ``status`` (with ``headers``, e.g.
    Retry-After); later ones pass through. ``failed`` counts the failures sent."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        when: When,
        times: int,
        status: int = 503,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.app = app
        self.when = when
        self.times = times
        self.status = status
        self.headers = dict(headers or {})
        self.failed = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if not _selected(scope, self.when) or self.failed >= self.times:
            await self.app(scope, receive, send)
            return
        self.failed += 1  # one event loop: no lock needed
        response = Response(b"try again later", status_code=self.status, headers=self.headers)
        await response(scope, receive, send)


class Delay:
    """Sleep ``seconds`` before handling a selected request (only the first ``times`` selected
    requests when ``times`` is given)."""

    def __init__(
        self, app: ASGIApp, *, when: When, seconds: float, times: int | None = None
    ) -> None:
        self.app = app
        self.when = when
        self.seconds = seconds
        self.times = times
        self.delayed = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if _selected(scope, self.when) and (self.times is None or self.delayed < self.times):
            self.delayed += 1
            await asyncio.sleep(self.seconds)
        await self.app(scope, receive, send)


class IgnoreRanges:
    """Drop Range and If-Range from selected requests, but leave the response alone: starlette
    still says ``Accept-Ranges: bytes`` and then sends the whole file with 200."""

    def __init__(self, app: ASGIApp, *, when: When = is_file) -> None:
        self.app = app
        self.when = when

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if _selected(scope, self.when):
            headers = [
                (k, v) for k, v in scope["headers"] if k.lower() not in (b"range", b"if-range")
            ]
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


class BadContentRange:
    """Replace the Content-Range header of every 206 answer to a selected request with
    ``value`` (a string, or a function of the real header value)."""

    def __init__(
        self, app: ASGIApp, *, when: When = is_file, value: str | Callable[[str], str]
    ) -> None:
        self.app = app
        self.when = when
        self.value = value

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if not _selected(scope, self.when):
            await self.app(scope, receive, send)
            return

        async def lying_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] == 206:
                real = ""
                kept = []
                for key, val in message.get("headers", []):
                    if key.lower() == b"content-range":
                        real = val.decode("latin-1")
                    else:
                        kept.append((key, val))
                value = self.value(real) if callable(self.value) else self.value
                message = {**message, "headers": [*kept, (b"content-range", value.encode())]}
            await send(message)

        await self.app(scope, receive, lying_send)


async def _until_disconnect(receive: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class HugeBody:
    """Answer selected requests with 200 and ``size`` bytes of zeros, streamed in ``chunk``-byte
    pieces so the body never exists in memory. With ``declare`` the answer has a Content-Length,
    else it is chunked. Sending stops as soon as the client goes away; ``sent`` counts the body
    bytes handed to the server so far (a test can check that the client stopped early)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        when: When = is_file,
        size: int,
        declare: bool = True,
        chunk: int = 256 * 1024,
    ) -> None:
        self.app = app
        self.when = when
        self.size = size
        self.declare = declare
        self.chunk = chunk
        self.sent = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if not _selected(scope, self.when):
            await self.app(scope, receive, send)
            return
        watcher = asyncio.ensure_future(_until_disconnect(receive))
        headers = [(b"content-type", b"application/octet-stream")]
        if self.declare:
            headers.append((b"content-length", str(self.size).encode()))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            block = bytes(self.chunk)
            remaining = self.size
            while remaining > 0 and not watcher.done():
                piece = block if remaining >= len(block) else block[:remaining]
                remaining -= len(piece)
                await send(
                    {"type": "http.response.body", "body": piece, "more_body": remaining > 0}
                )
                self.sent += len(piece)
                # uvicorn's send returns at once, unsent, once the client is gone: yield so
                # the watcher can see the disconnect.
                await asyncio.sleep(0)
        finally:
            watcher.cancel()


#: Scope key under which :class:`ExposeTransport` puts the connection's asyncio transport.
TRANSPORT_KEY = "index.transport"


class ExposeTransport:
    """The outermost layer (see :func:`serve_faulty`): put the connection's asyncio transport
    into the scope, so inner faults can close or reset the connection. uvicorn's ``send`` is a
    bound method of its request-response cycle, which holds the transport."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        if scope["type"] == "http" and transport is not None:
            scope = {**scope, TRANSPORT_KEY: transport}
        await self.app(scope, receive, send)


class CutBody:
    """Let the app answer a selected request, but after ``after`` bytes of the body (always
    before its last byte) break the connection: ``how="close"`` closes it (FIN: the client
    sees a body shorter than its Content-Length), ``"reset"`` resets it (RST), ``"stall"``
    sends nothing more for ``seconds`` (or until the client gives up), then closes it.

    Only answers whose status is in ``statuses``, and only the first ``times`` of them when
    ``times`` is given (a transient fault); ``cut`` counts the connections broken. Needs
    :class:`ExposeTransport` outside the request logger (use :func:`serve_faulty`).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        when: When,
        after: int = 100,
        how: str = "close",
        times: int | None = None,
        seconds: float = 5.0,
        statuses: tuple[int, ...] = (200, 206),
    ) -> None:
        if how not in ("close", "reset", "stall"):
            msg = f"unknown way to cut a body: {how!r}"
            raise ValueError(msg)
        self.app = app
        self.when = when
        self.after = after
        self.how = how
        self.times = times
        self.seconds = seconds
        self.statuses = statuses
        self.cut = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if not _selected(scope, self.when) or (self.times is not None and self.cut >= self.times):
            await self.app(scope, receive, send)
            return
        transport = scope.get(TRANSPORT_KEY)
        if transport is None:
            msg = "CutBody needs ExposeTransport as the outermost layer (use serve_faulty)"
            raise RuntimeError(msg)
        state: dict[str, Any] = {"status": None, "sent": 0, "cut": False}

        async def cutting_send(message: dict[str, Any]) -> None:
            if state["cut"]:
                return  # the connection is gone: swallow the rest of the answer
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                await send(message)
                return
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if state["status"] not in self.statuses or (self.times is not None
                                                         and self.cut >= self.times):
                await send(message)
                return
            room = max(0, self.after - state["sent"])
            keep = min(room, len(body) if more else max(0, len(body) - 1))
            if keep:
                await send({"type": "http.response.body", "body": body[:keep], "more_body": True})
                state["sent"] += keep
            if keep < len(body):
                state["cut"] = True
                self.cut += 1
                await self._break(transport, receive)

        await self.app(scope, receive, cutting_send)
        if state["cut"]:
            # Let uvicorn notice the lost connection before the app returns, so it does not
            # log "returned without completing response".
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(_until_disconnect(receive), 2.0)

    async def _break(self, transport: Any, receive: Any) -> None:
        if self.how == "stall":
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(_until_disconnect(receive), self.seconds)
            transport.close()
        elif self.how == "close":
            transport.close()
        else:
            await asyncio.sleep(0.02)  # let the partial body reach the client first
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()


class Redirect:
    """Answer selected requests with a redirect (``status``) to ``location(path)``."""

    def __init__(
        self, app: ASGIApp, *, when: When, location: Callable[[str], str], status: int = 301
    ) -> None:
        self.app = app
        self.when = when
        self.location = location
        self.status = status

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if not _selected(scope, self.when):
            await self.app(scope, receive, send)
            return
        response = Response(
            b"", status_code=self.status, headers={"Location": self.location(scope["path"])}
        )
        await response(scope, receive, send)


class Rewrite:
    """Serve a selected request as if it asked for ``path(path)`` (an alias of another URL)."""

    def __init__(self, app: ASGIApp, *, when: When, path: Callable[[str], str]) -> None:
        self.app = app
        self.when = when
        self.path = path

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if _selected(scope, self.when):
            new = self.path(scope["path"])
            scope = {**scope, "path": new, "raw_path": new.encode()}
        await self.app(scope, receive, send)


class RequireAuth:
    """Answer 401 to selected requests whose Authorization header is not ``authorization``
    (e.g. ``Basic dXNlcjpzM2NyZXQ=``)."""

    def __init__(self, app: ASGIApp, *, authorization: str, when: When = all_paths) -> None:
        self.app = app
        self.when = when
        self.authorization = authorization

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if not _selected(scope, self.when) or _header(scope, b"authorization") == (
            self.authorization
        ):
            await self.app(scope, receive, send)
            return
        response = Response(
            b"authentication required",
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="test index"'},
        )
        await response(scope, receive, send)


class Trickle:
    """Answer selected requests with 200 and a declared ``size``-byte body sent one byte every
    ``interval`` seconds (a server that is never silent long enough for a read timeout), until
    the client goes away or ``limit`` seconds have passed."""

    def __init__(
        self, app: ASGIApp, *, when: When, size: int = 100_000, interval: float = 0.05,
        limit: float = 20.0,
    ) -> None:
        self.app = app
        self.when = when
        self.size = size
        self.interval = interval
        self.limit = limit
        self.sent = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if not _selected(scope, self.when):
            await self.app(scope, receive, send)
            return
        watcher = asyncio.ensure_future(_until_disconnect(receive))
        loop = asyncio.get_running_loop()
        stop = loop.time() + self.limit
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/html"), (b"content-length", str(self.size).encode())]})
            while not watcher.done() and loop.time() < stop and self.sent < self.size - 1:
                await send({"type": "http.response.body", "body": b" ", "more_body": True})
                self.sent += 1
                await asyncio.sleep(self.interval)
        finally:
            watcher.cancel()


class Stall:
    """Hold selected requests without answering until the client goes away (or ``limit``
    seconds, then answer 503); ``arrived`` counts the selected requests received."""

    def __init__(self, app: ASGIApp, *, when: When, limit: float = 30.0) -> None:
        self.app = app
        self.when = when
        self.limit = limit
        self.arrived = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if not _selected(scope, self.when):
            await self.app(scope, receive, send)
            return
        self.arrived += 1
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(_until_disconnect(receive), self.limit)
            return
        await Response(b"stalled", status_code=503)(scope, receive, send)


def gzip_bomb(size: int, *, layers: int = 1) -> bytes:
    """``size`` zero bytes gzipped ``layers`` times (streamed: the zeros never exist at once).
    1 GiB in two layers is under 2 KB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts = [packer.compress(block) for _ in range(size // len(block))]
    parts += [packer.compress(bytes(size % len(block))), packer.flush()]
    data = b"".join(parts)
    for _ in range(layers - 1):
        data = gzip.compress(data, compresslevel=9, mtime=0)
    return data


class Encoded:
    """Answer selected requests with 200, ``body`` (already encoded) and ``Content-Encoding:
    encoding`` (e.g. ``gzip, gzip``), and ``content_type``."""

    def __init__(
        self, app: ASGIApp, *, when: When, body: bytes, encoding: str,
        content_type: str = "application/octet-stream",
    ) -> None:
        self.app = app
        self.when = when
        self.body = body
        self.encoding = encoding
        self.content_type = content_type

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if not _selected(scope, self.when):
            await self.app(scope, receive, send)
            return
        headers = {"Content-Encoding": self.encoding, "Content-Type": self.content_type}
        await Response(self.body, status_code=200, headers=headers)(scope, receive, send)


class Switch:
    """Route every request through the faults currently installed (none: straight through), so
    one running server can take a different set of faults per test. :meth:`install` builds new
    middleware instances (fresh counters) and returns them, outermost first."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._current: ASGIApp = app
        self.installed: tuple[ASGIApp, ...] = ()

    def install(self, middleware: Sequence[Middleware]) -> tuple[ASGIApp, ...]:
        app = self.app
        layers: list[ASGIApp] = []
        for wrap in reversed(middleware):
            app = wrap(app)
            layers.append(app)
        self.installed = tuple(reversed(layers))
        self._current = app
        return self.installed

    def clear(self) -> None:
        self.install(())

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await self._current(scope, receive, send)


@dataclass(frozen=True, kw_only=True, slots=True)
class FaultyServer:
    """A running test index whose faults can be swapped while it runs."""

    server: Server
    switch: Switch


@contextmanager
def serve_faulty(tree: IndexTree, *, fmt: Format = "html") -> Iterator[FaultyServer]:
    """Serve ``tree`` until the block exits, with a :class:`Switch` inside the request logger
    and :class:`ExposeTransport` outside it::

        ExposeTransport -> RequestLogger -> Switch (faults installed) -> [RangeStripper] -> app
    """
    log = RequestLog()
    switches: list[Switch] = []

    def make_switch(app: ASGIApp) -> ASGIApp:
        switches.append(Switch(app))
        return switches[-1]

    app = build_app(tree.root, mode=tree.mode, fmt=fmt, middleware=[make_switch], log=log)
    with run_asgi(ExposeTransport(app)) as (base_url, request_stop):
        yield FaultyServer(
            server=Server(
                base_url=base_url,
                simple_url=f"{base_url}/simple/",
                log=log,
                tree_root=tree.root,
                mode=tree.mode,
                fmt=fmt,
                tree=tree,
                request_stop=request_stop,
            ),
            switch=switches[0],
        )


class PageValidators:
    """ASGI middleware for the local index: every ``/simple/`` page gets an ``ETag`` (a digest of
    its body) and ``Cache-Control: max-age=0``, and a request whose ``If-None-Match`` holds that
    tag gets ``304`` with no body: a server with validators, where every re-lock revalidates."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/simple/"):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def keep(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, keep)
        body = b"".join(chunks)
        tag = f'"{hashlib.sha256(body).hexdigest()[:20]}"'.encode()
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        headers += [(b"etag", tag), (b"cache-control", b"max-age=0")]
        asked = dict(scope.get("headers") or []).get(b"if-none-match")
        status = start["status"]
        if status == 200 and asked == tag:
            status, body = 304, b""
        else:
            headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
