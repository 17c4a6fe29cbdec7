"""``skimlock check``: verify a pylock.toml for one target without downloading a wheel.

1. :meth:`packaging.pylock.Pylock.select` for the target's marker environment and tags: the
   lock's ``requires-python`` and ``environments`` must admit the target, each package whose
   ``marker`` holds must suit the target's Python, and must have a wheel for its tags (else an
   sdist), and no two entries of one name may both be selected.
2. The METADATA of every selected file, through the fetch layer (PEP 658, ranges; a whole
   download only as the last resort): the file is looked up on the package's index page, so
   the index's hash of the metadata is checked and a lock whose file hashes differ from the
   index's is reported.
3. The closure: starting from the lock's requirements (``[tool.skimlock] requirements``, when a
   skimlock lock records them) and from every selected package, each ``Requires-Dist`` whose
   marker holds for the target (with the extras asked for) must be satisfied by a selected
   package, and each selected package's ``Requires-Python`` must hold.

The first problem found ends the check with :class:`~skimlock.errors.LockCheckError`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass

from packaging.metadata import Metadata
from packaging.pylock import (
    Package,
    PackageSdist,
    PackageWheel,
    Pylock,
    PylockSelectError,
    PylockValidationError,
)
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from .errors import InputError, LockCheckError, SkimlockError
from .fetch import FetchedMetadata, Fetcher
from .simple import IndexFile
from .target import Target

__all__ = ["CheckResult", "check_lock", "load_lock", "recorded_environments"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckResult:
    """A lock that holds for a target: what would be installed there."""

    environment: str
    #: ``(name, version, filename)`` of each selected package, in lock order.
    selected: tuple[tuple[str, str, str], ...]
    #: Packages installed from an sdist (no wheel for the target).
    from_sdist: tuple[str, ...] = ()


def load_lock(text: str, source: str) -> Pylock:
    """Parse and validate a pylock.toml. Raises :class:`InputError`."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source} is not TOML: {exc}") from None
    try:
        return Pylock.from_dict(data)
    except PylockValidationError as exc:
        raise InputError(f"{source} is not a valid pylock.toml: {exc}") from None


def recorded_environments(lock: Pylock) -> tuple[str, ...]:
    """The environment labels a skimlock universal lock records (empty for other locks)."""
    tool = (lock.tool or {}).get("skimlock", {})
    labels = tool.get("environments", ()) if isinstance(tool, dict) else ()
    return tuple(str(label) for label in labels) if isinstance(labels, list) else ()


def _recorded_requirements(lock: Pylock) -> list[Requirement]:
    tool = (lock.tool or {}).get("skimlock", {})
    texts = tool.get("requirements", ()) if isinstance(tool, dict) else ()
    found = []
    for text in texts if isinstance(texts, list) else ():
        try:
            found.append(Requirement(str(text)))
        except InvalidRequirement:
            logger.warning("ignoring an invalid requirement recorded in the lock: %r", text)
    return found


def check_lock(
    lock: Pylock, target: Target, *, fetcher: Fetcher, describe: str | None = None
) -> CheckResult:
    """Verify ``lock`` for ``target``; raises :class:`LockCheckError` at the first problem."""
    where = describe or target.describe()
    try:
        selected = list(lock.select(
            environment=dict(target.markers),  # type: ignore[arg-type]
            tags=list(target.tags),
        ))
    except PylockSelectError as exc:
        raise LockCheckError(where, str(exc)) from None
    files: dict[NormalizedName, tuple[Package, IndexFile]] = {}
    for package, dist in selected:
        if not isinstance(dist, PackageWheel | PackageSdist):
            raise LockCheckError(where, f"{package.name} {package.version}: only index files "
                                 "(wheels, sdists) can be checked")
        files[canonicalize_name(package.name)] = (package, _index_file(package, dist, fetcher,
                                                                       where))
    futures: dict[NormalizedName, Future[FetchedMetadata]] = {}
    from_sdist = []
    for name, (package, file) in files.items():
        if file.is_wheel or file.core_metadata is not None:
            futures[name] = fetcher.submit_metadata(file)
        else:
            from_sdist.append(name)
            logger.warning("%s %s: an sdist without served metadata; its dependencies are not "
                           "checked", package.name, package.version)
    metadata: dict[NormalizedName, Metadata] = {}
    for name, future in futures.items():
        package = files[name][0]
        try:
            fetched = future.result()
        except SkimlockError as exc:
            raise LockCheckError(where, f"{package.name} {package.version}: cannot read its "
                                 f"metadata: {exc}") from None
        if fetched.metadata.version != package.version:
            raise LockCheckError(where, f"{package.name} {package.version}: its file's metadata "
                                 f"says version {fetched.metadata.version}")
        metadata[name] = fetched.metadata
    _closure(lock, files, metadata, target, where)
    from_sdist += [n for n, (_, f) in files.items() if not f.is_wheel and n not in from_sdist]
    return CheckResult(
        environment=where,
        selected=tuple(
            (str(p.name), str(p.version), f.filename) for p, f in files.values()
        ),
        from_sdist=tuple(sorted(set(from_sdist))),
    )


