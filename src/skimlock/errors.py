"""One root error type, specific subclasses that carry their fields.

Every error prints a single line a user can act on (``str(error)``) and carries an ``exit_code``:

====  =========================================================
0     success
1     resolution impossible / a lock cannot be written as asked
2     usage or input error (bad arguments, files, requirements)
3     network or index error (HTTP, malformed pages, bad wheels)
4     integrity error (a hash or a metadata identity mismatch)
====  =========================================================

httpx exceptions never leave :mod:`skimlock.fetch`; they are converted there.
"""

from __future__ import annotations

import re

__all__ = [
    "EXIT_INDEX",
    "EXIT_INTEGRITY",
    "EXIT_RESOLUTION",
    "EXIT_USAGE",
    "ApiVersionError",
    "BuildRequiredError",
    "FetchError",
    "HashMismatchError",
    "HTTPStatusError",
    "IndexPageError",
    "InputError",
    "InsecureIndexError",
    "IntegrityError",
    "InvalidMetadataError",
    "MetadataMismatchError",
    "MissingHashError",
    "NoCompatibleFileError",
    "ProjectNotFoundError",
    "RangeNotSatisfiedError",
    "ResolutionError",
    "SkimlockError",
    "UnsupportedRequirementError",
    "WheelError",
    "redact",
]

EXIT_RESOLUTION = 1
EXIT_USAGE = 2
EXIT_INDEX = 3
EXIT_INTEGRITY = 4


def redact(url: str) -> str:
    """``url`` without credentials: ``https://user:secret@host/`` becomes ``https://***@host/``."""
    return _USERINFO.sub(r"\1***@", url)


_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@?#]*@")


class SkimlockError(Exception):
    """Root of every error skimlock raises on purpose."""

    exit_code: int = EXIT_INDEX

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- input -----------------------------------------------------------------------------------


class InputError(SkimlockError):
    """Bad command-line arguments, requirement files or project files."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None) -> None:
        where = ""
        if source is not None:
            where = f"{source}:{line}: " if line is not None else f"{source}: "
        super().__init__(where + message)
        self.source = source
        self.line = line


class UnsupportedRequirementError(InputError):
    """A requirement form skimlock does not lock (editable, VCS, local path...)."""

    def __init__(self, requirement: str, reason: str, *, source: str | None = None,
                 line: int | None = None) -> None:
        super().__init__(f"unsupported requirement {requirement!r}: {reason}", source=source,
                         line=line)
        self.requirement = requirement
        self.reason = reason


class InsecureIndexError(InputError):
    """An ``http://`` index whose host was not declared trusted."""

    def __init__(self, url: str, host: str) -> None:
        super().__init__(
            f"refusing plain-HTTP index {redact(url)}: pass --trusted-host {host} to allow it"
        )
        self.url = redact(url)
        self.host = host


# --- network and index -----------------------------------------------------------------------


class FetchError(SkimlockError):
    """A request failed after retries (connection refused, timeout, reset...)."""

    exit_code = EXIT_INDEX

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"could not fetch {redact(url)}: {reason}")
        self.url = redact(url)
        self.reason = reason


