"""How long the first range request into a wheel should be (sans-I/O, per-project memory).

The fetcher reads a wheel's METADATA with a suffix request and, when that is not enough, the
spans :class:`~skimlock.zipread.MetadataLocator` asks for. :class:`RangePlan` picks the length
of that first suffix and learns from each wheel read, per project, because the versions of one
project that a resolver visits are usually laid out alike.

What it learns is a :class:`~skimlock.zipread.WheelLayout`: how many trailing bytes hold the
directory (end records and central directory, or with the partial-directory shortcut only the
end of it from METADATA's record) and where the METADATA member lies.

- **Member near the end** (``.dist-info`` written last, as 9 in 10 wheels do): the next suffix
  covers the member and the directory, so the next version takes one request.
- **Member far from the end** (pdm-backend, tensorflow and others write ``.dist-info`` first):
  covering the member means fetching the whole wheel, so the next suffix covers only the
  directory and the locator fetches the member span separately: two requests, but about the
  bytes of the range floor instead of the whole file.

"Near" means that one suffix holding both costs at most :data:`ROUND_TRIP_BYTES` more than the
two spans alone: the price put on one more round trip. The same price picks the default first
suffix on 265 real wheels (``benchmarks/bench_metadata.py``): from 16 to 17 KiB costs about
53 KB of transfer per request saved (worth it), from 17 to 20 KiB about 70 KB (not). Learned
tails get a margin (a later version may be a little larger); every suffix is capped by the file
size when the index gives it (PEP 700 ``size``). Sizes did not help choose the first suffix
beyond that cap: size-scaled suffixes spend more bytes at the same request count (the table in
``benchmarks/README.md``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from skimlock.zipread import WheelLayout

__all__ = ["DEFAULT_INITIAL_TAIL", "ROUND_TRIP_BYTES", "RangePlan"]

KiB = 1024
#: The first suffix for a project nothing was learned about.
DEFAULT_INITIAL_TAIL = 17 * KiB
#: Bytes one round trip is worth: a member is "near the end" when one suffix covering it and the
#: directory costs at most this much more than fetching the two spans in two requests.
ROUND_TRIP_BYTES = 64 * KiB


@dataclass(frozen=True, kw_only=True, slots=True)
class _Learned:
    """What one project's wheels showed (largest over the versions read)."""

    #: Trailing bytes holding the needed directory.
    directory_tail: int
    #: Trailing bytes holding the directory and METADATA; None when the last wheel read had its
    #: METADATA far from the end.
    member_tail: int | None


class RangePlan:
    """First suffix lengths for range reads of wheels, learned per project; thread-safe."""

    def __init__(
        self,
        *,
        initial_tail: int = DEFAULT_INITIAL_TAIL,
        margin: float = 0.25,
        min_margin: int = 4 * KiB,
    ) -> None:
        if initial_tail < 22:
            raise ValueError(f"initial_tail {initial_tail} is shorter than a zip end record")
        self.initial_tail = initial_tail
        self.margin = margin
        self.min_margin = min_margin
        self._lock = threading.Lock()
        self._learned: dict[str, _Learned] = {}

    def first_request(self, project: str, size: int | None) -> int:
        """Bytes to ask for in the first suffix request into a wheel of ``project``.

        ``size`` is the file size when the index gives it (PEP 700); the suffix never exceeds it.
        """
        with self._lock:
            learned = self._learned.get(project)
        if learned is None:
            suffix = self.initial_tail
        else:
            tail = learned.directory_tail if learned.member_tail is None else learned.member_tail
            suffix = tail + max(self.min_margin, int(tail * self.margin))
        return min(suffix, size) if size else suffix

    def learn(self, project: str, layout: WheelLayout) -> None:
        """Remember how a wheel of ``project`` was laid out (after reading its METADATA)."""
        near = layout.member_in_tail - layout.floor <= ROUND_TRIP_BYTES
        with self._lock:
            old = self._learned.get(project)
            directory = layout.directory_tail
            member = layout.member_in_tail if near else None
            if old is not None:
                directory = max(directory, old.directory_tail)
                if member is not None and old.member_tail is not None:
                    member = max(member, old.member_tail)
            self._learned[project] = _Learned(directory_tail=directory, member_tail=member)
