"""One handle on every table, opened once per process, on whichever adapter the settings name."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core.store.db import Database as SqliteDatabase
from core.store.kv import KV
from core.store.nodes import NodeStore
from core.store.plans import PlanStore
from core.store.port import Database
from core.store.runs import RunStore
from core.store.tasks import TaskStore

if TYPE_CHECKING:
    from core.settings import Settings


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.tasks = TaskStore(db)
        self.runs = RunStore(db)
        self.plans = PlanStore(db)
        self.kv = KV(db)
        self.nodes = NodeStore(db, self.tasks, self.runs)

    @classmethod
    async def open(cls, path: Path) -> Store:
        """The embedded SQLite store at `path`."""
        return cls(await SqliteDatabase.open(path))

    @classmethod
    async def connect(cls, url: str) -> Store:
        """The PostgreSQL store at `url` (a queue shared by several machines)."""
        from core.store.pg import PostgresDatabase  # asyncpg loads only when asked for

        return cls(await PostgresDatabase.open(url))

    async def close(self) -> None:
        await self.db.close()


async def open_store(settings: Settings) -> Store:
    """PostgreSQL when NIGHTSHIFT_DATABASE_URL is set, else the SQLite file in NIGHTSHIFT_HOME."""
    if settings.database_url is not None:
        return await Store.connect(settings.database_url.get_secret_value())
    return await Store.open(settings.db_path)
