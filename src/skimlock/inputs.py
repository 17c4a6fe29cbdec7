"""What the user asks to lock: requirement arguments, requirement files and ``pyproject.toml``.

This module owns the input formats skimlock accepts. It reads local files and standard input
(``-r -``); a requirements file named by URL (``-r https://...``, also inside a file) is read
through the ``fetch_url`` callable the caller passes (the CLI passes the fetcher's, so it is
fetched and counted like any other request), never by this module itself.

* **Requirement arguments** are PEP 508 dependency specifiers naming an index project
  (``requests>=2``, ``rich[jupyter]; python_version >= "3.9"``).

* **Requirement files** (``-r``) and **constraint files** (``-c``) follow the subset of pip's
  requirements-file format that makes sense for an index-only locker:

  - a logical line ends at a newline unless the line ends with a backslash, which joins it to the
    next one; a whole-line comment ends a continuation. Errors give the number of the physical
    line where the logical line starts;
  - ``#`` at the start of a line, or after whitespace, starts a comment (so ``#egg=`` inside a URL
    is not one);
  - ``${NAME}`` (``NAME`` of ``A-Z``, ``0-9``, ``_``) is replaced by that environment variable,
    after comments are removed. Unlike pip, which leaves the text alone, an unset variable is an
    error: a literal ``${TOKEN}`` in an index URL would only fail later and less clearly;
  - option lines: ``-r/--requirement`` and ``-c/--constraint`` (paths relative to the including
    file, URLs, and in a file read from a URL paths relative to that URL; include cycles are an
    error), ``-i/--index-url``, ``--extra-index-url``,
    ``--trusted-host``, ``--pre``, ``--only-binary`` and ``--no-binary`` (comma-separated names,
    ``:all:``, ``:none:``, applied in order as pip does: a name given to one is removed from the
    other, ``:all:`` clears both and ``:none:`` clears its own), and ``--require-hashes`` (pip's
    rule: every requirement pinned with ``==`` and given ``--hash``). Values may be written
    ``--opt=value``, ``--opt value`` or, for one-letter options, ``-rvalue``. ``-i`` may be
    given more than once only with the same URL;
  - per-requirement options: ``--hash=ALGORITHM:HEX`` (sha256, sha384, sha512; repeatable) is
    kept on the requirement: after resolving, the pinned version's files must include one with
    such a hash (else an integrity error, as ``pip lock`` gives) and only matching files are
    locked. ``--config-settings``, ``--global-option`` and ``--install-option`` steer a build,
    which skimlock never does: they are errors;
  - not supported, with an error that says why: editables (``-e``), ``-f/--find-links``,
    ``--no-index``, ``--prefer-binary``, ``--use-feature``, and requirements given as a URL, a VCS
    URL, a local path or an archive. Any other option is an error.

  Constraint files may only hold named requirements without extras (pip's rule); a ``-r`` inside a
  constraint file includes more constraints.

* **pyproject.toml** (``--project``): PEP 621 ``[project].dependencies`` (an error if listed in
  ``dynamic``: knowing them would need a build), ``[project.optional-dependencies]`` for each
  requested extra, ``requires-python``, and PEP 735 ``[dependency-groups]`` resolved with
  :mod:`packaging.dependency_groups`. Extra and group names compare normalized.

  A requirement naming the project itself (``myproject[cli]`` in a group or in another extra) is
  expanded in place, as uv does: it stands for the project's dependencies plus those of the named
  extras, each keeping the source where it is written, with the self-reference's marker and-ed into
  theirs. Such a self-reference may not carry a version specifier.

Every requirement keeps a human-readable ``source`` (``command line``, ``requirements.txt:3``,
``pyproject.toml [project.dependencies]``, ``pyproject.toml [dependency-groups] dev``) for "why"
output. Requirements are kept in input order, duplicates included: the resolver merges them.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

from packaging.dependency_groups import DependencyGroupResolver
from packaging.errors import ExceptionGroup
from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from .errors import InputError, UnsupportedRequirementError, redact

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

__all__ = ["InputRequirement", "Inputs", "collect_inputs"]

COMMAND_LINE = "command line"
#: ``-r -``: standard input.
STDIN = "-"


@dataclass(frozen=True, kw_only=True, slots=True)
class InputRequirement:
    """One requirement the user asked for, and where it was written."""

    requirement: Requirement
    #: ``command line``, ``requirements.txt:3``, ``pyproject.toml [project.dependencies]``,
    #: ``pyproject.toml [project.optional-dependencies] cli``,
    #: ``pyproject.toml [dependency-groups] dev``.
    source: str
    #: ``--hash`` values given with it, as ``algorithm:hexdigest`` (lower case): the locked
    #: files of its project must match one of them.
    hashes: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True, slots=True)
class Inputs:
    """Everything the user asked to lock, merged from all sources, in input order."""

    requirements: tuple[InputRequirement, ...] = ()
    constraints: tuple[InputRequirement, ...] = ()
    #: From ``-i/--index-url`` lines; ``None`` when no file gave one.
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    #: A ``--pre`` line was seen.
    pre: bool = False
    #: Normalized project names, or ``:all:``. A specific name in one set wins over ``:all:`` in
    #: the other.
    only_binary: frozenset[str] = frozenset()
    no_binary: frozenset[str] = frozenset()
    #: ``[project].requires-python`` of the project file, if any.
    requires_python: SpecifierSet | None = None
    #: Every local file read (requirement and constraint files, nested includes, the project
    #: file), as named: outputs must not overwrite them.
    files_read: tuple[Path, ...] = ()
    #: ``--require-hashes`` (a file line or the command line): every requirement is pinned with
    #: ``==`` and hashed (checked here), and every locked project is named with hashes
    #: (checked after resolving).
    require_hashes: bool = False


#: A requirement or constraint file: a local path, ``-`` (standard input) or a URL.
Location = Path | str

#: Reads a URL's body (the CLI passes :meth:`skimlock.fetch.Fetcher.document`).
FetchURL = Callable[[str], bytes]


def collect_inputs(
    *,
    requirements: Sequence[str] = (),
    requirement_files: Sequence[Location] = (),
    constraint_files: Sequence[Location] = (),
    project: Path | None = None,
    extras: Sequence[str] = (),
    groups: Sequence[str] = (),
    project_dependencies: bool = True,
    require_hashes: bool = False,
    fetch_url: FetchURL | None = None,
) -> Inputs:
    """Read and check every input, in this order: arguments, requirement files, project.

    ``project`` is a ``pyproject.toml`` file or a directory holding one. ``extras`` and ``groups``
    select ``[project.optional-dependencies]`` and ``[dependency-groups]`` entries of it.
    ``project_dependencies=False`` leaves out ``[project].dependencies`` (to lock groups only).

    A requirement or constraint file given as ``-`` is read from standard input (once); one given
    as a ``http(s)://`` URL is read with ``fetch_url`` (``file://`` URLs are local paths).

    Raises :class:`InputError` (or its subclass :class:`UnsupportedRequirementError`) with the
    file and line at fault.
    """
    collector = _Collector(fetch_url)
    for text in requirements:
        requirement = _parse_requirement(text, source=None, line=None)
        collector.requirements.append(
            InputRequirement(requirement=requirement, source=COMMAND_LINE)
        )
    for location in requirement_files:
        collector.read_file(_location(location), constraint=False, display=_display(location),
                            chain=(), origin=None)
    for location in constraint_files:
        collector.read_file(_location(location), constraint=True, display=_display(location),
                            chain=(), origin=None)
    requires_python = None
    if project is not None:
        pyproject = _Project.load(project)
        collector.files_read.append(project / "pyproject.toml" if project.is_dir() else project)
        collector.requirements.extend(
            pyproject.requirements(
                extras=extras, groups=groups, project_dependencies=project_dependencies
            )
        )
        requires_python = pyproject.requires_python
    elif extras or groups:
        raise InputError("extras and dependency groups need a project file (pyproject.toml)")
    require_hashes = require_hashes or collector.require_hashes
    if require_hashes:
        _check_hash_mode(collector.requirements)
    return Inputs(
        requirements=tuple(collector.requirements),
        constraints=tuple(collector.constraints),
        index_url=collector.index_url,
        extra_index_urls=tuple(dict.fromkeys(collector.extra_index_urls)),
        trusted_hosts=tuple(dict.fromkeys(collector.trusted_hosts)),
        pre=collector.pre,
        only_binary=frozenset(collector.only_binary),
        no_binary=frozenset(collector.no_binary),
        requires_python=requires_python,
        files_read=tuple(collector.files_read),
        require_hashes=require_hashes,
    )


def _check_hash_mode(requirements: Sequence[InputRequirement]) -> None:
    """pip's ``--require-hashes`` rule: every requirement pinned with ``==`` and hashed."""
    for item in requirements:
        pinned = any(
            s.operator == "===" or (s.operator == "==" and not s.version.endswith(".*"))
            for s in item.requirement.specifier
        )
        if not pinned:
            raise InputError(
                f"--require-hashes: {str(item.requirement)!r} must pin one version with ==",
                source=item.source,
            )
        if not item.hashes:
            raise InputError(
                f"--require-hashes: {str(item.requirement)!r} has no --hash", source=item.source
            )


