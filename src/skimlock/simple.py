"""Simple Repository API project pages (sans-I/O).

Owns PEP 503 (HTML), PEP 691 (JSON), PEP 592 (yanked), PEP 629 (api-version), PEP 658/714 (core
metadata keys) and PEP 700 (size, upload-time, versions). Takes bytes and returns records; never
imports httpx.

Parsing is lazy, so that its cost follows what the resolver reads rather than the page's size
(numpy's page lists ~4,400 files; a resolver looks at one or two of its versions). A page is
reduced at once to :class:`FileGroup` objects, one per version text found in the file names
(a cheap filename scan), each holding the raw text of its entries; the page's bytes are not
kept. A group's :class:`IndexFile` records (hashes, metadata, yanking, size...) are built only
when :meth:`FileGroup.records` is called, and PEP 700 ``upload-time`` is parsed only when
:attr:`IndexFile.uploaded_at` is read.

JSON pages are decoded with :mod:`msgspec` (in C): one pass for the names, one for each entry's
raw text. HTML pages are read with a small regex scanner over ``<a>``, ``<base>`` and ``<meta>``
tags rather than :mod:`html.parser`, which is several times slower on big pages. It accepts any
attribute order, quoting and case, entities in values and text, and skips comments. See
``benchmarks/bench_parse.py``.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import html
import json
import logging
import re
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn, overload
from urllib.parse import unquote, urljoin, urlsplit

import msgspec
from packaging.utils import NormalizedName, canonicalize_name

from skimlock.errors import ApiVersionError, IndexPageError, redact

__all__ = [
    "ACCEPT",
    "SUPPORTED_API_VERSION",
    "AllRecords",
    "CoreMetadata",
    "FileGroup",
    "IndexFile",
    "ProjectPage",
    "normalize",
    "parse_project_page",
    "parse_upload_time",
    "project_url",
    "version_text",
]

logger = logging.getLogger(__name__)

#: Accept header for project pages: JSON first, then the versioned HTML, then legacy HTML.
ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)


@dataclass(frozen=True, kw_only=True, slots=True)
class CoreMetadata:
    """The index serves ``<file url>.metadata`` (PEP 658/714).

    ``hashes`` maps a lower-case algorithm name to a lower-case hex digest; it is empty when the
    index only said ``true``.
    """

    hashes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class IndexFile:
    """One file listed on a project page."""

    filename: str
    #: Absolute URL, without the ``#hash`` fragment.
    url: str
    #: Lower-case algorithm name to lower-case hex digest (URL fragment or JSON ``hashes``).
    hashes: Mapping[str, str] = field(default_factory=dict)
    #: ``data-requires-python`` / ``requires-python``, HTML-unescaped; None when absent.
    requires_python: str | None = None
    yanked: bool = False
    yanked_reason: str | None = None
    #: None when the index does not advertise core metadata for this file.
    core_metadata: CoreMetadata | None = None
    #: PEP 700 ``size`` in bytes, when given.
    size: int | None = None
    #: PEP 700 ``upload-time``, timezone-aware, for records built in code; parsed pages leave
    #: it None and keep the text in ``upload_time_text``. Read :attr:`uploaded_at`.
    upload_time: datetime | None = None
    #: PEP 700 ``upload-time`` (or HTML ``data-upload-time``) as the page gave it, unparsed.
    upload_time_text: str | None = None

    @property
    def uploaded_at(self) -> datetime | None:
        """When the file was uploaded (timezone-aware), if the index says and it parses."""
        if self.upload_time is not None:
            return self.upload_time
        if self.upload_time_text is None:
            return None
        return parse_upload_time(self.upload_time_text)

    @property
    def metadata_url(self) -> str:
        """Where PEP 658 puts this file's core metadata."""
        return self.url + ".metadata"

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")


