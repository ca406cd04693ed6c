"""Weekly pacing: the pure time math (properties) and the days parser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.scheduling.pacing import days_to_reset, parse_days, weekly_pace

BERLIN = ZoneInfo("Europe/Berlin")
MON_FRI = frozenset(range(5))
TUESDAY_2AM = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 02:00 in Berlin, a Tuesday


def test_parse_days() -> None:
    assert parse_days("mon-fri") == MON_FRI
    assert parse_days("sat-mon") == {5, 6, 0}
    assert parse_days(" Mon, wed ,fri") == {0, 2, 4}
    assert parse_days("") == frozenset()
    for bad in ("monday", "mon-xyz", "1-5"):
        with pytest.raises(ValueError, match="not a day"):
            parse_days(bad)


def test_a_work_day_keeps_the_owners_share_and_night_work_counts_for_that_day() -> None:
    # Reset on Friday 10:00 Berlin: Tue, Wed, Thu, Fri are left; 60 % was used when Tuesday began,
    # so each day gets 10 %, of which the owner keeps 30 % on a work day.
    resets = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    pace = weekly_pace(TUESDAY_2AM, utilization=0.65, resets_at=resets, day_start_utilization=0.60,
                       owner_days=MON_FRI, owner_share=0.3, tz=BERLIN)
    assert pace is not None
    assert (pace.days_left, pace.owner_day) == (4, True)
    assert pace.day_part == pytest.approx(0.10)
    assert pace.budget_today == pytest.approx(0.07)
    assert pace.used_today == pytest.approx(0.05) and not pace.hold
    assert pace.left_today == pytest.approx(0.02)
    saturday = weekly_pace(datetime(2026, 12, 5, 1, 0, tzinfo=UTC), utilization=0.9,
                           resets_at=datetime(2026, 12, 7, 9, 0, tzinfo=UTC), day_start_utilization=0.7,
                           owner_days=MON_FRI, owner_share=0.3, tz=BERLIN)
    assert saturday is not None and not saturday.owner_day
    assert saturday.budget_today == pytest.approx(0.1) and saturday.hold  # 3 days share 30 %; 20 % used
    assert "holding new work until tomorrow" in saturday.text()


def test_no_pace_once_the_week_has_reset() -> None:
    assert weekly_pace(TUESDAY_2AM, utilization=0.5, resets_at=TUESDAY_2AM, day_start_utilization=0.5,
                       owner_days=MON_FRI, owner_share=0.3, tz=BERLIN) is None


moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31),
                       timezones=st.just(UTC))
shares = st.floats(min_value=0, max_value=1)


@given(now=moments, ahead_s=st.integers(min_value=1, max_value=7 * 86_400), start=shares, gained=shares,
       owner_share=shares, days=st.frozensets(st.integers(min_value=0, max_value=6)))
def test_pace_properties(now: datetime, ahead_s: int, start: float, gained: float, owner_share: float,
                         days: frozenset[int]) -> None:
    resets = now + timedelta(seconds=ahead_s)
    used = min(1.0, start + gained * (1 - start))
    pace = weekly_pace(now, utilization=used, resets_at=resets, day_start_utilization=start,
                       owner_days=days, owner_share=owner_share, tz=BERLIN)
    assert pace is not None
    calendar = days_to_reset(now, resets, BERLIN)
    assert pace.days_left == len(calendar) >= 1 and calendar[0] == now.astimezone(BERLIN).date()
    # The days' parts add up to what was left when today began; nightshift never gets more.
    assert pace.day_part * pace.days_left == pytest.approx(1 - start)
    assert 0 <= pace.budget_today <= pace.day_part + 1e-12
    assert pace.owner_day == (pace.day.weekday() in days)
    if not pace.owner_day:
        assert pace.budget_today == pace.day_part
    assert pace.used_today == pytest.approx(used - start)
    assert pace.hold == (pace.used_today >= pace.budget_today)
    assert pace.left_today == pytest.approx(max(0.0, pace.budget_today - pace.used_today))
    # More use today never turns a hold back into room.
    more = weekly_pace(now, utilization=min(1.0, used + 0.01), resets_at=resets, day_start_utilization=start,
                       owner_days=days, owner_share=owner_share, tz=BERLIN)
    assert more is not None and (not pace.hold or more.hold)
