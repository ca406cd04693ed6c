"""Claiming work: which daemon takes which task, atomically, and gives it back.

Apart from the rest of the task store because this is where several processes (and, on
PostgreSQL, several machines) race for the same rows: the filters that say what this daemon
may take (its repositories, its account's sessions) and the locking that lets only one of
them win are read together here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from core.errors import InvalidTransition
from core.models import Task, TaskState, iso, utcnow
from core.store.port import Database
from core.store.task_rows import DEPS_DONE, read_task, task_columns
from core.store.transitions import NODE_HELD_STATES, move


def _marks(values: list[Any]) -> str:
    return ",".join("?" * len(values))


class TaskClaims:
    """`claim_next` and `release`; the task store lends them (`store.tasks.claim_next`)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._columns = task_columns(db.dialect)

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
            conditions.append(DEPS_DONE)
        params: list[Any] = [source.value, iso(now)]
        if excluded:
            conditions.append(f"(t.repo IS NULL OR t.repo NOT IN ({_marks(excluded)}))")
            params.extend(excluded)
        if repos is not None:
            have = list(repos)
            if have:
                conditions.append(f"(t.repo IS NULL OR t.repo IN ({_marks(have)}))")
                params.extend(have)
            else:
                conditions.append("t.repo IS NULL")
        if account is not None:
            others = [a for a in (other_accounts or ()) if a != account]
            gone = f" OR t.account NOT IN ({_marks(others)})" if others else ""
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
            conditions.append(f"t.id IN ({_marks(ids)})")
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
            await move(conn, task_id, source, target, reason, now, fields=held)
            return await read_task(conn, self._columns, task_id)

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
                await move(conn, task_id, current, target, reason, now, fields=fields)
            except InvalidTransition:  # moved by another machine between our read and update
                return False
            return True
