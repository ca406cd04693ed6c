"""Invariants of the metrics over random histories (pure functions, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from core.metrics.compute import compute
from core.metrics.history import History, TaskEnd
from core.metrics.windows import BLOCK, block_floor, block_id, window_start
from core.models import Outcome, Plan, Priority, Run, RunKind, Task, TaskState, Tokens

EPOCH = datetime(2026, 3, 1, tzinfo=UTC)
ZONES = st.sampled_from([UTC, ZoneInfo("Europe/Berlin"), ZoneInfo("America/Los_Angeles"),
                         ZoneInfo("Asia/Kolkata")])
moments = st.integers(0, 60 * 24 * 40).map(lambda m: EPOCH + timedelta(minutes=m))
TERMINAL = [TaskState.DONE, TaskState.FAILED, TaskState.CANCELLED, TaskState.REJECTED]


@st.composite
def histories(draw: st.DrawFn) -> History:
    n_tasks = draw(st.integers(1, 6))
    tasks: dict[int, Task] = {}
    ends: dict[int, TaskEnd] = {}
    for task_id in range(1, n_tasks + 1):
        created = draw(moments)
        state = draw(st.sampled_from([*TERMINAL, TaskState.QUEUED, TaskState.READY]))
        tasks[task_id] = Task(
            id=task_id, title=f"t{task_id}", prompt="p", state=state, priority=Priority.NORMAL,
            repo=draw(st.sampled_from([None, "/a", "/b"])), depends_on=(), created_at=created,
            updated_at=created, tags=tuple(draw(st.lists(st.sampled_from(["x", "y", "z"]),
                                                         max_size=2, unique=True))),
        )
        if state in TERMINAL:
            ends[task_id] = TaskEnd(task_id, state, draw(moments))
    runs: list[Run] = []
    for run_id in range(1, draw(st.integers(0, 12)) + 1):
        started = draw(st.none() | moments)
        finished = None if started is None else started + timedelta(minutes=draw(st.integers(1, 300)))
        outcome = draw(st.none() | st.sampled_from(list(Outcome))) if finished else None
        scheduled = draw(st.none() | st.just(started - timedelta(seconds=draw(st.integers(0, 600))))
                         if started else st.none())
        window = draw(st.none() | st.sampled_from(["w1", "2026-03-02T10:00:00.000Z", "w3"]))
        runs.append(Run(
            id=run_id, task_id=draw(st.integers(1, n_tasks)), iteration=1,
            kind=draw(st.sampled_from(list(RunKind))), outcome=outcome, session_id=None,
            tokens=Tokens(*(draw(st.integers(0, 10**6)) for _ in range(4))),
            cost_usd=draw(st.floats(0, 5)), num_turns=1, branch=None, worktree=None,
            tmux_session=None, log_path=None, prompt_variant=None, window_id=window,
            scheduled_for=scheduled, started_at=started, finished_at=finished,
        ))
    plans: list[Plan] = []
    plan_id = 0
    for task_id in tasks:
        for version in range(1, draw(st.integers(0, 3)) + 1):
            plan_id += 1
            plans.append(Plan(id=plan_id, task_id=task_id, version=version, body="b",
                              status=draw(st.sampled_from(["draft", "approved", "superseded",
                                                           "rejected"])),
                              created_at=draw(moments)))
    return History(tasks=tasks, runs=tuple(runs), plans=tuple(plans), ends=ends)


@settings(max_examples=150, deadline=None)
@given(histories(), ZONES, st.integers(1, 10**7))
def test_slices_add_up_and_ratios_stay_in_range(history: History, tz: ZoneInfo, cap: int) -> None:
    report = compute(history, now=EPOCH + timedelta(days=50), capacity_tokens=cap, tz=tz)
    o = report.overall
    for groups in (report.by_day, report.by_week, report.by_repo):
        assert sum(g.runs for g in groups) == o.runs
        assert sum((g.tokens for g in groups), Tokens()) == o.tokens
        assert sum(g.tasks_done for g in groups) == o.tasks_done
        assert sum(g.tasks_failed for g in groups) == o.tasks_failed
        assert sum(g.plans_approved for g in groups) == o.plans_approved
        assert [g.key for g in groups] == sorted(g.key for g in groups)
    assert sum(g.tasks_done for g in report.by_tag) >= o.tasks_done
    if all(len(t.tags) <= 1 for t in history.tasks.values()):
        assert sum(g.runs for g in report.by_tag) == o.runs
    assert o.runs == sum(1 for r in history.runs if r.started_at is not None)
    assert sum(w.runs for w in report.windows) == o.runs
    assert sum((w.tokens for w in report.windows), Tokens()) == o.tokens
    assert sum(w.tasks_completed for w in report.windows) <= o.tasks_done
    assert len(report.windows) == o.windows
    for g in (o, *report.by_day, *report.by_tag):
        assert g.completion_rate is None or 0 <= g.completion_rate <= 1
        assert g.retry_rate is None or g.retry_rate >= 0
        assert g.revisions_per_approved_plan is None or g.revisions_per_approved_plan >= 0
        assert (g.completion_rate is None) == (g.tasks_done + g.tasks_failed == 0)
        if g.tasks_done:
            assert g.tokens_per_completed_task == g.tokens.total / g.tasks_done
    for w in report.windows:
        assert w.utilization == w.tokens.total / cap
    if report.windows:
        assert o.utilization is not None
        assert min(w.utilization or 0 for w in report.windows) <= o.utilization
        assert o.utilization <= max(w.utilization or 0 for w in report.windows)


@settings(max_examples=60, deadline=None)
@given(histories(), st.integers(1, 10**6))
def test_doubling_the_capacity_halves_utilization(history: History, cap: int) -> None:
    now = EPOCH + timedelta(days=50)
    one = compute(history, now=now, capacity_tokens=cap)
    two = compute(history, now=now, capacity_tokens=2 * cap)
    for a, b in zip(one.windows, two.windows, strict=True):
        assert a.utilization is not None and b.utilization is not None
        assert b.utilization * 2 == a.utilization or abs(b.utilization * 2 - a.utilization) < 1e-12
    no_cap = compute(history, now=now, capacity_tokens=None)
    assert all(w.utilization is None for w in no_cap.windows)


@settings(max_examples=60, deadline=None)
@given(histories(), moments, moments)
def test_an_interval_splits_into_its_halves(history: History, a: datetime, b: datetime) -> None:
    cut = min(a, b)
    now = EPOCH + timedelta(days=50)
    whole = compute(history, now=now).overall
    left = compute(history, now=now, until=cut).overall
    right = compute(history, now=now, since=cut).overall
    assert left.runs + right.runs == whole.runs
    assert left.tokens + right.tokens == whole.tokens
    assert left.tasks_done + right.tasks_done == whole.tasks_done
    assert left.plans_never_approved + right.plans_never_approved == whole.plans_never_approved


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1),
                    timezones=st.just(UTC)))
def test_the_fallback_block_holds_the_moment(moment: datetime) -> None:
    start = block_floor(moment)
    assert start <= moment < start + BLOCK
    assert start.timestamp() % (5 * 3600) == 0
    assert window_start(block_id(start), EPOCH) == start
    assert block_floor(start) == start


def test_an_opaque_window_id_starts_at_its_first_run() -> None:
    assert window_start("block-7", EPOCH) == EPOCH
