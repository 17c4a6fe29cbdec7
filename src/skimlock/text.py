"""Untrusted text made safe for a terminal or a log line (sans-I/O).

Strings that come from an index or a package (file names, yanked reasons, project names, URLs,
metadata fields, error text a server sent) may hold terminal escape sequences (``ESC ] 0 ;`` sets
the window title, ``ESC [ 2K`` and ``CR`` erase a line to forge another), line breaks that forge
log lines, or bidirectional overrides that make text read differently from what it is.
:func:`printable` replaces every such character by a visible escape, so that one value stays one
line and shows what it holds.

Escaped: C0 controls (``\\x00`` to ``\\x1f``, with ``\\t``, ``\\n``, ``\\r`` spelled so), DEL and C1
controls (``\\x7f`` to ``\\x9f``), the Unicode line and paragraph separators, the bidirectional
marks, embeddings, overrides and isolates, and lone surrogates (which cannot be encoded and would
make printing fail). A backslash is left as it is (paths on Windows stay readable), so the escape
is for reading, not reversible.

The CLI applies it at its boundary (log formatter, ``error:`` lines, tables, the summary line);
see docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f"  # C0, DEL, C1 (ESC, BEL, CR, LF, NEL, CSI...)
    "\u061c\u200e\u200f"  # Arabic letter mark, left-to-right and right-to-left marks
    "\u2028\u2029"  # line and paragraph separators
    "\u202a-\u202e\u2066-\u2069"  # bidi embeddings, overrides and isolates
    "\ud800-\udfff]"  # lone surrogates (from surrogateescape)
)

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every character that could steer a terminal or split a line escaped.

    >>> printable("a\\x1b[2Kb\\nc")
    'a\\\\x1b[2Kb\\\\nc'
    """
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape, text)
