"""Task store contract: creation, dependencies, ordering, transitions, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import DependencyError, InvalidInput, InvalidTransition, StoreError, TaskNotFound
from core.models import Priority, TaskState
from core.store.store import Store
from core.store.task_rows import MAX_PROMPT_CHARS, NewTask

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


async def test_add_and_get_round_trip(store: Store) -> None:
    task = await store.tasks.add(
        NewTask(prompt="  fix it\nmore  ", priority=Priority.HIGH, tags=("ci",), check_cmd="make test"),
        now=T0,
    )
    again = await store.tasks.get(task.id)
    assert again == task
    assert task.title == "fix it"
    assert task.prompt == "fix it\nmore"
    assert task.state is TaskState.QUEUED
    assert task.created_at == T0
    assert task.tags == ("ci",)


async def test_no_plan_task_is_ready_with_both_transitions_recorded(store: Store) -> None:
    task = await store.tasks.add(NewTask(prompt="x", needs_plan=False), now=T0)
    assert task.state is TaskState.READY
    events = await store.tasks.events(task.id)
    assert [(e.kind, e.from_state, e.to_state) for e in events] == [
        ("task_added", None, "queued"),
        ("state_changed", "queued", "ready"),
    ]


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
async def test_empty_prompt_refused(store: Store, prompt: str) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        await store.tasks.add(NewTask(prompt=prompt))
    assert await store.tasks.count() == 0


async def test_oversized_prompt_refused(store: Store) -> None:
    with pytest.raises(InvalidInput, match="limit"):
        await store.tasks.add(NewTask(prompt="x" * (MAX_PROMPT_CHARS + 1)))
    assert await store.tasks.count() == 0


async def test_unknown_dependency_refused_and_nothing_written(store: Store) -> None:
    with pytest.raises(DependencyError, match="unknown task 42"):
        await store.tasks.add(NewTask(prompt="x", depends_on=(42,)))
    assert await store.tasks.count() == 0
    assert await store.tasks.events() == []


async def test_cycles_refused(store: Store) -> None:
    a = await store.tasks.add(NewTask(prompt="a"))
    b = await store.tasks.add(NewTask(prompt="b", depends_on=(a.id,)))
    c = await store.tasks.add(NewTask(prompt="c", depends_on=(b.id,)))
    with pytest.raises(DependencyError, match="cycle"):
        await store.tasks.add_dependencies(a.id, [c.id])
    with pytest.raises(DependencyError, match="cycle"):
        await store.tasks.add_dependencies(a.id, [a.id])
    assert (await store.tasks.get(a.id)).depends_on == ()


async def test_queue_order_is_priority_then_age(store: Store) -> None:
    low = await store.tasks.add(NewTask(prompt="low", priority=Priority.LOW, needs_plan=False), now=T0)
    old = await store.tasks.add(NewTask(prompt="old", needs_plan=False), now=T0)
    new = await store.tasks.add(NewTask(prompt="new", needs_plan=False), now=T0 + timedelta(1))
    urgent = await store.tasks.add(
        NewTask(prompt="urgent", priority=Priority.URGENT, needs_plan=False), now=T0 + timedelta(2)
    )
    claimed = []
    while (task := await store.tasks.claim_next(T0 + timedelta(3))) is not None:
        claimed.append(task.id)
    assert claimed == [urgent.id, old.id, new.id, low.id]


async def test_dependencies_gate_claims_and_failures_block(store: Store) -> None:
    first = await store.tasks.add(NewTask(prompt="first", needs_plan=False))
    second = await store.tasks.add(NewTask(prompt="second", needs_plan=False, depends_on=(first.id,)))
    claimed = await store.tasks.claim_next()
    assert claimed is not None and claimed.id == first.id
    assert await store.tasks.claim_next() is None  # second waits
    await store.tasks.transition(first.id, TaskState.FAILED, reason="check failed")
    assert await store.tasks.claim_next() is None
    blocked = await store.tasks.get(second.id)
    assert blocked.blocked_by == (first.id,)


async def test_resume_after_gates_claims(store: Store) -> None:
    task = await store.tasks.add(NewTask(prompt="x", needs_plan=False))
    await store.tasks.update_fields(task.id, resume_after=T0 + timedelta(hours=1))
    assert await store.tasks.claim_next(T0) is None
    assert await store.tasks.claim_next(T0 + timedelta(hours=1)) is not None


async def test_repo_exclusion(store: Store) -> None:
    await store.tasks.add(NewTask(prompt="a", repo="/r1", needs_plan=False))
    b = await store.tasks.add(NewTask(prompt="b", repo="/r2", needs_plan=False))
    claimed = await store.tasks.claim_next(exclude_repos=["/r1"])
    assert claimed is not None and claimed.id == b.id


async def test_illegal_transition_raises_and_records_nothing(store: Store) -> None:
    task = await store.tasks.add(NewTask(prompt="x"))
    before = await store.tasks.events(task.id)
    with pytest.raises(InvalidTransition, match="task 1 is queued; cannot move to done"):
        await store.tasks.transition(task.id, TaskState.DONE)
    assert await store.tasks.events(task.id) == before
    assert (await store.tasks.get(task.id)).state is TaskState.QUEUED


async def test_unknown_task(store: Store) -> None:
    with pytest.raises(TaskNotFound, match="no task with id 7"):
        await store.tasks.get(7)
    with pytest.raises(TaskNotFound):
        await store.tasks.transition(7, TaskState.CANCELLED)


async def test_inbox_source_ref_is_idempotent(store: Store) -> None:
    one = await store.tasks.add(NewTask(prompt="x", source="inbox", source_ref="inbox:a.md:1"))
    two = await store.tasks.add(NewTask(prompt="x", source="inbox", source_ref="inbox:a.md:1"))
    assert one.id == two.id
    assert await store.tasks.count() == 1


async def test_events_are_append_only(store: Store) -> None:
    await store.tasks.add(NewTask(prompt="x"))
    before = await store.tasks.events()
    with pytest.raises(StoreError, match="append-only"):
        async with store.db.transaction() as conn:
            await conn.execute("DELETE FROM events")
    with pytest.raises(StoreError, match="append-only"):
        async with store.db.transaction() as conn:
            await conn.execute("UPDATE events SET kind = 'forged'")
    assert await store.tasks.events() == before
