"""One usage window as a story: who ran when, how it ended, how full the window got.

`build_timeline()` turns a `History` (the store's rows) and a window into a
`TimelineData`: plain, comparable data that says everything the picture shows, down to
every string drawn on it (`texts()`), so tests can check the picture against the data
and the text twin says the same as the picture. Drawing lives in `timeline_draw`.

Time is in hours from the window's start (the x axis), so the drawing needs no date
converters and the data is exact. Tokens are reported when a run ends; the cumulative
line spreads each run's tokens evenly over its duration, which shows the burn rate
without claiming a precision the data does not have.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, tzinfo

from core.metrics.history import History
from core.metrics.report import human
from core.metrics.style import OUTCOME_GROUPS, outcome_group
from core.metrics.timeline_math import (
    clock_text,
    cumulative_tokens,
    duration_text,
    hour_ticks,
    hours_between,
    idle_stretches,
    nice_ticks,
    reserve_steps,
)
from core.metrics.timeline_model import (
    PLAN_RUN,
    Bar,
    Lane,
    Mark,
    ReserveStep,
    TimelineData,
)
from core.metrics.windows import BLOCK, window_key, window_start
from core.models import Outcome, Run, RunKind, parse_iso

MAX_LANES = 8
"""More tasks than this in one window and the lanes get too thin to read on a phone."""
TITLE_CHARS = 40
WINDOW_ID_SLACK = timedelta(hours=1)
"""A window id's start lies within the hour before the first activity in it."""

__all__ = ["MAX_LANES", "TimelineData", "build_timeline", "learned_capacity", "timeline_facts",
           "timeline_text", "window_of"]



def short_title(task_id: int, title: str) -> str:
    text = " ".join(title.split())
    if len(text) > TITLE_CHARS:
        text = text[: TITLE_CHARS - 1].rstrip() + "…"
    return f"#{task_id} {text}"


def run_span(run: Run, now: datetime) -> tuple[datetime, datetime] | None:
    """When a run used the window: start to finish (or to `now` while it runs)."""
    if run.started_at is None:
        return None
    end = run.finished_at or max(now, run.started_at)
    return run.started_at, max(end, run.started_at)


def runs_in(history: History, start: datetime, end: datetime, now: datetime) -> list[Run]:
    """Runs that were running at some moment of [start, end), in start order."""
    found = []
    for run in history.runs:
        span = run_span(run, now)
        if span is not None and span[0] < end and span[1] >= start and span[0] <= now:
            found.append(run)
    return sorted(found, key=lambda r: (r.started_at, r.id))


def _limit_reset(run: Run) -> datetime | None:
    limit = run.extra.get("limit")
    if not isinstance(limit, dict) or limit.get("estimated"):
        return None
    try:
        return parse_iso(limit.get("resets_at"))
    except (TypeError, ValueError):
        return None


def window_end(history: History, start: datetime, now: datetime) -> datetime:
    """When the window resets: a limit's exact reset time when a run reported one (the
    window's true end), else five hours after its start."""
    default = start + BLOCK
    for run in runs_in(history, start, default, now):
        reset = _limit_reset(run) if run.outcome is Outcome.LIMIT else None
        if reset is not None and start < reset <= default + timedelta(hours=1):
            return reset
    return default


def learned_capacity(history: History) -> tuple[int, int] | None:
    """(tokens, windows): what nightshift had spent in a window when it hit the limit, the
    median over the windows where that happened, and never less than the most any window
    took without tripping it. A floor (the owner's own use is not in it), but learned
    from this account's real limits; None until a limit was hit."""
    by_window: dict[str, list[Run]] = {}
    for run in history.runs:
        key = window_key(run)
        if key is not None:
            by_window.setdefault(key, []).append(run)
    spent = []
    for members in by_window.values():
        hits = [r.finished_at for r in members if r.outcome is Outcome.LIMIT and r.finished_at]
        if not hits:
            continue
        first_hit = min(hits)
        spent.append(sum(r.tokens.total for r in members
                         if r.started_at is not None and r.started_at <= first_hit))
    spent = [s for s in spent if s > 0]
    if not spent:
        return None
    most = max(sum(r.tokens.total for r in members) for members in by_window.values())
    return max(round(statistics.median(spent)), most), len(spent)