class HTTPStatusError(FetchError):
    """The server answered with a status we cannot use."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(url, f"HTTP {status}")
        self.status = status


class RangeNotSatisfiedError(FetchError):
    """A range response that does not match the request (bad Content-Range, encoding...)."""


class IndexPageError(SkimlockError):
    """A project page that cannot be parsed."""

    exit_code = EXIT_INDEX

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"malformed index page {redact(url)}: {reason}")
        self.url = redact(url)
        self.reason = reason


class ApiVersionError(IndexPageError):
    """PEP 629: a repository major version other than 1."""

    def __init__(self, url: str, version: str) -> None:
        SkimlockError.__init__(
            self,
            f"index page {redact(url)} uses Simple API version {version}; skimlock supports 1.x",
        )
        self.url = redact(url)
        self.reason = f"api-version {version}"
        self.version = version


class ProjectNotFoundError(SkimlockError):
    """No configured index has the project."""

    exit_code = EXIT_RESOLUTION

    def __init__(self, name: str, indexes: tuple[str, ...]) -> None:
        where = ", ".join(redact(i) for i in indexes)
        super().__init__(f"project {name!r} was not found on {where}")
        self.name = name
        self.indexes = indexes


class WheelError(SkimlockError):
    """A wheel (or its zip directory) that cannot be read: corrupt, no METADATA, over a cap."""

    exit_code = EXIT_INDEX

    def __init__(self, filename: str, reason: str) -> None:
        super().__init__(f"cannot read metadata from {filename}: {reason}")
        self.filename = filename
        self.reason = reason


class InvalidMetadataError(SkimlockError):
    """Core metadata that cannot be parsed (bad Requires-Dist, version, marker...)."""

    exit_code = EXIT_INDEX

    def __init__(self, filename: str, reason: str) -> None:
        super().__init__(f"invalid metadata in {filename}: {reason}")
        self.filename = filename
        self.reason = reason


class UploadTimeMissingError(SkimlockError):
    """``--exclude-newer`` met a file whose index gives no (usable) PEP 700 upload time."""

    exit_code = EXIT_INDEX

    def __init__(self, name: str, filename: str, page_url: str) -> None:
        super().__init__(
            f"--exclude-newer needs upload times, but {redact(page_url)} gives none for "
            f"{filename!r} ({name}); use an index that serves PEP 700 upload-time "
            "or drop --exclude-newer"
        )
        self.name = name
        self.filename = filename
        self.url = redact(page_url)


# --- integrity -------------------------------------------------------------------------------


class IntegrityError(SkimlockError):
    """Bytes that are not what the index promised."""

    exit_code = EXIT_INTEGRITY


class HashMismatchError(IntegrityError):
    """A downloaded body whose digest differs from the one the index advertised."""

    def __init__(self, url: str, algorithm: str, expected: str, actual: str) -> None:
        super().__init__(
            f"hash mismatch for {redact(url)}: {algorithm} expected {expected}, got {actual}"
            " (the index or a proxy serves wrong bytes; nothing was written)"
        )
        self.url = redact(url)
        self.algorithm = algorithm
        self.expected = expected
        self.actual = actual


class MetadataMismatchError(IntegrityError):
    """METADATA whose Name or Version differs from the file name."""

    def __init__(self, filename: str, field: str, expected: str, actual: str) -> None:
        super().__init__(
            f"metadata of {filename} says {field} {actual!r}, but the file name says {expected!r}"
        )
        self.filename = filename
        self.field = field
        self.expected = expected
        self.actual = actual


# --- resolution and locking ------------------------------------------------------------------


class ResolutionError(SkimlockError):
    """The requirements cannot be satisfied together (message explains why)."""

    exit_code = EXIT_RESOLUTION


class NoCompatibleFileError(ResolutionError):
    """A pinned version has no file usable for the target."""

    def __init__(self, name: str, version: str, reason: str) -> None:
        super().__init__(f"{name} {version}: {reason}")
        self.name = name
        self.version = version
        self.reason = reason


class BuildRequiredError(ResolutionError):
    """Only an sdist without served metadata: its metadata would need a build."""

    def __init__(self, name: str, version: str, filename: str) -> None:
        super().__init__(
            f"{name} {version} has no compatible wheel and the index serves no metadata for "
            f"{filename}; its metadata would need a build, which skimlock does not do "
            "(pin another version, or use --only-binary to skip it)"
        )
        self.name = name
        self.version = version
        self.filename = filename


class MissingHashError(ResolutionError):
    """The index gives no hash for a file the lock must pin."""

    def __init__(self, filename: str, url: str) -> None:
        super().__init__(
            f"the index gives no hash for {filename} ({redact(url)}); a hash would need the "
            "whole file. Pass --allow-missing-hashes to lock it without one"
        )
        self.filename = filename
        self.url = redact(url)
