"""Property: any sequence of requested transitions leaves the task in a legal state, and the
event log holds exactly the transitions that were accepted, in order."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidTransition
from core.lifecycle import TRANSITIONS, can_transition
from core.models import TaskState
from core.store.store import Store
from core.store.task_rows import NewTask

states = st.sampled_from(list(TaskState))


async def _play(path: Path, needs_plan: bool, targets: list[TaskState]) -> None:
    store = await Store.open(path)
    try:
        task = await store.tasks.add(NewTask(prompt="p", needs_plan=needs_plan))
        model = task.state
        accepted: list[tuple[str, str]] = [] if needs_plan else [("queued", "ready")]
        for target in targets:
            legal = can_transition(model, target)
            try:
                task = await store.tasks.transition(task.id, target)
            except InvalidTransition:
                assert not legal, f"{model} -> {target} is legal but was refused"
            else:
                assert legal, f"{model} -> {target} is illegal but was accepted"
                accepted.append((model.value, target.value))
                model = target
            assert task.state is model
            assert task.state in TRANSITIONS
        events = [e for e in await store.tasks.events(task.id) if e.kind == "state_changed"]
        assert [(e.from_state, e.to_state) for e in events] == accepted
    finally:
        await store.close()


@settings(max_examples=60, deadline=None)
@given(needs_plan=st.booleans(), targets=st.lists(states, max_size=25))
def test_random_transitions_stay_legal(needs_plan: bool, targets: list[TaskState]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_play(Path(tmp) / "n.db", needs_plan, targets))


def test_every_state_is_reachable_from_queued() -> None:
    seen = {TaskState.QUEUED}
    frontier = [TaskState.QUEUED]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(TaskState)


def test_terminal_states_only_leave_by_retry_or_follow_up() -> None:
    assert TRANSITIONS[TaskState.REJECTED] == frozenset()
    assert TRANSITIONS[TaskState.DONE] == {TaskState.READY}  # a follow-up from the owner
    for state in (TaskState.FAILED, TaskState.CANCELLED):
        assert TRANSITIONS[state] == {TaskState.QUEUED, TaskState.READY}
    for state in TaskState:
        if not state.terminal:
            assert TaskState.CANCELLED in TRANSITIONS[state], state
