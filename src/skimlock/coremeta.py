"""Core metadata (``METADATA``, PEP 658 ``.metadata``) checked for a resolver (sans-I/O).

Owns the core metadata specification as far as skimlock uses it:

* :func:`parse_metadata` parses the email-header format with :mod:`packaging.metadata` and
  validates only ``Name``, ``Version``, ``Requires-Python``, ``Requires-Dist`` and
  ``Provides-Extra``. Every other field (License, Classifier, Description...) is left unvalidated,
  because real metadata often has junk there that must not stop a resolution. ``Name`` and
  ``Version`` must match the distribution's file name (wheel or sdist).
* :func:`metadata_json` converts the same bytes to the JSON form of PEP 566 (used by pip's
  installation report).
"""

from __future__ import annotations

import email.errors
import email.parser
import email.policy
import re

from packaging.metadata import InvalidMetadata, Metadata, RawMetadata, parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidName,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from skimlock.errors import InvalidMetadataError, MetadataMismatchError

__all__ = [
    "DEFAULT_MAX_METADATA_SIZE",
    "metadata_json",
    "parse_metadata",
]

#: Largest metadata accepted, in bytes.
DEFAULT_MAX_METADATA_SIZE = 16 * 2**20

#: The fields a resolver reads (packaging attribute -> header name), validated in this order.
_CHECKED = {
    "name": "Name",
    "version": "Version",
    "requires_python": "Requires-Python",
    "requires_dist": "Requires-Dist",
    "provides_extra": "Provides-Extra",
}
_SINGLE_USE_CHECKED = frozenset({"name", "version", "requires_python"})

#: Legacy sdist extensions; the name and version are parsed as if the file were a ``.tar.gz``.
_LEGACY_SDIST_SUFFIXES = (
    ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tlz", ".tar.lz", ".tar.lzma", ".tgz", ".tar",
)


def parse_metadata(
    data: bytes, *, filename: str, max_size: int = DEFAULT_MAX_METADATA_SIZE
) -> Metadata:
    """Parse ``data``, the core metadata of the distribution file ``filename``.

    ``filename`` is the wheel or sdist file name (a trailing ``.metadata`` is ignored); its name
    and version must match the metadata's. Only ``name``, ``version``, ``requires_python``,
    ``requires_dist`` and ``provides_extra`` of the result are validated: reading another
    attribute may raise packaging's ``InvalidMetadata``.

    Raises :class:`InvalidMetadataError` (over ``max_size``, unparsable, a checked field missing
    or invalid) or :class:`MetadataMismatchError` (name or version differs from the file name).
    """
    if len(data) > max_size:
        raise InvalidMetadataError(
            filename, f"metadata is {len(data)} bytes, more than the {max_size} bytes allowed"
        )
    expected_name, expected_version = _identity(filename)
    try:
        raw, unparsed = parse_email(_header_block(data))
    except (ValueError, LookupError, TypeError, email.errors.MessageError) as exc:
        raise InvalidMetadataError(filename, f"cannot parse the metadata: {exc}") from exc

    for attr, header in _CHECKED.items():
        values = unparsed.get(header.lower())
        if values is None:
            continue
        if attr in _SINGLE_USE_CHECKED and len(values) > 1:
            raise InvalidMetadataError(filename, f"{header} is given {len(values)} times")
        raise InvalidMetadataError(filename, f"{header} {_not_utf8(values)!r} is not valid UTF-8")
    for attr in ("name", "version"):
        if not raw.get(attr):
            raise InvalidMetadataError(filename, f"no {_CHECKED[attr]} field")

    # validate=False: fields are validated one at a time on access, each raising a single
    # InvalidMetadata (a ValueError), never packaging's ExceptionGroup (or its 3.10 stand-in).
    metadata = Metadata.from_raw(raw, validate=False)
    for attr in _CHECKED:
        try:
            getattr(metadata, attr)
        except InvalidMetadata as exc:
            raise InvalidMetadataError(filename, _describe(attr, raw, exc)) from exc

    if canonicalize_name(metadata.name) != expected_name:
        raise MetadataMismatchError(filename, "Name", expected_name, metadata.name)
    if metadata.version != expected_version:
        raise MetadataMismatchError(
            filename, "Version", str(expected_version), str(metadata.version)
        )
    return metadata


def _header_block(data: bytes) -> bytes:
    """The headers of an email-format document, without the body after the first empty line.

    The body is the long description (often most of the bytes: 9.7 KB per file on average over
    269 real wheels); the email parser walks it line by line, and the resolver never reads it.
    The cut keeps exactly the headers the parser would have seen.
    """
    end = data.find(b"\n\n")
    end_crlf = data.find(b"\n\r\n")
    if end_crlf >= 0 and (end < 0 or end_crlf < end):
        end = end_crlf
    return data if end < 0 else data[: end + 1]