@dataclass(frozen=True, kw_only=True, slots=True)
class FileGroup:
    """The entries of one page whose file names carry the same version text, still unparsed.

    ``version`` is the text found by :func:`version_text` ("" when a name shows none, e.g. an
    ``.exe``). :meth:`records` builds the entries' :class:`IndexFile` records (malformed ones,
    and links that are not http, https or file URLs, are skipped and logged at debug level).
    """

    version: str
    #: Where each entry stood on the page (increasing), to restore page order across groups.
    positions: array[int]
    #: Base URL for relative links (the page URL, or an HTML ``<base href>``).
    base: str
    #: The page URL, for log messages.
    page_url: str
    #: JSON: the entries' objects joined by commas (bytes); HTML: the ``<a>`` tags (str).
    payload: bytes | str

    def __len__(self) -> int:
        return len(self.positions)

    def records(self) -> list[IndexFile]:
        """The group's files, in page order."""
        return [f for _, f in self.placed()]

    def requires_pythons(self) -> list[object] | None:
        """The raw ``requires-python`` value of each entry (JSON groups; None for HTML), read
        without building records: lets a caller pass over a version no file of which suits
        the target's Python."""
        if isinstance(self.payload, bytes):
            return [e.requires_python for e in _JSON_RPS.decode(b"[" + self.payload + b"]")]
        return None

    def placed(self) -> list[tuple[int, IndexFile]]:
        """The group's files with their page positions."""
        if isinstance(self.payload, bytes):
            entries = _JSON_ENTRIES.decode(b"[" + self.payload + b"]")
            built = [
                _json_file(e, index, self.page_url)
                for e, index in zip(entries, self.positions, strict=True)
            ]
        else:
            built = [
                _html_file(m[1], m[2], self.base) for m in _ANCHOR.finditer(self.payload)
            ]
        return [(pos, f) for pos, f in zip(self.positions, built, strict=True) if f is not None]


@dataclass(frozen=True, kw_only=True, slots=True)
class Listing:
    """A parsed page's files as a compact table: entries grouped by version text, unparsed.

    Group ``i`` has version text ``keys[i]``, the raw text of its entries in ``payloads[i]``
    and their page positions in ``positions[firsts[i]:firsts[i + 1]]``. A page of a million
    versions is thus a few arrays and strings, not millions of objects; :meth:`group` makes a
    :class:`FileGroup` on demand.
    """

    #: Base URL for relative links (the page URL, or an HTML ``<base href>``).
    base: str
    #: The page URL, for log messages.
    page_url: str
    #: Version text of each group ("" for names that show none), each text once.
    keys: tuple[str, ...]
    #: JSON: each group's entry objects joined by commas; HTML: each group's ``<a>`` tags.
    payloads: tuple[bytes, ...] | tuple[str, ...]
    #: Index into ``positions`` of each group's first entry, plus the total at the end.
    firsts: array[int]
    positions: array[int]

    def __len__(self) -> int:
        return len(self.keys)

    def group(self, index: int) -> FileGroup:
        return FileGroup(
            version=self.keys[index],
            positions=self.positions[self.firsts[index]:self.firsts[index + 1]],
            base=self.base,
            page_url=self.page_url,
            payload=self.payloads[index],
        )


class AllRecords(Sequence[IndexFile]):
    """Every file of a :class:`Listing` as records, in page order, built on first use.

    For tests and tools that want a whole page (``ProjectPage.files``); the resolver asks
    the listing's groups for the versions it reaches instead.
    """

    __slots__ = ("_built", "_listing")

    def __init__(self, listing: Listing) -> None:
        self._listing = listing
        self._built: tuple[IndexFile, ...] | None = None

    def _records(self) -> tuple[IndexFile, ...]:
        built = self._built
        if built is None:
            listing = self._listing
            placed = [
                item for i in range(len(listing)) for item in listing.group(i).placed()
            ]
            placed.sort(key=lambda item: item[0])
            built = self._built = tuple(f for _, f in placed)
        return built

    @overload
    def __getitem__(self, index: int) -> IndexFile: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[IndexFile, ...]: ...
    def __getitem__(self, index: int | slice) -> IndexFile | tuple[IndexFile, ...]:
        return self._records()[index]

    def __len__(self) -> int:
        return len(self._records())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return self._records() == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"AllRecords({len(self._listing)} groups)"


