"""Several daemons on one queue: registration, heartbeats, held tasks, take-over, leases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from core.models import Outcome, TaskState
from core.store.nodes import Node
from core.store.store import Store
from core.store.task_rows import NewTask
from tests.store.conftest import Opener

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
STALE = timedelta(seconds=60)


def node(name: str, at: datetime = T0, repos: tuple[str, ...] = ()) -> Node:
    return Node(name=name, host=f"{name}.lan", pid=100, started_at=at, heartbeat_at=at,
                accounts=("personal",), repos=repos)


async def test_nodes_register_beat_and_leave(store: Store) -> None:
    await store.nodes.register(node("a"))
    await store.nodes.register(node("b", repos=("/r",)))
    assert await store.nodes.heartbeat("a", T0 + timedelta(seconds=30))
    assert not await store.nodes.heartbeat("ghost", T0)
    found = {n.name: n for n in await store.nodes.nodes()}
    assert found["a"].heartbeat_at == T0 + timedelta(seconds=30)
    assert found["b"].repos == ("/r",) and found["b"].accounts == ("personal",)
    assert found["a"].alive(T0 + timedelta(seconds=89), STALE)
    assert not found["a"].alive(T0 + timedelta(seconds=90), STALE)
    await store.nodes.register(node("a", at=T0 + timedelta(hours=1)))  # a restart re-registers
    assert (await store.nodes.get("a")).started_at == T0 + timedelta(hours=1)  # type: ignore[union-attr]
    await store.nodes.forget("a")
    assert [n.name for n in await store.nodes.nodes()] == ["b"]


async def test_a_claim_names_its_node_until_the_task_leaves_running(store: Store) -> None:
    task = await store.tasks.add(NewTask(prompt="x", needs_plan=False), now=T0)
    claimed = await store.tasks.claim_next(T0, node="a")
    assert claimed is not None and claimed.id == task.id
    assert await store.nodes.held_by("a") == [task.id]
    await store.tasks.transition(task.id, TaskState.DONE, now=T0)
    assert await store.nodes.held_by("a") == []


async def test_a_node_claims_only_tasks_whose_repository_it_has(store: Store) -> None:
    here = await store.tasks.add(NewTask(prompt="a", repo="/here", needs_plan=False), now=T0)
    await store.tasks.add(NewTask(prompt="b", repo="/elsewhere", needs_plan=False), now=T0)
    anywhere = await store.tasks.add(NewTask(prompt="c", needs_plan=False), now=T0)
    claimed = []
    while (task := await store.tasks.claim_next(T0, node="a", repos=["/here"])) is not None:
        claimed.append(task.id)
    assert claimed == [here.id, anywhere.id]
    assert await store.tasks.claim_next(T0, node="b", repos=[]) is None  # only repo-less tasks


async def test_a_stopped_nodes_tasks_are_taken_over_once(store: Store, open_again: Opener) -> None:
    await store.nodes.register(node("dead"))
    await store.nodes.register(node("live"))
    running = await store.tasks.add(NewTask(prompt="run", needs_plan=False), now=T0)
    planning = await store.tasks.add(NewTask(prompt="plan"), now=T0)
    assert await store.tasks.claim_next(T0, node="dead") is not None
    assert await store.tasks.claim_next(
        T0, node="dead", source=TaskState.QUEUED, target=TaskState.PLANNING, deps_done=False
    ) is not None
    run = await store.runs.create(running.id, now=T0, started_at=T0)

    later = T0 + timedelta(seconds=59)
    await store.nodes.heartbeat("live", later)
    assert await store.nodes.take_over("live", later, STALE) == []  # 59 s: not stale yet

    after = T0 + timedelta(seconds=61)
    await store.nodes.heartbeat("live", after)
    other = await open_again()
    taken = await asyncio.gather(
        store.nodes.take_over("live", after, STALE), other.nodes.take_over("live", after, STALE)
    )
    moved = sorted((t.task_id, t.from_node, t.state) for batch in taken for t in batch)
    assert moved == [(running.id, "dead", TaskState.RUNNING), (planning.id, "dead", TaskState.PLANNING)]
    assert (await store.tasks.get(running.id)).state is TaskState.READY
    assert (await store.tasks.get(planning.id)).state is TaskState.QUEUED
    assert (await store.runs.get(run.id)).outcome is Outcome.INTERRUPTED
    assert await store.nodes.held_by("dead") == []
    reasons = [e.reason for e in await store.tasks.events(running.id) if e.to_state == "ready"]
    assert reasons[-1] == "taken over by live: node dead stopped beating"
    assert await store.nodes.take_over("live", after, STALE) == []
    again = await store.tasks.claim_next(after, node="live")
    assert again is not None and again.id == running.id


async def test_a_task_held_by_an_unregistered_node_is_taken_over(store: Store) -> None:
    task = await store.tasks.add(NewTask(prompt="x", needs_plan=False), now=T0)
    await store.tasks.claim_next(T0, node="vanished")
    taken = await store.nodes.take_over("live", T0, STALE)
    assert [(t.task_id, t.from_node) for t in taken] == [(task.id, "vanished")]


async def test_a_stopped_nodes_sessions_are_forgotten_and_its_paused_tasks_go_on_elsewhere(
    store: Store,
) -> None:
    """The sessions of a stopped node's tasks lived on that machine: every one of them starts
    afresh elsewhere. A task a limit paused keeps its node while that node lives (its session
    and its limit are that machine's); once the node stops it goes back to the queue too."""
    await store.nodes.register(node("dead"))
    await store.nodes.register(node("live"))
    running = await store.tasks.add(NewTask(prompt="r", needs_plan=False), now=T0)
    paused = await store.tasks.add(NewTask(prompt="p", needs_plan=False), now=T0)
    waiting = await store.tasks.add(NewTask(prompt="w", needs_plan=False), now=T0)
    elsewhere = await store.tasks.add(NewTask(prompt="e", needs_plan=False), now=T0)
    for task in (running, paused):
        claimed = await store.tasks.claim_next(T0, node="dead", only_ids=[task.id])
        assert claimed is not None and claimed.node == "dead"
        await store.tasks.update_fields(task.id, session_id=f"session-{task.id}", account="dead/work")
    await store.tasks.transition(paused.id, TaskState.PAUSED_LIMIT, now=T0,
                                 fields={"resume_after": T0 + timedelta(hours=5)})
    assert (await store.tasks.get(paused.id)).node == "dead"
    assert await store.nodes.held_by("dead") == [running.id, paused.id]
    # A continuation waiting its turn, its session in the dead node's account; another in a live one's.
    await store.tasks.update_fields(waiting.id, session_id="session-w", account="dead/work")
    await store.tasks.update_fields(elsewhere.id, session_id="session-e", account="live")
    assert await store.nodes.take_over("live", T0 + STALE / 2, STALE) == []  # not stale yet
    await store.nodes.heartbeat("live", T0 + STALE * 2)
    taken = await store.nodes.take_over("live", T0 + STALE * 2, STALE)
    assert sorted((t.task_id, t.state) for t in taken) == [
        (running.id, TaskState.RUNNING), (paused.id, TaskState.PAUSED_LIMIT), (waiting.id, TaskState.READY)]
    for task_id in (running.id, paused.id, waiting.id):
        again = await store.tasks.get(task_id)
        assert (again.state, again.session_id, again.node, again.resume_after) == (
            TaskState.READY, None, None, None)
    assert (await store.tasks.get(elsewhere.id)).session_id == "session-e"
    assert await store.nodes.held_by("dead") == []
    assert await store.nodes.take_over("live", T0 + STALE * 2, STALE) == []  # once


async def test_a_lease_has_one_holder_until_its_heartbeat_stops(store: Store, open_again: Opener) -> None:
    await store.nodes.register(node("a"))
    await store.nodes.register(node("b"))
    assert await store.nodes.acquire("sender", "a", T0, STALE)
    assert await store.nodes.acquire("sender", "a", T0 + timedelta(seconds=30), STALE)  # keeps it
    assert not await store.nodes.acquire("sender", "b", T0 + timedelta(seconds=59), STALE)
    await store.nodes.heartbeat("b", T0 + timedelta(seconds=61))
    assert await store.nodes.acquire("sender", "b", T0 + timedelta(seconds=61), STALE)
    assert await store.nodes.holder("sender") == "b"
    assert not await store.nodes.acquire("sender", "a", T0 + timedelta(seconds=62), STALE)
    await store.nodes.release("sender", "a")  # not the holder: nothing happens
    assert await store.nodes.holder("sender") == "b"
    await store.nodes.release("sender", "b")
    assert await store.nodes.holder("sender") is None


async def test_many_nodes_asking_at_once_give_one_holder(store: Store, open_again: Opener) -> None:
    names = [f"n{i}" for i in range(6)]
    for name in names:
        await store.nodes.register(node(name))
    handles = [await open_again() for _ in names]
    granted = await asyncio.gather(
        *(h.nodes.acquire("sender", name, T0, STALE) for h, name in zip(handles, names, strict=True))
    )
    assert sum(granted) == 1
    assert await store.nodes.holder("sender") == names[granted.index(True)]