# --- single requirements ---------------------------------------------------------------------

_INDEX_ONLY = "skimlock locks index packages only; "
_EDITABLE = _INDEX_ONLY + "editable installs are built from local sources"
_VCS_REASON = _INDEX_ONLY + "VCS requirements would need a checkout and a build"
_URL_REASON = _INDEX_ONLY + "direct URL references are not supported"
_PATH_REASON = _INDEX_ONLY + "local paths and archives are not supported"
_BUILD_OPTION = "it steers a build, and skimlock never builds packages"

_VCS = re.compile(r"^(?:git|hg|svn|bzr)\+", re.IGNORECASE)
# Two letters at least, so that a Windows drive ("C:/") is not taken for a scheme.
_URL = re.compile(r"^[a-z][a-z0-9+.-]+:(?://|/)", re.IGNORECASE)
_WINDOWS_PATH = re.compile(r"^[a-z]:[\\/]", re.IGNORECASE)
_ARCHIVES = (".whl", ".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz")
_NAME = re.compile(r"^(?:[a-z0-9]|[a-z0-9][a-z0-9._-]*[a-z0-9])$", re.IGNORECASE)


def _parse_requirement(text: str, *, source: str | None, line: int | None) -> Requirement:
    """A named index requirement, or an error saying why ``text`` is not one."""
    text = text.strip()
    if text.startswith("-"):
        raise InputError(f"{text!r} is an option, not a requirement", source=source, line=line)
    reason = _unsupported_form(text)
    if reason is not None:
        raise UnsupportedRequirementError(text, reason, source=source, line=line)
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        if "/" in text or "\\" in text or text.startswith((".", "~")):
            raise UnsupportedRequirementError(
                text, _PATH_REASON, source=source, line=line
            ) from None
        raise InputError(
            f"invalid requirement {text!r}: {_first_line(exc)}", source=source, line=line
        ) from None
    if requirement.url is not None:
        url = requirement.url
        if _VCS.match(url):
            reason = _VCS_REASON
        elif _URL.match(url) or url.startswith("file:"):
            reason = _URL_REASON
        else:
            reason = _PATH_REASON
        raise UnsupportedRequirementError(text, reason, source=source, line=line)
    return requirement