def _capacity(
    capacity_tokens: int | None, learned: tuple[int, int] | None
) -> tuple[int | None, str | None, bool, str | None]:
    if capacity_tokens:
        return capacity_tokens, f"capacity {human(capacity_tokens)}", True, None
    if learned is not None:
        tokens, windows = learned
        plural = "s" if windows != 1 else ""
        return (tokens, f"learned estimate ~{human(tokens)}", False,
                f"capacity unknown: estimate from {windows} limit hit{plural}")
    return None, None, False, "capacity unknown: no limit hit to learn from yet"


def build_timeline(
    history: History,
    *,
    start: datetime,
    now: datetime,
    tz: tzinfo,
    end: datetime | None = None,
    capacity_tokens: int | None = None,
    reserve_by_hour: Mapping[int, float] | None = None,
    max_lanes: int = MAX_LANES,
) -> TimelineData:
    """The window [start, end) as of `now`; `end` defaults to the window's reset."""
    end = end or window_end(history, start, now)
    span_h = hours_between(end, start)
    until_h = min(span_h, max(0.0, hours_between(now, start)))
    runs = runs_in(history, start, end, now)
    lanes_by_task: dict[int, list[Run]] = {}
    for run in runs:
        lanes_by_task.setdefault(run.task_id, []).append(run)
    lanes: list[Lane] = []
    spans: list[tuple[float, float, float]] = []
    busy: list[tuple[float, float]] = []
    groups: set[str] = set()
    plan_runs = False
    limit_hits: list[datetime] = []
    for task_id, members in lanes_by_task.items():
        bars, words = [], []
        for run in members:
            span = run_span(run, now)
            assert span is not None
            s, e = hours_between(span[0], start), hours_between(span[1], start)
            group = outcome_group(run.outcome.value if run.outcome else None)
            plan = run.kind is RunKind.PLAN
            spans.append((s, e, float(run.tokens.total)))
            clipped = (max(0.0, s), min(span_h, e))
            busy.append(clipped)
            bars.append(Bar(run.id, clipped[0], clipped[1], group, plan))
            ended = run.outcome.value.replace("_", " ") if run.outcome else "running"
            words.append(f"{'plan ' if plan else ''}{ended} {clock_text(span[0], tz)}–"
                         f"{clock_text(span[1], tz)}")
            groups.add(group)
            plan_runs |= plan
            if run.outcome is Outcome.LIMIT and run.finished_at and start <= run.finished_at <= end:
                limit_hits.append(run.finished_at)
        task = history.tasks.get(task_id)
        label = short_title(task_id, task.title if task else "(deleted task)")
        lanes.append(Lane(task_id, label, tuple(bars), tuple(words)))
    shown, hidden = lanes[:max_lanes], len(lanes) - max_lanes
    cumulative = cumulative_tokens(spans, until_h)
    total = round(cumulative[-1][1]) if cumulative else 0
    learned = None if capacity_tokens else learned_capacity(history)
    cap, cap_label, known, cap_note = _capacity(capacity_tokens, learned)
    reserve: tuple[ReserveStep, ...] = ()
    reserve_label = None
    if cap and reserve_by_hour:
        reserve = reserve_steps(reserve_by_hour, cap, start, end, tz)
        if reserve:
            shares = sorted({round((1 - r.low_tokens / cap) * 100) for r in reserve})
            share = f"{shares[0]}%" if len(shares) == 1 else f"{shares[0]}–{shares[-1]}%"
            reserve_label = f"owner's reserve {share}"
    marks = []
    if limit_hits:
        hit = min(limit_hits)
        marks.append(Mark("limit", hours_between(hit, start), f"limit hit {clock_text(hit, tz)}"))
    if now < end:
        marks.append(Mark("now", until_h, f"now {clock_text(now, tz)}"))
    marks.append(Mark("reset", span_h, f"reset {clock_text(end, tz)}"))
    top = max(total, cap or 0) * 1.12 or 1.0
    local_start = start.astimezone(tz)
    legend = [g for g in OUTCOME_GROUPS if g in groups]
    return TimelineData(
        title=f"Window {local_start:%a %d %b %H:%M}–{clock_text(end, tz)}",
        start=start,
        end=end,
        span_h=span_h,
        lanes=tuple(shown),
        more_label=f"+{hidden} more task{'s' if hidden != 1 else ''}" if hidden > 0 else None,
        marks=tuple(marks),
        idle=idle_stretches(busy, until_h, marks[0].at_h if limit_hits else None)
        if lanes else (),
        cumulative=cumulative,
        tokens_total=total,
        runs=len(runs),
        tasks=len(lanes),
        capacity_tokens=cap,
        capacity_label=cap_label,
        capacity_known=known,
        capacity_note=cap_note,
        reserve=reserve,
        reserve_label=reserve_label,
        x_ticks=hour_ticks(start, end, tz),
        y_ticks=nice_ticks(top),
        legend=(*legend, PLAN_RUN) if plan_runs else tuple(legend),
    )


