"""The owner's hours: how much of a window to keep for them, when nothing may start, and
when a daily job fires.

Both settings are per local hour of day (`NIGHTSHIFT_RESERVE="9-18:30"`,
`NIGHTSHIFT_QUIET_HOURS="23-6"`, read by `parse_hour_ranges`); daily times are `HH:MM` wall
times (`parse_clock`). Every function takes `now` and the zone explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from datetime import UTC, datetime, time, timedelta, tzinfo

_STEP = timedelta(minutes=15)
"""Every UTC offset in use is a multiple of 15 minutes, so every local hour starts on one."""


def parse_hour_ranges(spec: str) -> dict[int, float]:
    """`"9-18:30,19-22:10"` -> {9: .30, ..., 18: .30, 19: .10, ...}; hours wrap past midnight."""
    hours: dict[int, float] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        span, _, value = part.partition(":")
        start_s, _, end_s = span.partition("-")
        start = int(start_s)
        end = int(end_s) if end_s else start
        if not (0 <= start <= 23 and 0 <= end <= 23):
            raise ValueError(f"hour out of range in {part!r}")
        fraction = float(value.rstrip("%")) / 100 if value else 1.0
        if not 0 <= fraction <= 1:
            raise ValueError(f"percentage out of range in {part!r}")
        hour = start
        while True:
            hours[hour] = fraction
            if hour == end:
                break
            hour = (hour + 1) % 24
    return hours


def parse_clock(text: str) -> time | None:
    """`07:30` -> 07:30 (a wall time in the owner's zone); empty -> None (off)."""
    if not text.strip():
        return None
    hh, sep, mm = text.strip().partition(":")
    if not (sep and hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
        raise ValueError(f"{text!r} is not a HH:MM time")
    return time(int(hh), int(mm))


def reserve_fraction(by_hour: Mapping[int, float], now: datetime, tz: tzinfo) -> float:
    """Share of the window the owner keeps for interactive use at `now` (0 when unset)."""
    return by_hour.get(now.astimezone(tz).hour, 0.0)


def smallest_reserve(by_hour: Mapping[int, float]) -> float:
    """The reserve of the most generous hour: what the biggest window this owner allows keeps."""
    return min(by_hour.get(hour, 0.0) for hour in range(24))


def is_quiet(quiet: Set[int], now: datetime, tz: tzinfo) -> bool:
    return now.astimezone(tz).hour in quiet


def quiet_ends_at(quiet: Set[int], now: datetime, tz: tzinfo) -> datetime | None:
    """When the quiet hours around `now` end; None if `now` is not quiet or they never end.

    Walks UTC in 15-minute steps instead of adding local hours, so a daylight-saving jump
    inside the quiet hours cannot produce a wall time that does not exist.
    """
    if not is_quiet(quiet, now, tz) or len(quiet) >= 24:
        return None
    utc_now = now.astimezone(UTC)
    moment = utc_now.replace(minute=utc_now.minute - utc_now.minute % 15, second=0, microsecond=0)
    for _ in range(26 * 4):
        moment += _STEP
        if moment.astimezone(tz).hour not in quiet:
            return moment.astimezone(tz)
    return None  # unreachable with fewer than 24 quiet hours; kept total for the type


def next_daily_at(now: datetime, at: time, tz: tzinfo) -> datetime:
    """The first moment strictly after `now` when the wall clock in `tz` reads `at`.

    Every daily job fires by this rule (`core.daemon.timers.DailyAt`). A time that a
    daylight-saving jump skips maps to the moment the zone gives it (an hour later on the
    clock); one that happens twice fires at the first.
    """
    day = now.astimezone(tz).date()
    for offset in range(3):
        candidate = datetime.combine(day + timedelta(days=offset), at, tzinfo=tz)
        if candidate > now:
            return candidate
    raise AssertionError("unreachable: two days later is always after now")
