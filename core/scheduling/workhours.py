"""The owner's working day, and the primes that put a fresh window at its start.

A window starts with its first message and lasts five hours. One tiny prompt at five hours
before the owner starts work makes that window reset just as they sit down: the night's
work had the window before, and the owner gets a whole new one (as CCAutoRenew-style
anchors do, and nothing else). The start comes from `NIGHTSHIFT_WORK_HOURS`, or, when that
is unset, from when the owner's own use has begun on recent working days.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from core.scheduling.owner import OwnerUseBook
from core.scheduling.pacing import parse_days

WINDOW = timedelta(hours=5)
DUE_FOR = timedelta(minutes=10)
"""A prime is still sent this long after its moment (a daemon tick can be late)."""
FIRST_USE_TOKENS = 50_000
"""Use below this in an hour is a glance, not the start of a working day."""
MIN_LEARNED_DAYS = 3

_SPEC = re.compile(
    r"^\s*(?:(?P<days>[a-z]{3}(?:\s*[-,]\s*[a-z]{3})*)\s+)?"
    r"(?P<sh>\d{1,2})(?::(?P<sm>\d{2}))?\s*-\s*(?P<eh>\d{1,2})(?::(?P<em>\d{2}))?\s*$"
)


@dataclass(frozen=True, slots=True)
class WorkHours:
    days: frozenset[int]
    """Weekdays, Monday 0."""
    start: time
    end: time


def parse_work_hours(spec: str) -> WorkHours | None:
    """`"9-18"` (Monday to Friday), `"mon-sat 8:30-17"`, `"mon,wed,fri 10-16"`; "" is None."""
    if not spec.strip():
        return None
    match = _SPEC.match(spec.lower())
    if match is None:
        raise ValueError(f"cannot read work hours {spec!r} (expected e.g. 9-18 or mon-fri 8:30-17)")
    sh, sm, eh, em = (int(match[g] or 0) for g in ("sh", "sm", "eh", "em"))
    if not (0 <= sh <= 23 and 0 <= eh <= 24 and sm < 60 and em < 60):
        raise ValueError(f"time out of range in work hours {spec!r}")
    try:
        days = parse_days(match["days"]) if match["days"] else frozenset(range(5))
    except ValueError as exc:
        raise ValueError(f"in work hours {spec!r}: {exc}") from None
    return WorkHours(days, time(sh, sm), time(eh % 24, em))


def next_work_starts(now: datetime, work: WorkHours, tz: tzinfo, count: int = 2) -> list[datetime]:
    """The next `count` moments the owner starts work, from `now` on (aware, in `tz`)."""
    local = now.astimezone(tz)
    out: list[datetime] = []
    day = local.date()
    for _ in range(14):
        if day.weekday() in work.days:
            start = datetime.combine(day, work.start, tzinfo=tz)
            if start >= local:
                out.append(start)
                if len(out) >= count:
                    break
        day += timedelta(days=1)
    return out


def learned_day_start(book: OwnerUseBook, now: datetime) -> time | None:
    """When the owner's own use has begun on recent weekdays (the median first busy hour)."""
    today = now.astimezone(book.tz).date()
    firsts: list[int] = []
    for day in sorted(book.totals, reverse=True):
        if day >= today or day.weekday() >= 5:
            continue
        busy = [h for h, tokens in enumerate(book.totals[day]) if tokens >= FIRST_USE_TOKENS]
        if busy:
            firsts.append(busy[0])
        if len(firsts) >= 10:
            break
    if len(firsts) < MIN_LEARNED_DAYS:
        return None
    return time(int(statistics.median_low(firsts)))


@dataclass(frozen=True, slots=True)
class PlannedPrime:
    at: datetime
    reason: str

    def describe(self, tz: tzinfo) -> str:
        """`Mon 04:00: a fresh window at Mon 09:00 (your work hours)` in the owner's zone."""
        return f"{self.at.astimezone(tz):%a %H:%M}: {self.reason}"

    def as_json(self) -> dict[str, str]:
        return {"at": self.at.isoformat(), "reason": self.reason}


def planned_primes(
    now: datetime,
    *,
    prime_at: Sequence[tuple[int, int]],
    work: WorkHours | None,
    learned_start: time | None,
    tz: tzinfo,
    within: timedelta = timedelta(hours=36),
) -> list[PlannedPrime]:
    """Every prime planned from `now` for `within`: the fixed times (`NIGHTSHIFT_PRIME_AT`)
    and one five hours before each start of work (set, or else learned), in time order."""
    local = now.astimezone(tz)
    until = now + within
    out: dict[datetime, PlannedPrime] = {}
    for offset in range(0, within.days + 2):
        day: date = local.date() + timedelta(days=offset)
        for hour, minute in prime_at:
            at = datetime.combine(day, time(hour, minute), tzinfo=tz)
            if now <= at < until:
                out.setdefault(at, PlannedPrime(at, f"NIGHTSHIFT_PRIME_AT {hour:02d}:{minute:02d}"))
    anchor = work or (WorkHours(frozenset(range(5)), learned_start, learned_start)
                      if learned_start is not None else None)
    if anchor is not None:
        source = "your work hours" if work is not None else "your day's learned start"
        for start in next_work_starts(now + WINDOW, anchor, tz, count=within.days + 3):
            at = (start.astimezone(UTC) - WINDOW).astimezone(tz)
            if now <= at < until:
                out[at] = PlannedPrime(at, f"a fresh window at {start:%a %H:%M} ({source})")
    return [out[k] for k in sorted(out)]


def due_prime(now: datetime, planned: Sequence[PlannedPrime]) -> PlannedPrime | None:
    """The prime whose moment has come (at most `DUE_FOR` ago), if any."""
    return next((p for p in planned if p.at <= now < p.at + DUE_FOR), None)