@dataclass(frozen=True, kw_only=True, slots=True)
class ProjectPage:
    """A parsed project page."""

    #: PEP 503-normalized project name.
    name: NormalizedName
    #: The final URL of the page (after redirects); relative file URLs were resolved against it.
    url: str
    #: ``pypi:repository-version`` / ``meta.api-version``; "1.0" when the page does not say.
    api_version: str
    #: Every file of the page, in page order. A parsed page gives an :class:`AllRecords` view of
    #: its ``listing`` here (records built when first read); pages built in code, a tuple.
    files: Sequence[IndexFile] = ()
    #: The parsed page's files, grouped by the version text of their names, unparsed; what
    #: :class:`~skimlock.candidates.ProjectFiles` reads (then ``files`` is not read).
    listing: Listing | None = None
    #: PEP 700 ``versions`` (JSON only); empty when not given.
    versions: tuple[str, ...] = ()

    @property
    def groups(self) -> tuple[FileGroup, ...]:
        """Every group of :attr:`listing` (made on each call)."""
        listing = self.listing
        return () if listing is None else tuple(listing.group(i) for i in range(len(listing)))

    def records(self) -> tuple[IndexFile, ...]:
        """Every file of the page in page order (builds every record)."""
        return tuple(self.files)


def _listing(
    grouped: dict[str | None, list[int]], base: str, page_url: str,
    parts: Callable[[list[int]], Any],
) -> Listing:
    """A :class:`Listing` of the groups of page indexes in ``grouped`` (emptied on the way);
    ``parts(indexes)`` gives the payload of the entries at those page indexes."""
    texts: list[str] = []
    payloads: list[Any] = []
    firsts, positions = array("q"), array("q")
    for key in list(grouped):
        where = grouped.pop(key)  # frees each group's list as it goes
        texts.append(key or "")
        payloads.append(parts(where))
        firsts.append(len(positions))
        positions.extend(where)
    firsts.append(len(positions))
    return Listing(
        base=base, page_url=page_url, keys=tuple(texts), payloads=tuple(payloads),
        firsts=firsts, positions=positions,
    )


# --- names and URLs ----------------------------------------------------------------------------


def normalize(name: str) -> NormalizedName:
    """PEP 503 normalized form of a project name (``Foo.Bar_baz`` -> ``foo-bar-baz``)."""
    return canonicalize_name(name)


def project_url(index_url: str, name: str) -> str:
    """URL of ``name``'s project page on the index at ``index_url`` (PEP 503: trailing slash)."""
    return f"{index_url.rstrip('/')}/{normalize(name)}/"


_SDIST_SUFFIXES = (".tar.gz", ".zip")


def version_text(filename: str) -> str | None:
    """The version part of a wheel or sdist filename, without validating it."""
    if filename.endswith(".whl"):
        dashes = filename.count("-")  # 4 or 5: name-version[-build]-python-abi-platform
        return filename.split("-", 2)[1] if dashes in (4, 5) else None
    for suffix in _SDIST_SUFFIXES:
        if filename.endswith(suffix):
            stem = filename[: -len(suffix)]
            if "-" in stem:
                return stem.rpartition("-")[2]
    return None


# --- dispatch ----------------------------------------------------------------------------------

#: Highest PEP 629 version this module knows; newer 1.x minors are parsed with a warning.
SUPPORTED_API_VERSION = (1, 4)

_JSON_TYPES = frozenset(
    {"application/vnd.pypi.simple.v1+json", "application/vnd.pypi.simple.latest+json"}
)
_HTML_TYPES = frozenset(
    {"", "text/html", "application/vnd.pypi.simple.v1+html",
     "application/vnd.pypi.simple.latest+html"}
)


