"""`--at TIME`: pure time math in the owner's zone (hypothesis over instants and zones)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.scheduling.hold import MAX_AHEAD, parse_hold_time

ZONES = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
                         "Asia/Kolkata", "Pacific/Chatham"]).map(ZoneInfo)
NOW = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1),
                   timezones=st.just(UTC))
CLOCK = st.tuples(st.integers(0, 23), st.integers(0, 59))


@given(NOW, ZONES, CLOCK)
def test_a_clock_time_is_the_next_time_the_wall_clock_reads_it(
    now: datetime, tz: ZoneInfo, clock: tuple[int, int]
) -> None:
    hour, minute = clock
    moment = parse_hold_time(f"{hour:02d}:{minute:02d}", now, tz)
    assert moment > now and moment - now <= timedelta(hours=26)
    local = moment.astimezone(tz)
    if (local.hour, local.minute) != (hour, minute):
        # Only a wall time the clocks skip lands elsewhere: just past the gap.
        skipped = datetime(local.year, local.month, local.day, hour, minute, tzinfo=tz)
        assert skipped.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != skipped.replace(tzinfo=None)
    else:
        # No earlier moment after `now` reads the same wall time.
        earlier = moment - timedelta(days=1)
        assert earlier <= now or earlier.astimezone(tz).time() != local.time()


@given(NOW, ZONES, st.integers(1, 500), st.sampled_from(["m", "h", "d"]))
def test_relative_times_add_exactly(now: datetime, tz: ZoneInfo, amount: int, unit: str) -> None:
    delta = {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount)}[unit]
    if delta > MAX_AHEAD:
        with pytest.raises(InvalidInput, match="more than a year"):
            parse_hold_time(f"+{amount}{unit}", now, tz)
        return
    assert parse_hold_time(f"+{amount}{unit}", now, tz) == now + delta
    assert parse_hold_time(f"in {amount}{unit}", now, tz) == now + delta


@given(NOW, ZONES, st.integers(1, 300 * 24 * 60))
def test_a_local_date_and_time_round_trips(now: datetime, tz: ZoneInfo, minutes_ahead: int) -> None:
    target = (now + timedelta(minutes=minutes_ahead)).astimezone(tz).replace(second=0, microsecond=0)
    text = target.strftime("%Y-%m-%d %H:%M")
    moment = parse_hold_time(text, now, tz)
    if moment.astimezone(tz).replace(tzinfo=None) == target.replace(tzinfo=None):
        assert moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") == text
    else:  # an ambiguous wall time (clocks fall back) is read as its first occurrence
        assert moment <= target.astimezone(UTC)


def test_named_days_offsets_and_refusals() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2025, 3, 29, 22, 0, tzinfo=UTC)  # Saturday 23:00 local; that night skips 02:00-03:00
    assert parse_hold_time("02:30", now, berlin) == datetime(2025, 3, 30, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert parse_hold_time("tomorrow 07:30", now, berlin) == datetime(2025, 3, 30, 5, 30, tzinfo=UTC)
    assert parse_hold_time("today 23:30", now, berlin) == datetime(2025, 3, 29, 22, 30, tzinfo=UTC)
    assert parse_hold_time("2025-04-01T08:00+00:00", now, berlin) == datetime(2025, 4, 1, 8, 0, tzinfo=UTC)
    for text, message in [("", "needs a time"), ("soon", "is not a time"), ("25:00", "not a time of day"),
                          ("2025-03-01 08:00", "already passed"), ("+0h", "is now"),
                          ("2031-01-01 00:00", "more than a year"), ("٠٧:٣٠", "is not a time"),
                          ("2025-13-01 08:00", "not a date and time")]:
        with pytest.raises(InvalidInput, match=message):
            parse_hold_time(text, now, berlin)
