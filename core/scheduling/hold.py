"""`--at TIME`: when a held task may start, from what the owner typed, in the owner's zone.

Pure: a function of the text, `now` and the zone. Accepted forms, all read as wall-clock
time in `tz` unless they carry an offset:

- `07:30` — the next time the clock reads 07:30 (today or tomorrow);
- `tomorrow 07:30`, `today 23:00`;
- `2025-06-01 07:30`, `2025-06-01T07:30[:SS][+02:00]`;
- `+90m`, `+2h`, `+1d`, `in 2h` — that long from now.

A wall time the clocks skip (spring forward) maps to the moment the zone gives it, an hour
later on the clock; a time already past, or more than a year ahead, is refused.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from core.errors import InvalidInput

MAX_AHEAD = timedelta(days=366)
HOLD_USAGE = "TIME is HH:MM, tomorrow HH:MM, YYYY-MM-DD HH:MM, or +2h / +30m / +1d"

_CLOCK = re.compile(r"(?P<h>[0-9]{1,2}):(?P<m>[0-9]{2})", re.ASCII)
_RELATIVE = re.compile(r"(?:\+|in\s+)(?P<n>[0-9]{1,5})\s*(?P<unit>m|min|h|d)", re.ASCII | re.IGNORECASE)
_DATE = re.compile(r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})", re.ASCII)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days"}


def _clock(text: str) -> time:
    match = _CLOCK.fullmatch(text.strip())
    if match is None:
        raise InvalidInput(f"{text!r} is not a time ({HOLD_USAGE})")
    hour, minute = int(match["h"]), int(match["m"])
    if hour > 23 or minute > 59:
        raise InvalidInput(f"{text!r} is not a time of day")
    return time(hour, minute)


def _wall(day: date, moment: time, tz: tzinfo) -> datetime:
    """The UTC instant of a wall-clock time in `tz` (a skipped time lands past the gap)."""
    return datetime.combine(day, moment, tzinfo=tz).astimezone(UTC)


def _checked(moment: datetime, now: datetime, text: str) -> datetime:
    if moment <= now:
        raise InvalidInput(f"{text!r} has already passed")
    if moment - now > MAX_AHEAD:
        raise InvalidInput(f"{text!r} is more than a year ahead")
    return moment


def parse_hold_time(text: str, now: datetime, tz: tzinfo) -> datetime:
    """The aware UTC moment `text` names, strictly after `now`."""
    raw = " ".join(text.split())
    if not raw:
        raise InvalidInput(f"--at needs a time ({HOLD_USAGE})")
    lowered = raw.lower()
    relative = _RELATIVE.fullmatch(lowered)
    if relative is not None:
        amount = int(relative["n"])
        if amount == 0:
            raise InvalidInput(f"{text!r} is now, not later")
        delta = timedelta(**{_UNITS[relative["unit"].lower()]: amount})
        return _checked(now.astimezone(UTC) + delta, now, text)
    local_today = now.astimezone(tz).date()
    for word, offset in (("today", 0), ("tomorrow", 1)):
        if lowered.startswith(word + " "):
            moment = _clock(lowered.removeprefix(word + " "))
            return _checked(_wall(local_today + timedelta(days=offset), moment, tz), now, text)
    if _CLOCK.fullmatch(raw):
        moment = _clock(raw)
        for offset in range(3):  # today, else tomorrow (the third day covers a skipped hour)
            candidate = _wall(local_today + timedelta(days=offset), moment, tz)
            if candidate > now:
                return candidate
        raise AssertionError("unreachable: two days later is always after now")
    date_match = _DATE.match(raw)
    if date_match is None:
        raise InvalidInput(f"{text!r} is not a time ({HOLD_USAGE})")
    try:
        parsed = datetime.fromisoformat(raw.replace(" ", "T", 1))
    except ValueError:
        raise InvalidInput(f"{text!r} is not a date and time ({HOLD_USAGE})") from None
    if parsed.tzinfo is None:
        parsed = _wall(parsed.date(), parsed.time(), tz)
    return _checked(parsed.astimezone(UTC), now, text)
