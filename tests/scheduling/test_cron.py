"""Cron triggers computed from a fixed `now`, with crontab's weekday numbering."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ConfigError
from core.scheduling.cron import crontab_weekdays, next_cron_fire

BERLIN = ZoneInfo("Europe/Berlin")


def test_midnight_in_the_owners_zone() -> None:
    now = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)  # 21:00 in Berlin
    assert next_cron_fire("0 0 * * *", now, BERLIN) == datetime(2026, 1, 6, 0, 0, tzinfo=BERLIN)


def test_earliest_of_several_expressions() -> None:
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    fire = next_cron_fire("0 0 * * *; 30 14 * * *", now, UTC)
    assert fire == datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


def test_weekdays_use_crontab_numbering_sunday_is_zero() -> None:
    # 2026-01-03 is a Saturday. Crontab 1-5 is Monday to Friday: next is Monday the 5th.
    saturday = datetime(2026, 1, 3, 12, 0, tzinfo=UTC)
    assert next_cron_fire("0 0 * * 1-5", saturday, UTC) == datetime(2026, 1, 5, tzinfo=UTC)
    assert next_cron_fire("0 9 * * 0", saturday, UTC) == datetime(2026, 1, 4, 9, tzinfo=UTC)
    assert next_cron_fire("0 9 * * 7", saturday, UTC) == datetime(2026, 1, 4, 9, tzinfo=UTC)
    assert crontab_weekdays("*/2") == "sun,tue,thu,sat"
    assert crontab_weekdays("5-7") == "sun,fri,sat"
    assert crontab_weekdays("mon,WED") == "mon,wed"


@given(st.integers(0, 7), st.datetimes(min_value=datetime(2024, 1, 1),
                                       max_value=datetime(2030, 1, 1), timezones=st.just(UTC)))
def test_a_single_weekday_fires_on_that_weekday(day: int, now: datetime) -> None:
    fire = next_cron_fire(f"0 3 * * {day}", now, UTC)
    assert fire is not None and fire >= now
    assert fire.isoweekday() % 7 == day % 7  # isoweekday: Monday 1 … Sunday 7


def test_bad_expressions_name_the_setting() -> None:
    with pytest.raises(ConfigError, match="NIGHTSHIFT_CRON"):
        next_cron_fire("0 0 * *", datetime(2026, 1, 1, tzinfo=UTC), UTC)
    with pytest.raises(ConfigError, match="not a day of the week"):
        next_cron_fire("0 0 * * funday", datetime(2026, 1, 1, tzinfo=UTC), UTC)
    with pytest.raises(ConfigError, match="NIGHTSHIFT_CRON"):
        next_cron_fire("61 0 * * *", datetime(2026, 1, 1, tzinfo=UTC), UTC)
