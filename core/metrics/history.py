"""A read-only snapshot of everything the metrics and the vault are computed from.

Loading is the only part that touches the database; everything downstream is a pure
function of a `History`, so it can be tested with made-up histories and property tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core.models import TERMINAL_STATES, Plan, Run, Task, TaskState, parse_iso
from core.store.plans import row_to_plan
from core.store.runs import row_to_run
from core.store.store import Store


@dataclass(frozen=True, slots=True)
class TaskEnd:
    """When a task reached the terminal state it is in now."""

    task_id: int
    state: TaskState
    at: datetime


@dataclass(frozen=True)
class History:
    tasks: dict[int, Task]
    runs: tuple[Run, ...]
    plans: tuple[Plan, ...]
    ends: dict[int, TaskEnd] = field(default_factory=dict)
    run_created: dict[int, datetime] = field(default_factory=dict)
    """When each run row was created (its `run_created` event): dates runs that never started."""


async def load_history(store: Store) -> History:
    tasks = {t.id: t for t in await store.tasks.query()}
    runs = tuple(row_to_run(r) for r in await store.db.fetchall("SELECT * FROM runs ORDER BY id"))
    plans = tuple(
        row_to_plan(r)
        for r in await store.db.fetchall("SELECT * FROM plans ORDER BY task_id, version")
    )
    # The last state change of a task says when it reached the state it is in now; the
    # task row's updated_at also moves on non-state edits, so it cannot date an ending.
    last_change = await store.db.fetchall(
        "SELECT e.task_id, e.to_state, e.at FROM events e JOIN ("
        " SELECT task_id, MAX(id) AS id FROM events"
        " WHERE kind = 'state_changed' AND task_id IS NOT NULL GROUP BY task_id"
        ") last ON last.id = e.id"
    )
    ends: dict[int, TaskEnd] = {}
    for task_id, to_state, at_text in last_change:
        task = tasks.get(task_id)
        at = parse_iso(at_text)
        if task is None or at is None or task.state not in TERMINAL_STATES:
            continue
        if to_state == task.state.value:
            ends[task_id] = TaskEnd(task_id, task.state, at)
    created_rows = await store.db.fetchall(
        "SELECT run_id, MIN(at) FROM events WHERE kind = 'run_created' AND run_id IS NOT NULL"
        " GROUP BY run_id"
    )
    run_created = {int(r[0]): at for r in created_rows if (at := parse_iso(r[1])) is not None}
    return History(tasks=tasks, runs=runs, plans=plans, ends=ends, run_created=run_created)
