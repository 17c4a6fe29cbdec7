"""URL credentials: the one place that decides what of a URL may be shown or written.

Sans-I/O. URLs are split the way httpx splits them: the authority runs from ``//`` to the first
``/``, ``?`` or ``#``, and its userinfo ends at the *last* ``@`` in it (so
``http://me@corp.example:TOKEN@host/`` has the user ``me@corp.example`` and the host ``host``).
An authority that does not parse (a ``/`` in an unencoded password makes the host and port
garbage) is hidden up to the last ``@`` of the whole URL: everything between the scheme and
what may be the host. Messages are stricter still: any URL with an ``@`` after its authority is
shown from after its last ``@`` (``user:123/pass@host`` parses, as host ``user`` and port 123,
and ``tok/en@host`` as host ``tok``); what is written to files stays as httpx reads it.
"""

from __future__ import annotations

import re

__all__ = ["credentials", "origin", "redact", "without_credentials"]

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*:)?//")
#: A host as httpx accepts it (name, IPv4, or bracketed IPv6), then an optional numeric port.
_HOSTPORT = re.compile(r"^(\[[0-9A-Fa-f:.%a-zA-Z]+\]|[^\s:/?#\[\]@]+)(:\d*)?$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _split(url: str) -> tuple[str, str, str, str] | None:
    """``(scheme_and_slashes, userinfo_or_empty, hostport, rest)``; None when the URL has no
    ``//`` authority. ``hostport`` is ``"\\0"`` when the authority does not parse (then
    ``userinfo`` covers everything up to the last ``@`` of the URL)."""
    match = _SCHEME.match(url)
    if match is None:
        return None
    head, tail = url[: match.end()], url[match.end():]
    end = len(tail)
    for stop in "/?#":
        position = tail.find(stop)
        if position != -1:
            end = min(end, position)
    authority, rest = tail[:end], tail[end:]
    userinfo, at, hostport = authority.rpartition("@")
    if _HOSTPORT.match(hostport):
        return head, userinfo if at else "", hostport, rest
    # Unparsable (e.g. ``user:pa/ss@host``): hide everything up to the URL's last ``@``.
    userinfo, at, remainder = tail.rpartition("@")
    if not at:
        return head, "", authority, rest
    return head, userinfo, "\0", remainder


def redact(url: str) -> str:
    """``url`` for messages and logs: ``https://user:secret@host/`` becomes
    ``https://***@host/`` (see the module docstring for how odd URLs are read)."""
    parts = _split(url)
    if parts is None:
        return url
    head, userinfo, hostport, rest = parts
    if not userinfo:
        if "@" not in rest:
            return url
        # ``user:123/secret@host`` or ``tok/en@host``: httpx reads the host as ``user`` or
        # ``tok``, but a message must not show what was probably a secret either.
        return f"{head}***@{rest.rpartition('@')[2]}"
    return f"{head}***@{rest}" if hostport == "\0" else f"{head}***@{hostport}{rest}"


def without_credentials(url: str) -> str:
    """``url`` without any userinfo, for what is written to files (locks, reports)."""
    parts = _split(url)
    if parts is None or not parts[1]:
        return url
    head, _userinfo, hostport, rest = parts
    return f"{head}{rest}" if hostport == "\0" else f"{head}{hostport}{rest}"


def credentials(url: str) -> tuple[str, str] | None:
    """``(user, password)`` of a parsable URL's userinfo (percent-decoded), else None."""
    from urllib.parse import unquote

    parts = _split(url)
    if parts is None or not parts[1] or parts[2] == "\0":
        return None
    user, _, password = parts[1].partition(":")
    return unquote(user), unquote(password)


def origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` with the default port filled in; None when unparsable."""
    parts = _split(url)
    if parts is None or parts[2] == "\0" or not parts[0].endswith("://"):
        return None
    scheme = parts[0][:-3].lower()
    hostport = parts[2]
    if hostport.startswith("["):
        host, _, port = hostport.partition("]")
        host, port = host + "]", port[1:]
    else:
        host, _, port = hostport.partition(":")
    number = int(port) if port else _DEFAULT_PORTS.get(scheme)
    if number is None or not host:
        return None
    return scheme, host.lower(), number
