"""The PostgreSQL adapter of the store port: one queue shared by the daemons of several machines.

Chosen with `NIGHTSHIFT_DATABASE_URL=postgresql://…`. The domain stores' statements use `?`
placeholders; this adapter numbers them (`$1`, `$2`…) for asyncpg. Transactions run at READ
COMMITTED on a small pool, so coroutines of one daemon and daemons of other machines work
at once; claims lock their row with `FOR UPDATE SKIP LOCKED` (core/store/claims.py).
"""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from core.errors import InvalidInput, StoreError
from core.store import pg_schema
from core.store.db import out_of_range
from core.store.port import POSTGRESQL, Dialect

POOL_MAX_SIZE = 5
CONNECT_TIMEOUT_S = 10.0
_QUOTED_OR_MARK = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?")


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" if parts.username else f"***@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def is_postgres_url(url: str) -> bool:
    return urlsplit(url).scheme in {"postgresql", "postgres"}


@functools.lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """`?` placeholders as `$1, $2…`; a `?` inside a quoted literal or name stays as it is."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(0) != "?":
            return match.group(0)
        count += 1
        return f"${count}"

    return _QUOTED_OR_MARK.sub(number, sql)


def rows_changed(status: str) -> int:
    """asyncpg reports 'UPDATE 3', 'INSERT 0 1', 'DELETE 0': the last number is the row count."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PgTx:
    """The port's `Tx` on one pooled asyncpg connection inside a transaction."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return rows_changed(await self.conn.execute(numbered(sql), *params))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = [tuple(row) for row in rows]
        if batch:
            await self.conn.executemany(numbered(sql), batch)

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(await self.conn.fetchval(numbered(sql + " RETURNING id"), *params))

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(await self.conn.fetch(numbered(sql), *params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self.conn.fetchrow(numbered(sql), *params)


def _failure(exc: BaseException, doing: str) -> StoreError | InvalidInput:
    """One of nightshift's errors for what asyncpg raised (its message names no secret)."""
    if isinstance(exc, OverflowError) or (
        isinstance(exc, asyncpg.DataError) and "out of int64 range" in str(exc)
    ):
        return out_of_range()
    detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return StoreError(f"{doing}: {detail}")


_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, OverflowError)


async def probe(url: str) -> int:
    """The schema version of the database at `url`, read without changing anything (0: empty)."""
    try:
        conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_S)
    except (*_DRIVER_ERRORS, TimeoutError, ValueError) as exc:
        raise _failure(exc, f"cannot open the database at {redact(url)}") from None
    try:
        if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
            return 0
        return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))
    except _DRIVER_ERRORS as exc:
        raise _failure(exc, f"cannot read the database at {redact(url)}") from None
    finally:
        await conn.close()


class PostgresDatabase:
    """A pool of asyncpg connections to one PostgreSQL database, migrated when opened."""

    dialect: Dialect = POSTGRESQL

    def __init__(self, url: str, pool: Any) -> None:
        self.url = url
        self.pool = pool

    @property
    def location(self) -> str:
        return redact(self.url)

    @classmethod
    async def open(cls, url: str, *, max_size: int = POOL_MAX_SIZE) -> PostgresDatabase:
        try:
            pool = await asyncpg.create_pool(
                url, min_size=1, max_size=max_size, timeout=CONNECT_TIMEOUT_S,
                server_settings={"application_name": "nightshift"},
            )
        except (*_DRIVER_ERRORS, TimeoutError, ValueError) as exc:
            raise _failure(exc, f"cannot open the database at {redact(url)}") from None
        try:
            async with pool.acquire() as conn:
                await pg_schema.migrate(conn)
        except _DRIVER_ERRORS as exc:
            await pool.close()
            raise _failure(exc, f"cannot prepare the database at {redact(url)}") from None
        except BaseException:
            await pool.close()
            raise
        return cls(url, pool)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgTx]:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                yield PgTx(conn)
        except _DRIVER_ERRORS as exc:
            raise _failure(exc, "could not save to the database") from None

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        try:
            return list(await self.pool.fetch(numbered(sql), *params))
        except _DRIVER_ERRORS as exc:
            raise _failure(exc, "could not read the database") from None

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Any:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def schema_version(self) -> int:
        row = await self.fetchone("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        return int(row[0]) if row else 0

    async def integrity_ok(self) -> bool:
        """PostgreSQL checks its own pages; reachable and answering is what we can tell."""
        row = await self.fetchone("SELECT 1")
        return row is not None and row[0] == 1