def _unsupported_form(text: str) -> str | None:
    """Why ``text`` (URL, VCS URL, path, archive) cannot be locked; ``None`` if it may be a name."""
    if _VCS.match(text):
        return _VCS_REASON
    if _URL.match(text):
        return _URL_REASON
    if _WINDOWS_PATH.match(text):
        return _PATH_REASON
    # An archive name is a valid PEP 508 name ("pkg-1.0-py3-none-any.whl"), so test it first.
    head = re.split(r"[;\[]", text, maxsplit=1)[0].strip().lower()
    if "@" not in head and head.endswith(_ARCHIVES):
        return _PATH_REASON
    return None


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


# --- requirement files -----------------------------------------------------------------------

_COMMENT = re.compile(r"(?:^|\s+)#.*$")
_ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")
_OPTION_AFTER_REQUIREMENT = re.compile(r"\s+(?=-)")

# Spelling -> canonical long name, for options that take a value.
_VALUE_OPTIONS = {
    "-r": "--requirement",
    "--requirement": "--requirement",
    "-c": "--constraint",
    "--constraint": "--constraint",
    "-i": "--index-url",
    "--index-url": "--index-url",
    "--extra-index-url": "--extra-index-url",
    "--trusted-host": "--trusted-host",
    "--only-binary": "--only-binary",
    "--no-binary": "--no-binary",
    "-e": "--editable",
    "--editable": "--editable",
    "-f": "--find-links",
    "--find-links": "--find-links",
    "--use-feature": "--use-feature",
    "--hash": "--hash",
    "--config-settings": "--config-settings",
    "--global-option": "--global-option",
    "--install-option": "--install-option",
}
#: What pip accepts in ``--hash`` (hashlib names).
HASH_ALGORITHMS = frozenset({"sha256", "sha384", "sha512"})
_HASH = re.compile(r"^([a-z0-9]+):([0-9a-f]+)$", re.IGNORECASE)

