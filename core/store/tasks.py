"""Tasks and their dependencies: adding, reading, moving, and the claims lent from `claims`.

Every state change goes through `transitions.move`, which checks the state machine, updates
the row only if it is still in the state the caller saw (compare-and-set), and records the
event in the same transaction. What a row holds is `task_rows`; the event log is `events`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from core.errors import DependencyError, InvalidTransition, TaskNotFound
from core.models import TERMINAL_STATES, Event, Task, TaskState, iso, utcnow
from core.store.claims import TaskClaims
from core.store.events import record_event, row_to_event
from core.store.port import Database, Tx
from core.store.task_rows import DEPS_DONE, NewTask, read_task, row_to_task, task_columns, validate_new_task
from core.store.transitions import move


class TaskStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._columns = task_columns(db.dialect)
        claims = TaskClaims(db)
        self.claim_next = claims.claim_next
        """Atomically take the first runnable task (`core.store.claims`)."""
        self.release = claims.release
        """Give back a task a node holds, unless another took it first (`core.store.claims`)."""

    # --- create ---------------------------------------------------------------------------

    async def add(self, new: NewTask, *, now: datetime | None = None) -> Task:
        new = validate_new_task(new)
        now = now or utcnow()
        async with self.db.transaction() as conn:
            if new.source_ref is not None:
                existing = await conn.fetchone("SELECT id FROM tasks WHERE source_ref = ?", (new.source_ref,))
                if existing is not None:
                    # Idempotent import: the same inbox file twice is the same task.
                    return await read_task(conn, self._columns, int(existing[0]))
            await self._check_deps_exist(conn, new.depends_on)
            state = TaskState.QUEUED
            task_id = await conn.insert(
                "INSERT INTO tasks (title, prompt, repo, priority, state, needs_plan,"
                " check_cmd, max_iterations, max_minutes, max_budget_usd, tags, source,"
                " source_ref, created_at, updated_at, resume_after)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    new.title,
                    new.prompt,
                    new.repo,
                    int(new.priority),
                    state.value,
                    int(new.needs_plan),
                    new.check_cmd,
                    new.max_iterations,
                    new.max_minutes,
                    new.max_budget_usd,
                    json.dumps(list(new.tags)),
                    new.source,
                    new.source_ref,
                    iso(now),
                    iso(now),
                    iso(new.resume_after),
                ),
            )
            if new.depends_on:
                await conn.executemany(
                    "INSERT INTO task_deps (task_id, depends_on) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    [(task_id, dep) for dep in new.depends_on],
                )
            await record_event(
                conn,
                "task_added",
                task_id=task_id,
                to_state=state.value,
                reason=f"added from {new.source}",
                at=now,
            )
            # A task that needs no plan is ready at once; record that as its own transition
            # so the event log shows every state the task was in.
            if not new.needs_plan:
                await move(conn, task_id, state, TaskState.READY, "no plan needed", now)
            return await read_task(conn, self._columns, task_id)

    async def _check_deps_exist(self, conn: Tx, deps: Sequence[int]) -> None:
        if not deps:
            return
        marks = ",".join("?" * len(deps))
        rows = await conn.fetchall(f"SELECT id FROM tasks WHERE id IN ({marks})", tuple(deps))
        found = {int(r[0]) for r in rows}
        missing = sorted(set(deps) - found)
        if missing:
            raise DependencyError(
                f"--after names unknown task{'s' if len(missing) > 1 else ''} "
                + ", ".join(str(m) for m in missing)
            )

    async def add_dependencies(self, task_id: int, deps: Iterable[int]) -> Task:
        """Make `task_id` wait for `deps` too; refuses unknown ids and cycles."""
        deps = tuple(deps)
        async with self.db.transaction() as conn:
            await read_task(conn, self._columns, task_id)  # TaskNotFound before anything else
            await self._check_deps_exist(conn, deps)
            for dep in deps:
                if dep == task_id or await self._reaches(conn, dep, task_id):
                    raise DependencyError(f"task {task_id} cannot wait for task {dep}: that would be a cycle")
            await conn.executemany(
                "INSERT INTO task_deps (task_id, depends_on) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(task_id, dep) for dep in deps],
            )
            await record_event(conn, "dependencies_added", task_id=task_id, data={"after": list(deps)})
            return await read_task(conn, self._columns, task_id)

    async def _reaches(self, conn: Tx, start: int, goal: int) -> bool:
        """Does `start` (transitively) depend on `goal`?"""
        found = await conn.fetchone(
            "WITH RECURSIVE up(id) AS (SELECT CAST(? AS BIGINT) UNION"
            " SELECT d.depends_on FROM task_deps d JOIN up ON d.task_id = up.id)"
            " SELECT 1 FROM up WHERE id = ? LIMIT 1",
            (start, goal),
        )
        return found is not None

    # --- read -----------------------------------------------------------------------------

    async def get(self, task_id: int) -> Task:
        row = await self.db.fetchone(f"SELECT {self._columns} FROM tasks t WHERE t.id = ?", (task_id,))
        if row is None:
            raise TaskNotFound(task_id)
        return row_to_task(row)

    async def query(
        self,
        states: Iterable[TaskState] | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Task]:
        """Tasks in queue order: priority, then age."""
        where = ""
        params: list[Any] = []
        wanted = [s.value for s in states] if states is not None else None
        if wanted is not None:
            where = f"WHERE t.state IN ({','.join('?' * len(wanted))})"
            params.extend(wanted)
        sql = f"SELECT {self._columns} FROM tasks t {where} ORDER BY t.priority, t.created_at, t.id"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params.extend([limit, offset])
        return [row_to_task(r) for r in await self.db.fetchall(sql, params)]

    async def count(self, states: Iterable[TaskState] | None = None) -> int:
        if states is None:
            row = await self.db.fetchone("SELECT COUNT(*) FROM tasks")
        else:
            wanted = [s.value for s in states]
            row = await self.db.fetchone(
                f"SELECT COUNT(*) FROM tasks WHERE state IN ({','.join('?' * len(wanted))})",
                wanted,
            )
        return int(row[0]) if row else 0

    async def runnable(self, now: datetime, state: TaskState = TaskState.READY) -> list[Task]:
        """Tasks in `state` whose dependencies are done and whose pause is over, queue order."""
        rows = await self.db.fetchall(
            f"SELECT {self._columns} FROM tasks t WHERE t.state = ?"
            " AND (t.resume_after IS NULL OR t.resume_after <= ?)"
            f" AND {DEPS_DONE} ORDER BY t.priority, t.created_at, t.id",
            (state.value, iso(now)),
        )
        return [row_to_task(r) for r in rows]

    async def events(self, task_id: int | None = None, *, since_id: int = 0) -> list[Event]:
        if task_id is None:
            rows = await self.db.fetchall("SELECT * FROM events WHERE id > ? ORDER BY id", (since_id,))
        else:
            rows = await self.db.fetchall(
                "SELECT * FROM events WHERE task_id = ? AND id > ? ORDER BY id",
                (task_id, since_id),
            )
        return [row_to_event(r) for r in rows]

    async def dependents(self, task_id: int) -> list[int]:
        rows = await self.db.fetchall(
            "SELECT task_id FROM task_deps WHERE depends_on = ? ORDER BY task_id", (task_id,)
        )
        return [int(r[0]) for r in rows]

    # --- change ---------------------------------------------------------------------------

    async def transition(
        self,
        task_id: int,
        target: TaskState,
        *,
        reason: str | None = None,
        expect: Iterable[TaskState] | None = None,
        action: str | None = None,
        fields: dict[str, Any] | None = None,
        run_id: int | None = None,
        now: datetime | None = None,
    ) -> Task:
        """Move a task to `target`, checked against the state machine and recorded as an event.

        `expect` narrows the states the caller accepts to start from (for example, `retry`
        only from failed or cancelled), on top of what the state machine allows.
        """
        now = now or utcnow()
        async with self.db.transaction() as conn:
            task = await read_task(conn, self._columns, task_id)
            if expect is not None and task.state not in set(expect):
                raise InvalidTransition(
                    task_id, task.state.value, target.value, action or f"move to {target.value}"
                )
            await move(
                conn, task_id, task.state, target, reason, now, action=action, fields=fields, run_id=run_id
            )
            return await read_task(conn, self._columns, task_id)

    async def update_fields(self, task_id: int, **fields: Any) -> Task:
        """Change non-state columns (session id, attempts…) without an event."""
        if not fields:
            return await self.get(task_id)
        sets = ", ".join(f"{k} = ?" for k in fields)
        params = [iso(v) if isinstance(v, datetime) else v for v in fields.values()]
        async with self.db.transaction() as conn:
            changed = await conn.execute(
                f"UPDATE tasks SET {sets}, updated_at = ? WHERE id = ?",
                (*params, iso(utcnow()), task_id),
            )
            if changed != 1:
                raise TaskNotFound(task_id)
            return await read_task(conn, self._columns, task_id)

    async def settle_dependents(self, task_id: int) -> list[int]:
        """Ids of tasks waiting on `task_id` that can now never run (it ended without DONE)."""
        task = await self.get(task_id)
        if task.state not in TERMINAL_STATES or task.state is TaskState.DONE:
            return []
        return await self.dependents(task_id)
