"""Simple Repository API project pages (sans-I/O).

Owns PEP 503 (HTML), PEP 691 (JSON), PEP 592 (yanked), PEP 629 (api-version), PEP 658/714 (core
metadata keys) and PEP 700 (size, upload-time, versions). Takes bytes and returns records; never
imports httpx.

HTML pages are read with a small regex scanner over ``<a>``, ``<base>`` and ``<meta>`` tags rather
than :mod:`html.parser`, which is several times slower on big pages (numpy: ~4,400 files). It
accepts any attribute order, quoting and case, entities in values and text, and skips comments;
see ``benchmarks/bench_parse.py``.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import html
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from packaging.utils import NormalizedName, canonicalize_name

from skimlock.errors import ApiVersionError, IndexPageError, redact

__all__ = [
    "ACCEPT",
    "SUPPORTED_API_VERSION",
    "CoreMetadata",
    "IndexFile",
    "ProjectPage",
    "normalize",
    "parse_project_page",
    "project_url",
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
    #: PEP 700 ``upload-time`` (or HTML ``data-upload-time``), timezone-aware, when given.
    upload_time: datetime | None = None

    @property
    def metadata_url(self) -> str:
        """Where PEP 658 puts this file's core metadata."""
        return self.url + ".metadata"

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")


@dataclass(frozen=True, kw_only=True, slots=True)
class ProjectPage:
    """A parsed project page."""

    #: PEP 503-normalized project name.
    name: NormalizedName
    #: The final URL of the page (after redirects); relative file URLs were resolved against it.
    url: str
    #: ``pypi:repository-version`` / ``meta.api-version``; "1.0" when the page does not say.
    api_version: str
    files: tuple[IndexFile, ...]
    #: PEP 700 ``versions`` (JSON only); empty when not given.
    versions: tuple[str, ...] = ()


# --- names and URLs ----------------------------------------------------------------------------


def normalize(name: str) -> NormalizedName:
    """PEP 503 normalized form of a project name (``Foo.Bar_baz`` -> ``foo-bar-baz``)."""
    return canonicalize_name(name)


def project_url(index_url: str, name: str) -> str:
    """URL of ``name``'s project page on the index at ``index_url`` (PEP 503: trailing slash)."""
    return f"{index_url.rstrip('/')}/{normalize(name)}/"


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


def _is_hex(value: str) -> bool:
    return _HEX.fullmatch(value) is not None


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


def _parse_time(value: str) -> datetime | None:
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

    files: list[IndexFile] = []
    for match in _ANCHOR.finditer(text):
        entry = _html_file(match[1], match[2], base)
        if entry is not None:
            files.append(entry)
    return ProjectPage(name=name, url=url, api_version=api_version, files=tuple(files))


def _html_file(attr_text: str, anchor_text: str, base: str) -> IndexFile | None:
    attrs = _attributes(attr_text)
    href = attrs.get("href")
    if href is None:
        return None
    href = href.strip()
    try:
        file_url = _resolve(base, href)
    except ValueError:
        logger.debug("skipping anchor with unusable href %r", href)
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
    upload_time = attrs.get("data-upload-time")
    return IndexFile(
        filename=filename,
        url=file_url,
        hashes=hashes,
        requires_python=requires_python,
        yanked=yanked,
        yanked_reason=yanked_reason,
        core_metadata=core_metadata,
        size=None if size is None else _parse_size(size),
        upload_time=None if upload_time is None else _parse_time(upload_time),
    )


# --- JSON (PEP 691) -------------------------------------------------------------------------------


def _parse_json(content: bytes, *, url: str, name: NormalizedName) -> ProjectPage:
    try:
        data = json.loads(content.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise IndexPageError(url, f"JSON page is not valid UTF-8: {exc}") from None
    except RecursionError:
        raise IndexPageError(url, "JSON page is nested too deeply") from None
    except ValueError as exc:
        raise IndexPageError(url, f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise IndexPageError(url, f"JSON page is a {type(data).__name__}, not an object")

    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise IndexPageError(url, "'meta' is not an object")
    raw_version = meta.get("api-version", "1.0")
    if not isinstance(raw_version, str):
        raise IndexPageError(url, f"'meta.api-version' is not a string: {raw_version!r}")
    api_version = _check_api_version(raw_version, url)

    raw_files = data.get("files")
    if not isinstance(raw_files, list):
        what = "missing" if raw_files is None else f"a {type(raw_files).__name__}"
        raise IndexPageError(url, f"'files' must be a list, found {what}")
    files: list[IndexFile] = []
    for index, raw in enumerate(raw_files):
        if not isinstance(raw, dict):
            raise IndexPageError(url, f"files[{index}] is not an object")
        entry = _json_file(raw, index, url)
        if entry is not None:
            files.append(entry)

    raw_versions = data.get("versions", [])
    if not isinstance(raw_versions, list):
        raise IndexPageError(url, "'versions' is not a list")
    versions = tuple(v for v in raw_versions if isinstance(v, str))
    return ProjectPage(
        name=name, url=url, api_version=api_version, files=tuple(files), versions=versions
    )


def _json_file(raw: dict[str, Any], index: int, url: str) -> IndexFile | None:
    filename = raw.get("filename")
    href = raw.get("url")
    if not isinstance(filename, str) or not isinstance(href, str):
        missing = "filename" if not isinstance(filename, str) else "url"
        raise IndexPageError(url, f"files[{index}] has no string {missing!r}")
    filename = filename.strip()
    if not filename:
        logger.debug("skipping files[%d] on %s: empty filename", index, redact(url))
        return None
    try:
        file_url = _resolve(url, href.strip())
    except ValueError:
        logger.debug("skipping %s on %s: unusable url %r", filename, redact(url), href)
        return None

    hashes = _json_hashes(raw.get("hashes", {}))
    requires_python = raw.get("requires-python")
    yanked_value = raw.get("yanked")
    if (
        hashes is None
        or not (requires_python is None or isinstance(requires_python, str))
        or not (yanked_value is None or isinstance(yanked_value, (bool, str)))
    ):
        logger.debug(
            "skipping %s on %s: mistyped hashes/requires-python/yanked", filename, redact(url)
        )
        return None
    if requires_python is not None:
        requires_python = requires_python.strip() or None
    yanked_reason = None
    if isinstance(yanked_value, str):
        yanked_reason = yanked_value.strip() or None

    # PEP 714: the new key wins whenever present, even when its value is unusable.
    if "core-metadata" in raw:
        core_metadata = _json_core_metadata(raw["core-metadata"])
    else:
        core_metadata = _json_core_metadata(raw.get("dist-info-metadata"))

    size = raw.get("size")
    upload_time = raw.get("upload-time")
    return IndexFile(
        filename=filename,
        url=file_url,
        hashes=hashes,
        requires_python=requires_python,
        yanked=yanked_value is True or isinstance(yanked_value, str),
        yanked_reason=yanked_reason,
        core_metadata=core_metadata,
        size=None if size is None else _parse_size(size),
        upload_time=_parse_time(upload_time) if isinstance(upload_time, str) else None,
    )
