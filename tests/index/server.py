"""Serve a tree written by :mod:`index.tree` over real HTTP on loopback.

Owns the server side of PEP 691 content negotiation (Accept with q-values, ``Vary: Accept``)
and PEP 503 name normalization (non-normalized project URLs redirect). Files under ``/files/``
are served by starlette's ``StaticFiles``, so single, suffix and multi ranges (206, 416 with
``bytes */size``) are starlette's, not ours.

The app stack, outermost first::

    RequestLogger -> *middleware (caller's, e.g. fault injection) -> [RangeStripper] -> app

so the log shows what the client sent and what it finally received. uvicorn (h11) runs in a
daemon thread on 127.0.0.1 with an OS-chosen port.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import uvicorn
from packaging.utils import canonicalize_name
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from index.tree import IndexTree, Mode

__all__ = [
    "HTML_LEGACY",
    "HTML_V1",
    "JSON_V1",
    "ASGIApp",
    "Format",
    "LoggedRequest",
    "Middleware",
    "RequestLog",
    "Server",
    "build_app",
    "negotiate",
    "serve_index",
]

ASGIApp = Callable[..., Any]
#: Wraps an ASGI app into another (``lambda app: MyFault(app)``).
Middleware = Callable[[ASGIApp], ASGIApp]
Format = Literal["html", "json", "negotiate"]

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
HTML_LEGACY = "text/html"

#: Content-Type header per negotiated type.
_CONTENT_TYPES = {
    JSON_V1: JSON_V1,
    HTML_V1: HTML_V1,
    HTML_LEGACY: "text/html; charset=utf-8",
}
_STARTUP_TIMEOUT = 10.0


def negotiate(accept: str | None) -> str | None:
    """Pick the page type for an Accept header; None when nothing offered is acceptable.

    Each offered type takes the q of the most specific matching range (exact, then ``type/*``,
    then ``*/*``). Highest q wins; on a tie the more specific match, then JSON over v1 HTML over
    legacy HTML. A client that only sent wildcards (or no Accept) gets legacy HTML.
    """
    if not accept or not accept.strip():
        return HTML_LEGACY
    ranges: list[tuple[str, float]] = []
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((media.lower(), q))

    best: tuple[float, int, int] | None = None
    choice: str | None = None
    for preference, offered in enumerate((HTML_LEGACY, HTML_V1, JSON_V1)):
        kind = offered.split("/")[0]
        matches = [
            (specificity, q)
            for media, q in ranges
            for specificity, pattern in ((2, offered), (1, f"{kind}/*"), (0, "*/*"))
            if media == pattern
        ]
        if not matches:
            continue
        specificity, q = max(matches)
        key = (q, specificity, preference if specificity else -preference)
        if q > 0 and (best is None or key > best):
            best, choice = key, offered
    return choice


@dataclass(frozen=True, kw_only=True, slots=True)
class LoggedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    query: str
    #: The request's Range header as the client sent it.
    range: str | None
    #: Lower-case names; repeated headers keep the last value.
    request_headers: Mapping[str, str]
    #: None when the app never started a response (client went away).
    status: int | None
    response_headers: Mapping[str, str]
    #: Bytes of ``http.response.body`` messages (the body the client was sent).
    body_bytes: int


class RequestLog:
    """Thread-safe list of :class:`LoggedRequest`; an entry is added before the last body byte
    is sent, so it is visible as soon as the client has the response."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def append(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @property
    def entries(self) -> tuple[LoggedRequest, ...]:
        with self._lock:
            return tuple(self._entries)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def matching(
        self, path_prefix: str = "", method: str | None = None
    ) -> tuple[LoggedRequest, ...]:
        """Entries whose path starts with ``path_prefix`` (and whose method is ``method``)."""
        return tuple(
            e
            for e in self.entries
            if e.path.startswith(path_prefix) and (method is None or e.method == method)
        )

    def bytes_sent(self, path_prefix: str = "") -> int:
        """Total body bytes sent for paths starting with ``path_prefix``."""
        return sum(e.body_bytes for e in self.matching(path_prefix))


def _headers(raw: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}