_FLAG_OPTIONS = frozenset({"--pre", "--require-hashes", "--no-index", "--prefer-binary"})
_PER_REQUIREMENT = frozenset({"--hash", "--config-settings", "--global-option", "--install-option"})
_UNSUPPORTED_OPTIONS = {
    "--find-links": _INDEX_ONLY + "find-links pages and directories are not supported",
    "--no-index": _INDEX_ONLY + "a lock without an index has nothing to resolve from",
    "--prefer-binary": "not supported; use --only-binary to rule out sdists",
    "--use-feature": "pip feature flags do not apply to skimlock",
    "--config-settings": _BUILD_OPTION,
    "--global-option": _BUILD_OPTION,
    "--install-option": _BUILD_OPTION,
}


def _location(location: Location) -> Location:
    """``file://`` URLs become paths; ``-`` and other URLs stay strings; the rest are paths."""
    if isinstance(location, Path):
        return location
    if location == STDIN:
        return location
    if location.lower().startswith("file:"):
        return Path(url2pathname(urlsplit(location).path))
    if _URL.match(location):
        return location
    return Path(location)


def _display(location: Location) -> str:
    if isinstance(location, Path):
        return str(location)
    return "<stdin>" if location == STDIN else redact(location)


class _Collector:
    """Mutable state while reading requirement files; frozen into :class:`Inputs` at the end."""

    def __init__(self, fetch_url: FetchURL | None = None) -> None:
        self.fetch_url = fetch_url
        self.stdin_read = False
        self.requirements: list[InputRequirement] = []
        self.constraints: list[InputRequirement] = []
        self.index_url: str | None = None
        self.index_url_source = ""
        self.extra_index_urls: list[str] = []
        self.trusted_hosts: list[str] = []
        self.pre = False
        self.only_binary: set[str] = set()
        self.no_binary: set[str] = set()
        self.files_read: list[Path] = []
        self.require_hashes = False

    def read_file(
        self,
        path: Location,
        *,
        constraint: bool,
        display: str,
        chain: tuple[tuple[Location, str], ...],
        origin: tuple[str, int] | None,
    ) -> None:
        """Read one requirement (or constraint) file; ``origin`` is the line that included it."""
        kind = "constraints" if constraint else "requirements"
        where, at = origin if origin is not None else (display, None)
        named = f" {display}" if origin is not None else ""
        resolved: Location = path
        if isinstance(path, Path):
            try:
                resolved = path.resolve()
            except (OSError, RuntimeError):  # a symlink loop; reading it fails below
                resolved = Path(os.path.abspath(path))
        if any(resolved == seen for seen, _ in chain):
            cycle = " -> ".join([*(name for _, name in chain), display])
            raise InputError(f"include cycle: {cycle}", source=where, line=at)
        if isinstance(path, Path):
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise InputError(
                    f"cannot read {kind} file{named}: {exc.strerror or exc}", source=where, line=at
                ) from None
            self.files_read.append(path)
        elif path == STDIN:
            if self.stdin_read:
                raise InputError("standard input (-) can be read only once", source=where,
                                 line=at)
            self.stdin_read = True
            data = sys.stdin.buffer.read()
        else:
            if self.fetch_url is None:
                raise InputError(f"cannot read {kind} file {display}: no way to fetch URLs here",
                                 source=where, line=at)
            data = self.fetch_url(path)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"not UTF-8 text ({exc.reason} at byte {exc.start})", source=display
            ) from None
        for number, logical in _logical_lines(text):
            line = _COMMENT.sub("", logical).strip()
            if not line:
                continue
            line = _expand_env(line, source=display, number=number)
            self._read_line(
                line,
                path=path,
                constraint=constraint,
                display=display,
                number=number,
                chain=(*chain, (resolved, display)),
            )

    def _read_line(
        self,
        line: str,
        *,
        path: Location,
        constraint: bool,
        display: str,
        number: int,
        chain: tuple[tuple[Location, str], ...],
    ) -> None:
        if line.startswith("-"):
            for option, value in _options(line, source=display, line=number):
                if option == "--hash":
                    raise InputError(
                        "--hash must follow a requirement on the same line",
                        source=display,
                        line=number,
                    )
                self._apply_option(
                    option,
                    value,
                    path=path,
                    constraint=constraint,
                    display=display,
                    number=number,
                    chain=chain,
                )
            return
        parts = _OPTION_AFTER_REQUIREMENT.split(line, maxsplit=1)
        text, rest = parts[0], parts[1] if len(parts) > 1 else ""
        requirement = _parse_requirement(text, source=display, line=number)
        hashes: set[str] = set()
        for option, value in _options(rest, source=display, line=number) if rest else ():
            if option == "--hash":
                assert value is not None
                hashes.add(_hash_value(value, source=display, line=number))
                continue
            if option not in _PER_REQUIREMENT:
                raise InputError(
                    f"option {option} cannot follow a requirement; put it on its own line",
                    source=display,
                    line=number,
                )
            if option != "--hash":
                raise UnsupportedRequirementError(
                    text, f"{option}: {_UNSUPPORTED_OPTIONS[option]}", source=display, line=number
                )
        source = f"{display}:{number}"
        if constraint:
            if requirement.extras:
                raise InputError(
                    f"constraint {text!r} has extras; constraints name a project without extras",
                    source=display,
                    line=number,
                )
            self.constraints.append(
                InputRequirement(requirement=requirement, source=source, hashes=frozenset(hashes))
            )
        else:
            self.requirements.append(
                InputRequirement(requirement=requirement, source=source, hashes=frozenset(hashes))
            )

    def _apply_option(
        self,
        option: str,
        value: str | None,
        *,
        path: Location,
        constraint: bool,
        display: str,
        number: int,
        chain: tuple[tuple[Location, str], ...],
    ) -> None:
        if option in ("--requirement", "--constraint"):
            assert value is not None
            included: Location
            remote = isinstance(path, str) and path != STDIN
            if value == STDIN or _URL.match(value):
                included = _location(value)
                if remote and (isinstance(included, Path) or included == STDIN):
                    raise InputError(
                        f"{option} {value}: a file read from a URL may include only URLs",
                        source=display, line=number,
                    )
            elif remote:  # relative to the including URL
                assert isinstance(path, str)
                included = urljoin(path, value)
            else:
                included = Path(value)
                if not included.is_absolute():
                    parent = path.parent if isinstance(path, Path) else Path()
                    included = parent / included
            self.read_file(
                included,
                constraint=constraint or option == "--constraint",
                display=os.path.normpath(included) if isinstance(included, Path)
                else _display(included),
                chain=chain,
                origin=(display, number),
            )
        elif option == "--index-url":
            assert value is not None
            if self.index_url is not None and self.index_url != value:
                raise InputError(
                    f"--index-url {redact(value)} conflicts with --index-url "
                    f"{redact(self.index_url)} from {self.index_url_source}",
                    source=display,
                    line=number,
                )
            self.index_url = value
            self.index_url_source = f"{display}:{number}"
        elif option == "--extra-index-url":
            assert value is not None
            self.extra_index_urls.append(value)
        elif option == "--trusted-host":
            assert value is not None
            self.trusted_hosts.append(value)
        elif option == "--pre":
            self.pre = True
        elif option == "--require-hashes":
            self.require_hashes = True
        elif option in ("--only-binary", "--no-binary"):
            assert value is not None
            if option == "--only-binary":
                target, other = self.only_binary, self.no_binary
            else:
                target, other = self.no_binary, self.only_binary
            _update_binary(target, other, value, option=option, source=display, line=number)
        elif option == "--editable":
            assert value is not None
            raise UnsupportedRequirementError(value, _EDITABLE, source=display, line=number)
        else:
            raise InputError(
                f"{option}: {_UNSUPPORTED_OPTIONS[option]}", source=display, line=number
            )


