"""Tasks, their dependencies and the append-only event log.

All state changes go through `transition()`, which checks the state machine, updates the
row only if it is still in the state the caller saw (compare-and-set), and records the
event in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.errors import DependencyError, InvalidInput, InvalidTransition, TaskNotFound
from core.lifecycle import check_transition
from core.models import (
    TERMINAL_STATES,
    Event,
    Priority,
    Task,
    TaskState,
    dumps,
    iso,
    parse_iso,
    utcnow,
)
from core.store.port import Database, Dialect, Row, Tx

MAX_PROMPT_CHARS = 100_000
NODE_HELD_STATES = frozenset({TaskState.RUNNING, TaskState.PLANNING})
"""While in these states a task belongs to the daemon (node) that claimed it."""
NODE_KEPT_STATES = NODE_HELD_STATES | {TaskState.PAUSED_LIMIT}
"""A task paused by a limit keeps its node: its session and its limit are that machine's."""
MAX_TITLE_CHARS = 200


def task_columns(dialect: Dialect) -> str:
    """Every task column plus its dependencies and its failed ones, as comma-joined ids."""
    ids = dialect.id_list("d.depends_on")
    return f"""
    t.*,
    (SELECT {ids} FROM task_deps d WHERE d.task_id = t.id) AS deps,
    (SELECT {ids} FROM task_deps d JOIN tasks u ON u.id = d.depends_on
       WHERE d.task_id = t.id AND u.state IN ('failed', 'rejected', 'cancelled')) AS blockers
"""


_DEPS_DONE = """
    NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks u ON u.id = d.depends_on
                WHERE d.task_id = t.id AND u.state != 'done')
"""


@dataclass(frozen=True, slots=True)
class NewTask:
    prompt: str
    title: str | None = None
    repo: str | None = None
    priority: Priority = Priority.NORMAL
    depends_on: tuple[int, ...] = ()
    check_cmd: str | None = None
    needs_plan: bool = True
    tags: tuple[str, ...] = ()
    max_iterations: int | None = None
    max_minutes: float | None = None
    max_budget_usd: float | None = None
    source: str = "cli"
    source_ref: str | None = None
    resume_after: datetime | None = None
    """Held until then (`add --at`): nothing is planned or run for it earlier."""


def title_from_prompt(prompt: str) -> str:
    first = prompt.strip().splitlines()[0].strip()
    return first if len(first) <= 60 else first[:57].rstrip() + "…"


def validate_new_task(new: NewTask) -> NewTask:
    prompt = new.prompt.strip()
    if not prompt:
        raise InvalidInput("the prompt is empty: say what the task should do")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidInput(f"the prompt has {len(prompt):,} characters; the limit is {MAX_PROMPT_CHARS:,}")
    title = (new.title or "").strip() or title_from_prompt(prompt)
    if len(title) > MAX_TITLE_CHARS:
        raise InvalidInput(f"the title is longer than {MAX_TITLE_CHARS} characters")
    if "\x00" in prompt or "\x00" in title:
        raise InvalidInput("the prompt contains a NUL byte")
    if new.max_iterations is not None and new.max_iterations < 1:
        raise InvalidInput("max iterations must be at least 1")
    return NewTask(**{**_as_kwargs(new), "prompt": prompt, "title": title})


def _as_kwargs(new: NewTask) -> dict[str, Any]:
    return {name: getattr(new, name) for name in NewTask.__dataclass_fields__}


