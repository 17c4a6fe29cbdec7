"""The transport: everything HTTP, around one injected :class:`httpx.Client`.

Metadata sources (PEP 658, ranges, whole downloads; later sdists and a cache) ask for a URL with
:meth:`Transport.get`, a context manager yielding an :class:`Exchange` whose body they read
bounded (in chunks, or at once with :meth:`Exchange.read`). The transport owns:

* building requests, credentials (from the URL, else ``~/.netrc``; see :class:`_Credentials`);
* redirects, followed one hop at a time, each hop checked (no plain HTTP to an untrusted host)
  and recorded as its own request;
* retries with backoff (connection errors, timeouts, 429, 5xx) and :meth:`Transport.again` for
  bodies cut off while being read;
* accounting: every exchange is a :class:`~skimlock.stats.RequestRecord` in the run's
  :class:`~skimlock.stats.Stats`, and bytes/requests are added to the caller's :class:`Spent`;
* converting httpx exceptions to :mod:`skimlock.errors` (nowhere else).

No other module imports httpx, except the CLI, which builds the client with :func:`make_client`.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import netrc
import os
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

import httpx

from .errors import FetchError, InsecureIndexError, redact
from .stats import Category, RequestRecord, Stats

__all__ = ["Exchange", "Spent", "Transport", "TransportOptions", "make_client", "host_of"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

KiB = 1024

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_MAX_REDIRECTS = 10
#: Unread bodies up to this size are read before the response is closed (see _drain).
_DRAIN_MAX = 64 * KiB


@dataclass(frozen=True, kw_only=True, slots=True)
class TransportOptions:
    """Tunables of the transport (the fetch layer fills them from its own options)."""

    #: Attempts after the first for connection errors, timeouts, 429 and 5xx.
    retries: int = 3
    #: First backoff in seconds (doubles each attempt; Retry-After is honoured up to 10 s).
    backoff: float = 0.25
    #: Hosts allowed over plain HTTP (loopback is always allowed).
    trusted_hosts: frozenset[str] = frozenset()


@dataclass(kw_only=True, slots=True)
class Spent:
    """Bytes and requests spent on one task (e.g. one file's metadata)."""

    bytes: int = 0
    requests: int = 0


def make_client(*, timeout: float = 30.0, http2: bool = False) -> httpx.Client:
    """The client the CLI injects: pooled keep-alive connections, proxies from the environment,
    credentials from the URL or else from ``~/.netrc`` (see :class:`_Credentials`).

    HTTP/1.1 by default: with httpcore's synchronous HTTP/2 shared by the fetch threads, 2 of 8
    locks of ~150 packages against PyPI failed (stream resets, and a KeyError inside httpcore),
    while HTTP/1.1 over a pool of connections failed none and took the same time (2026-11).
    The pool holds as many connections as requests in flight: httpcore checks every pooled
    connection on each request, and 32 instead of 16 cost ~25 % more CPU on a 91-package lock.
    """
    from . import __version__

    netrc_file = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
    auth = _Credentials(netrc_file if os.path.isfile(netrc_file) else None)
    return httpx.Client(
        http2=http2,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        headers={"User-Agent": f"skimlock/{__version__}"},
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        auth=auth,
        trust_env=True,
    )


class _Credentials(httpx.Auth):
    """Basic auth from the request URL's ``user:password@``, else from netrc for its host.

    (httpx's own ``NetRCAuth`` as the client's auth would shadow URL credentials.) Redirects are
    sent as new requests by :meth:`Transport._send`; httpx has already dropped the Authorization
    header of a redirect to another origin, and a new host gets only its own netrc entry.
    """

    def __init__(self, netrc_file: str | None) -> None:
        self._netrc: netrc.netrc | None = None
        if netrc_file is not None:
            try:
                self._netrc = netrc.netrc(netrc_file)
            except (netrc.NetrcParseError, OSError) as exc:
                logger.warning("ignoring %s: %s", netrc_file, exc)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "authorization" not in request.headers:
            url = request.url
            user, password = url.username, url.password
            if not (user or password) and self._netrc is not None:
                entry = self._netrc.authenticators(url.host)
                if entry is not None:
                    user, password = entry[0] or "", entry[2] or ""
            if user or password:
                token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
                request.headers["Authorization"] = f"Basic {token}"
        yield request


class Transport:
    """All HTTP of a run over one injected client. Construct cheaply (no I/O)."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        stats: Stats,
        options: TransportOptions | None = None,
    ) -> None:
        self.client = client
        self.stats = stats
        self.options = options or TransportOptions()

    # -- the seam -----------------------------------------------------------------------------

    @contextmanager
    def get(
        self,
        url: str,
        category: Category,
        *,
        headers: dict[str, str] | None = None,
        spent: Spent | None = None,
    ) -> Iterator[Exchange]:
        """GET ``url`` with retries and yield the exchange; record it when the block ends.

        Retries (connection errors, timeouts, 429, 5xx) happen before anything is yielded; each
        attempt is recorded. httpx errors raised while the block reads the body become
        :class:`~skimlock.errors.FetchError` (:class:`Interrupted` when the body was cut off:
        :meth:`again` retries those).
        """
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                request = self.client.build_request("GET", url, headers=headers)
            except (httpx.InvalidURL, ValueError) as exc:
                raise FetchError(url, f"invalid URL ({exc})") from None
            try:
                response = self._send(request, category, headers, spent)
            except httpx.HTTPError as exc:
                self._record(category, url, status=None, nbytes=0, headers=headers,
                             started=started, spent=spent)
                if attempt < self.options.retries and _retryable(exc):
                    attempt += 1
                    time.sleep(self._backoff(attempt, None))
                    continue
                raise FetchError(url, _describe(exc)) from None
            if response.status_code in _RETRY_STATUS and attempt < self.options.retries:
                response.close()
                self._record(category, url, status=response.status_code,
                             nbytes=response.num_bytes_downloaded, headers=headers,
                             started=started, spent=spent)
                attempt += 1
                time.sleep(self._backoff(attempt, response.headers.get("retry-after")))
                continue
            break
        exchange = Exchange(response=response, url=url, category=category)
        try:
            yield exchange
        except httpx.TransportError as exc:
            raise Interrupted(url, _describe(exc)) from None
        except httpx.HTTPError as exc:
            raise FetchError(url, _describe(exc)) from None
        finally:
            _drain(response)
            response.close()
            self._record(exchange.category, url, status=response.status_code,
                         nbytes=response.num_bytes_downloaded, headers=headers,
                         started=started, spent=spent)

    def again(self, operation: Callable[[], _T]) -> _T:
        """Run ``operation``; when a body was cut off (reset, truncated, timed out while
        reading), run it again, at most ``retries`` more times, with backoff."""
        attempt = 0
        while True:
            try:
                return operation()
            except Interrupted as exc:
                if attempt >= self.options.retries:
                    raise FetchError(exc.url, exc.reason) from None
                attempt += 1
                logger.debug("retrying after %s", exc)
                time.sleep(self._backoff(attempt, None))

    def check(self, url: str) -> None:
        """Refuse plain HTTP unless the host is loopback or trusted; refuse other schemes."""
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            port = parts.port
        except ValueError as exc:
            raise FetchError(url, f"invalid URL ({exc})") from None
        if parts.scheme == "https":
            return
        if parts.scheme != "http":
            raise FetchError(url, f"unsupported URL scheme {parts.scheme!r}")
        trusted = self.options.trusted_hosts
        if _is_loopback(host) or host in trusted or f"{host}:{port}" in trusted:
            return
        raise InsecureIndexError(url, host)

    # -- internals ----------------------------------------------------------------------------

    def _send(
        self,
        request: httpx.Request,
        category: Category,
        headers: dict[str, str] | None,
        spent: Spent | None,
    ) -> httpx.Response:
        """Send, following redirects one hop at a time: each hop is checked like a listed URL
        (no plain HTTP to an untrusted host) and recorded as its own request."""
        for hop in range(_MAX_REDIRECTS + 1):
            started = time.monotonic()
            # Credentials are chosen for the listed URL only: on later hops httpx has kept the
            # Authorization header for the same origin and dropped it for another one.
            response = self.client.send(
                request, stream=True, follow_redirects=False,
                **({} if hop == 0 else {"auth": None}),
            )
            target = response.next_request
            if target is None:
                return response
            _drain(response)
            response.close()
            self._record(category, str(request.url), status=response.status_code,
                         nbytes=response.num_bytes_downloaded, headers=headers,
                         started=started, spent=spent)
            self.check(str(target.url))
            request = target
        raise FetchError(str(request.url), f"too many redirects (more than {_MAX_REDIRECTS})")

    def _record(
        self,
        category: Category,
        url: str,
        *,
        status: int | None,
        nbytes: int,
        headers: dict[str, str] | None,
        started: float,
        spent: Spent | None,
    ) -> None:
        if spent is not None:
            spent.bytes += nbytes
            spent.requests += 1
        self.stats.record(
            RequestRecord(
                category=category,
                method="GET",
                url=redact(url),
                status=status,
                body_bytes=nbytes,
                range=(headers or {}).get("Range"),
                seconds=time.monotonic() - started,
            )
        )

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        if retry_after and retry_after.strip().isdigit():
            return min(10.0, float(retry_after.strip()))
        return float(self.options.backoff * (2 ** (attempt - 1)))


# --- body reading ------------------------------------------------------------------------------


@dataclass(kw_only=True, slots=True)
class Exchange:
    """One response being read; ``category`` may be corrected before it is recorded."""

    response: httpx.Response
    url: str
    category: Category

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self.response.headers

    @property
    def final_url(self) -> str:
        """The URL that answered (after redirects)."""
        return str(self.response.url)

    def body(self, cap: int, *, raw: bool = False) -> Iterator[bytes]:
        """The body in chunks; more than ``cap`` bytes is an error (checked before reading)."""
        declared = self.response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FetchError(self.url, f"body of {declared} bytes is over the {cap}-byte cap")
        seen = 0
        chunks = self.response.iter_raw() if raw else self.response.iter_bytes()
        for chunk in chunks:
            seen += len(chunk)
            if seen > cap:
                raise FetchError(self.url, f"body is over the {cap}-byte cap")
            yield chunk

    def read(self, cap: int, *, raw: bool = False) -> bytes:
        """The whole body (at most ``cap`` bytes)."""
        return b"".join(self.body(cap, raw=raw))


class Interrupted(FetchError):
    """A body cut off by the transport; :meth:`Transport.again` retries the operation."""


# --- helpers -----------------------------------------------------------------------------------


def _drain(response: httpx.Response) -> None:
    """Read what is left of a small body before closing: those bytes crossed the wire (so they
    are counted) and the connection can be reused. Large or broken bodies are just closed."""
    if response.is_stream_consumed or response.is_closed:
        return
    length = response.headers.get("content-length", "")
    if not length.isdigit() or int(length) > _DRAIN_MAX:
        return
    try:
        for _chunk in response.iter_raw():
            pass
    except httpx.HTTPError:
        pass


def host_of(url: str) -> str:
    """``host[:port]`` of ``url``, never its credentials."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return "?"
    return f"{host}:{port}" if port else host


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _retryable(exc: httpx.HTTPError) -> bool:
    return isinstance(exc, httpx.TransportError) and not isinstance(exc, httpx.UnsupportedProtocol)


def _describe(exc: httpx.HTTPError) -> str:
    kinds: list[tuple[type[httpx.HTTPError], str]] = [
        (httpx.ConnectTimeout, "connection timed out"),
        (httpx.ReadTimeout, "server too slow (read timed out)"),
        (httpx.TimeoutException, "timed out"),
        (httpx.ConnectError, "connection failed"),
        (httpx.RemoteProtocolError, "connection broken by the server"),
        (httpx.ReadError, "connection reset while reading"),
        (httpx.TooManyRedirects, "too many redirects"),
    ]
    for kind, text in kinds:
        if isinstance(exc, kind):
            detail = str(exc).strip()
            return f"{text} ({detail})" if detail else text
    return f"{type(exc).__name__}: {exc}"
