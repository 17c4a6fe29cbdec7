"""A parsed project page as compact bytes and back (sans-I/O).

The on-disk cache keeps this pre-digested form beside a page's body, bound to the body's SHA-256
(:meth:`skimlock.cache.Cache.digested`), so that a warm run skips parsing the page: the
:class:`~skimlock.simple.Listing` table (version texts, raw entry payloads, page positions) is
msgpack-encoded as it is and decoded in C. Entries stay unparsed either way; the resolver builds
records for the versions it reaches, as after a parse. Anything that does not decode to the
expected shape is None (the caller parses the body instead).
"""

from __future__ import annotations

from array import array
from typing import Any

import msgspec
from packaging.utils import NormalizedName

from .simple import AllRecords, Listing, ProjectPage

__all__ = ["KIND", "dump", "load"]

#: Names the format in the cache; a change of the layout below changes it.
KIND = "listing-v1"

#: What :func:`dump` writes (payloads are all bytes, JSON pages, or all str, HTML pages).
_Shape = tuple[str, str, str, list[str], str, str, list[str], list[Any], bytes, bytes]


def dump(page: ProjectPage) -> bytes | None:
    """``page`` as bytes; None for a page without a listing (one built in code)."""
    listing = page.listing
    if listing is None:
        return None
    return msgspec.msgpack.encode([
        page.name, page.url, page.api_version, list(page.versions), listing.base,
        listing.page_url, list(listing.keys), list(listing.payloads),
        listing.firsts.tobytes(), listing.positions.tobytes(),
    ])


def load(data: bytes) -> ProjectPage | None:
    """The page :func:`dump` wrote, or None when ``data`` is not one."""
    try:
        shape = msgspec.msgpack.decode(data, type=_Shape)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    name, url, api_version, versions, base, page_url, keys, payloads, firsts, positions = shape
    if len(firsts) % 8 or len(positions) % 8 or len(firsts) // 8 != len(keys) + 1 \
            or len(payloads) != len(keys):
        return None
    texts = tuple(p for p in payloads if isinstance(p, str))
    raws = tuple(p for p in payloads if isinstance(p, bytes))
    if (texts and raws) or len(texts) + len(raws) != len(payloads):
        return None
    first_array, position_array = array("q"), array("q")
    first_array.frombytes(firsts)
    position_array.frombytes(positions)
    if first_array and first_array[-1] != len(position_array):
        return None
    listing = Listing(
        base=base, page_url=page_url, keys=tuple(keys), payloads=texts or raws,
        firsts=first_array, positions=position_array,
    )
    return ProjectPage(
        name=NormalizedName(name), url=url, api_version=api_version, files=AllRecords(listing),
        listing=listing, versions=tuple(versions),
    )
