"""What a resolve produces: pins with their files, dependency edges and why each is there.

Sans-I/O records shared by the resolver (which builds them) and the writers (which serialize them).
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.metadata import Metadata
from packaging.requirements import Requirement
from packaging.utils import NormalizedName
from packaging.version import Version

from .simple import IndexFile
from .target import Target

__all__ = ["Pin", "Resolution"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Pin:
    """One resolved project."""

    name: NormalizedName
    version: Version
    #: Base URL of the simple index the project came from (e.g. ``https://pypi.org/simple``).
    index_url: str
    #: The files of this version usable in the target, best first (wheels by tag, then an sdist).
    files: tuple[IndexFile, ...]
    #: The file whose core metadata was read.
    metadata_file: IndexFile
    #: That file's parsed core metadata.
    metadata: Metadata
    #: The METADATA bytes exactly as fetched (for reports that want the JSON form).
    metadata_bytes: bytes
    #: Extras of this project that the resolution activated.
    extras: frozenset[NormalizedName] = frozenset()
    #: Names of the pinned projects this one depends on in the target (after markers).
    dependencies: tuple[NormalizedName, ...] = ()
    #: Named directly by the user (argument, requirements file, pyproject).
    requested: bool = False
    #: Extras the user asked for directly.
    requested_extras: frozenset[NormalizedName] = frozenset()
    #: Who asked for it: parent project names and/or input sources ("-r requirements.txt").
    via: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Resolution:
    """A complete, consistent set of pins for one target."""

    target: Target
    #: The root requirements, as given.
    requirements: tuple[Requirement, ...]
    #: Pins sorted by name.
    pins: tuple[Pin, ...]
