"""Budget packing: properties that must hold for any queue, capacity and reserve."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from core.scheduling.budget import (
    Candidate,
    WindowCapacity,
    largest_budget,
    plan_window,
    window_budget,
)

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
            )
        )
    return draw(st.permutations(tasks))


capacities = st.builds(WindowCapacity, total_tokens=st.integers(0, 5_000),
                       used_tokens=st.one_of(st.just(0), st.integers(0, 5_000)))
reserves = st.one_of(
    st.floats(0, 1),
    st.dictionaries(st.integers(0, 23), st.floats(0, 1), max_size=24),
)


def _order(c: Candidate) -> tuple[object, ...]:
    return c.order


@settings(max_examples=400)
@given(queues(), capacities, reserves, st.integers(0, 23))
def test_never_over_budget_unless_one_oversized_task_alone(
    tasks: list[Candidate], capacity: WindowCapacity, reserve: object, hour: int
) -> None:
    now = NOW.replace(hour=hour)
    plan = plan_window(tasks, capacity, reserve, now)  # type: ignore[arg-type]
    by_id = {c.task_id: c for c in tasks}
    budget = window_budget(capacity, reserve, now, UTC)  # type: ignore[arg-type]
    assert plan.budget_tokens == budget
    assert plan.planned_tokens == sum(by_id[i].estimate_tokens for i in plan.picked)
    if plan.oversized is None:
        assert plan.planned_tokens <= budget
    else:
        assert plan.picked == (plan.oversized,)
        assert capacity.fresh
        assert by_id[plan.oversized].estimate_tokens > largest_budget(capacity, reserve)  # type: ignore[arg-type]
    assert set(plan.picked) | set(plan.deferred) == set(by_id)
    assert not set(plan.picked) & set(plan.deferred)
    assert set(plan.reasons) == set(plan.deferred)


@settings(max_examples=400)
@given(queues(), capacities, reserves)
def test_dependencies_start_before_their_dependents(
    tasks: list[Candidate], capacity: WindowCapacity, reserve: object
) -> None:
    plan = plan_window(tasks, capacity, reserve, NOW)  # type: ignore[arg-type]
    by_id = {c.task_id: c for c in tasks}
    position = {task_id: i for i, task_id in enumerate(plan.picked)}
    for task_id in plan.picked:
        for dep in by_id[task_id].depends_on:
            assert dep in position, f"{task_id} picked without its dependency {dep}"
            assert position[dep] < position[task_id]


@settings(max_examples=400)
@given(queues(), capacities, reserves)
def test_priority_respected_each_pick_is_the_first_that_fits(
    tasks: list[Candidate], capacity: WindowCapacity, reserve: object
) -> None:
    """At every step, no task ahead in queue order was startable and fit but was passed over."""
    plan = plan_window(tasks, capacity, reserve, NOW)  # type: ignore[arg-type]
    by_id = {c.task_id: c for c in tasks}
    if plan.oversized is not None:
        startable = [c for c in tasks if not c.depends_on]
        assert min(startable, key=_order).task_id == plan.oversized
        return
    by_id = {c.task_id: c for c in tasks}
    left = plan.budget_tokens
    done: set[int] = set()
    for task_id in plan.picked:
        chosen = by_id[task_id]
        for other in tasks:
            if other.task_id in done or other.task_id == task_id:
                continue
            startable = all(d in done for d in other.depends_on)
            fits = left is None or other.estimate_tokens <= left
            if startable and fits:
                assert _order(chosen) < _order(other), (
                    f"picked {task_id} although {other.task_id} came first and fit"
                )
        done.add(task_id)
        if left is not None:
            left -= chosen.estimate_tokens
    # Nothing left out would still have fitted.
    for other in tasks:
        if other.task_id not in done and all(d in done for d in other.depends_on):
            assert left is not None and other.estimate_tokens > left


@given(queues())
def test_unknown_capacity_holds_back_only_tasks_waiting_for_dependencies(
    tasks: list[Candidate],
) -> None:
    plan = plan_window(tasks, None, 0.3, NOW)
    assert plan.budget_tokens is None
    for task_id in plan.deferred:
        assert "dependency" in plan.reasons[task_id]


def test_a_task_larger_than_any_window_starts_alone_in_a_fresh_window() -> None:
    big = Candidate(1, priority=1, estimate_tokens=10_000)
    small = Candidate(2, priority=2, estimate_tokens=10)
    fresh = plan_window([big, small], WindowCapacity(1_000), 0.0, NOW)
    assert fresh.picked == (1,) and fresh.oversized == 1
    # In a window already in use it waits (the small one goes), and says why.
    used = plan_window([big, small], WindowCapacity(1_000, used_tokens=100), 0.0, NOW)
    assert used.picked == (2,)
    assert "larger than any window" in used.reasons[1]


def test_a_task_that_fits_at_night_waits_for_night_instead_of_eating_the_day_reserve() -> None:
    reserve = {h: 0.3 for h in range(9, 19)}
    task = Candidate(1, priority=2, estimate_tokens=900)
    day = plan_window([task], WindowCapacity(1_000), reserve, NOW.replace(hour=10))
    night = plan_window([task], WindowCapacity(1_000), reserve, NOW.replace(hour=3))
    assert day.picked == () and day.budget_tokens == 700
    assert night.picked == (1,) and night.budget_tokens == 1_000


def test_reserve_is_read_in_the_owners_zone() -> None:
    from zoneinfo import ZoneInfo

    reserve = {h: 0.5 for h in range(9, 18)}
    # 08:00 UTC is 10:00 in Berlin in summer: work hours there.
    summer = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    assert window_budget(WindowCapacity(1_000), reserve, summer, ZoneInfo("Europe/Berlin")) == 500
    assert window_budget(WindowCapacity(1_000), reserve, summer, UTC) == 1_000


def test_resuming_task_goes_first_then_priority_then_rank() -> None:
    tasks = [
        Candidate(1, priority=3, estimate_tokens=1, resuming=True),
        Candidate(2, priority=0, estimate_tokens=1, rank=("2026-01-02",)),
        Candidate(3, priority=0, estimate_tokens=1, rank=("2026-01-01",)),
        Candidate(4, priority=1, estimate_tokens=1),
    ]
    assert plan_window(tasks, WindowCapacity(100), 0.0, NOW).picked == (1, 3, 2, 4)


def test_small_task_behind_one_that_does_not_fit_fills_the_window() -> None:
    tasks = [
        Candidate(1, priority=0, estimate_tokens=600),
        Candidate(2, priority=1, estimate_tokens=600),
        Candidate(3, priority=2, estimate_tokens=300),
    ]
    plan = plan_window(tasks, WindowCapacity(1_000), 0.0, NOW)
    assert plan.picked == (1, 3)
    assert "600 tokens; 100 left" in plan.reasons[2]


def test_dependent_ranked_before_its_dependency_still_gets_in_after_it() -> None:
    tasks = [
        Candidate(1, priority=0, estimate_tokens=10, depends_on=(2,)),
        Candidate(2, priority=3, estimate_tokens=10),
    ]
    assert plan_window(tasks, WindowCapacity(100), 0.0, NOW).picked == (2, 1)
