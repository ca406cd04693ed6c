"""User cron triggers (`NIGHTSHIFT_CRON`), with crontab's weekday numbering.

APScheduler 3.x numbers weekdays from Monday = 0 while crontab uses Sunday = 0 (its
issue 286, fixed only in 4.x). An owner who writes `0 0 * * 1-5` means Monday to Friday,
so the day-of-week field is rewritten into weekday names before APScheduler sees it. This
is hand-written because no kept library converts between the two numberings.

One difference stays: when both day-of-month and day-of-week are restricted, crontab
fires on either, APScheduler only on both.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from apscheduler.triggers.cron import CronTrigger

from core.errors import ConfigError

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _day_number(token: str, expr: str) -> int:
    token = token.strip().lower()
    if token in _DAY_NAMES:
        return _DAY_NAMES.index(token)
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token) % 7  # crontab allows 7 for Sunday too
    raise ConfigError("NIGHTSHIFT_CRON", f"{expr!r}: {token!r} is not a day of the week")


def crontab_weekdays(field: str, expr: str = "") -> str:
    """A crontab day-of-week field (Sunday = 0 or 7) as APScheduler weekday names."""
    if field.strip() in {"*", "?"}:
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ConfigError("NIGHTSHIFT_CRON", f"{expr!r}: bad step {step_text!r}")
            step = int(step_text)
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            low, _, high = span.partition("-")
            first, last = _day_number(low, expr), _day_number(high, expr)
            if high.strip() == "7":
                last = 7  # `5-7` is Friday to Sunday
        else:
            first = last = _day_number(span, expr)
            if step_text:
                last = 6  # `1/2` means from Monday on, every second day
        if last < first:
            raise ConfigError("NIGHTSHIFT_CRON", f"{expr!r}: range {span!r} runs backwards")
        days.update(day % 7 for day in range(first, last + 1, step))
    return ",".join(_DAY_NAMES[d] for d in sorted(days))


def crontab_trigger(expr: str, tz: tzinfo) -> CronTrigger:
    """One crontab expression (minute hour day month weekday) in the owner's time zone."""
    fields = expr.split()
    if len(fields) != 5:
        raise ConfigError(
            "NIGHTSHIFT_CRON", f"{expr!r} has {len(fields)} fields; a crontab line has 5"
        )
    minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=crontab_weekdays(weekday, expr),
            timezone=tz,
        )
    except ValueError as exc:
        raise ConfigError("NIGHTSHIFT_CRON", f"{expr!r}: {exc}") from None


def cron_triggers(spec: str, tz: tzinfo) -> list[CronTrigger]:
    """`NIGHTSHIFT_CRON`: crontab expressions separated by `;`."""
    return [crontab_trigger(expr.strip(), tz) for expr in spec.split(";") if expr.strip()]


def next_cron_fire(spec: str, now: datetime, tz: tzinfo) -> datetime | None:
    """The earliest time at or after `now` that any of the expressions fires."""
    fires = [t.get_next_fire_time(None, now) for t in cron_triggers(spec, tz)]
    found = [f for f in fires if f is not None]
    return min(found) if found else None
