"""User cron triggers (`NIGHTSHIFT_CRON`): crontab lines read as crontab reads them, and their
next fire time as pure time math.

Hand-written rather than APScheduler's `CronTrigger`, for two differences an owner would trip
over: APScheduler 3 numbers weekdays from Monday = 0 where crontab has Sunday = 0 (or 7) (its
issue 286, fixed only in 4.x), and when both day-of-month and day-of-week are restricted it
fires only on days matching both, where crontab fires on days matching either. `0 0 1 * 1` here
is what `man 5 crontab` promises: the first of each month and every Monday. Being pure, it is
tested without a scheduler; `core.daemon.timers` wraps it in a trigger.

A line is `minute hour day-of-month month day-of-week`: 0-59, 0-23, 1-31, 1-12 or jan-dec,
0-7 or sun-sat (0 and 7 are both Sunday). A field is `*`, a value, a range `a-b`, either with
a step (`*/15`, `1-5/2`, and `10/5` from 10 to the field's end), or a comma list of these; `?`
in day-of-week means `*`. As in Vixie cron and cronie, a day field counts as restricted unless
it starts with `*`, so `*/2` in day-of-month still combines with the weekday by AND. A line
that can never fire (`0 0 30 2 *`) is refused.

Times are wall-clock times in the owner's zone, and daylight saving resolves as cron does:
- a wall time the zone skips (spring forward) fires at the jump, the first moment after the gap,
  once however many skipped times match (`30 2 * * *` in Berlin fires at 03:00 CEST that day);
- a wall time the zone repeats (fall back) fires once, at its first occurrence (`*/30 * * * *`
  does not fire again during the repeated hour).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from core.errors import ConfigError

SETTING = "NIGHTSHIFT_CRON"
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
SEARCH_YEARS = 400
"""The Gregorian calendar repeats every 400 years: a line that fires at all fires within them."""
_LONGEST_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True, slots=True)
class _Field:
    what: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    first_named: int = 0
    """The number the first name stands for (jan = 1, sun = 0)."""


_MINUTE = _Field("minute (0-59)", 0, 59)
_HOUR = _Field("hour (0-23)", 0, 23)
_DAY = _Field("day of the month (1-31)", 1, 31)
_MONTH = _Field("month (1-12 or jan-dec)", 1, 12, MONTH_NAMES, 1)
_WEEKDAY = _Field("day of the week (0-7 or sun-sat)", 0, 7, DAY_NAMES, 0)


@dataclass(frozen=True, slots=True)
class CronExpr:
    """One parsed crontab line; every set is sorted, weekdays count from Sunday = 0."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    either_day: bool
    """Both day fields restricted: a day matching either fires (crontab's rule)."""

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_month = day.day in self.days
        by_week = crontab_weekday(day) in self.weekdays
        return (by_month or by_week) if self.either_day else (by_month and by_week)

    def matches(self, wall: datetime) -> bool:
        """Whether the wall-clock minute `wall` (naive, in the owner's zone) is in the line."""
        return wall.minute in self.minutes and wall.hour in self.hours and self.day_matches(wall.date())


def crontab_weekday(day: date) -> int:
    """Crontab's number for the weekday of `day`: Sunday = 0 … Saturday = 6."""
    return (day.weekday() + 1) % 7


def _value(token: str, field: _Field, expr: str) -> int:
    text = token.strip().lower()
    if text in field.names:
        return field.names.index(text) + field.first_named
    if text.isascii() and text.isdigit() and field.low <= int(text) <= field.high:
        return int(text)
    raise ConfigError(SETTING, f"{expr!r}: {token!r} is not a {field.what}")


def _parse_field(text: str, field: _Field, expr: str) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        span, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not (step_text.isascii() and step_text.isdigit()) or int(step_text) < 1:
                raise ConfigError(SETTING, f"{expr!r}: bad step {step_text!r}")
            step = int(step_text)
        if span == "*":
            first, last = field.low, field.high
        elif "-" in span:
            low, _, high = span.partition("-")
            first, last = _value(low, field, expr), _value(high, field, expr)
            if last < first:
                raise ConfigError(SETTING, f"{expr!r}: range {span!r} runs backwards")
        else:
            first = _value(span, field, expr)
            last = field.high if slash else first
        values.update(range(first, last + 1, step))
    return values


