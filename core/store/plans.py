"""Versioned plans: each revision is a new row; only the latest version can be approved."""

from __future__ import annotations

from datetime import datetime

from core.models import Plan, iso, parse_iso, utcnow
from core.store.events import record_event
from core.store.port import Database, Row


def row_to_plan(row: Row) -> Plan:
    created = parse_iso(row["created_at"])
    assert created is not None
    return Plan(
        id=row["id"],
        task_id=row["task_id"],
        version=row["version"],
        body=row["body"],
        status=row["status"],
        created_at=created,
        size=row["size"],
        estimate_tokens=row["estimate_tokens"],
        suggested_check=row["suggested_check"],
        comment=row["comment"],
    )


class PlanStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        task_id: int,
        body: str,
        *,
        size: str | None = None,
        estimate_tokens: int | None = None,
        suggested_check: str | None = None,
        comment: str | None = None,
        run_id: int | None = None,
        now: datetime | None = None,
    ) -> Plan:
        """Store the next version; earlier drafts become superseded."""
        now = now or utcnow()
        async with self.db.transaction() as conn:
            row = await conn.fetchone(
                "SELECT COALESCE(MAX(version), 0) FROM plans WHERE task_id = ?", (task_id,)
            )
            version = int(row[0]) + 1 if row else 1
            await conn.execute(
                "UPDATE plans SET status = 'superseded' WHERE task_id = ? AND status = 'draft'",
                (task_id,),
            )
            await conn.execute(
                "INSERT INTO plans (task_id, version, body, status, size, estimate_tokens,"
                " suggested_check, comment, run_id, created_at)"
                " VALUES (?, ?, ?, 'draft', ?, ?, ?, ?, ?, ?)",
                (task_id, version, body, size, estimate_tokens, suggested_check, comment, run_id, iso(now)),
            )
            await record_event(
                conn,
                "plan_added",
                task_id=task_id,
                run_id=run_id,
                data={"version": version, "size": size},
                at=now,
            )
        plan = await self.latest(task_id)
        assert plan is not None
        return plan

    async def latest(self, task_id: int) -> Plan | None:
        row = await self.db.fetchone(
            "SELECT * FROM plans WHERE task_id = ? ORDER BY version DESC LIMIT 1", (task_id,)
        )
        return row_to_plan(row) if row else None

    async def approved(self, task_id: int) -> Plan | None:
        row = await self.db.fetchone(
            "SELECT * FROM plans WHERE task_id = ? AND status = 'approved' ORDER BY version DESC LIMIT 1",
            (task_id,),
        )
        return row_to_plan(row) if row else None

    async def for_task(self, task_id: int) -> list[Plan]:
        rows = await self.db.fetchall("SELECT * FROM plans WHERE task_id = ? ORDER BY version", (task_id,))
        return [row_to_plan(r) for r in rows]

    async def set_status(self, plan_id: int, status: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("UPDATE plans SET status = ? WHERE id = ?", (status, plan_id))
