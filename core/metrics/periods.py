"""`--since` / `--until` values: what a person types, turned into an aware moment."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, tzinfo

from core.errors import InvalidInput

_RELATIVE = re.compile(r"(\d{1,4})\s*([hdw])")
_UNIT_S = {"h": 3600, "d": 86_400, "w": 7 * 86_400}


def parse_moment(text: str, *, now: datetime, tz: tzinfo) -> datetime:
    """`2026-10-01` (local midnight), an ISO-8601 time (local if it has no offset), `today`,
    `yesterday`, or an age such as `36h`, `7d`, `2w` (that long before `now`)."""
    value = text.strip().lower()
    if value in ("today", "yesterday"):
        day = now.astimezone(tz).date() - timedelta(days=value == "yesterday")
        return datetime.combine(day, time(0), tzinfo=tz)
    relative = _RELATIVE.fullmatch(value)
    if relative:
        return now - timedelta(seconds=int(relative.group(1)) * _UNIT_S[relative.group(2)])
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(0), tzinfo=tz)
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not a date: use YYYY-MM-DD, an ISO time, today, yesterday or an age"
            " like 7d, 36h or 2w"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)
