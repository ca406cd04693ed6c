"""Small pieces of daemon state that must survive a restart (queue paused, limit state)."""

from __future__ import annotations

import json
from typing import Any

from core.models import iso, utcnow
from core.store.port import Database


class KV:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, key: str, default: Any = None) -> Any:
        row = await self.db.fetchone("SELECT value FROM kv WHERE key = ?", (key,))
        return json.loads(row[0]) if row else default

    async def set(self, key: str, value: Any) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                (key, json.dumps(value), iso(utcnow())),
            )

    async def delete(self, key: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM kv WHERE key = ?", (key,))
