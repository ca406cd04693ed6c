"""The notification outbox: what the owner should hear, kept until the front confirms delivery.

Notifications are written here in the same process that decides them (the core never
talks to Telegram); one sender reads them back strictly in order. A row counts as sent
only after every message it became was accepted, so a crash or an outage delays a
notification but never drops it. Delivery is at-least-once: a message whose acceptance
was lost on the wire (a timeout after Telegram got it) is sent again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.models import dumps, iso, parse_iso, utcnow
from core.store.port import Database, Row, Tx

MAX_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    created_at: datetime
    kind: str
    payload: dict[str, Any]
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    sent_at: datetime | None
    delivered: int
    """How many of the row's messages the front has already had accepted."""

    def due(self, now: datetime) -> bool:
        return self.next_attempt_at is None or self.next_attempt_at <= now


def _row_to_item(row: Row) -> OutboxItem:
    created = parse_iso(row["created_at"])
    assert created is not None
    return OutboxItem(
        id=row["id"],
        created_at=created,
        kind=row["kind"],
        payload=json.loads(row["payload"]),
        attempts=row["attempts"],
        next_attempt_at=parse_iso(row["next_attempt_at"]),
        last_error=row["last_error"],
        sent_at=parse_iso(row["sent_at"]),
        delivered=row["delivered"],
    )


class OutboxStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.listeners: list[Callable[[], None]] = []
        """Called after each enqueue: the sender in this process wakes instead of polling."""

    async def enqueue(
        self, kind: str, payload: dict[str, Any], *, now: datetime | None = None,
        key: str | None = None,
    ) -> OutboxItem:
        """Append a row; with `key`, replace the undelivered row of the same kind and key instead.

        A replaced row keeps its place in the queue and starts its delivery over, so the
        front sends the newest content once rather than every version in turn.
        """
        async with self.db.transaction() as conn:
            item_id = await self._replace_keyed(conn, kind, key, payload) if key else None
            if item_id is None:
                item_id = await conn.insert(
                    "INSERT INTO outbox (created_at, kind, payload) VALUES (?, ?, ?)",
                    (iso(now or utcnow()), kind, dumps(payload)),
                )
        for listener in self.listeners:
            listener()
        return await self.get(item_id)

    @staticmethod
    async def _replace_keyed(conn: Tx, kind: str, key: str, payload: dict[str, Any]) -> int | None:
        # Unsent rows of one kind are few (keyed ones are coalesced), so they are read whole
        # rather than indexed by a JSON path (which the two engines spell differently).
        rows = await conn.fetchall(
            "SELECT id, payload FROM outbox WHERE sent_at IS NULL AND kind = ? ORDER BY id", (kind,)
        )
        for row in rows:
            if payload_key(json.loads(row[1])) == key:
                changed = await conn.execute(
                    "UPDATE outbox SET payload = ?, delivered = 0 WHERE id = ? AND sent_at IS NULL",
                    (dumps(payload), row[0]),
                )
                if changed:
                    return int(row[0])
        return None

    async def get(self, item_id: int) -> OutboxItem:
        row = await self.db.fetchone("SELECT * FROM outbox WHERE id = ?", (item_id,))
        if row is None:
            raise KeyError(item_id)
        return _row_to_item(row)

    async def head(self) -> OutboxItem | None:
        """The oldest unsent row, due or not: nothing behind it may overtake it."""
        row = await self.db.fetchone(
            "SELECT * FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT 1"
        )
        return _row_to_item(row) if row else None

    async def claim_next(self, now: datetime) -> OutboxItem | None:
        """The head of the queue if it is due now; None if empty or backing off."""
        item = await self.head()
        return item if item is not None and item.due(now) else None

    async def pending(self, limit: int = 100) -> list[OutboxItem]:
        rows = await self.db.fetchall(
            "SELECT * FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT ?", (limit,)
        )
        return [_row_to_item(r) for r in rows]

    async def pending_count(self) -> int:
        row = await self.db.fetchone("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
        return int(row[0]) if row else 0

    async def mark_progress(self, item_id: int, delivered: int, *, error: str | None = None) -> None:
        """Record that the first `delivered` messages of a row were accepted (or given up)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE outbox SET delivered = ?, last_error = COALESCE(?, last_error)"
                " WHERE id = ? AND sent_at IS NULL",
                (delivered, _clip(error), item_id),
            )

    async def mark_sent(
        self, item_id: int, *, delivered: int, now: datetime | None = None,
        payload: dict[str, Any] | None = None,
    ) -> bool:
        """Mark a row sent; with `payload`, only if it still holds that payload (a keyed row
        replaced during its delivery stays unsent, so the newer content goes out too)."""
        sql = ("UPDATE outbox SET sent_at = ?, delivered = ?, next_attempt_at = NULL"
               " WHERE id = ? AND sent_at IS NULL")
        params: list[Any] = [iso(now or utcnow()), delivered, item_id]
        if payload is not None:
            sql += " AND payload = ?"
            params.append(dumps(payload))
        async with self.db.transaction() as conn:
            return bool(await conn.execute(sql, params))

    # --- messages updated in place (keyed notifications) ---------------------------------

    async def live_message(self, key: str, chat_id: int) -> int | None:
        """The id of the message the front sent for `key` in `chat_id`, if it still edits it."""
        row = await self.db.fetchone("SELECT value FROM kv WHERE key = ?", (_live_key(key, chat_id),))
        return int(json.loads(row[0])) if row else None

    async def remember_live(self, key: str, chat_id: int, message_id: int) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key)"
                " DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (_live_key(key, chat_id), json.dumps(message_id), iso(utcnow())),
            )

    async def forget_live(self, key: str, chat_id: int) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM kv WHERE key = ?", (_live_key(key, chat_id),))

    async def record_failure(self, item_id: int, error: str, *, next_attempt_at: datetime) -> None:
        """A transient failure: count it and say when to try again (the row keeps its place)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?"
                " WHERE id = ? AND sent_at IS NULL",
                (_clip(error), iso(next_attempt_at), item_id),
            )


def payload_key(payload: dict[str, Any]) -> str | None:
    """The coalescing key of a notification row, if it has one."""
    note = payload.get("note")
    key = note.get("key") if isinstance(note, dict) else None
    return key if isinstance(key, str) else None


def _live_key(key: str, chat_id: int) -> str:
    return f"live_message:{key}:{chat_id}"


def _clip(error: str | None) -> str | None:
    if error is None:
        return None
    return error if len(error) <= MAX_ERROR_CHARS else error[: MAX_ERROR_CHARS - 1] + "…"