def row_to_task(row: Row) -> Task:
    deps = tuple(sorted(int(x) for x in row["deps"].split(","))) if row["deps"] else ()
    blockers = tuple(sorted(int(x) for x in row["blockers"].split(","))) if row["blockers"] else ()
    created = parse_iso(row["created_at"])
    updated = parse_iso(row["updated_at"])
    assert created is not None and updated is not None
    return Task(
        id=row["id"],
        title=row["title"],
        prompt=row["prompt"],
        state=TaskState(row["state"]),
        priority=Priority(row["priority"]),
        repo=row["repo"],
        depends_on=deps,
        created_at=created,
        updated_at=updated,
        needs_plan=bool(row["needs_plan"]),
        check_cmd=row["check_cmd"],
        max_iterations=row["max_iterations"],
        max_minutes=row["max_minutes"],
        max_budget_usd=row["max_budget_usd"],
        tags=tuple(json.loads(row["tags"])),
        attempts=row["attempts"],
        session_id=row["session_id"],
        source=row["source"],
        state_reason=row["state_reason"],
        resume_after=parse_iso(row["resume_after"]),
        blocked_by=blockers,
        node=row["node"],
        account=row["account"],
    )


def row_to_event(row: Row) -> Event:
    at = parse_iso(row["at"])
    assert at is not None
    return Event(
        id=row["id"],
        at=at,
        kind=row["kind"],
        task_id=row["task_id"],
        run_id=row["run_id"],
        from_state=row["from_state"],
        to_state=row["to_state"],
        reason=row["reason"],
        data=json.loads(row["data"]),
    )