def parse_project_page(content: bytes, *, content_type: str, url: str, name: str) -> ProjectPage:
    """Parse a Simple API project page served with ``content_type``.

    ``url`` must be the final URL of the page (after redirects): relative file URLs are resolved
    against it (and against an HTML ``<base href>``). ``name`` is the project that was asked for;
    the page's own name is not trusted.

    Raises :class:`~skimlock.errors.ApiVersionError` for a PEP 629 major version other than 1 and
    :class:`~skimlock.errors.IndexPageError` for any page that cannot be parsed. File entries that
    are individually broken are skipped (logged at debug level).
    """
    media_type, _, params = (content_type or "").partition(";")
    media_type = media_type.strip().lower()
    if media_type in _JSON_TYPES:
        return _parse_json(content, url=url, name=normalize(name))
    if media_type in _HTML_TYPES:
        text = _decode_html(content, params, url)
        return _parse_html(text, url=url, name=normalize(name))
    raise IndexPageError(
        url, f"unexpected content type {content_type!r} (expected a PEP 503 or PEP 691 page)"
    )


# --- shared field parsing --------------------------------------------------------------------

_HEX = re.compile(r"[0-9a-fA-F]+")
_LOWER_HEX = re.compile(r"[0-9a-f]+")
#: ``<hashname>=<hex digest>`` (PEP 658 attribute values, URL fragments).
_HASH_PAIR = re.compile(r"([A-Za-z0-9_-]+)=([0-9a-fA-F]+)")
#: Fragment keys we take for hashes: other keys (``egg=``, ``subdirectory=``) are not digests.
_FRAGMENT_HASHES = frozenset(hashlib.algorithms_guaranteed)
_VERSION = re.compile(r"\s*(\d{1,9})(?:\.(\d{1,9}))?\s*", re.ASCII)
_warned_versions: set[str] = set()


def _check_api_version(raw: str, url: str) -> str:
    """Validate a PEP 629 version string; return it stripped."""
    match = _VERSION.fullmatch(raw)
    if match is None:
        raise IndexPageError(url, f"invalid repository API version {raw!r}")
    version = raw.strip()
    major, minor = int(match[1]), int(match[2] or 0)
    if major != SUPPORTED_API_VERSION[0]:
        raise ApiVersionError(url, version)
    if minor > SUPPORTED_API_VERSION[1] and version not in _warned_versions:
        _warned_versions.add(version)
        logger.warning(
            "index page %s uses Simple API version %s, newer than the supported %d.%d; "
            "parsing it as %d.%d",
            redact(url), version, *SUPPORTED_API_VERSION, *SUPPORTED_API_VERSION,
        )
    return version


def _html_core_metadata(value: str) -> CoreMetadata | None:
    """PEP 658 attribute value: ``true`` or ``<hashname>=<hex>``; anything else means None."""
    value = value.strip()
    match = _HASH_PAIR.fullmatch(value)
    if match is not None:
        return CoreMetadata(hashes={match[1].lower(): match[2].lower()})
    if value.lower() == "true":
        return CoreMetadata()
    return None


def _json_hashes(value: object) -> dict[str, str] | None:
    """A PEP 691 hashes dict, keeping only hex digests; None when ``value`` is not a dict."""
    if not isinstance(value, dict):
        return None
    if len(value) == 1:  # fast path for the usual {"sha256": "<lower-case hex>"}
        digest = value.get("sha256")
        if isinstance(digest, str) and _LOWER_HEX.fullmatch(digest):
            return {"sha256": digest}
    hashes = {}
    for key, digest in value.items():
        if isinstance(key, str) and isinstance(digest, str) and _HEX.fullmatch(digest):
            hashes[key.lower()] = digest.lower()
    return hashes