class RequestLogger:
    """ASGI middleware that records every HTTP request into a :class:`RequestLog`."""

    def __init__(self, app: ASGIApp, log: RequestLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Make file responses send body messages we can count (no zero-copy path send).
        extensions = {k: v for k, v in scope.get("extensions", {}).items() if "pathsend" not in k}
        scope = {**scope, "extensions": extensions}
        request_headers = _headers(scope["headers"])
        state: dict[str, Any] = {"status": None, "headers": {}, "bytes": 0, "logged": False}

        def record() -> None:
            if state["logged"]:
                return
            state["logged"] = True
            self.log.append(
                LoggedRequest(
                    method=scope["method"],
                    path=scope["path"],
                    query=scope.get("query_string", b"").decode("latin-1"),
                    range=request_headers.get("range"),
                    request_headers=request_headers,
                    status=state["status"],
                    response_headers=state["headers"],
                    body_bytes=state["bytes"],
                )
            )

        async def logging_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["headers"] = _headers(message.get("headers", []))
            elif message["type"] == "http.response.body":
                state["bytes"] += len(message.get("body", b""))
                if not message.get("more_body", False):
                    record()
            await send(message)

        try:
            await self.app(scope, receive, logging_send)
        finally:
            record()


class RangeStripper:
    """ASGI middleware for ``Mode.NO_RANGES``: drop Range/If-Range from requests and
    Accept-Ranges from responses, like a server that knows nothing of ranges."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in (b"range", b"if-range")]

        async def stripping_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"accept-ranges"
                ]
                message = {**message, "headers": kept}
            await send(message)

        await self.app({**scope, "headers": headers}, receive, stripping_send)


def build_app(
    tree_root: Path,
    *,
    mode: Mode,
    fmt: Format = "negotiate",
    middleware: Sequence[Middleware] = (),
    log: RequestLog | None = None,
) -> ASGIApp:
    """The full ASGI stack for a tree (see the module docstring for the order)."""
    simple_dir = tree_root / "simple"

    def page(directory: Path, request: Request) -> Response:
        if fmt == "negotiate":
            chosen = negotiate(request.headers.get("accept"))
            if chosen is None:
                return PlainTextResponse(
                    "not acceptable", status_code=406, headers={"Vary": "Accept"}
                )
        else:
            chosen = JSON_V1 if fmt == "json" else HTML_LEGACY
        source = directory / ("index.json" if chosen == JSON_V1 else "index.html")
        headers = {"Vary": "Accept"} if fmt == "negotiate" else {}
        return Response(
            source.read_bytes(), headers={**headers, "Content-Type": _CONTENT_TYPES[chosen]}
        )

    async def project_list(request: Request) -> Response:
        return page(simple_dir, request)

    async def project_page(request: Request) -> Response:
        requested = request.path_params["project"]
        normalized = canonicalize_name(requested)
        if not (simple_dir / normalized / "index.html").is_file():
            return PlainTextResponse(f"no project {requested}", status_code=404)
        if normalized != requested:
            location = f"/simple/{normalized}/"
            if request.url.query:
                location += f"?{request.url.query}"
            return RedirectResponse(location, status_code=301)
        return page(simple_dir / normalized, request)

    app: ASGIApp = Starlette(
        routes=[
            Route("/simple/", project_list),
            Route("/simple/{project}/", project_page),
            Mount("/files", app=StaticFiles(directory=tree_root / "files")),
        ]
    )
    if not mode.serves_ranges:
        app = RangeStripper(app)
    for wrap in reversed(middleware):
        app = wrap(app)
    return RequestLogger(app, log if log is not None else RequestLog())


@dataclass(frozen=True, kw_only=True, slots=True)
class Server:
    """A running test index."""

    #: ``http://127.0.0.1:<port>`` (no trailing slash).
    base_url: str
    #: ``<base_url>/simple/``.
    simple_url: str
    log: RequestLog
    tree_root: Path
    mode: Mode
    fmt: Format
    #: What was written, when the server was started from an :class:`IndexTree`.
    tree: IndexTree | None = None
    #: Ask the server to stop without waiting; leaving ``serve_index`` waits for it.
    request_stop: Callable[[], None] = field(default=lambda: None, repr=False, compare=False)

    def file_url(self, filename: str) -> str:
        """Absolute URL of a distribution (or ``<dist>.metadata``) under ``/files/``."""
        return f"{self.base_url}/files/{quote(filename)}"

    def project_url(self, project: str) -> str:
        return f"{self.simple_url}{project}/"


@contextmanager
def run_asgi(app: ASGIApp) -> Iterator[tuple[str, Callable[[], None]]]:
    """Run ``app`` with uvicorn in a thread on 127.0.0.1 until the block exits.

    Yields ``http://127.0.0.1:<port>`` and a function that asks the server to stop without
    waiting (so several servers can shut down in parallel; exiting the block waits).
    """
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        log_config=None,
        access_log=False,
        lifespan="off",
        ws="none",
        http="h11",
        loop="asyncio",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-index-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(_STARTUP_TIMEOUT)
            msg = "uvicorn did not start"
            raise RuntimeError(msg)
        time.sleep(0.005)
    try:
        port = server.servers[0].sockets[0].getsockname()[1]

        def request_stop() -> None:
            server.should_exit = True

        yield f"http://127.0.0.1:{port}", request_stop
    finally:
        server.should_exit = True
        thread.join(_STARTUP_TIMEOUT)


@contextmanager
def serve_index(
    tree: Path | IndexTree,
    *,
    mode: Mode | None = None,
    fmt: Format = "negotiate",
    middleware: Sequence[Middleware] | None = None,
) -> Iterator[Server]:
    """Serve a tree (an :class:`IndexTree`, or the root of one written for ``mode``) until the
    block exits.

    ``mode`` defaults to the tree's. ``middleware`` wraps the app, first element outermost,
    inside the request logger.
    """
    if isinstance(tree, IndexTree):
        tree_root, index_tree, mode = tree.root, tree, mode or tree.mode
    else:
        tree_root, index_tree = tree, None
    if mode is None:
        msg = "serve_index needs a mode when given a path"
        raise TypeError(msg)
    log = RequestLog()
    app = build_app(tree_root, mode=mode, fmt=fmt, middleware=middleware or (), log=log)
    with run_asgi(app) as (base_url, request_stop):
        yield Server(
            base_url=base_url,
            simple_url=f"{base_url}/simple/",
            log=log,
            tree_root=tree_root,
            mode=mode,
            fmt=fmt,
            tree=index_tree,
            request_stop=request_stop,
        )