def _identity(filename: str) -> tuple[NormalizedName, Version]:
    """Project name and version from a wheel or sdist file name."""
    base = filename.removesuffix(".metadata")
    try:
        if base.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(base)
            return name, version
        for suffix in _LEGACY_SDIST_SUFFIXES:
            if base.endswith(suffix):
                base = base.removesuffix(suffix) + ".tar.gz"
                break
        return parse_sdist_filename(base)
    except ValueError as exc:  # InvalidWheelFilename, InvalidSdistFilename, InvalidVersion
        raise InvalidMetadataError(
            filename, f"cannot tell the project name and version from the file name: {exc}"
        ) from exc


def _not_utf8(values: list[str]) -> str:
    """The value packaging decoded as Latin-1 because its bytes are not UTF-8 (else the first)."""
    for value in values:
        try:
            value.encode("latin-1").decode("utf-8")
        except UnicodeEncodeError:  # has characters beyond Latin-1: it was decoded as UTF-8
            continue
        except UnicodeDecodeError:
            return value
    return values[0]


def _describe(attr: str, raw: RawMetadata, exc: InvalidMetadata) -> str:
    """One line naming the bad field and value."""
    header = _CHECKED[attr]
    if attr == "requires_dist":
        for value in raw.get("requires_dist", []):
            try:
                Requirement(value)
            except InvalidRequirement as bad:
                detail = str(bad).splitlines()[0] if str(bad) else ""
                return f"{header} {value!r} is not a valid requirement: {detail}"
    if attr == "provides_extra":
        for value in raw.get("provides_extra", []):
            try:
                canonicalize_name(value, validate=True)
            except InvalidName:
                return f"{header} {value!r} is not a valid extra name"
    what = {
        "name": "a valid project name",
        "version": "a valid version",
        "requires_python": "a valid version specifier",
    }
    single = raw.get(attr)
    if attr in what and isinstance(single, str):
        return f"{header} {single!r} is not {what[attr]}"
    return f"{header}: {exc}"  # pragma: no cover - every failing field is handled above


# --- PEP 566 JSON ----------------------------------------------------------------------------

#: Core metadata fields that may appear once (header names as in the spec).
_SINGLE_USE = (
    "Metadata-Version", "Name", "Version", "Summary", "Description", "Description-Content-Type",
    "Keywords", "Home-page", "Download-URL", "Author", "Author-email", "Maintainer",
    "Maintainer-email", "License", "License-Expression", "Requires-Python",
)
#: Core metadata fields marked "(Multiple-use)".
_MULTIPLE_USE = (
    "Dynamic", "Platform", "Supported-Platform", "Classifier", "Requires-Dist",
    "Requires-External", "Project-URL", "Provides-Extra", "Provides-Dist", "Obsoletes-Dist",
    "License-File", "Import-Name", "Import-Namespace", "Requires", "Provides", "Obsoletes",
)
_JSON_KEYS = {name.lower(): name.lower().replace("-", "_") for name in _SINGLE_USE + _MULTIPLE_USE}
_MULTIPLE_KEYS = frozenset(name.lower() for name in _MULTIPLE_USE)
_DESCRIPTION_FOLD = re.compile(r"\r?\n {7,8}\|")


def metadata_json(data: bytes) -> dict[str, object]:
    """The JSON form of core metadata (PEP 566), never raising for any bytes.

    Decisions: the bytes are decoded as UTF-8 with undecodable bytes replaced (U+FFFD) and parsed
    with :mod:`email.parser` (compat32 policy, no validation). Only fields of the core metadata
    specification are kept; keys are lower-case with ``-`` turned to ``_``. Multiple-use fields
    are lists of every value; a repeated single-use field keeps its first value. ``keywords``
    is the first ``Keywords`` value split on commas, stripped, empty items dropped; a folded
    ``Description`` header (older metadata versions) is unfolded. A non-empty
    message body becomes ``description`` (replacing a ``Description`` header).
    """
    message = email.parser.Parser(policy=email.policy.compat32).parsestr(
        data.decode("utf-8", errors="replace")
    )
    result: dict[str, object] = {}
    for header in dict.fromkeys(name.lower() for name in message):
        key = _JSON_KEYS.get(header)
        if key is None:
            continue
        values = [str(value) for value in message.get_all(header, [])]
        if not values:  # pragma: no cover - the header was listed by the message
            continue
        if header in _MULTIPLE_KEYS:
            result[key] = values
        elif key == "keywords":
            result[key] = [word.strip() for word in values[0].split(",") if word.strip()]
        elif key == "description":  # old writers folded it: "\n" + 7-8 spaces + "|"
            result[key] = _DESCRIPTION_FOLD.sub("\n", values[0])
        else:
            result[key] = values[0]
    body = message.get_payload()
    if isinstance(body, str) and body.strip():
        result["description"] = body
    return result
