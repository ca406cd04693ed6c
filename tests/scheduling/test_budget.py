"""The protected planner: properties that must hold for any queue and any protection."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from core.scheduling.budget import OVERFLOW_SHARE, Candidate, WindowPlan, goes_first, plan_protected
from core.scheduling.protect import Horizon, stop_line

NOW = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)


@st.composite
def queues(draw: st.DrawFn) -> list[Candidate]:
    """Tasks with ids 1..n; each may depend on earlier ids (no cycles) or on a missing one."""
    n = draw(st.integers(0, 12))
    tasks = []
    for task_id in range(1, n + 1):
        deps = draw(st.lists(st.integers(1, task_id - 1), max_size=3, unique=True)) if task_id > 1 else []
        if draw(st.booleans()) and draw(st.integers(0, 9)) == 0:
            deps.append(1000 + task_id)  # a dependency that is not in the queue (not done)
        tasks.append(
            Candidate(
                task_id=task_id,
                priority=draw(st.integers(0, 3)),
                estimate_tokens=draw(st.integers(1, 2_000)),
                depends_on=tuple(deps),
                rank=(draw(st.integers(0, 5)),),
                resuming=draw(st.integers(0, 9)) == 0,
                anytime=draw(st.integers(0, 9)) == 0,
                whole_tokens=draw(st.one_of(st.none(), st.integers(1, 8_000))),
            )
        )
    return draw(st.permutations(tasks))


@st.composite
def horizons(draw: st.DrawFn) -> Horizon:
    capacity = draw(st.integers(1, 5_000))
    return Horizon(
        window_end=NOW, capacity_tokens=capacity, capacity_known=draw(st.booleans()),
        keep_tokens=draw(st.integers(0, capacity)), next_keep_tokens=draw(st.integers(0, capacity)),
        run_tokens=draw(st.integers(0, 10_000)), reason=draw(st.sampled_from(["", "your reserve"])),
    )


def _split(h: Horizon, total: int) -> tuple[int, int]:
    before = min(total, h.run_tokens)
    return before, total - before


def _plan(tasks: list[Candidate], h: Horizon, used: int, committed: int) -> WindowPlan:
    return plan_protected(tasks, used_tokens=used, committed_tokens=committed, horizon=h)


@settings(max_examples=400)
@given(queues(), horizons(), st.integers(0, 5_000), st.integers(0, 3_000))
def test_what_is_kept_for_the_owner_is_never_planned_away(
    tasks: list[Candidate], h: Horizon, used: int, committed: int
) -> None:
    """Every pick fits before the reset and after it, except the three documented ways out:
    an unknown size with nobody to protect, one task larger than any window where most of
    it is the queue's (the stop line guards what is kept), and one smallest task rather than
    an idle window nobody needs; the last two only with nothing in flight."""
    plan = _plan(tasks, h, used, committed)
    by_id = {c.task_id: c for c in tasks}
    assert set(plan.picked) | set(plan.deferred) == set(by_id)
    assert not set(plan.picked) & set(plan.deferred)
    assert set(plan.reasons) == set(plan.deferred)
    unprotected = h.keep_tokens == 0 and h.next_keep_tokens == 0
    if unprotected and not h.capacity_known:
        return  # nothing held back (only dependencies wait)
    room = h.capacity_tokens - used - h.keep_tokens
    if plan.oversized is not None:
        assert plan.picked == (plan.oversized,) and committed == 0
        assert room >= OVERFLOW_SHARE * h.capacity_tokens
        assert by_id[plan.oversized].estimate_tokens > h.capacity_tokens
        return
    planned = sum(by_id[i].estimate_tokens for i in plan.picked)
    before, after = _split(h, committed + planned)
    if any(by_id[i].anytime for i in plan.picked):
        return  # an anytime task is measured against the capacity alone
    fits = (before <= h.capacity_tokens - used - h.keep_tokens
            and after <= h.capacity_tokens - h.next_keep_tokens)
    if plan.picked and not fits:
        # The idle-window rule: nothing else picked, nothing running, nothing kept now, and
        # what is left covers a good part of the one task picked.
        (only,) = plan.picked
        assert committed == 0 and h.keep_tokens == 0
        assert room >= OVERFLOW_SHARE * by_id[only].estimate_tokens


@settings(max_examples=400)
@given(queues(), horizons(), st.integers(0, 5_000), st.integers(0, 3_000))
def test_dependencies_start_before_their_dependents(
    tasks: list[Candidate], h: Horizon, used: int, committed: int
) -> None:
    plan = _plan(tasks, h, used, committed)
    by_id = {c.task_id: c for c in tasks}
    position = {task_id: i for i, task_id in enumerate(plan.picked)}
    for task_id in plan.picked:
        for dep in by_id[task_id].depends_on:
            assert dep in position, f"{task_id} picked without its dependency {dep}"
            assert position[dep] < position[task_id]


def _horizon(capacity: int, keep: int = 0, next_keep: int = 0, run: int = 10**9,
             known: bool = True) -> Horizon:
    return Horizon(NOW, capacity, known, keep, next_keep, run, "your reserve" if keep else "")


def test_a_task_larger_than_any_window_starts_alone_where_most_of_the_window_is_free() -> None:
    big = Candidate(1, priority=1, estimate_tokens=10_000)
    small = Candidate(2, priority=2, estimate_tokens=10)
    fresh = _plan([big, small], _horizon(1_000), 0, 0)
    assert fresh.picked == (1,) and fresh.oversized == 1
    assert fresh.reasons[2] == "task 1 has this window to itself"
    # Half the window still free for the queue: it starts, and the owner's line stops it.
    kept = _plan([big, small], _horizon(1_000, keep=300), 100, 0)
    assert kept.picked == (1,) and stop_line(_horizon(1_000, keep=300)) == 700
    used = _plan([big, small], _horizon(1_000), 600, 0)
    assert used.picked == (2,) and "larger than any window" in used.reasons[1]
    owners = _plan([big, small], _horizon(1_000, keep=600), 0, 0)
    assert owners.picked == (2,), "not where the owner needs most of the window"
    busy = _plan([big, small], _horizon(1_000), 0, 5)
    assert busy.picked == (2,), "not beside a run in flight: it is to run alone"


def test_resuming_task_goes_first_then_priority_then_rank() -> None:
    tasks = [
        Candidate(1, priority=3, estimate_tokens=1, resuming=True),
        Candidate(2, priority=0, estimate_tokens=1, rank=("2026-01-02",)),
        Candidate(3, priority=0, estimate_tokens=1, rank=("2026-01-01",)),
        Candidate(4, priority=1, estimate_tokens=1),
    ]
    assert _plan(tasks, _horizon(100), 0, 0).picked == (1, 3, 2, 4)


def test_a_task_larger_than_any_window_resumes_in_its_turn_not_before_the_rest() -> None:
    """Interrupted by a limit, it would stop at the limit again wherever it resumes: going
    first would hold the lane through that window while the tasks behind it wait."""
    big = Candidate(1, priority=2, estimate_tokens=300, whole_tokens=5_000, rank=("2026-01-01",),
                    resuming=True)
    urgent = Candidate(2, priority=0, estimate_tokens=100, rank=("2026-01-03",))
    newer = Candidate(3, priority=2, estimate_tokens=100, rank=("2026-01-02",))
    plan = _plan([newer, urgent, big], _horizon(1_000), 0, 0)
    assert plan.picked == (2, 1, 3), "after higher priorities, before younger tasks of its own"
    assert plan.in_turn == (1,)
    # One no larger than a window resumes before everything, the urgent task too.
    within = dataclasses.replace(big, whole_tokens=1_000)
    assert _plan([newer, urgent, within], _horizon(1_000), 0, 0).picked == (1, 2, 3)
    assert _plan([newer, urgent, within], _horizon(1_000), 0, 0).in_turn == ()
    # The whole estimate decides, not what is left of it (the daemon's estimate is the whole).
    whole = dataclasses.replace(big, estimate_tokens=5_000, whole_tokens=None)
    assert not goes_first(whole, 1_000) and goes_first(within, 1_000)
    assert goes_first(dataclasses.replace(whole, estimate_tokens=1_000), 1_000)
    assert not goes_first(dataclasses.replace(within, resuming=False), 1_000)


@settings(max_examples=300)
@given(queues(), horizons(), st.integers(0, 5_000), st.integers(0, 3_000))
def test_tasks_that_resume_first_start_before_every_other_and_the_rest_wait_their_turn(
    tasks: list[Candidate], h: Horizon, used: int, committed: int
) -> None:
    free = [dataclasses.replace(c, depends_on=()) for c in tasks]  # a dependency may pick late
    plan = _plan(free, h, used, committed)
    by_id = {c.task_id: c for c in free}
    assert set(plan.in_turn) == {c.task_id for c in free
                                 if c.resuming and c.size_tokens > h.capacity_tokens}
    first = [goes_first(by_id[i], h.capacity_tokens) for i in plan.picked]
    assert first == sorted(first, reverse=True), plan.picked


def test_small_task_behind_one_that_does_not_fit_fills_the_window() -> None:
    tasks = [
        Candidate(1, priority=0, estimate_tokens=600),
        Candidate(2, priority=1, estimate_tokens=600),
        Candidate(3, priority=2, estimate_tokens=300),
    ]
    plan = _plan(tasks, _horizon(1_000), 0, 0)
    assert plan.picked == (1, 3)
    assert plan.reasons[2] == "needs ~600 tokens; 100 left in this window"


def test_dependent_ranked_before_its_dependency_still_gets_in_after_it() -> None:
    tasks = [
        Candidate(1, priority=0, estimate_tokens=10, depends_on=(2,)),
        Candidate(2, priority=3, estimate_tokens=10),
    ]
    assert _plan(tasks, _horizon(100), 0, 0).picked == (2, 1)


def test_an_idle_window_nobody_needs_gets_the_smallest_task_that_it_half_covers() -> None:
    tasks = [Candidate(1, priority=0, estimate_tokens=900), Candidate(2, priority=1, estimate_tokens=500)]
    idle = _plan(tasks, _horizon(1_000), 700, 0)  # 300 left: neither fits; 300 covers 60% of 500
    assert idle.picked == (2,)
    busy = _plan(tasks, _horizon(1_000), 700, 100)  # a run in flight: the window is not idle
    assert busy.picked == ()
    kept = _plan(tasks, _horizon(1_000, keep=100), 600, 0)
    assert kept.picked == (), "never into what is kept for the owner"
