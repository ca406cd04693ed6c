"""One handle on every table, opened once per process."""

from __future__ import annotations

from pathlib import Path

from core.store.db import Database
from core.store.kv import KV
from core.store.plans import PlanStore
from core.store.runs import RunStore
from core.store.tasks import TaskStore


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.tasks = TaskStore(db)
        self.runs = RunStore(db)
        self.plans = PlanStore(db)
        self.kv = KV(db)

    @classmethod
    async def open(cls, path: Path) -> Store:
        return cls(await Database.open(path))

    async def close(self) -> None:
        await self.db.close()
