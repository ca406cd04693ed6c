"""The pure math under a window timeline: token curves, idle gaps, ticks, reserve steps.

Functions of their arguments only (hours from the window's start, aware datetimes), so
property tests can pin them down.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo

from core.metrics.report import human
from core.metrics.timeline_model import Idle, ReserveStep

IDLE_MIN = timedelta(minutes=15)
"""A shorter gap between runs is dispatch, not idleness."""


def hours_between(moment: datetime, start: datetime) -> float:
    return (moment - start).total_seconds() / 3600


def clock_text(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%H:%M")


def duration_text(hours: float) -> str:
    minutes = round(hours * 60)
    if minutes < 60:
        return f"{minutes}m"
    return f"{minutes // 60}h{minutes % 60:02d}"


def cumulative_tokens(
    spans: Sequence[tuple[float, float, float]], until_h: float
) -> tuple[tuple[float, float], ...]:
    """Corners of the cumulative line for runs (start_h, end_h, tokens), from 0 to `until_h`.

    Each run's tokens are spread evenly over its duration (a run of no duration adds them
    at once); only what falls inside [0, until_h] counts.
    """

    def at(t: float) -> float:
        total = 0.0
        for s, e, tokens in spans:
            if e <= s:
                total += tokens if t >= s else 0.0
            else:
                total += tokens * min(1.0, max(0.0, (t - s) / (e - s)))
        return total

    base = at(0.0)
    corners = sorted({0.0, until_h, *(x for s, e, _ in spans for x in (s, e) if 0 < x < until_h)})
    return tuple((t, round(at(t) - base, 3)) for t in corners)


def idle_stretches(
    busy: Iterable[tuple[float, float]], until_h: float, limit_h: float | None = None
) -> tuple[Idle, ...]:
    """Gaps of at least IDLE_MIN in [0, until_h] when no run was running; a gap that starts
    at or after the limit hit (`limit_h`) is the wait for the reset, not idleness."""
    gaps: list[tuple[float, float]] = []
    cursor = 0.0
    minimum = IDLE_MIN.total_seconds() / 3600
    for s, e in sorted(busy):
        if min(s, until_h) - cursor >= minimum:
            gaps.append((cursor, min(s, until_h)))
        cursor = max(cursor, e)
        if cursor >= until_h:
            break
    if until_h - cursor >= minimum:
        gaps.append((cursor, until_h))
    out = []
    for s, e in gaps:
        if limit_h is not None and s >= limit_h - 1e-9:
            out.append(Idle(s, e, f"limit wait {duration_text(e - s)}", "limit"))
        else:
            out.append(Idle(s, e, f"idle {duration_text(e - s)}"))
    return tuple(out)


def nice_ticks(top: float, *, most: int = 5) -> tuple[tuple[float, str], ...]:
    """0 and round steps (1, 2, 5 × 10^k) up to `top`, labelled the way people say tokens."""
    if top < 1:
        return ((0.0, "0"),)
    raw = top / most
    magnitude = 10 ** math.floor(math.log10(raw))
    step = max(1, next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw))  # whole tokens
    count = int(top // step)
    return tuple((i * step, human(i * step)) for i in range(count + 1))


def local_hour_starts(start: datetime, end: datetime, tz: tzinfo) -> list[datetime]:
    """Moments in (start, end] when the wall clock in `tz` shows a full hour.

    Walks UTC in 15-minute steps (every offset in use is a multiple of 15 minutes), so a
    daylight-saving jump can neither skip nor repeat an hour the way wall-time sums do.
    """
    step = timedelta(minutes=15)
    utc = start.astimezone(UTC)
    moment = utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0)
    out = []
    while moment <= end:
        if moment > start and moment.astimezone(tz).minute == 0:
            out.append(moment)
        moment += step
    return out


def hour_ticks(start: datetime, end: datetime, tz: tzinfo) -> tuple[tuple[float, str], ...]:
    """Every local full hour inside the window (every second one past 8 hours), as HH:MM."""
    step = 1 if hours_between(end, start) <= 8 else 2
    moments = [start] if start.astimezone(tz).minute == 0 else []
    moments += local_hour_starts(start, end, tz)
    return tuple((round(hours_between(m, start), 6), clock_text(m, tz)) for m in moments
                 if m.astimezone(tz).hour % step == 0)


def reserve_steps(
    reserve_by_hour: Mapping[int, float], capacity: int, start: datetime, end: datetime, tz: tzinfo
) -> tuple[ReserveStep, ...]:
    """The owner's reserve, hour by local hour, as the tokens kept above capacity × (1 - share)."""
    steps: list[ReserveStep] = []
    edges = [start, *(m for m in local_hour_starts(start, end, tz) if m < end), end]
    for moment, nxt in itertools.pairwise(edges):
        share = reserve_by_hour.get(moment.astimezone(tz).hour, 0.0)
        if share <= 0 or nxt <= moment:
            continue
        low = capacity * (1 - share)
        s, e = hours_between(moment, start), hours_between(nxt, start)
        if steps and steps[-1].low_tokens == low and abs(steps[-1].end_h - s) < 1e-9:
            steps[-1] = ReserveStep(steps[-1].start_h, e, low)
        else:
            steps.append(ReserveStep(s, e, low))
    return tuple(steps)