def _json_core_metadata(value: object) -> CoreMetadata | None:
    """PEP 691/714 value: ``true`` or a dict of hashes; anything else means None."""
    if value is True:
        return CoreMetadata()
    hashes = _json_hashes(value)
    return None if hashes is None else CoreMetadata(hashes=hashes)


_ISO_8601 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6})\d*)?)?"
    r"\s*(?:([Zz])|([+-])(\d{2}):?(\d{2}))?",
    re.ASCII,
)


def parse_upload_time(value: str) -> datetime | None:
    """ISO 8601 date-time (``Z`` allowed, unlike 3.10's fromisoformat); naive means UTC."""
    if (
        len(value) == 27 and value[26] == "Z" and value[19] == "." and value[10] in "Tt "
        and value[4] == value[7] == "-" and value[13] == value[16] == ":"
    ):
        # Fast path for PyPI's exact shape, 2024-01-02T03:04:05.123456Z; this form (with
        # ``+00:00``) reads the same on every supported Python.
        try:
            return datetime.fromisoformat(value[:26] + "+00:00")
        except ValueError:
            return None
    match = _ISO_8601.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, _, sign, off_h, off_m = match.groups()
    tz = timezone.utc
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if offset >= timedelta(hours=24):
            return None
        tz = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
            int(fraction.ljust(6, "0")) if fraction else 0, tzinfo=tz,
        )
    except ValueError:
        return None


def _parse_size(value: object) -> int | None:
    if isinstance(value, str):
        value = value.strip()
        if not value.isascii() or not value.isdigit() or len(value) > 18:
            return None
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


#: Schemes a file may be fetched from; other links (``javascript:``, ``data:``...) are skipped.


def _resolve(base: str, href: str) -> str:
    """Absolute URL of ``href`` without its fragment (raises ValueError for a broken URL or
    one that is not http(s), or file: on a local index)."""
    href = href.partition("#")[0]
    if href.startswith(("https://", "http://")) and href.isascii() and "[" not in href:
        return href  # fast path: already absolute, nothing urlsplit could reject
    resolved = urljoin(base, href)
    scheme = resolved.partition(":")[0].lower()
    if scheme not in ("https", "http") and not (scheme == "file" and base.startswith("file:")):
        raise ValueError("not an http(s) URL")  # javascript:, data:, ftp:... (the link is skipped)
    return resolved


# --- HTML (PEP 503) ------------------------------------------------------------------------------

