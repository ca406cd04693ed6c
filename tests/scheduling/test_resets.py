"""Reset fire times, backoff and the persisted queue pause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from core.scheduling.resets import (
    BACKOFF_CAP_S,
    LimitPause,
    backoff_delay_s,
    pause_for_limit,
    reset_fire_time,
)

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def test_fire_time_is_reset_plus_margin() -> None:
    reset = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert reset_fire_time(reset, 60) == datetime(2026, 12, 1, 2, 1, tzinfo=UTC)
    assert reset_fire_time(reset, 0.5) == reset + timedelta(milliseconds=500)


def test_backoff_doubles_from_one_minute_and_is_capped() -> None:
    assert [backoff_delay_s(n) for n in range(0, 7)] == [0, 60, 120, 240, 480, 960, 1800]
    assert backoff_delay_s(10_000) == BACKOFF_CAP_S


@given(st.integers(1, 200))
def test_backoff_never_shrinks_and_never_passes_the_cap(failures: int) -> None:
    assert 60 <= backoff_delay_s(failures) <= BACKOFF_CAP_S
    assert backoff_delay_s(failures + 1) >= backoff_delay_s(failures)


def test_a_future_reset_pauses_until_reset_plus_margin() -> None:
    reset = NOW + timedelta(hours=1)
    pause = pause_for_limit(None, reset, NOW, 60, kind="session", task_id=7)
    assert pause.until == reset + timedelta(seconds=60)
    assert pause.active(NOW) and not pause.active(pause.until)
    assert pause.task_id == 7 and pause.still_limited == 0


def test_second_limit_on_the_same_window_keeps_the_first_task_and_later_time() -> None:
    first = pause_for_limit(None, NOW + timedelta(hours=1), NOW, 60, task_id=7)
    second = pause_for_limit(first, NOW + timedelta(minutes=59), NOW, 60, task_id=8)
    assert second == first
    later = pause_for_limit(first, NOW + timedelta(hours=2), NOW, 60, task_id=8)
    assert later.task_id == 7 and later.until == NOW + timedelta(hours=2, seconds=60)


def test_still_limited_after_the_reset_backs_off_without_counting_attempts() -> None:
    reset = NOW
    pause = pause_for_limit(None, reset + timedelta(minutes=1), NOW, 1, task_id=3).lift()
    later = NOW + timedelta(minutes=2)
    # The CLI says limited with the old (past) reset time: back off 1, 2, 4 minutes.
    one = pause_for_limit(pause, reset, later, 1, task_id=3)
    assert one.until == later + timedelta(minutes=1) and one.still_limited == 1
    two = pause_for_limit(one.lift(), reset, one.until, 1, task_id=3)
    assert two.until == one.until + timedelta(minutes=2) and two.still_limited == 2
    three = pause_for_limit(two.lift(), None, two.until, 1, task_id=3)
    assert three.until == two.until + timedelta(minutes=4) and three.task_id == 3


def test_a_new_window_limit_after_the_reset_starts_the_backoff_over() -> None:
    lifted = LimitPause(NOW, NOW, still_limited=3, task_id=1, lifted=True)
    fresh = pause_for_limit(lifted, NOW + timedelta(hours=5), NOW, 60, task_id=2)
    assert fresh.still_limited == 0 and fresh.task_id == 2


@given(st.integers(0, 50), st.booleans(), st.integers(-3600, 3600), st.booleans())
def test_pause_round_trips_through_json(
    failures: int, lifted: bool, offset_s: int, estimated: bool
) -> None:
    pause = LimitPause(NOW, NOW + timedelta(seconds=offset_s), "weekly", "monitor", None,
                       failures, lifted, estimated)
    assert LimitPause.from_json(pause.as_json()) == pause
