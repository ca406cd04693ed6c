"""Property tests for the timeline's pure math: token curves, idle gaps, ticks."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from core.metrics.timeline_math import (
    IDLE_MIN,
    cumulative_tokens,
    hour_ticks,
    idle_stretches,
    local_hour_starts,
    nice_ticks,
    reserve_steps,
)

ZONES = [ZoneInfo(name) for name in ("Europe/Berlin", "America/New_York", "Asia/Kolkata",
                                     "Australia/Lord_Howe", "UTC")]
MINIMUM_H = IDLE_MIN.total_seconds() / 3600

spans = st.lists(
    st.tuples(st.floats(-2, 6), st.floats(0, 3), st.integers(0, 5_000_000)).map(
        lambda s: (s[0], s[0] + s[1], float(s[2]))),
    max_size=12,
)
moments = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31),
                       timezones=st.just(UTC))


@given(spans, st.floats(0.1, 6))
def test_the_token_curve_rises_from_zero_to_what_the_window_spent(
    runs: list[tuple[float, float, float]], until_h: float
) -> None:
    curve = cumulative_tokens(runs, until_h)
    xs, ys = [x for x, _ in curve], [y for _, y in curve]
    assert xs == sorted(xs) and xs[0] == 0.0 and xs[-1] == until_h
    assert ys[0] == 0.0
    assert all(b >= a - 1e-6 for a, b in itertools.pairwise(ys))
    # runs wholly inside [0, until_h] count in full, runs wholly outside not at all
    inside = sum(tok for s, e, tok in runs if s > 0 and e <= until_h)
    touching = sum(tok for s, e, tok in runs if e > 0 and s <= until_h)
    assert inside - 1e-3 <= ys[-1] <= touching + 1e-3


@given(st.lists(st.tuples(st.floats(0, 5), st.floats(0, 2)).map(lambda p: (p[0], p[0] + p[1])),
                max_size=10), st.floats(0.1, 5), st.one_of(st.none(), st.floats(0, 5)))
def test_idle_stretches_are_the_long_gaps_between_runs(
    busy: list[tuple[float, float]], until_h: float, limit_h: float | None
) -> None:
    found = idle_stretches(busy, until_h, limit_h)
    for stretch in found:
        assert 0 <= stretch.start_h < stretch.end_h <= until_h + 1e-9
        assert stretch.end_h - stretch.start_h >= MINIMUM_H - 1e-9
        # nothing was running inside it
        assert all(e <= stretch.start_h + 1e-9 or s >= stretch.end_h - 1e-9 for s, e in busy)
        waiting = limit_h is not None and stretch.start_h >= limit_h - 1e-9
        assert stretch.kind == ("limit" if waiting else "idle")
    starts = [s.start_h for s in found]
    assert starts == sorted(starts)
    assert all(a.end_h <= b.start_h + 1e-9 for a, b in itertools.pairwise(found))
    # every long gap is reported: sample the free time between the stretches
    covered = sorted([*busy, *((s.start_h, s.end_h) for s in found)])
    cursor = 0.0
    for s, e in covered:
        assert s - cursor < MINIMUM_H + 1e-9 or s >= until_h
        cursor = max(cursor, e)


@given(st.floats(0, 1e9))
def test_token_ticks_are_round_and_cover_the_axis(top: float) -> None:
    ticks = nice_ticks(top)
    values = [v for v, _ in ticks]
    assert values[0] == 0 and values == sorted(values) and values[-1] <= max(top, 0) + 1e-6
    assert len(ticks) <= 7
    assert len({label for _, label in ticks}) == len(ticks)


@given(moments, st.sampled_from(ZONES), st.floats(1, 12))
def test_hour_ticks_are_the_local_full_hours_even_across_dst(
    start: datetime, zone: ZoneInfo, span_h: float
) -> None:
    end = start + timedelta(hours=span_h)
    for moment in local_hour_starts(start, end, zone):
        assert start < moment <= end and moment.astimezone(zone).minute == 0
    starts = local_hour_starts(start, end, zone)
    assert len(set(starts)) == len(starts)
    # a real hour passes between consecutive ones (never zero, never two)
    assert all(timedelta(minutes=30) <= b - a <= timedelta(hours=1)
               for a, b in itertools.pairwise(starts))
    ticks = hour_ticks(start, end, zone)
    positions = [x for x, _ in ticks]
    assert positions == sorted(positions) and all(0 <= x <= span_h + 1e-6 for x in positions)


@given(moments, st.sampled_from(ZONES), st.floats(1, 8),
       st.dictionaries(st.integers(0, 23), st.floats(0, 1), max_size=24))
def test_reserve_steps_stay_under_the_capacity_and_inside_the_window(
    start: datetime, zone: ZoneInfo, span_h: float, reserve: dict[int, float]
) -> None:
    end = start + timedelta(hours=span_h)
    steps = reserve_steps(reserve, 1_000_000, start, end, zone)
    for step in steps:
        assert 0 <= step.start_h < step.end_h <= span_h + 1e-6
        assert 0 <= step.low_tokens <= 1_000_000
    assert all(a.end_h <= b.start_h + 1e-9 for a, b in itertools.pairwise(steps))
    if not any(v > 0 for v in reserve.values()):
        assert steps == ()
