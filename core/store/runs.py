"""Run records: one row per execution attempt of a task (work, plan or priming)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from core.errors import RunNotFound
from core.models import Outcome, Run, RunKind, Tokens, dumps, iso, parse_iso, utcnow
from core.store.events import record_event
from core.store.port import Database, Row
from core.store.where import time_range


def row_to_run(row: Row) -> Run:
    return Run(
        id=row["id"],
        task_id=row["task_id"],
        iteration=row["iteration"],
        kind=RunKind(row["kind"]),
        outcome=Outcome(row["outcome"]) if row["outcome"] else None,
        session_id=row["session_id"],
        tokens=Tokens(
            row["tokens_input"],
            row["tokens_output"],
            row["tokens_cache_creation"],
            row["tokens_cache_read"],
        ),
        cost_usd=row["cost_usd"],
        num_turns=row["num_turns"],
        branch=row["branch"],
        worktree=row["worktree"],
        tmux_session=row["tmux_session"],
        log_path=row["log_path"],
        prompt_variant=row["prompt_variant"],
        window_id=row["window_id"],
        scheduled_for=parse_iso(row["scheduled_for"]),
        started_at=parse_iso(row["started_at"]),
        finished_at=parse_iso(row["finished_at"]),
        exit_code=row["exit_code"],
        final_text=row["final_text"],
        summary=row["summary"],
        check_output=row["check_output"],
        extra=json.loads(row["extra"]),
        account=row["account"],
    )


_TOKEN_COLUMNS = {
    "input": "tokens_input",
    "output": "tokens_output",
    "cache_creation": "tokens_cache_creation",
    "cache_read": "tokens_cache_read",
}


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "tokens" and isinstance(value, Tokens):
            for name, column in _TOKEN_COLUMNS.items():
                out[column] = getattr(value, name)
        elif key == "extra":
            out["extra"] = dumps(value)
        elif isinstance(value, datetime):
            out[key] = iso(value)
        elif isinstance(value, Outcome | RunKind):
            out[key] = value.value
        else:
            out[key] = value
    return out


class RunStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        task_id: int,
        *,
        kind: RunKind = RunKind.WORK,
        iteration: int = 1,
        now: datetime | None = None,
        **fields: Any,
    ) -> Run:
        now = now or utcnow()
        columns = _columns({"task_id": task_id, "kind": kind, "iteration": iteration, **fields})
        names = ", ".join(columns)
        marks = ", ".join("?" * len(columns))
        async with self.db.transaction() as conn:
            run_id = await conn.insert(
                f"INSERT INTO runs ({names}) VALUES ({marks})", tuple(columns.values())
            )
            await record_event(
                conn,
                "run_created",
                task_id=task_id,
                run_id=run_id,
                data={"kind": kind.value, "iteration": iteration},
                at=now,
            )
        return await self.get(run_id)

    async def update(self, run_id: int, **fields: Any) -> Run:
        columns = _columns(fields)
        if columns:
            sets = ", ".join(f"{k} = ?" for k in columns)
            async with self.db.transaction() as conn:
                changed = await conn.execute(
                    f"UPDATE runs SET {sets} WHERE id = ?", (*columns.values(), run_id)
                )
                if changed != 1:
                    raise RunNotFound(run_id)
        return await self.get(run_id)

    async def finish(
        self, run_id: int, outcome: Outcome, *, now: datetime | None = None, **fields: Any
    ) -> Run:
        """Record how a run ended, once: a second finish of the same run changes nothing."""
        now = now or utcnow()
        columns = _columns({**fields, "outcome": outcome, "finished_at": now})
        sets = ", ".join(f"{k} = ?" for k in columns)
        async with self.db.transaction() as conn:
            changed = await conn.execute(
                f"UPDATE runs SET {sets} WHERE id = ? AND finished_at IS NULL",
                (*columns.values(), run_id),
            )
            if changed == 1:
                row = await conn.fetchone("SELECT task_id FROM runs WHERE id = ?", (run_id,))
                await record_event(
                    conn,
                    "run_finished",
                    task_id=row[0] if row else None,
                    run_id=run_id,
                    reason=outcome.value,
                    at=now,
                )
        return await self.get(run_id)

    async def interrupt_open(self, task_id: int, *, now: datetime, reason: str) -> list[int]:
        """Finish the task's unfinished runs as interrupted (their machine stopped); their ids."""
        rows = await self.db.fetchall(
            "SELECT id FROM runs WHERE task_id = ? AND finished_at IS NULL ORDER BY id", (task_id,)
        )
        ids = [int(r[0]) for r in rows]
        for run_id in ids:
            run = await self.get(run_id)
            await self.finish(run_id, Outcome.INTERRUPTED, now=now, extra={**run.extra, "reason": reason})
        return ids

    async def get(self, run_id: int) -> Run:
        row = await self.db.fetchone("SELECT * FROM runs WHERE id = ?", (run_id,))
        if row is None:
            raise RunNotFound(run_id)
        return row_to_run(row)

    async def for_task(self, task_id: int) -> list[Run]:
        rows = await self.db.fetchall("SELECT * FROM runs WHERE task_id = ? ORDER BY id", (task_id,))
        return [row_to_run(r) for r in rows]

    async def unfinished(self) -> list[Run]:
        rows = await self.db.fetchall("SELECT * FROM runs WHERE finished_at IS NULL ORDER BY id")
        return [row_to_run(r) for r in rows]

    async def between(self, since: datetime | None = None, until: datetime | None = None) -> list[Run]:
        where, params = time_range("started_at", since, until)
        rows = await self.db.fetchall(f"SELECT * FROM runs WHERE {where} ORDER BY id", params)
        return [row_to_run(r) for r in rows]

    async def done_task_tokens(self, repo: str | None, limit: int) -> list[int]:
        """Tokens each of the `limit` most recently finished done tasks spent on work runs,
        newest first (in `repo` when given): the history a task's estimate falls back on.
        The repo condition is built here, not as `(? IS NULL OR …)`, which PostgreSQL refuses."""
        where, params = ("t.repo = ?", [repo]) if repo is not None else ("1 = 1", [])
        rows = await self.db.fetchall(
            "SELECT SUM(r.tokens_input + r.tokens_output + r.tokens_cache_creation"
            " + r.tokens_cache_read) FROM runs r JOIN tasks t ON t.id = r.task_id"
            f" WHERE t.state = 'done' AND r.kind = 'work' AND {where}"
            " GROUP BY r.task_id ORDER BY MAX(r.id) DESC LIMIT ?",
            (*params, limit),
        )
        return [int(r[0] or 0) for r in rows]
