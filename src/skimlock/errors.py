"""One root error type, specific subclasses that carry their fields.

Every error prints a single line a user can act on (``str(error)``) and carries an ``exit_code``:

====  =========================================================
0     success
1     resolution impossible / a lock cannot be written as asked
2     usage or input error (bad arguments, files, requirements)
3     network or index error (HTTP, malformed pages, bad wheels)
4     integrity error (a hash or a metadata identity mismatch)
5     metadata unavailable: versions were rejected because their metadata could not be had
      (an sdist that needs a build with builds forbidden, a failed build, a broken sdist)
      and no other version resolves
70    internal error (a bug: an exception skimlock did not expect)
130   interrupted (Ctrl-C)
====  =========================================================

httpx exceptions never leave :mod:`skimlock.fetch`; they are converted there.
"""

from __future__ import annotations

from .urls import redact

__all__ = [
    "EXIT_INDEX",
    "EXIT_INTEGRITY",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_METADATA",
    "EXIT_RESOLUTION",
    "EXIT_USAGE",
    "ApiVersionError",
    "BodyTooLargeError",
    "BuildError",
    "ContentEncodingError",
    "DynamicMetadataError",
    "FetchCancelledError",
    "FetchError",
    "OfflineError",
    "HashMismatchError",
    "HTTPStatusError",
    "IndexPageError",
    "InputError",
    "InsecureIndexError",
    "IntegrityError",
    "InvalidMetadataError",
    "LockCheckError",
    "MetadataUnavailableError",
    "MetadataMismatchError",
    "MissingHashError",
    "NoCompatibleFileError",
    "ProjectNotFoundError",
    "RangeNotSatisfiedError",
    "RequirementHashError",
    "ResolutionError",
    "SdistError",
    "SkimlockError",
    "UniversalResolutionError",
    "UnsupportedRequirementError",
    "WheelError",
    "redact",
]

EXIT_RESOLUTION = 1
EXIT_USAGE = 2
EXIT_INDEX = 3
EXIT_INTEGRITY = 4
EXIT_METADATA = 5
#: An unexpected exception (``EX_SOFTWARE`` of sysexits.h); the CLI prints one line.
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


class SkimlockError(Exception):
    """Root of every error skimlock raises on purpose.

    ``message`` is one line; an explanation over several lines gives the rest as ``details``
    (one string per line). The CLI escapes every line on its own (:func:`skimlock.text.printable`),
    so a line break inside a value (a file name from an index, say) never splits a line: the
    only line breaks a user sees are those of ``lines``.
    """

    exit_code: int = EXIT_INDEX

    def __init__(self, message: str, *, details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def lines(self) -> tuple[str, ...]:
        """The message, then each line of the details."""
        return (self.message, *self.details)

    def __str__(self) -> str:
        return "\n".join(self.lines)


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


class BodyTooLargeError(FetchError):
    """A body (decoded bytes) over the cap of what it should be (page, metadata, wheel)."""


class ContentEncodingError(FetchError):
    """A body in a Content-Encoding skimlock does not decode (stacked, unknown) or a corrupt one."""


class FetchCancelledError(FetchError):
    """The run was interrupted (Ctrl-C): no new request is sent, in-flight ones are aborted."""

    def __init__(self, url: str) -> None:
        super().__init__(url, "interrupted")


class OfflineError(FetchError):
    """``--offline`` and the cache does not hold what the run needs."""

    def __init__(self, url: str, what: str) -> None:
        super().__init__(
            url, f"{what} is not in the cache and --offline forbids the network "
            "(run once without --offline to fill the cache)"
        )
        self.what = what


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


class SdistError(SkimlockError):
    """An sdist whose metadata cannot be read: not an archive, truncated, no PKG-INFO, over a
    cap. The version is a rejected candidate (see :class:`MetadataUnavailableError`)."""

    exit_code = EXIT_INDEX

    def __init__(self, filename: str, reason: str) -> None:
        super().__init__(f"cannot read metadata from {filename}: {reason}")
        self.filename = filename
        self.reason = reason


class DynamicMetadataError(SdistError):
    """An sdist whose PKG-INFO is not authoritative (PEP 643): only a build can tell."""


class BuildError(SkimlockError):
    """Building an sdist's metadata failed, timed out, or is forbidden."""

    exit_code = EXIT_INDEX

    def __init__(self, filename: str, reason: str, *, output: str = "") -> None:
        super().__init__(f"cannot build metadata of {filename}: {reason}")
        self.filename = filename
        self.reason = reason
        #: The build's captured output (shown with -v).
        self.output = output
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


class RequirementHashError(IntegrityError):
    """A pinned version none of whose files has a hash the user gave (``--hash``) for it."""

    def __init__(
        self, name: str, version: str, source: str, expected: tuple[str, ...],
        available: tuple[str, ...],
    ) -> None:
        listed = (
            f"the index lists {available[0]}" + (f" and {len(available) - 1} more" if
                                                 len(available) > 1 else "")
            if available else "the index gives no hash of those algorithms for its files"
        )
        super().__init__(
            f"{name} {version}: no file matches the --hash given in {source} "
            f"({expected[0]}{' or another' if len(expected) > 1 else ''}); {listed}"
        )
        self.name = name
        self.version = version
        self.source = source
        self.expected = expected
        self.available = available


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


class MetadataUnavailableError(ResolutionError):
    """No version resolves, and some were rejected because their metadata could not be had.

    The first line always starts with ``metadata unavailable:`` (scripts may rely on it), and
    the exit code is 5, so that it is told apart from a conflict (exit 1)."""

    exit_code = EXIT_METADATA

    def __init__(
        self, rejected: dict[tuple[str, str], str], details: tuple[str, ...] = ()
    ) -> None:
        groups: dict[tuple[str, str], list[str]] = {}
        for (name, version), why in rejected.items():
            groups.setdefault((name, why), []).append(version)
        parts = []
        for (name, why), versions in groups.items():
            shown = ", ".join(versions[:4])
            if len(versions) > 4:
                shown += f" and {len(versions) - 4} more"
            parts.append(f"{name} {shown}: {why}")
        super().__init__(
            "metadata unavailable: no acceptable version left; rejected " + "; ".join(parts),
            details=details,
        )
        self.rejected = dict(rejected)


class MissingHashError(ResolutionError):
    """The index gives no hash for a file the lock must pin."""

    def __init__(self, filename: str, url: str) -> None:
        super().__init__(
            f"the index gives no hash for {filename} ({redact(url)}); a hash would need the "
            "whole file. Pass --allow-missing-hashes to lock it without one"
        )
        self.filename = filename
        self.url = redact(url)


class UniversalResolutionError(ResolutionError):
    """One environment of a universal lock cannot be satisfied."""

    def __init__(self, environment: str, label: str, reason: str) -> None:
        lines = [line.strip() for line in reason.splitlines() if line.strip()]
        detail = "; ".join(lines[1:] if len(lines) > 1 else lines)
        super().__init__(
            f"cannot lock for {environment} ({label}): {detail} (leave the environment out "
            "with --environment, or give the requirement a marker)"
        )
        self.environment = environment
        self.label = label
        self.reason = reason


class LockCheckError(ResolutionError):
    """A lock does not hold for a target (the first problem found)."""

    def __init__(self, environment: str, problem: str) -> None:
        super().__init__(f"the lock does not hold for {environment}: {problem}")
        self.environment = environment
        self.problem = problem