def parse_crontab(expr: str) -> CronExpr:
    """One crontab line; a `ConfigError` naming `NIGHTSHIFT_CRON` says what is wrong with it."""
    fields = expr.split()
    if len(fields) != 5:
        raise ConfigError(SETTING, f"{expr!r} has {len(fields)} fields; a crontab line has 5")
    minute, hour, day, month, weekday = fields
    weekday = "*" if weekday == "?" else weekday
    cron = CronExpr(
        text=expr,
        minutes=tuple(sorted(_parse_field(minute, _MINUTE, expr))),
        hours=tuple(sorted(_parse_field(hour, _HOUR, expr))),
        days=frozenset(_parse_field(day, _DAY, expr)),
        months=frozenset(_parse_field(month, _MONTH, expr)),
        weekdays=frozenset(d % 7 for d in _parse_field(weekday, _WEEKDAY, expr)),
        either_day=not day.startswith("*") and not weekday.startswith("*"),
    )
    # Every date of a month falls on every weekday within 400 years, so only a day the
    # months never have (30 February) makes a line that cannot fire.
    if not cron.either_day and not any(d <= _LONGEST_MONTH[m - 1] for m in cron.months for d in cron.days):
        raise ConfigError(SETTING, f"{expr!r} never fires: none of its months has that day")
    return cron


def parse_cron(spec: str) -> list[CronExpr]:
    """`NIGHTSHIFT_CRON`: crontab lines separated by `;` (empty ones ignored)."""
    return [parse_crontab(expr.strip()) for expr in spec.split(";") if expr.strip()]


def _days_from(cron: CronExpr, first: date) -> Iterator[date]:
    """The days `cron` fires on, from `first` on, for `SEARCH_YEARS` (months it skips cost one step)."""
    year, month = first.year, first.month
    for _ in range(SEARCH_YEARS * 12 + 1):
        if month in cron.months:
            start = first.day if (year, month) == (first.year, first.month) else 1
            for number in range(start, calendar.monthrange(year, month)[1] + 1):
                day = date(year, month, number)
                if cron.day_matches(day):
                    yield day
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        if year > date.max.year:
            return


def wall_instant(wall: datetime, tz: tzinfo) -> datetime:
    """The moment (UTC) the wall clock in `tz` reads `wall` (naive): its first occurrence if the
    zone repeats it; if the zone skips it, the end of the gap (the moment the clock jumps)."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # In a gap: fold=0 reads the wall with the offset before the jump, fold=1 with the one
    # after, so the jump lies between the two readings; find it to the second.
    before = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)  # earlier than the jump
    after = first  # at or after the jump
    while after - before > timedelta(seconds=1):
        middle = before + (after - before) // 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(tz).replace(tzinfo=None) > wall:
            after = middle
        else:
            before = middle
    return after


def next_fire(cron: CronExpr, after: datetime, tz: tzinfo) -> datetime | None:
    """The first moment strictly after `after` that `cron` fires in zone `tz` (None: not within
    `SEARCH_YEARS`, which a parsed line never hits).

    In UTC: a moment, to compare and add to as one. (In `tz`, a time in a repeated hour would
    compare unequal to every other zone's datetime, PEP 495's rule, and `+` would be wall-clock
    arithmetic.)"""
    if after.utcoffset() is None:
        raise ValueError("next_fire needs an aware `after`")
    start = after.astimezone(tz).replace(tzinfo=None, fold=0, second=0, microsecond=0)
    for day in _days_from(cron, start.date()):
        for hour in cron.hours:
            if day == start.date() and hour < start.hour:
                continue
            for minute in cron.minutes:
                wall = datetime.combine(day, time(hour, minute))
                if wall < start:
                    continue
                # Walls map to moments in order (a gap's walls all to its end), so the first
                # wall whose moment is after `after` is the answer.
                moment = wall_instant(wall, tz)
                if moment > after:
                    return moment
    return None


def next_cron_fire(spec: str, after: datetime, tz: tzinfo) -> datetime | None:
    """The first moment (UTC) strictly after `after` that any line of `spec` fires, in zone `tz`."""
    fires = [f for f in (next_fire(cron, after, tz) for cron in parse_cron(spec)) if f is not None]
    return min(fires) if fires else None
