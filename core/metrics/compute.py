"""Day-one metrics as pure functions of a `History`.

Definitions (the same for every slice: all of it, a day, a week, a tag, a repo):

- A task counts as *finished* when its current state is done or failed; it is dated by
  the state change that put it there. Cancelled and rejected tasks are counted apart: the
  owner ended them, nightshift did not fail them.
- *Completion rate* = done / (done + failed).
- A run counts from when it *started* (runs that never started count nowhere).
- *Tokens per completed task* = all tokens nightshift spent in the slice (every run kind,
  every outcome: waste is the point) / tasks done in the slice.
- *Completed tasks per window* = tasks done / distinct windows nightshift ran in.
- *Retry rate* = extra attempts per attempted task: a task's attempts are its finished
  work runs, not counting runs that ended on the usage limit, an interruption or a cancel
  (those burn no retry); retry rate = mean over tasks with attempts of (attempts - 1).
- *Plan quality* = revisions per approved plan (approved version - 1, dated by that plan),
  and plans never approved: tasks with plans but no approved one that ended rejected,
  cancelled or failed (dated by their last plan).
- *Window utilization* = nightshift's tokens in a window / the window's capacity estimate,
  in the same unit as ccusage's block totals (input + output + cache creation + cache
  read). A slice's utilization is the mean over the windows its runs touched.
- *Reset-to-start latency* = started_at - scheduled_for of the runs that were scheduled.

`since` / `until` cut the half-open interval [since, until); a window that straddles
`since` only counts what happened inside it.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from core.metrics.history import History, TaskEnd
from core.metrics.report import GroupMetrics, LatencyStats, MetricsReport, WindowMetrics
from core.metrics.windows import BLOCK, window_key, window_start
from core.models import Outcome, Plan, Run, RunKind, Task, TaskState, Tokens

Capacity = int | Mapping[str, int] | None
"""One estimate for every window, or estimates by window id, or unknown."""

NOT_AN_ATTEMPT = frozenset({Outcome.LIMIT, Outcome.INTERRUPTED, Outcome.CANCELLED, Outcome.LOGGED_OUT,
                            Outcome.OVERLOADED})
"""Run endings that burn no retry: the queue pauses or the owner stops, the task did not fail."""

NO_TAG = "(no tag)"
NO_REPO = "(no repo)"
NO_ACCOUNT = "(before accounts)"


@dataclass(frozen=True, slots=True)
class PlanOutcome:
    """One task's planning result, counted once: approved at some version, or never."""

    task_id: int
    at: datetime
    approved_version: int | None
    never_approved: bool


@dataclass
class _Slice:
    runs: list[Run]
    ends: list[TaskEnd]
    plans: list[PlanOutcome]

    @classmethod
    def empty(cls) -> _Slice:
        return cls([], [], [])


def capacity_for(capacity: Capacity, key: str) -> int | None:
    if capacity is None:
        return None
    if isinstance(capacity, int):
        return capacity if capacity > 0 else None
    value = capacity.get(key)
    return value if value else None


def day_key(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).date().isoformat()


def week_key(moment: datetime, tz: tzinfo) -> str:
    year, week, _ = moment.astimezone(tz).date().isocalendar()
    return f"{year}-W{week:02d}"


def plan_outcomes(tasks: Mapping[int, Task], plans: Iterable[Plan]) -> list[PlanOutcome]:
    by_task: dict[int, list[Plan]] = defaultdict(list)
    for plan in plans:
        by_task[plan.task_id].append(plan)
    out: list[PlanOutcome] = []
    for task_id, versions in sorted(by_task.items()):
        approved = [p for p in versions if p.status == "approved"]
        if approved:
            best = max(approved, key=lambda p: p.version)
            out.append(PlanOutcome(task_id, best.created_at, best.version, False))
            continue
        task = tasks.get(task_id)
        ended = task is not None and task.state in (
            TaskState.REJECTED, TaskState.CANCELLED, TaskState.FAILED
        )
        if ended:
            last = max(versions, key=lambda p: p.version)
            out.append(PlanOutcome(task_id, last.created_at, None, True))
    return out


def attempts_by_task(runs: Iterable[Run]) -> dict[int, int]:
    counts: Counter[int] = Counter()
    for run in runs:
        if run.kind is RunKind.WORK and run.outcome is not None and run.outcome not in NOT_AN_ATTEMPT:
            counts[run.task_id] += 1
    return dict(counts)


