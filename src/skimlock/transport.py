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
* deadlines: ``timeout`` (the client's) bounds each socket read, connect and write; a
  per-request deadline (``TransportOptions.request_deadline``) bounds a whole exchange
  (redirect hops, headers and body), and ``retry_window`` bounds the time retries may add;
* bounded decoding: bodies are read raw and decoded here (gzip, deflate) by a decompressor that
  never produces more than one chunk past the caller's cap; stacked or unknown encodings are
  refused (:class:`~skimlock.errors.ContentEncodingError`);
* credentials: from the URL, else the credentials of another URL on the same origin that the
  fetch layer told it about (:meth:`Transport.remember_credentials`, the index URL), else
  ``~/.netrc`` for the host (see :class:`_Credentials`); never sent to another origin;
* cancellation (:meth:`Transport.cancel`, on Ctrl-C): no request is sent after it, retry loops
  and backoff sleeps stop, and every open socket is shut down, which aborts in-flight reads;
* converting httpx exceptions to :mod:`skimlock.errors` (nowhere else).

Deadlines and cancellation work below httpx: the client's connection pools get a network
backend (:class:`_GuardedBackend`) whose streams bound every socket operation by what is left
of the calling thread's deadline and refuse to run once the transport is cancelled.

No other module imports httpx, except the CLI, which builds the client with :func:`make_client`.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import logging
import netrc
import os
import queue
import socket
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpcore
import httpx

from . import urls
from .errors import (
    BodyTooLargeError,
    ContentEncodingError,
    FetchCancelledError,
    FetchError,
    InsecureIndexError,
    OfflineError,
    redact,
)
from .filetransport import FileTransport
from .stats import Category, RequestRecord, Stats

__all__ = ["Exchange", "Spent", "Transport", "TransportOptions", "make_client", "host_of"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

KiB = 1024

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_MAX_REDIRECTS = 10
#: Unread bodies up to this size are read before the response is closed (see _drain).
_DRAIN_MAX = 64 * KiB
#: Most decoded bytes produced at once (the caps are checked after each piece).
_DECODE_CHUNK = 64 * KiB
#: The encodings decoded here (a bounded zlib decompressor); others are refused.
ACCEPT_ENCODING = "gzip, deflate"


@dataclass(frozen=True, kw_only=True, slots=True)
class TransportOptions:
    """Tunables of the transport (the fetch layer fills them from its own options)."""

    #: Attempts after the first for connection errors, timeouts, 429 and 5xx.
    retries: int = 3
    #: First backoff in seconds (doubles each attempt; Retry-After is honoured up to 10 s).
    backoff: float = 0.25
    #: Hosts allowed over plain HTTP (loopback is always allowed).
    trusted_hosts: frozenset[str] = frozenset()
    #: Seconds one exchange may take in all (redirect hops, headers, body); None: no limit.
    #: 300 s reads a 2 GiB whole download at 7 MB/s; a server trickling bytes is cut off.
    request_deadline: float | None = 300.0
    #: No retry starts (and no backoff sleeps past) this many seconds after the first attempt.
    retry_window: float = 120.0
    #: ``--offline``: every request is refused (the fetch layer answers from the cache).
    offline: bool = False


@dataclass(kw_only=True, slots=True)
class Spent:
    """Bytes and requests spent on one task (e.g. one file's metadata)."""

    bytes: int = 0
    requests: int = 0


def make_client(*, timeout: float = 30.0) -> httpx.Client:
    """The client the CLI injects: pooled keep-alive connections, proxies from the environment,
    credentials from the URL or else from ``~/.netrc`` (see :class:`_Credentials`).

    HTTP/1.1 only (httpx is installed without its ``http2`` extra, which also spares importing
    ``h2`` at start-up): with httpcore's synchronous HTTP/2 shared by the fetch threads, 2 of 8
    locks of ~150 packages against PyPI failed (stream resets, and a KeyError inside httpcore),
    while HTTP/1.1 over a pool of connections failed none and took the same time (2026-11).
    The pool holds as many connections as requests in flight: httpcore checks every pooled
    connection on each request, and 32 instead of 16 cost ~25 % more CPU on a 91-package lock.
    """
    from . import __version__

    netrc_file = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
    auth = _Credentials(netrc_file if os.path.isfile(netrc_file) else None)
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        headers={"User-Agent": f"skimlock/{__version__}"},
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        auth=auth,
        trust_env=True,
        mounts={"file://": FileTransport()},
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
        self._guard = _Guard()
        self._guard.install(client)
        self._lock = threading.Lock()
        self._origins: dict[tuple[str, str, int], tuple[str, str]] = {}

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
        :meth:`again` retries those). The request deadline covers the whole block.
        """
        if self.options.offline:
            raise OfflineError(url, "this URL")
        sent = self._headers(url, headers)
        first = time.monotonic()
        attempt = 0
        while True:
            self._stop_if_cancelled(url)
            started = time.monotonic()
            hop = [url]
            previous = self._guard.begin(self.options.request_deadline)
            try:
                try:
                    request = self.client.build_request("GET", url, headers=sent)
                except (httpx.InvalidURL, ValueError):
                    raise FetchError(url, "invalid URL") from None
                response = self._send(request, category, headers, spent, hop)
            except httpx.HTTPError as exc:
                reason = self._describe(exc)
                self._guard.end(previous)
                self._record(category, hop[-1], status=None, nbytes=0, headers=headers,
                             started=started, spent=spent)
                if _retryable(exc) and self._may_retry(attempt, first, None):
                    attempt += 1
                    self._sleep(url, self._backoff(attempt, None))
                    continue
                raise FetchError(url, reason) from None
            except BaseException:
                self._guard.end(previous)
                raise
            if response.status_code in _RETRY_STATUS:
                retry_after = response.headers.get("retry-after")
                if self._may_retry(attempt, first, retry_after):
                    self._guard.end(previous)
                    response.close()
                    self._record(category, str(response.url), status=response.status_code,
                                 nbytes=response.num_bytes_downloaded, headers=headers,
                                 started=started, spent=spent)
                    attempt += 1
                    self._sleep(url, self._backoff(attempt, retry_after))
                    continue
            break
        exchange = Exchange(response, url=url, category=category, guard=self._guard)
        try:
            yield exchange
        except httpx.TransportError as exc:
            raise Interrupted(url, self._describe(exc)) from None
        except httpx.HTTPError as exc:
            raise FetchError(url, self._describe(exc)) from None
        finally:
            self._guard.end(previous)
            if not self._guard.cancelled.is_set():
                _drain(response)
            response.close()
            # Under the URL that answered: after redirects, the last hop's.
            self._record(exchange.category, str(response.url), status=response.status_code,
                         nbytes=response.num_bytes_downloaded, headers=headers,
                         started=started, spent=spent)

    def again(self, operation: Callable[[], _T]) -> _T:
        """Run ``operation``; when a body was cut off (reset, truncated, timed out while
        reading), run it again, at most ``retries`` more times, with backoff, and never after
        the retry window."""
        first = time.monotonic()
        attempt = 0
        while True:
            try:
                return operation()
            except Interrupted as exc:
                if not self._may_retry(attempt, first, None):
                    raise FetchError(exc.url, exc.reason) from None
                attempt += 1
                logger.debug("retrying after %s", exc)
                self._sleep(exc.url, self._backoff(attempt, None))

    def check(self, url: str) -> None:
        """Refuse plain HTTP unless the host is loopback or trusted; refuse other schemes."""
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            port = parts.port
        except ValueError:
            raise FetchError(url, "invalid URL") from None
        if parts.scheme in ("https", "file"):  # file: a local index (skimlock.filetransport)
            return
        if parts.scheme != "http":
            raise FetchError(url, f"unsupported URL scheme {parts.scheme!r}")
        trusted = self.options.trusted_hosts
        if _is_loopback(host) or host in trusted or f"{host}:{port}" in trusted:
            return
        raise InsecureIndexError(url, host)

    def remember_credentials(self, url: str) -> None:
        """Send the credentials in ``url`` (an index URL) to every URL of its origin (scheme,
        host, port) that carries none of its own: indexes list files by absolute URL on their
        own origin (GitLab). The first credentials seen for an origin are kept."""
        found = urls.credentials(url)
        where = urls.origin(url)
        if found is not None and where is not None:
            with self._lock:
                self._origins.setdefault(where, found)

    # -- cancellation -------------------------------------------------------------------------

    @property
    def cancelled(self) -> bool:
        return self._guard.cancelled.is_set()

    def cancel(self) -> None:
        """Stop all HTTP now: nothing is sent after this, retry loops and backoff sleeps end,
        and every open connection is shut down (a blocked read returns at once)."""
        self._guard.cancel()

    # -- internals ----------------------------------------------------------------------------

    def _headers(self, url: str, headers: dict[str, str] | None) -> dict[str, str]:
        sent = dict(headers or {})
        if not any(key.lower() == "accept-encoding" for key in sent):
            sent["Accept-Encoding"] = ACCEPT_ENCODING
        if urls.credentials(url) is None and not any(k.lower() == "authorization" for k in sent):
            where = urls.origin(url)
            with self._lock:
                found = self._origins.get(where) if where is not None else None
            if found is not None:
                token = base64.b64encode(f"{found[0]}:{found[1]}".encode()).decode("ascii")
                sent["Authorization"] = f"Basic {token}"
        return sent

    def _send(
        self,
        request: httpx.Request,
        category: Category,
        headers: dict[str, str] | None,
        spent: Spent | None,
        hop_url: list[str],
    ) -> httpx.Response:
        """Send, following redirects one hop at a time: each hop is checked like a listed URL
        (no plain HTTP to an untrusted host) and recorded as its own request, under the URL it
        asked (``hop_url[-1]`` is the one being asked)."""
        for hop in range(_MAX_REDIRECTS + 1):
            self._stop_if_cancelled(hop_url[0])
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
            if target.url.scheme == "file" and request.url.scheme != "file":
                # A server may not send skimlock to read this machine's files.
                raise FetchError(str(request.url), "redirect to a local file refused")
            request = target
            hop_url.append(str(target.url))
        raise FetchError(str(request.url), f"too many redirects (more than {_MAX_REDIRECTS})")

    def _stop_if_cancelled(self, url: str) -> None:
        if self._guard.cancelled.is_set():
            raise FetchCancelledError(url)

    def _may_retry(self, attempt: int, first: float, retry_after: str | None) -> bool:
        if attempt >= self.options.retries or self._guard.cancelled.is_set():
            return False
        pause = self._backoff(attempt + 1, retry_after)
        return time.monotonic() + pause - first <= self.options.retry_window

    def _sleep(self, url: str, seconds: float) -> None:
        if self._guard.cancelled.wait(seconds):
            raise FetchCancelledError(url)

    def _describe(self, exc: httpx.HTTPError) -> str:
        if isinstance(exc, httpx.TimeoutException) and self._guard.expired():
            return (f"server too slow (over the {self.options.request_deadline:g} s deadline "
                    "of one request)")
        return _describe(exc)

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


# --- deadlines and cancellation below httpx -------------------------------------------------------


class _Guard:
    """The calling thread's deadline and the run's cancel flag, enforced on every socket
    operation by :class:`_GuardedStream`."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        #: Host names resolved for this run's connections.
        self.addresses = _Addresses()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._streams: weakref.WeakSet[_GuardedStream] = weakref.WeakSet()

    def install(self, client: httpx.Client) -> None:
        """Wrap the network backend of every connection pool of ``client`` (its own transport
        and the proxy mounts). A transport without an httpcore pool is left alone: then only
        the checks between body chunks bound its time."""
        transports: list[object] = [getattr(client, "_transport", None)]
        transports += list(getattr(client, "_mounts", {}).values())
        for transport in transports:
            pool = getattr(transport, "_pool", None)
            backend = getattr(pool, "_network_backend", None)
            if isinstance(backend, httpcore.NetworkBackend) and not isinstance(
                backend, _GuardedBackend
            ):
                pool._network_backend = _GuardedBackend(backend, self)  # type: ignore[union-attr]

    def begin(self, seconds: float | None) -> float | None:
        """Set this thread's deadline ``seconds`` from now; return the previous one."""
        previous: float | None = getattr(self._local, "deadline", None)
        self._local.deadline = None if seconds is None else time.monotonic() + seconds
        return previous

    def end(self, previous: float | None) -> None:
        self._local.deadline = previous

    def expired(self) -> bool:
        deadline: float | None = getattr(self._local, "deadline", None)
        return deadline is not None and time.monotonic() >= deadline - 0.01

    def budget(self, timeout: float | None, kind: type[Exception]) -> float | None:
        """The timeout for one socket operation: ``timeout`` or what is left of the deadline."""
        if self.cancelled.is_set():
            raise FetchCancelledError("(any URL)")
        deadline: float | None = getattr(self._local, "deadline", None)
        if deadline is None:
            return timeout
        left = deadline - time.monotonic()
        if left <= 0:
            raise kind("request deadline exceeded")
        return left if timeout is None else min(timeout, left)

    def check(self) -> None:
        """Between body chunks: the same checks without a socket operation."""
        self.budget(None, httpx.ReadTimeout)

    def track(self, stream: _GuardedStream) -> _GuardedStream:
        with self._lock:
            self._streams.add(stream)
        if self.cancelled.is_set():
            stream.abort()
        return stream

    def cancel(self) -> None:
        self.cancelled.set()
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            stream.abort()


class _GuardedStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, guard: _Guard) -> None:
        self._inner = inner
        self._guard = guard

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._guard.budget(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._guard.budget(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context, server_hostname, self._guard.budget(timeout, httpcore.ConnectTimeout)
        )
        return self._guard.track(_GuardedStream(inner, self._guard))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)

    def abort(self) -> None:
        """Shut the socket down from another thread: a blocked read returns at once."""
        sock = self._inner.get_extra_info("socket")
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Addresses:
    """Host names resolved once per run, one lookup per host at a time (single flight).

    The fetch threads open up to 16 connections to one host at once, and each would ask the
    system resolver; with a resolver that drops some of many simultaneous queries (seen here:
    16 parallel lookups of pypi.org stalled 5 or 10 s, the resolver's retry time, or failed),
    a run then waits seconds for nothing. The first thread looks the host up; the others wait
    for its answer. A failed lookup is not remembered (the next connection tries again)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[tuple[str, int], tuple[str, ...]] = {}
        self._pending: dict[tuple[str, int], threading.Event] = {}

    def lookup(self, host: str, port: int) -> tuple[str, ...]:
        key = (host, port)
        while True:
            with self._lock:
                known = self._known.get(key)
                if known is not None:
                    return known
                waiting = self._pending.get(key)
                if waiting is None:
                    mine = self._pending[key] = threading.Event()
            if waiting is not None:
                waiting.wait()
                continue  # the answer is known now, or the lookup failed: try again
            try:
                infos = _hedged_getaddrinfo(host, port)
                addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
                with self._lock:
                    self._known[key] = addresses
                return addresses
            except OSError as exc:  # gaierror: what httpcore would raise as a connect error
                raise httpcore.ConnectError(str(exc)) from exc
            finally:
                with self._lock:
                    self._pending.pop(key, None)
                mine.set()


#: A lookup not answered after this many seconds gets a second one beside it (resolvers that
#: drop a query answer a resent one at once, where the system waits 5 s before resending).
_LOOKUP_HEDGE = 1.0
_LOOKUP_ATTEMPTS = 3


def _hedged_getaddrinfo(host: str, port: int) -> list[Any]:
    """``socket.getaddrinfo`` for a TCP connection, with another attempt started beside the
    first every :data:`_LOOKUP_HEDGE` seconds (at most :data:`_LOOKUP_ATTEMPTS`); the first
    answer wins, the last error is raised when none answers."""
    answers: queue.SimpleQueue[list[Any] | OSError] = queue.SimpleQueue()

    def attempt() -> None:
        try:
            answers.put(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            answers.put(exc)

    error: OSError | None = None
    started = running = 0
    while True:
        if started < _LOOKUP_ATTEMPTS and (running == 0 or error is None):
            threading.Thread(target=attempt, name="skimlock-lookup", daemon=True).start()
            started += 1
            running += 1
        try:
            answer = answers.get(timeout=_LOOKUP_HEDGE if started < _LOOKUP_ATTEMPTS else None)
        except queue.Empty:
            continue  # slow: start another attempt beside it
        running -= 1
        if not isinstance(answer, OSError):
            return answer
        error = answer
        if running == 0 and started >= _LOOKUP_ATTEMPTS:
            raise error


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class _GuardedBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend, guard: _Guard) -> None:
        self._inner = inner
        self._guard = guard

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        """Connect to the first address of ``host`` that answers (resolved once per run, see
        :class:`_Addresses`; TLS still names the host)."""
        addresses = (host,) if _is_address(host) else self._guard.addresses.lookup(host, port)
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    address, port, self._guard.budget(timeout, httpcore.ConnectTimeout),
                    local_address, socket_options,
                )
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return self._guard.track(_GuardedStream(stream, self._guard))
        assert failure is not None  # getaddrinfo gives at least one address or raises
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:  # pragma: no cover - skimlock never uses unix sockets
        stream = self._inner.connect_unix_socket(
            path, self._guard.budget(timeout, httpcore.ConnectTimeout), socket_options
        )
        return self._guard.track(_GuardedStream(stream, self._guard))

    def sleep(self, seconds: float) -> None:  # pragma: no cover
        self._inner.sleep(seconds)


# --- body reading ------------------------------------------------------------------------------


class Exchange:
    """One response being read; ``category`` may be corrected before it is recorded."""

    __slots__ = ("_guard", "_response", "category", "url")

    def __init__(
        self, response: httpx.Response, *, url: str, category: Category, guard: _Guard
    ) -> None:
        self._response = response
        self._guard = guard
        self.url = url
        self.category = category

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def final_url(self) -> str:
        """The URL that answered (after redirects)."""
        return str(self._response.url)

    def body(self, cap: int, *, raw: bool = False) -> Iterator[bytes]:
        """The body in chunks, decoded (gzip, deflate) unless ``raw``. More than ``cap`` bytes,
        raw or decoded, is an error, raised before more than one chunk past the cap exists;
        a declared Content-Length over the cap is refused before reading."""
        declared = self._response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise BodyTooLargeError(
                self.url, f"body of {declared} bytes is over the {cap}-byte cap"
            )
        decoder = None if raw else _decoder(self.url, self.headers.get("content-encoding", ""))
        received = produced = 0
        for chunk in self._response.iter_raw():
            self._guard.check()
            received += len(chunk)
            if received > cap:
                raise BodyTooLargeError(self.url, f"body is over the {cap}-byte cap")
            pieces = (chunk,) if decoder is None else decoder.feed(chunk)
            for piece in pieces:
                produced += len(piece)
                if produced > cap:
                    raise BodyTooLargeError(self.url, f"body is over the {cap}-byte cap")
                yield piece
        if decoder is not None:
            rest = decoder.finish()
            if produced + len(rest) > cap:
                raise BodyTooLargeError(self.url, f"body is over the {cap}-byte cap")
            if rest:
                yield rest

    def read(self, cap: int, *, raw: bool = False) -> bytes:
        """The whole body (at most ``cap`` bytes, see :meth:`body`)."""
        pieces = list(self.body(cap, raw=raw))
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)  # one copy at most


class _Inflater:
    """A gzip or deflate body decoded at most :data:`_DECODE_CHUNK` bytes at a time."""

    def __init__(self, url: str, encoding: str) -> None:
        self._url = url
        self._encoding = encoding
        self._obj: Any = None
        self._done = False

    def _start(self, data: bytes) -> None:
        if self._encoding == "gzip":
            wbits = 16 + zlib.MAX_WBITS
        elif len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0:
            wbits = zlib.MAX_WBITS  # deflate as the RFC says: a zlib stream
        else:
            wbits = -zlib.MAX_WBITS  # deflate as some servers send it: raw
        self._obj = zlib.decompressobj(wbits)

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data and not self._done:
            if self._obj is None:
                self._start(data)
            try:
                out = self._obj.decompress(data, _DECODE_CHUNK)
            except zlib.error as exc:
                raise ContentEncodingError(
                    self._url, f"corrupt {self._encoding} body ({exc})"
                ) from None
            data = self._obj.unconsumed_tail
            if self._obj.eof:
                data = self._obj.unused_data
                self._obj = None  # another gzip member may follow
                if self._encoding != "gzip" or not data.strip(b"\0"):
                    self._done = True
            if out:
                yield out

    def finish(self) -> bytes:
        if self._obj is None:
            return b""
        # Everything was fed through decompress(); what zlib still holds is under a window.
        return bytes(self._obj.flush(_DECODE_CHUNK))


def _decoder(url: str, header: str) -> _Inflater | None:
    """The decoder for a Content-Encoding header; one layer of gzip or deflate only."""
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return None
    if len(codings) > 1:
        raise ContentEncodingError(url, f"refusing stacked Content-Encoding {header.strip()!r}")
    coding = {"x-gzip": "gzip"}.get(codings[0], codings[0])
    if coding not in ("gzip", "deflate"):
        raise ContentEncodingError(url, f"refusing unsupported Content-Encoding {coding!r}")
    return _Inflater(url, coding)


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
