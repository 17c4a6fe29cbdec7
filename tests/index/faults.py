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
``FailFirst``          the first ``times`` selected requests get a status (503 by default)
``Delay``              sleeps before handling (for client timeouts)
=====================  ===========================================================================
"""

from __future__ import annotations

import asyncio
import gzip
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from starlette.responses import FileResponse, Response

from index.server import ASGIApp

__all__ = [
    "Delay",
    "FailFirst",
    "GzipRanges",
    "RangeLiar",
    "RefuseSuffixRanges",
    "Respond",
    "ServeFile",
    "When",
    "all_paths",
    "is_file",
    "path_endswith",
    "path_is",
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
    """Sleep ``seconds`` before handling a selected request."""

    def __init__(self, app: ASGIApp, *, when: When, seconds: float) -> None:
        self.app = app
        self.when = when
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if _selected(scope, self.when):
            await asyncio.sleep(self.seconds)
        await self.app(scope, receive, send)
