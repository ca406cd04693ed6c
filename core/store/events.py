"""The event log: append-only rows saying what happened to a task, a run, or the queue.

Kept apart from the task store because every domain store writes here (runs, plans, the
review, the service's audit), always inside the transaction that made the change, so the log
can never say something happened that did not, nor miss what did. The `events` table refuses
UPDATE and DELETE (triggers on SQLite, the same on PostgreSQL).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from core.models import Event, dumps, iso, parse_iso, utcnow
from core.store.port import Row, Tx


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
