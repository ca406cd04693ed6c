"""The SQLite adapter of the store port: private files, WAL, foreign keys, one writer at a time.

The database is the single source of truth; everything else (vault notes, Telegram messages)
is derived from it. SQLite is the embedded default (one machine); `core.store.pg` is the
adapter for a queue shared by several machines. One `Database` per process; coroutines share
it through `transaction()`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiosqlite

from core.errors import InvalidInput, StoreError
from core.store import migrations
from core.store.files import corrupt, ensure_private_dir, is_corruption, prepare_database_file
from core.store.port import SQLITE, Dialect, Row

__all__ = ["BUSY_TIMEOUT_MS", "Database", "SqliteTx", "ensure_private_dir", "migrate_file"]

BUSY_TIMEOUT_MS = 10_000
SQLITE_INT_MAX = 2**63 - 1


def out_of_range() -> InvalidInput:
    """sqlite3 refuses a Python int past 64 bits with OverflowError; for us it is bad input."""
    return InvalidInput(f"a number given is too large (the largest id or count is {SQLITE_INT_MAX:,})")


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")


def migrate_file(path: Path) -> list[int]:
    """Bring the database at `path` to the latest schema; safe to call from many processes."""
    try:
        prepare_database_file(path)
    except OSError as exc:
        raise StoreError(f"cannot create the database at {path}: {exc.strerror or exc}") from None
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        _configure(conn)
        return migrations.migrate(conn)
    except sqlite3.Error as exc:
        if is_corruption(exc):
            raise corrupt(path, exc) from None
        raise StoreError(f"cannot prepare the database at {path}: {exc}") from exc
    finally:
        conn.close()


class SqliteTx:
    """The port's `Tx` on an aiosqlite connection inside BEGIN IMMEDIATE … COMMIT."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = await self.conn.execute(sql, tuple(params))
        return cursor.rowcount

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.conn.executemany(sql, [tuple(row) for row in rows])

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = await self.conn.execute(sql, tuple(params))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(await self.conn.execute_fetchall(sql, tuple(params)))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """One row in one thread hop (execute + fetchone would be two)."""
        return next(iter(await self.conn.execute_fetchall(sql, tuple(params))), None)


class Database:
    """An aiosqlite connection with a transaction lock.

    aiosqlite runs every call on one thread, but two coroutines could still interleave
    statements of their transactions; the lock keeps each transaction whole.
    """

    dialect: Dialect = SQLITE

    def __init__(self, path: Path, conn: aiosqlite.Connection) -> None:
        self.path = path
        self.conn = conn
        self._lock = asyncio.Lock()

    @property
    def location(self) -> str:
        return str(self.path)

    @classmethod
    async def open(cls, path: Path) -> Database:
        migrate_file(path)
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the database at {path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        return cls(path, conn)

    def _raise_if_damaged(self, exc: sqlite3.Error) -> None:
        """SQLite saying the file is damaged becomes the one-line `DatabaseCorrupt`."""
        if is_corruption(exc):
            raise corrupt(self.path, exc) from None

    async def close(self) -> None:
        await self.conn.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteTx]:
        """BEGIN IMMEDIATE … COMMIT: takes the write lock up front so two processes serialise."""
        async with self._lock:
            try:
                await self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self._raise_if_damaged(exc)
                raise StoreError(f"database busy or unwritable: {exc}") from exc
            try:
                yield SqliteTx(self.conn)
            except OverflowError:
                await self._rollback()
                raise out_of_range() from None
            except sqlite3.Error as exc:  # disk full, I/O error, locked mid-way, a trigger refused
                await self._rollback()
                self._raise_if_damaged(exc)
                raise StoreError(f"could not save to the database: {exc}") from exc
            except BaseException:
                await self._rollback()
                raise
            else:
                try:
                    await self.conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    await self._rollback()
                    self._raise_if_damaged(exc)
                    raise StoreError(f"could not save to the database: {exc}") from exc

    async def _rollback(self) -> None:
        """Undo the open transaction. After a full disk or an I/O error SQLite has rolled it
        back itself, and a second ROLLBACK would fail and hide the error that matters."""
        if self.conn.in_transaction:
            with suppress(sqlite3.Error):
                await self.conn.execute("ROLLBACK")

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        async with self._lock:
            try:
                return list(await self.conn.execute_fetchall(sql, tuple(params)))
            except OverflowError:
                raise out_of_range() from None
            except sqlite3.DatabaseError as exc:
                self._raise_if_damaged(exc)
                raise

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def schema_version(self) -> int:
        row = await self.fetchone("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        return int(row[0]) if row else 0

    async def integrity_ok(self) -> bool:
        row = await self.fetchone("PRAGMA integrity_check")
        return row is not None and row[0] == "ok"

    async def ensure_sound(self) -> None:
        """`PRAGMA quick_check` (every page, not the indexes' contents: milliseconds for
        nightshift's sizes); raises `DatabaseCorrupt` so nothing is built on damaged pages."""
        rows = await self.fetchall("PRAGMA quick_check(3)")
        problems = [str(r[0]) for r in rows if r[0] != "ok"]
        if problems:
            raise corrupt(self.path, "; ".join(problems))