def window_of(history: History, task_ids: Iterable[int], fallback: datetime) -> datetime:
    """The start of the window a batch set off at `fallback` (a reset) ran in: the window id
    its runs carry when that reads as a time within the hour around `fallback` (ccusage
    floors a block's first activity to the hour), else `fallback` itself."""
    wanted = set(task_ids)
    keys = [window_key(r) for r in history.runs
            if r.task_id in wanted and r.started_at is not None
            and r.started_at >= fallback - WINDOW_ID_SLACK]
    counted = [k for k in keys if k is not None]
    for key in sorted(set(counted), key=lambda k: (-counted.count(k), k)):
        start = window_start(key, fallback)
        if abs(start - fallback) < WINDOW_ID_SLACK:
            return start
    return fallback


# --- text twin --------------------------------------------------------------------------------


def timeline_facts(data: TimelineData) -> list[str]:
    """What the picture shows beyond the lanes: capacity, reserve, limit hit, idle, wait."""
    facts = []
    if data.capacity_tokens and data.capacity_known:
        share = data.tokens_total / data.capacity_tokens * 100
        facts.append(f"{share:.0f}% of the window's capacity ({human(data.capacity_tokens)})")
    elif data.capacity_note:
        extra = f"; {data.capacity_label}" if data.capacity_label else ""
        facts.append(data.capacity_note + extra)
    if data.reserve_label:
        facts.append(data.reserve_label + " kept free")
    facts += [mark.label for mark in data.marks if mark.kind == "limit"]
    idle = [i for i in data.idle if i.kind == "idle"]
    if idle:
        idle_h = sum(i.end_h - i.start_h for i in idle)
        facts.append(f"idle {duration_text(idle_h)} in {len(idle)} stretch"
                     f"{'es' if len(idle) != 1 else ''}")
    waits = [i for i in data.idle if i.kind == "limit"]
    if waits:
        facts.append(f"then {duration_text(sum(i.end_h - i.start_h for i in waits))}"
                     " waiting for the reset")
    return facts


def timeline_text(data: TimelineData) -> str:
    """What the picture shows, for those who do not open images."""
    tasks = data.tasks
    lines = [f"{data.title}: {tasks} task{'s' if tasks != 1 else ''}, {data.runs} run"
             f"{'s' if data.runs != 1 else ''}, {human(data.tokens_total)} tokens",
             *timeline_facts(data)]
    lines += [f"{lane.label}: {', '.join(lane.words)}" for lane in data.lanes]
    if data.more_label:
        lines.append(data.more_label)
    return "\n".join(lines)