def _hash_value(value: str, *, source: str, line: int) -> str:
    """``sha256:HEX`` checked and lower-cased."""
    match = _HASH.match(value.strip())
    if match is None:
        raise InputError(
            f"--hash {value!r}: expected ALGORITHM:HEXDIGEST, e.g. sha256:<64 hex digits>",
            source=source, line=line,
        )
    algorithm = match.group(1).lower()
    if algorithm not in HASH_ALGORITHMS:
        raise InputError(
            f"--hash {value!r}: unsupported algorithm {algorithm!r} (use one of: "
            f"{', '.join(sorted(HASH_ALGORITHMS))})",
            source=source, line=line,
        )
    return f"{algorithm}:{match.group(2).lower()}"


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """``(number of the first physical line, logical line)``, continuations joined."""
    pending: list[str] = []
    start = 0
    for number, physical in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
        if _COMMENT.match(physical):
            # A whole-line comment ends a continuation; it yields nothing itself.
            if pending:
                yield start, "".join(pending)
                pending = []
            continue
        if physical.endswith("\\"):
            if not pending:
                start = number
            pending.append(physical[:-1])
            continue
        if pending:
            pending.append(physical)
            yield start, "".join(pending)
            pending = []
        else:
            yield number, physical
    if pending:
        yield start, "".join(pending)


