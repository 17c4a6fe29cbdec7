"""``file://`` URLs through the one httpx client: local indexes, as pip and uv accept them.

:func:`skimlock.fetch.make_client` mounts :class:`FileTransport` for ``file://``, so a local index
goes through the same fetch layer (strategies, hash checks, accounting) as a remote one:

* a **PEP 503 tree** (``simple/<project>/index.html`` and the files it links to): a directory URL
  answers with its ``index.html``;
* a **flat directory of distributions** (what ``pip --find-links DIR`` reads), used as an index:
  ``<dir>/<project>/`` answers with a generated page listing that project's wheels and sdists,
  each with its sha256, when ``<dir>/<project>`` does not exist. A directory without
  ``index.html`` that holds distributions itself is listed the same way.

Files answer ``GET`` and ``HEAD`` with single byte ranges (``bytes=a-b``, ``bytes=a-``,
``bytes=-n``: 206 with ``Content-Range``; 416 with ``bytes */N`` when unsatisfiable); a multi-range
or malformed ``Range`` gets the whole file (200), as HTTP allows. Only the local host is served.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote
from urllib.request import url2pathname

import httpx
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

__all__ = ["FileTransport", "local_url"]

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
_CHUNK = 64 * 1024
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".json": "application/vnd.pypi.simple.v1+json",
}


def local_url(url: str) -> str:
    """``file:///path`` as ``file://localhost/path``: httpx takes a URL without a host for a
    relative one (and would send it to the HTTP transport), so skimlock names the host."""
    if url[:8].lower() == "file:///":
        return "file://localhost/" + url[8:]
    return url


class FileTransport(httpx.BaseTransport):
    """Serves ``file://`` requests from the local file system (read only)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method not in ("GET", "HEAD"):
            return _status(405, request)
        if request.url.host not in ("", "localhost"):
            return _status(404, request, f"not a local file URL: host {request.url.host!r}")
        path = Path(url2pathname(request.url.path))
        head = request.method == "HEAD"
        if path.is_dir():
            index = path / "index.html"
            if index.is_file():
                return _file(index, request, head=head)
            listing = _listing(path, None)
            return _page(listing, request, head=head) if listing is not None else _status(
                404, request
            )
        if path.is_file():
            return _file(path, request, head=head)
        # <flat dir>/<project>/ on a directory of distributions.
        if request.url.path.endswith("/") and path.parent.is_dir():
            listing = _listing(path.parent, canonicalize_name(path.name))
            if listing is not None:
                return _page(listing, request, head=head)
        return _status(404, request)


def _status(code: int, request: httpx.Request, text: str = "") -> httpx.Response:
    body = text.encode()
    return httpx.Response(code, headers={"Content-Length": str(len(body))},
                          stream=_BytesStream(body), request=request)


def _file(path: Path, request: httpx.Request, *, head: bool) -> httpx.Response:
    try:
        size = path.stat().st_size
    except OSError as exc:
        return _status(403, request, str(exc.strerror or exc))
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Type": _TYPES.get(path.suffix.lower(), "application/octet-stream"),
    }
    span = _span(request.headers.get("range"), size)
    if isinstance(span, str):  # unsatisfiable
        headers["Content-Range"] = f"bytes */{size}"
        return httpx.Response(416, headers=headers, request=request)
    status = 200
    start, end = 0, size - 1
    if span is not None:
        status = 206
        start, end = span
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    length = max(0, end - start + 1)
    headers["Content-Length"] = str(length)
    stream = _FileStream(path, start, 0 if head else length)
    return httpx.Response(status, headers=headers, stream=stream, request=request)


def _span(header: str | None, size: int) -> tuple[int, int] | str | None:
    """``(first, last)`` of a single satisfiable range; ``"unsatisfiable"``; None: whole file."""
    if header is None:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None  # multi-range or malformed: the whole file, which HTTP allows
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return (max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid: ignored, as HTTP says
    if start >= size:
        return "unsatisfiable"
    return (start, min(end, size - 1))


class _BytesStream(httpx.SyncByteStream):
    """Bytes as a stream that is read when the client reads it (``httpx.Response(content=)``
    would read it at once, and a raw read, as the transport does, would then fail)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __iter__(self) -> Iterator[bytes]:
        if self._data:
            yield self._data


class _FileStream(httpx.SyncByteStream):
    def __init__(self, path: Path, start: int, length: int) -> None:
        self._path = path
        self._start = start
        self._length = length

    def __iter__(self) -> Iterator[bytes]:
        if self._length <= 0:
            return
        with self._path.open("rb") as handle:
            handle.seek(self._start)
            left = self._length
            while left > 0:
                chunk = handle.read(min(_CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk


def _project_of(filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            return canonicalize_name(parse_wheel_filename(filename)[0])
        if filename.endswith((".tar.gz", ".zip")):
            return canonicalize_name(parse_sdist_filename(filename)[0])
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return None


def _listing(directory: Path, project: str | None) -> bytes | None:
    """A PEP 503 page for the distributions in ``directory`` (of ``project`` only, if given);
    None when it holds none."""
    try:
        entries = sorted(p for p in directory.iterdir() if p.is_file())
    except OSError:
        return None
    links = []
    for entry in entries:
        owner = _project_of(entry.name)
        if owner is None or (project is not None and owner != project):
            continue
        digest = hashlib.sha256()
        with entry.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        href = f"{quote(entry.name)}#sha256={digest.hexdigest()}"
        if project is not None:
            href = f"../{href}"
        links.append(f'<a href="{html.escape(href)}">{html.escape(entry.name)}</a><br>')
    if not links:
        return None
    body = "\n".join(links)
    return f"<!DOCTYPE html>\n<html><body>\n{body}\n</body></html>\n".encode()


def _page(content: bytes, request: httpx.Request, *, head: bool) -> httpx.Response:
    headers = {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(len(content))}
    return httpx.Response(
        200, headers=headers, stream=_BytesStream(b"" if head else content), request=request
    )
