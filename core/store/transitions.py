"""The one way a task's state changes, inside a transaction the caller holds.

Adding, moving, claiming and releasing a task all end here, so every change is checked
against the state machine (`core.lifecycle`), made only if the row is still in the state the
caller saw (compare-and-set: on PostgreSQL another machine may have moved it), and recorded
in the event log in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.errors import InvalidTransition, TaskNotFound
from core.lifecycle import check_transition
from core.models import TaskState, iso
from core.store.events import record_event
from core.store.port import Tx

NODE_HELD_STATES = frozenset({TaskState.RUNNING, TaskState.PLANNING})
"""While in these states a task belongs to the daemon (node) that claimed it."""
NODE_KEPT_STATES = NODE_HELD_STATES | {TaskState.PAUSED_LIMIT}
"""A task paused by a limit keeps its node: its session and its limit are that machine's."""


async def move(
    conn: Tx,
    task_id: int,
    current: TaskState,
    target: TaskState,
    reason: str | None,
    now: datetime,
    *,
    action: str | None = None,
    fields: dict[str, Any] | None = None,
    run_id: int | None = None,
) -> None:
    """Move the task from `current` to `target`, setting `fields` too, and log it.

    Raises InvalidTransition when the state machine forbids the move or the task is no
    longer in `current`.
    """
    check_transition(task_id, current, target, action)
    sets = ["state = ?", "updated_at = ?", "state_reason = ?"]
    params: list[Any] = [target.value, iso(now), reason]
    fields = dict(fields or {})
    if target not in NODE_KEPT_STATES:
        fields.setdefault("node", None)  # a task belongs to a daemon only while it works on it
    for column, value in fields.items():
        sets.append(f"{column} = ?")
        params.append(iso(value) if isinstance(value, datetime) else value)
    params.extend([task_id, current.value])
    changed = await conn.execute(f"UPDATE tasks SET {', '.join(sets)} WHERE id = ? AND state = ?", params)
    if changed != 1:
        # On SQLite unreachable inside BEGIN IMMEDIATE unless a caller passed a stale
        # `current`; on PostgreSQL another machine moved the task since we read it.
        fresh = await conn.fetchone("SELECT state FROM tasks WHERE id = ?", (task_id,))
        if fresh is None:
            raise TaskNotFound(task_id)
        raise InvalidTransition(task_id, str(fresh["state"]), target.value, action)
    await record_event(
        conn,
        "state_changed",
        task_id=task_id,
        run_id=run_id,
        from_state=current.value,
        to_state=target.value,
        reason=reason,
        at=now,
    )