def _index_file(
    package: Package, dist: PackageWheel | PackageSdist, fetcher: Fetcher, where: str
) -> IndexFile:
    """The index's record of ``dist`` (for its metadata hash), else one made from the lock."""
    filename = dist.name or (dist.url or "").rsplit("/", 1)[-1]
    hashes = {k.lower(): v.lower() for k, v in dist.hashes.items()}
    if package.index:
        page = fetcher.page(package.index, package.name)
        listed = next((f for f in page.files if f.filename == filename), None) if page else None
        if listed is not None:
            for algorithm, digest in hashes.items():
                theirs = listed.hashes.get(algorithm)
                if theirs is not None and theirs != digest:
                    raise LockCheckError(
                        where, f"{package.name} {package.version}: the lock's {algorithm} of "
                        f"{filename} differs from the index's")
            return listed
        if not dist.url:
            raise LockCheckError(where, f"{package.name} {package.version}: {filename} is not "
                                 f"on {package.index}")
    if not dist.url:
        raise LockCheckError(where, f"{package.name} {package.version}: {filename} has no URL")
    return IndexFile(filename=filename, url=dist.url, hashes=hashes, size=dist.size)


def _closure(
    lock: Pylock,
    files: Mapping[NormalizedName, tuple[Package, IndexFile]],
    metadata: Mapping[NormalizedName, Metadata],
    target: Target,
    where: str,
) -> None:
    python = target.python_full_version
    queue: list[tuple[NormalizedName, frozenset[str], Requirement | None, str]] = []
    for root in _recorded_requirements(lock):
        if target.evaluate(root.marker):
            queue.append((canonicalize_name(root.name),
                          frozenset(root.extras), root, "the lock's requirements"))
    queue.extend((name, frozenset(), None, "the lock") for name in files)
    seen: set[tuple[NormalizedName, frozenset[str]]] = set()
    while queue:
        name, extras, requirement, asker = queue.pop(0)
        entry = files.get(name)
        if entry is None:
            assert requirement is not None
            raise LockCheckError(where, f"{requirement} (required by {asker}) is not in the "
                                 "lock for this environment")
        package = entry[0]
        if requirement is not None and (
            package.version is None
            or not requirement.specifier.contains(package.version, prereleases=True)
        ):
            raise LockCheckError(where, f"{asker} requires {requirement}, but the lock has "
                                 f"{package.name} {package.version}")
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        meta = metadata.get(name)
        if meta is None:
            continue  # an sdist whose metadata is not served
        if meta.requires_python is not None and not meta.requires_python.contains(
            python, prereleases=True
        ):
            raise LockCheckError(where, f"{package.name} {package.version} requires Python "
                                 f"{meta.requires_python}")
        parent = f"{package.name} {package.version}"
        for child in meta.requires_dist or ():
            if target.evaluate(child.marker, sorted(extras)):
                queue.append((canonicalize_name(child.name),
                              frozenset(canonicalize_name(e) for e in child.extras), child,
                              parent))

