"""Reserve and quiet hours and daily times, in the owner's zone, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from core.scheduling.hours import (
    is_quiet,
    next_daily_at,
    parse_hour_ranges,
    quiet_ends_at,
    reserve_fraction,
    smallest_reserve,
)

ZONES = [ZoneInfo(z) for z in ("Europe/Berlin", "America/New_York", "Asia/Kolkata",
                                "Asia/Kathmandu", "Australia/Lord_Howe", "UTC")]

moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
hour_sets = st.frozensets(st.integers(0, 23), max_size=24)


def test_reserve_by_local_hour() -> None:
    reserve = parse_hour_ranges("9-17:30")
    berlin = ZoneInfo("Europe/Berlin")
    assert reserve_fraction(reserve, datetime(2026, 1, 5, 8, 30, tzinfo=UTC), berlin) == 0.3
    assert reserve_fraction(reserve, datetime(2026, 1, 5, 2, 0, tzinfo=UTC), berlin) == 0.0
    assert smallest_reserve(reserve) == 0.0
    assert smallest_reserve(parse_hour_ranges("0-23:10")) == 0.1


def test_quiet_hours_wrap_past_midnight() -> None:
    quiet = frozenset(parse_hour_ranges("23-6"))
    tz = ZoneInfo("Europe/Berlin")
    late = datetime(2026, 1, 5, 22, 30, tzinfo=UTC)  # 23:30 in Berlin
    assert is_quiet(quiet, late, tz)
    assert quiet_ends_at(quiet, late, tz) == datetime(2026, 1, 6, 7, 0, tzinfo=tz)
    assert quiet_ends_at(quiet, datetime(2026, 1, 5, 12, 0, tzinfo=UTC), tz) is None


def test_quiet_end_across_the_spring_forward_gap() -> None:
    # Berlin, 2026-03-29: 02:00 jumps to 03:00. Quiet 1-2 ends at 03:00 local = 01:00 UTC.
    tz = ZoneInfo("Europe/Berlin")
    quiet = frozenset({1, 2})
    start = datetime(2026, 3, 29, 0, 10, tzinfo=UTC)  # 01:10 local
    assert quiet_ends_at(quiet, start, tz) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_always_quiet_never_ends() -> None:
    assert quiet_ends_at(frozenset(range(24)), datetime(2026, 1, 1, tzinfo=UTC), UTC) is None


@given(hour_sets, moments, st.sampled_from(ZONES))
def test_quiet_end_is_the_first_non_quiet_moment(
    quiet: frozenset[int], now: datetime, tz: ZoneInfo
) -> None:
    end = quiet_ends_at(quiet, now, tz)
    if not is_quiet(quiet, now, tz) or len(quiet) == 24:
        assert end is None
        return
    assert end is not None
    assert end > now
    assert not is_quiet(quiet, end, tz)
    assert end.astimezone(tz).minute == 0 and end.second == 0
    # Every 15-minute point between now and the end is still quiet.
    probe = end - timedelta(minutes=15)
    while probe > now:
        assert is_quiet(quiet, probe, tz)
        probe -= timedelta(minutes=15)
    assert is_quiet(quiet, end - timedelta(microseconds=1), tz)


@given(moments, st.sampled_from(ZONES), st.integers(0, 23), st.integers(0, 59))
def test_a_daily_time_fires_next_when_the_wall_clock_shows_it(
    now: datetime, zone: ZoneInfo, hour: int, minute: int
) -> None:
    at = time(hour, minute)
    fire = next_daily_at(now, at, zone)
    assert now < fire <= now + timedelta(hours=26)
    local = fire.astimezone(zone)
    # the wall clock reads the time, unless that day skipped it (clocks jumped forward)
    skipped = datetime.combine(local.date(), at, tzinfo=zone).astimezone(UTC).astimezone(zone)
    assert (local.hour, local.minute) == (hour, minute) or skipped.time() != at
    # nothing in between: a second earlier it was the same next fire, and a day earlier was not one
    assert next_daily_at(fire - timedelta(seconds=1), at, zone) == fire
    earlier = fire - timedelta(days=1)
    assert earlier.astimezone(zone).time() != at or earlier <= now


def test_a_daily_time_across_the_spring_change_in_berlin() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    before = datetime(2026, 3, 28, 7, 0, 1, tzinfo=UTC)  # 08:00:01 CET, just after it fired
    assert next_daily_at(before, time(8), berlin) == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)  # 08:00 CEST