async def record_event(
    conn: Tx,
    kind: str,
    *,
    task_id: int | None = None,
    run_id: int | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Append one event; call inside the transaction that made the change it describes."""
    await conn.execute(
        "INSERT INTO events (at, kind, task_id, run_id, from_state, to_state, reason, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (iso(at or utcnow()), kind, task_id, run_id, from_state, to_state, reason, dumps(data or {})),
    )


class TaskStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._columns = task_columns(db.dialect)

    # --- create ---------------------------------------------------------------------------

    async def add(self, new: NewTask, *, now: datetime | None = None) -> Task:
        new = validate_new_task(new)
        now = now or utcnow()
        async with self.db.transaction() as conn:
            if new.source_ref is not None:
                existing = await conn.fetchone("SELECT id FROM tasks WHERE source_ref = ?", (new.source_ref,))
                if existing is not None:
                    # Idempotent import: the same inbox file twice is the same task.
                    task_id = int(existing[0])
                    new_row = False
                else:
                    new_row = True
            else:
                new_row = True
            if new_row:
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
                    await self._move(conn, task_id, state, TaskState.READY, "no plan needed", now)
            row = await self._get(conn, task_id)
        return row

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
            task = await self._get(conn, task_id)
            await self._check_deps_exist(conn, deps)
            for dep in deps:
                if dep == task_id or await self._reaches(conn, dep, task_id):
                    raise DependencyError(f"task {task_id} cannot wait for task {dep}: that would be a cycle")
            await conn.executemany(
                "INSERT INTO task_deps (task_id, depends_on) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(task_id, dep) for dep in deps],
            )
            await record_event(conn, "dependencies_added", task_id=task_id, data={"after": list(deps)})
            del task
            return await self._get(conn, task_id)

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

    async def _get(self, conn: Tx, task_id: int) -> Task:
        row = await conn.fetchone(f"SELECT {self._columns} FROM tasks t WHERE t.id = ?", (task_id,))
        if row is None:
            raise TaskNotFound(task_id)
        return row_to_task(row)

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
            f" AND {_DEPS_DONE} ORDER BY t.priority, t.created_at, t.id",
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

    async def _move(
        self,
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
            fresh = await self._get(conn, task_id)
            raise InvalidTransition(task_id, fresh.state.value, target.value, action)
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
            task = await self._get(conn, task_id)
            if expect is not None and task.state not in set(expect):
                raise InvalidTransition(
                    task_id, task.state.value, target.value, action or f"move to {target.value}"
                )
            await self._move(
                conn, task_id, task.state, target, reason, now, action=action, fields=fields, run_id=run_id
            )
            return await self._get(conn, task_id)

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
            return await self._get(conn, task_id)

    async def claim_next(
        self,
        now: datetime | None = None,
        *,
        source: TaskState = TaskState.READY,
        target: TaskState = TaskState.RUNNING,
        exclude_repos: Iterable[str] = (),
        only_ids: Iterable[int] | None = None,
        reason: str = "claimed",
        deps_done: bool = True,
        node: str | None = None,
        repos: Iterable[str] | None = None,
        account: str | None = None,
        other_accounts: Iterable[str] | None = None,
    ) -> Task | None:
        """Atomically take the first runnable task and move it on; None when nothing is runnable.

        Two processes can never claim the same task: on SQLite, BEGIN IMMEDIATE holds the write
        lock from the read to the update; on PostgreSQL, `SELECT … FOR UPDATE SKIP LOCKED` locks
        the chosen row and other claimers pass over it to the next one. `deps_done=False` is
        for planning: a plan can be drafted (and approved) while the work it depends on is
        still going. With several machines, `node` names the claiming daemon (written on the
        task) and `repos` the repositories it has: a task in another repository is left for
        a daemon that has it (a task without a repository runs anywhere). With several
        accounts, `account` is the one the run would use: a task whose session lives in
        another account is left for that one, unless that account is not one of
        `other_accounts` (the accounts still there to resume it; None: do not ask).
        """
        now = now or utcnow()
        excluded = [r for r in exclude_repos]
        conditions = [
            "t.state = ?",
            "(t.resume_after IS NULL OR t.resume_after <= ?)",
        ]
        if deps_done:
            conditions.append(_DEPS_DONE)
        params: list[Any] = [source.value, iso(now)]
        if excluded:
            conditions.append(f"(t.repo IS NULL OR t.repo NOT IN ({','.join('?' * len(excluded))}))")
            params.extend(excluded)
        if repos is not None:
            have = list(repos)
            if have:
                conditions.append(f"(t.repo IS NULL OR t.repo IN ({','.join('?' * len(have))}))")
                params.extend(have)
            else:
                conditions.append("t.repo IS NULL")
        if account is not None:
            others = [a for a in (other_accounts or ()) if a != account]
            gone = f" OR t.account NOT IN ({','.join('?' * len(others))})" if others else ""
            if other_accounts is None:
                gone = ""
            elif not others:
                gone = " OR t.account != ?"  # no other account: every foreign session is orphaned
                others = [account]
            conditions.append(f"(t.session_id IS NULL OR t.account IS NULL OR t.account = ?{gone})")
            params.extend([account, *others])
        if only_ids is not None:
            ids = list(only_ids)
            if not ids:
                return None
            conditions.append(f"t.id IN ({','.join('?' * len(ids))})")
            params.extend(ids)
        sql = (
            "SELECT t.id FROM tasks t WHERE "
            + " AND ".join(conditions)
            + " ORDER BY t.priority, t.created_at, t.id LIMIT 1"
            + self.db.dialect.claim_lock
        )
        async with self.db.transaction() as conn:
            row = await conn.fetchone(sql, params)
            if row is None:
                return None
            task_id = int(row[0])
            held = {"node": node} if node is not None and target in NODE_HELD_STATES else None
            await self._move(conn, task_id, source, target, reason, now, fields=held)
            return await self._get(conn, task_id)

    async def release(
        self, task_id: int, node: str, current: TaskState, target: TaskState, *,
        now: datetime, reason: str, fields: dict[str, Any] | None = None,
    ) -> bool:
        """Move a task that `node` holds in `current` to `target`; False if it no longer does
        (another daemon moved or took it first)."""
        async with self.db.transaction() as conn:
            row = await conn.fetchone("SELECT state, node FROM tasks WHERE id = ?", (task_id,))
            if row is None or row["state"] != current.value or row["node"] != node:
                return False
            try:
                await self._move(conn, task_id, current, target, reason, now, fields=fields)
            except InvalidTransition:  # moved by another machine between our read and update
                return False
            return True

    async def settle_dependents(self, task_id: int) -> list[int]:
        """Ids of tasks waiting on `task_id` that can now never run (it ended without DONE)."""
        task = await self.get(task_id)
        if task.state not in TERMINAL_STATES or task.state is TaskState.DONE:
            return []
        return await self.dependents(task_id)