def _expand_env(line: str, *, source: str, number: int) -> str:
    """``line`` with each ``${NAME}`` replaced by that environment variable."""

    def replace(match: re.Match[str]) -> str:
        value = os.environ.get(match.group(1))
        if value is None:
            raise InputError(
                f"environment variable {match.group(1)} (used as {match.group(0)}) is not set",
                source=source,
                line=number,
            )
        return value

    return _ENV_VAR.sub(replace, line)


def _options(text: str, *, source: str, line: int) -> Iterator[tuple[str, str | None]]:
    """``(canonical option, value or None)`` for each option in ``text``."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise InputError(f"cannot split options: {exc}", source=source, line=line) from None
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token.startswith("--"):
            name, equals, value = token.partition("=")
        elif token.startswith("-") and len(token) > 1:
            name, value = token[:2], token[2:]
            equals = "=" if value else ""
        else:
            raise InputError(f"unexpected argument {token!r}", source=source, line=line)
        if name in _FLAG_OPTIONS:
            if equals:
                raise InputError(f"{name} takes no value", source=source, line=line)
            yield name, None
            continue
        canonical = _VALUE_OPTIONS.get(name)
        if canonical is None:
            raise InputError(f"unknown option {name}", source=source, line=line)
        if not equals:
            if index >= len(tokens) or tokens[index].startswith("-"):
                raise InputError(f"{name} needs a value", source=source, line=line)
            value = tokens[index]
            index += 1
        if not value:
            raise InputError(f"{name} needs a value", source=source, line=line)
        yield canonical, value


def _update_binary(
    target: set[str], other: set[str], value: str, *, option: str, source: str, line: int
) -> None:
    """Apply one ``--only-binary``/``--no-binary`` value the way pip does."""
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        if item == ":all:":
            target.clear()
            other.clear()
            target.add(":all:")
        elif item == ":none:":
            target.clear()
        elif _NAME.match(item):
            name = canonicalize_name(item)
            other.discard(name)
            target.add(name)
        else:
            raise InputError(
                f"{option}: {item!r} is not a project name, :all: or :none:",
                source=source,
                line=line,
            )


# --- pyproject.toml --------------------------------------------------------------------------


def _string_list(value: object, *, source: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InputError("must be an array of strings", source=source)
    return value


class _Project:
    """The parts of one ``pyproject.toml`` that say what to lock."""

    def __init__(self, display: str, data: Mapping[str, Any]) -> None:
        self.display = display
        project = data.get("project")
        if project is not None and not isinstance(project, dict):
            raise InputError("[project] must be a table", source=display)
        self.project: Mapping[str, Any] | None = project
        groups = data.get("dependency-groups")
        if groups is not None and not isinstance(groups, dict):
            raise InputError("[dependency-groups] must be a table", source=display)
        self.groups: Mapping[str, Any] = groups or {}
        project = project or {}
        name = project.get("name")
        self.name: NormalizedName | None = (
            canonicalize_name(name) if isinstance(name, str) else None
        )
        self.dynamic = set(_string_list(project.get("dynamic", []), source=self._where("dynamic")))
        self.requires_python: SpecifierSet | None = None
        if "requires-python" in project:
            raw = project["requires-python"]
            if not isinstance(raw, str):
                raise InputError("must be a string", source=self._where("requires-python"))
            try:
                self.requires_python = SpecifierSet(raw)
            except InvalidSpecifier as exc:
                raise InputError(
                    f"invalid requires-python {raw!r}: {_first_line(exc)}",
                    source=self._where("requires-python"),
                ) from None
        optional = project.get("optional-dependencies", {})
        if not isinstance(optional, dict):
            raise InputError("must be a table", source=f"{display} [project.optional-dependencies]")
        self.optional: dict[str, str] = {}
        for extra in optional:
            key = canonicalize_name(extra)
            if key in self.optional:
                raise InputError(
                    f"extras {self.optional[key]!r} and {extra!r} have the same normalized name",
                    source=f"{display} [project.optional-dependencies]",
                )
            self.optional[key] = extra
        self._optional_table: Mapping[str, Any] = optional

    @classmethod
    def load(cls, path: Path) -> _Project:
        file = path / "pyproject.toml" if path.is_dir() else path
        display = str(file)
        try:
            text = file.read_bytes().decode("utf-8")
        except OSError as exc:
            raise InputError(
                f"cannot read project file: {exc.strerror or exc}", source=display
            ) from None
        except UnicodeDecodeError as exc:
            raise InputError(
                f"not UTF-8 text ({exc.reason} at byte {exc.start})", source=display
            ) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"invalid TOML: {exc}", source=display) from None
        return cls(display, data)

    def _where(self, key: str) -> str:
        return f"{self.display} [project.{key}]"

    # -- what to lock -----------------------------------------------------------------------

    def requirements(
        self, *, extras: Sequence[str], groups: Sequence[str], project_dependencies: bool
    ) -> list[InputRequirement]:
        if self.project is None:
            if extras:
                raise InputError("has no [project] table, so it has no extras", source=self.display)
            if not groups:
                raise InputError(
                    "has no [project] table; name dependency groups to lock instead",
                    source=self.display,
                )
        keys: list[str] = [""] if self.project is not None and project_dependencies else []
        keys.extend(self._extra_key(extra, source=None) for extra in extras)
        # What is locked at the top is not expanded again where a self-reference names it.
        top = frozenset(keys)
        result: list[InputRequirement] = []
        for key in dict.fromkeys(keys):
            result.extend(self._expand(self._table(key, source=None), None, top))
        if groups:
            result.extend(self._groups(groups, top))
        return result

    def _extra_key(self, extra: str, *, source: str | None) -> NormalizedName:
        key = canonicalize_name(extra)
        if "optional-dependencies" in self.dynamic:
            raise InputError(
                f"extra {extra!r}: [project.optional-dependencies] is dynamic; knowing it would "
                "need a build",
                source=source or self.display,
            )
        if key not in self.optional:
            available = ", ".join(sorted(self.optional.values())) or "none"
            raise InputError(
                f"unknown extra {extra!r} (available: {available})",
                source=source or self.display,
            )
        return key

    def _table(self, key: str, *, source: str | None) -> list[tuple[Requirement, str]]:
        """Requirements of ``[project].dependencies`` (key ``""``) or of one extra."""
        if key == "":
            where = self._where("dependencies")
            if "dependencies" in self.dynamic:
                raise InputError(
                    "[project].dependencies is listed in dynamic: knowing them would need a "
                    "build (list them statically, or lock dependency groups only)",
                    source=source or self.display,
                )
            assert self.project is not None
            raw = self.project.get("dependencies", [])
        else:
            where = f"{self.display} [project.optional-dependencies] {self.optional[key]}"
            raw = self._optional_table[self.optional[key]]
        return [
            (_parse_requirement(text, source=where, line=None), where)
            for text in _string_list(raw, source=where)
        ]

    def _is_self(self, requirement: Requirement) -> bool:
        return self.name is not None and canonicalize_name(requirement.name) == self.name

    def _expand(
        self,
        items: Sequence[tuple[Requirement, str]],
        marker: Marker | None,
        expanding: frozenset[str],
    ) -> Iterator[InputRequirement]:
        """Requirements of ``items``, self-references replaced by what they stand for."""
        for requirement, source in items:
            if not self._is_self(requirement):
                yield InputRequirement(requirement=_and_marker(requirement, marker), source=source)
                continue
            if requirement.specifier:
                raise InputError(
                    f"{str(requirement)!r} refers to the project itself; a self-reference cannot "
                    "have a version specifier",
                    source=source,
                )
            inner = marker
            if requirement.marker is not None:
                inner = requirement.marker if inner is None else inner & requirement.marker
            keys = [
                "",
                *(self._extra_key(extra, source=source) for extra in sorted(requirement.extras)),
            ]
            for key in keys:
                if key in expanding:
                    continue  # already being expanded further up, under a weaker marker
                yield from self._expand(self._table(key, source=source), inner, expanding | {key})

    def _groups(self, groups: Sequence[str], top: frozenset[str]) -> list[InputRequirement]:
        where = f"{self.display} [dependency-groups]"
        available = {canonicalize_name(name): name for name in self.groups}
        for name, items in self.groups.items():
            if not isinstance(items, list):
                raise InputError("must be an array", source=f"{where} {name}")
            for item in items:
                if isinstance(item, str):
                    _parse_requirement(item, source=f"{where} {name}", line=None)
        try:
            resolver = DependencyGroupResolver(self.groups)
        except ExceptionGroup as exc:
            raise InputError(_group_messages(exc), source=where) from None
        result: list[InputRequirement] = []
        for group in dict.fromkeys(groups):
            key = canonicalize_name(group)
            if key not in available:
                names = ", ".join(sorted(self.groups)) or "none"
                raise InputError(
                    f"unknown dependency group {group!r} (available: {names})", source=where
                )
            source = f"{where} {available[key]}"
            try:
                resolved = resolver.resolve(key)
            except ExceptionGroup as exc:
                raise InputError(_group_messages(exc), source=source) from None
            result.extend(self._expand([(req, source) for req in resolved], None, top))
        return result


def _group_messages(group: ExceptionGroup) -> str:
    """One line from a (possibly nested) exception group raised by packaging."""
    messages: list[str] = []
    pending: list[Exception] = list(group.exceptions)
    while pending:
        exc = pending.pop(0)
        if isinstance(exc, ExceptionGroup):
            pending.extend(exc.exceptions)
        else:
            messages.append(_first_line(exc))
    return "; ".join(messages)


def _and_marker(requirement: Requirement, marker: Marker | None) -> Requirement:
    if marker is None:
        return requirement
    combined = Requirement(str(requirement))
    combined.marker = marker if requirement.marker is None else marker & requirement.marker
    return combined