# Attribute text of a tag: quoted values may contain ``>``. Written as an "unrolled loop" so a
# broken tag cannot make the regex backtrack exponentially.
_ATTRS = r"""[^>"']*(?:(?:"[^"]*"|'[^']*')[^>"']*)*"""
#: ``<a ...>text``: the text stops at the next tag (nested markup falls back to the href).
_ANCHOR = re.compile(r"<a(?=[\s>/])(" + _ATTRS + r")>([^<]*)", re.IGNORECASE)
_HEAD_TAG = re.compile(r"<(meta|base)(?=[\s>/])(" + _ATTRS + r")>", re.IGNORECASE)
#: One attribute; unquoted values run to the next whitespace, as browsers read them.
_ATTR = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|(\S+)))?""")
#: Attribute values repeat a lot (``data-requires-python``): cache their unescaping.
_unescape = functools.lru_cache(maxsize=512)(html.unescape)
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)


def _decode_html(content: bytes, params: str, url: str) -> str:
    """Decode with the ``charset`` parameter of Content-Type, UTF-8 by default."""
    charset = "utf-8"
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip(" \t\"'"):
            charset = value.strip(" \t\"'")
    if charset.lower().replace("_", "-") in {"utf-8", "utf8"}:
        charset = "utf-8-sig"  # also drops a byte-order mark
    try:
        codecs.lookup(charset)  # empty content would skip the lookup in decode()
        return content.decode(charset)
    except LookupError:
        raise IndexPageError(url, f"unknown charset {charset!r} in Content-Type") from None
    except (UnicodeError, ValueError) as exc:
        raise IndexPageError(url, f"page is not valid {charset}: {exc}") from None


def _attributes(text: str) -> dict[str, str]:
    """Lower-case attribute names to HTML-unescaped values; the first duplicate wins."""
    attrs: dict[str, str] = {}
    for raw_key, double, single, bare in _ATTR.findall(text):
        key = raw_key.lower()
        if key not in attrs:
            value = double or single or bare
            attrs[key] = _unescape(value) if "&" in value else value
    return attrs


def _parse_html(text: str, *, url: str, name: NormalizedName) -> ProjectPage:
    if "<!--" in text:
        text = _COMMENT.sub("", text)
    base = url
    api_version = "1.0"
    seen_version = seen_base = False
    for match in _HEAD_TAG.finditer(text):
        attrs = _attributes(match[2])
        if match[1].lower() == "base":
            if not seen_base and "href" in attrs:
                seen_base = True
                try:
                    base = urljoin(url, attrs["href"].strip())
                except ValueError:
                    logger.debug(
                        "ignoring unusable <base href=%r> on %s", attrs["href"], redact(url)
                    )
        elif (
            not seen_version
            and attrs.get("name", "").strip().lower() == "pypi:repository-version"
            and "content" in attrs
        ):
            seen_version = True
            api_version = _check_api_version(attrs["content"], url)

    # Group the anchors by the version text of their file names, remembering only where each
    # anchor lies; attributes are parsed later, for the groups the resolver reaches.
    keys: list[str | None] = []
    same = {"": ""}.setdefault  # one string per version text, not one per anchor
    spans = array("q")  # start, end of each anchor
    for match in _ANCHOR.finditer(text):
        filename = match[2].strip()
        if "&" in filename:
            filename = html.unescape(filename).strip()
        if not filename:
            filename = _filename_from_href(match[1], base)
        key = version_text(filename) or ""
        keys.append(same(key, key))
        spans.extend(match.span())
    grouped = _group_indexes(keys)
    del keys

    def parts(indexes: list[int]) -> str:
        return "".join([text[spans[2 * i]:spans[2 * i + 1]] for i in indexes])

    listing = _listing(grouped, base, url, parts)
    return ProjectPage(
        name=name, url=url, api_version=api_version, files=AllRecords(listing), listing=listing
    )


def _filename_from_href(attr_text: str, base: str) -> str:
    """The file name an anchor without text names by its href ("" when there is none)."""
    href = _attributes(attr_text).get("href")
    if href is None:
        return ""
    try:
        return unquote(urlsplit(_resolve(base, href.strip())).path.rpartition("/")[2])
    except ValueError:
        return ""


def _html_file(attr_text: str, anchor_text: str, base: str) -> IndexFile | None:
    attrs = _attributes(attr_text)
    href = attrs.get("href")
    if href is None:
        return None
    href = href.strip()
    try:
        file_url = _resolve(base, href)
    except ValueError as exc:
        logger.debug("skipping anchor with unusable href %r: %s", href, exc)
        return None

    filename = anchor_text.strip()
    if filename and "&" in filename:
        filename = html.unescape(filename).strip()
    if not filename:
        filename = unquote(urlsplit(file_url).path.rpartition("/")[2])
        if not filename:
            logger.debug("skipping anchor without a file name: %r", href)
            return None

    hashes: dict[str, str] = {}
    fragment = href.partition("#")[2]
    if fragment:
        for part in fragment.split("&"):
            pair = _HASH_PAIR.fullmatch(part)
            if pair is not None and pair[1].lower() in _FRAGMENT_HASHES:
                hashes[pair[1].lower()] = pair[2].lower()

    requires_python = attrs.get("data-requires-python")
    if requires_python is not None:
        requires_python = requires_python.strip() or None

    yanked_reason = attrs.get("data-yanked")
    yanked = yanked_reason is not None
    if yanked_reason is not None:
        yanked_reason = yanked_reason.strip() or None

    # PEP 714: the new attribute wins whenever present, even when its value is unusable.
    metadata = attrs.get("data-core-metadata")
    if metadata is None:
        metadata = attrs.get("data-dist-info-metadata")
    core_metadata = None if metadata is None else _html_core_metadata(metadata)

    size = attrs.get("data-size")
    return IndexFile(
        filename=filename,
        url=file_url,
        hashes=hashes,
        requires_python=requires_python,
        yanked=yanked,
        yanked_reason=yanked_reason,
        core_metadata=core_metadata,
        size=None if size is None else _parse_size(size),
        upload_time_text=attrs.get("data-upload-time"),
    )


# --- JSON (PEP 691) -------------------------------------------------------------------------------


class _Listed(msgspec.Struct, gc=False):
    """What the first pass reads of a PEP 691 file entry (a string ``filename`` it must have;
    ``url`` is checked when the entry's version is reached)."""

    filename: str


class _ListedPage(msgspec.Struct, gc=False):
    files: list[_Listed]
    meta: Any = msgspec.UNSET
    versions: Any = msgspec.UNSET


class _RawPage(msgspec.Struct, gc=False):
    files: list[msgspec.Raw]


class _JsonEntry(msgspec.Struct, gc=False):
    """A PEP 691/700/714 file entry, decoded only for the versions the resolver reaches.

    Fields that may be absent or mistyped are ``Any`` (checked by :func:`_json_file`, which
    skips a mistyped entry instead of failing the page); UNSET tells absent from ``null``.
    """

    filename: str
    url: Any = msgspec.UNSET
    hashes: Any = msgspec.UNSET
    requires_python: Any = msgspec.field(default=None, name="requires-python")
    yanked: Any = None
    core_metadata: Any = msgspec.field(default=msgspec.UNSET, name="core-metadata")
    dist_info_metadata: Any = msgspec.field(default=None, name="dist-info-metadata")
    size: Any = None
    upload_time: Any = msgspec.field(default=None, name="upload-time")


class _JsonRequiresPython(msgspec.Struct, gc=False):
    requires_python: Any = msgspec.field(default=None, name="requires-python")


_JSON_LISTED = msgspec.json.Decoder(_ListedPage)
_JSON_RPS = msgspec.json.Decoder(list[_JsonRequiresPython])
_JSON_RAW = msgspec.json.Decoder(_RawPage)
_JSON_ENTRIES = msgspec.json.Decoder(list[_JsonEntry])


def _parse_json(content: bytes, *, url: str, name: NormalizedName) -> ProjectPage:
    if content.startswith(codecs.BOM_UTF8):
        content = content[len(codecs.BOM_UTF8):]
    try:
        listed = _JSON_LISTED.decode(content)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        _raise_json_error(content, url, exc)

    meta = {} if listed.meta is msgspec.UNSET else listed.meta
    if not isinstance(meta, dict):
        raise IndexPageError(url, "'meta' is not an object")
    raw_version = meta.get("api-version", "1.0")
    if not isinstance(raw_version, str):
        raise IndexPageError(url, f"'meta.api-version' is not a string: {raw_version!r}")
    api_version = _check_api_version(raw_version, url)
    raw_versions = [] if listed.versions is msgspec.UNSET else listed.versions
    if not isinstance(raw_versions, list):
        raise IndexPageError(url, "'versions' is not a list")
    versions = tuple(v for v in raw_versions if isinstance(v, str))

    # Group the entries by the version text of their file names; drop the names, then keep
    # each group's entries as raw JSON text, decoded when the resolver reaches the version.
    # Surrounding blanks only matter when they hide the suffix: strip in that (rare) case.
    keys = [
        version_text(entry.filename) or version_text(entry.filename.strip())
        for entry in listed.files
    ]
    del listed
    grouped = _group_indexes(keys)
    del keys
    raws = _JSON_RAW.decode(content).files

    def parts(indexes: list[int]) -> bytes:
        return b",".join([raws[i] for i in indexes])

    listing = _listing(grouped, url, url, parts)
    return ProjectPage(
        name=name, url=url, api_version=api_version, files=AllRecords(listing), listing=listing,
        versions=versions,
    )


_NOTHING = object()


def _group_indexes(keys: Sequence[str | None]) -> dict[str | None, list[int]]:
    """Positions of equal keys, by key in order of first appearance."""
    indexes: dict[str | None, list[int]] = {}
    previous: object = _NOTHING
    where: list[int] = []
    for index, key in enumerate(keys):
        if key != previous:  # files of one version usually come together
            found = indexes.get(key)
            where = indexes[key] = [] if found is None else found
            previous = key
        where.append(index)
    return indexes


def _raise_json_error(content: bytes, url: str, exc: Exception) -> NoReturn:
    """Explain why a JSON page failed the fast decoder, with the standard library's words."""
    try:
        data = json.loads(content.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise IndexPageError(url, f"JSON page is not valid UTF-8: {error}") from None
    except RecursionError:
        raise IndexPageError(url, "JSON page is nested too deeply") from None
    except ValueError as error:
        raise IndexPageError(url, f"invalid JSON: {error}") from None
    if isinstance(exc, RecursionError):
        raise IndexPageError(url, "JSON page is nested too deeply") from None
    if not isinstance(data, dict):
        raise IndexPageError(url, f"JSON page is a {type(data).__name__}, not an object")
    raw_files = data.get("files")
    if not isinstance(raw_files, list):
        what = "missing" if raw_files is None else f"a {type(raw_files).__name__}"
        raise IndexPageError(url, f"'files' must be a list, found {what}")
    for index, raw in enumerate(raw_files):
        if not isinstance(raw, dict):
            raise IndexPageError(url, f"files[{index}] is not an object")
        if not isinstance(raw.get("filename"), str):
            raise IndexPageError(url, f"files[{index}] has no string 'filename'")
    raise IndexPageError(url, f"invalid JSON page: {exc}") from None


def _json_file(raw: _JsonEntry, index: int, url: str) -> IndexFile | None:
    if not isinstance(raw.url, str):
        raise IndexPageError(url, f"files[{index}] has no string 'url'")
    filename = raw.filename.strip()
    if not filename:
        logger.debug("skipping a file with an empty filename on %s", redact(url))
        return None
    try:
        file_url = _resolve(url, raw.url.strip())
    except ValueError as exc:
        logger.debug("skipping %r on %s: unusable url %r: %s", filename, redact(url), raw.url, exc)
        return None

    hashes = _json_hashes({} if raw.hashes is msgspec.UNSET else raw.hashes)
    requires_python = raw.requires_python
    yanked_value = raw.yanked
    if (
        hashes is None
        or not (requires_python is None or isinstance(requires_python, str))
        or not (yanked_value is None or isinstance(yanked_value, (bool, str)))
    ):
        logger.debug(
            "skipping %r on %s: mistyped hashes/requires-python/yanked", filename, redact(url)
        )
        return None
    if requires_python is not None:
        requires_python = requires_python.strip() or None
    yanked_reason = None
    if isinstance(yanked_value, str):
        yanked_reason = yanked_value.strip() or None

    # PEP 714: the new key wins whenever present, even when its value is unusable.
    if raw.core_metadata is not msgspec.UNSET:
        core_metadata = _json_core_metadata(raw.core_metadata)
    else:
        core_metadata = _json_core_metadata(raw.dist_info_metadata)

    upload_time = raw.upload_time
    return IndexFile(
        filename=filename,
        url=file_url,
        hashes=hashes,
        requires_python=requires_python,
        yanked=yanked_value is True or isinstance(yanked_value, str),
        yanked_reason=yanked_reason,
        core_metadata=core_metadata,
        size=None if raw.size is None else _parse_size(raw.size),
        upload_time_text=upload_time if isinstance(upload_time, str) else None,
    )
