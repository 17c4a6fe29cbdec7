"""``--exclude-newer``: a cutoff on PEP 700 upload times (sans-I/O).

Files uploaded after the cutoff are invisible to the resolver (see
:class:`~skimlock.candidates.ProjectFiles`), as with uv's ``--exclude-newer`` and pip's
``--uploaded-prior-to``. The cutoff is written as

* an RFC 3339 / ISO 8601 time, ``2024-05-01T12:00:00Z`` (an offset, or none for UTC);
* a date, ``2024-05-01``: the start of that day in UTC (the same on every machine);
* a duration back from now: ``7d``, ``24h``, ``90m``, ``2w``, ``1d12h``, ``7 days``, or ISO 8601
  ``P7D``, ``PT24H``, ``P1W`` (no months or years: their length varies).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from .simple import parse_upload_time

__all__ = ["parse_exclude_newer"]

_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}
_PART = re.compile(r"\s*(\d{1,9})\s*([a-z]+)", re.ASCII)
_ISO_DURATION = re.compile(
    r"P(?:(\d{1,9})W)?(?:(\d{1,9})D)?(?:T(?:(\d{1,9})H)?(?:(\d{1,9})M)?(?:(\d{1,9})S)?)?",
    re.ASCII,
)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_HELP = (
    "use an RFC 3339 time (2024-05-01T00:00:00Z), a date (2024-05-01) "
    "or a duration (7d, 24h, P7D)"
)


def parse_exclude_newer(text: str, *, now: datetime | None = None) -> datetime:
    """The cutoff ``text`` names, timezone-aware. Raises ValueError with a one-line message."""
    value = text.strip()
    seconds = _duration(value)
    if seconds is not None:
        current = now if now is not None else datetime.now(timezone.utc)
        try:
            return current - timedelta(seconds=seconds)
        except OverflowError:
            raise ValueError(f"invalid --exclude-newer value {text!r}: duration too long") from None
    date = _DATE.fullmatch(value)
    if date is not None:
        try:
            return datetime(int(date[1]), int(date[2]), int(date[3]), tzinfo=timezone.utc)
        except ValueError:
            raise ValueError(f"invalid --exclude-newer date {text!r}") from None
    moment = parse_upload_time(value)
    if moment is None:
        raise ValueError(f"invalid --exclude-newer value {text!r}: {_HELP}")
    return moment


def _duration(value: str) -> int | None:
    """Seconds in ``value`` when it is a duration, else None."""
    if value[:1] in ("P", "p"):
        iso = _ISO_DURATION.fullmatch(value.upper())
        if iso is None or not any(iso.groups()) or value.upper().endswith("T"):
            return None
        weeks, days, hours, minutes, secs = (int(g or 0) for g in iso.groups())
        return (((weeks * 7 + days) * 24 + hours) * 60 + minutes) * 60 + secs
    lowered = value.lower()
    total = 0
    position = 0
    while position < len(lowered):
        part = _PART.match(lowered, position)
        if part is None or part[2] not in _UNITS:
            return None
        total += int(part[1]) * _UNITS[part[2]]
        position = part.end()
        if lowered[position:].strip() == "":
            break
    return total if position > 0 else None