def latency_stats(runs: Iterable[Run]) -> LatencyStats:
    values = [v for r in runs if (v := r.latency_s) is not None]
    if not values:
        return LatencyStats()
    return LatencyStats(len(values), statistics.fmean(values), statistics.median(values),
                        max(values))


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def group_metrics(
    key: str, part: _Slice, window_utilization: Mapping[str, float | None]
) -> GroupMetrics:
    states = Counter(e.state for e in part.ends)
    done, failed = states[TaskState.DONE], states[TaskState.FAILED]
    tokens = sum((r.tokens for r in part.runs), Tokens())
    windows = {k for r in part.runs if (k := window_key(r)) is not None}
    attempts = attempts_by_task(part.runs)
    approved = [p.approved_version for p in part.plans if p.approved_version is not None]
    utils = [u for w in sorted(windows) if (u := window_utilization.get(w)) is not None]
    return GroupMetrics(
        key=key,
        tasks_done=done,
        tasks_failed=failed,
        tasks_cancelled=states[TaskState.CANCELLED],
        tasks_rejected=states[TaskState.REJECTED],
        runs=len(part.runs),
        outcomes=dict(Counter(r.outcome.value if r.outcome else "running" for r in part.runs)),
        tokens=tokens,
        cost_usd=sum(r.cost_usd for r in part.runs),
        windows=len(windows),
        completion_rate=_ratio(done, done + failed),
        tokens_per_completed_task=_ratio(tokens.total, done),
        completed_per_window=_ratio(done, len(windows)),
        retry_rate=_ratio(sum(n - 1 for n in attempts.values()), len(attempts)),
        tasks_attempted=len(attempts),
        plans_approved=len(approved),
        revisions_per_approved_plan=_ratio(sum(v - 1 for v in approved), len(approved)),
        plans_never_approved=sum(1 for p in part.plans if p.never_approved),
        utilization=statistics.fmean(utils) if utils else None,
        latency=latency_stats(part.runs),
    )


def window_metrics(
    runs: list[Run],
    done_tasks: Iterable[int],
    all_runs: Iterable[Run],
    *,
    capacity: Capacity,
    now: datetime,
) -> list[WindowMetrics]:
    by_window: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        key = window_key(run)
        if key is not None:
            by_window[key].append(run)
    # A done task is credited to the window of the work run that finished it.
    last_work: dict[int, tuple[datetime, int, Run]] = {}
    for run in all_runs:
        if run.kind is RunKind.WORK and run.finished_at is not None:
            seen = last_work.get(run.task_id)
            if seen is None or (run.finished_at, run.id) > seen[:2]:
                last_work[run.task_id] = (run.finished_at, run.id, run)
    completed: Counter[str] = Counter()
    for task_id in done_tasks:
        finisher = last_work.get(task_id)
        if finisher is not None and (key := window_key(finisher[2])) in by_window:
            completed[key] += 1
    out: list[WindowMetrics] = []
    for key, members in by_window.items():
        first = min(r.started_at for r in members if r.started_at is not None)
        start = window_start(key, first)
        tokens = sum((r.tokens for r in members), Tokens())
        cap = capacity_for(capacity, key)
        out.append(
            WindowMetrics(
                key=key,
                start=start,
                runs=len(members),
                tokens=tokens,
                cost_usd=sum(r.cost_usd for r in members),
                tasks_completed=completed[key],
                capacity_tokens=cap,
                utilization=tokens.total / cap if cap else None,
                open=start <= now < start + BLOCK,
            )
        )
    out.sort(key=lambda w: (w.start, w.key))
    return out


KeyFn = Callable[[Task | None, datetime], Iterable[str]]


def compute(
    history: History,
    *,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    capacity_tokens: Capacity = None,
    tz: tzinfo = UTC,
) -> MetricsReport:
    def inside(moment: datetime) -> bool:
        return (since is None or moment >= since) and (until is None or moment < until)

    runs = [r for r in history.runs if r.started_at is not None and inside(r.started_at)]
    ends = [e for e in history.ends.values() if inside(e.at)]
    plans = [p for p in plan_outcomes(history.tasks, history.plans) if inside(p.at)]

    done_ids = [e.task_id for e in ends if e.state is TaskState.DONE]
    windows = window_metrics(runs, done_ids, history.runs, capacity=capacity_tokens, now=now)
    utilization = {w.key: w.utilization for w in windows}

    dimensions: dict[str, KeyFn] = {
        "day": lambda _task, at: (day_key(at, tz),),
        "week": lambda _task, at: (week_key(at, tz),),
        "tag": lambda task, _at: (task.tags if task and task.tags else (NO_TAG,)),
        "repo": lambda task, _at: ((task.repo if task and task.repo else NO_REPO),),
        "account": lambda task, _at: ((task.account if task and task.account else NO_ACCOUNT),),
    }
    buckets: dict[str, dict[str, _Slice]] = {d: defaultdict(_Slice.empty) for d in dimensions}
    for dim, keys in dimensions.items():
        for run in runs:
            assert run.started_at is not None
            for k in dict.fromkeys(keys(history.tasks.get(run.task_id), run.started_at)):
                buckets[dim][k].runs.append(run)
        for end in ends:
            for k in dict.fromkeys(keys(history.tasks.get(end.task_id), end.at)):
                buckets[dim][k].ends.append(end)
        for plan in plans:
            for k in dict.fromkeys(keys(history.tasks.get(plan.task_id), plan.at)):
                buckets[dim][k].plans.append(plan)

    def groups(dim: str) -> tuple[GroupMetrics, ...]:
        return tuple(group_metrics(k, part, utilization) for k, part in sorted(buckets[dim].items()))

    return MetricsReport(
        generated_at=now,
        since=since,
        until=until,
        overall=group_metrics("all", _Slice(runs, ends, plans), utilization),
        by_day=groups("day"),
        by_week=groups("week"),
        by_tag=groups("tag"),
        by_repo=groups("repo"),
        by_account=groups("account"),
        windows=tuple(windows),
        capacity_tokens=capacity_tokens if isinstance(capacity_tokens, int) and capacity_tokens > 0
        else None,
        tz=tz,
    )
