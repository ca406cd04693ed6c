"""The store's seam: what the domain stores (tasks, runs, plans, outbox…) need from a database.

Two adapters implement it: SQLite (`core.store.db`, the embedded default, one machine) and
PostgreSQL (`core.store.pg`, one queue shared by several machines). The domain stores are
written once against this port in the SQL both engines speak: `?` placeholders, `RETURNING`,
`ON CONFLICT`; the few places where the engines differ ask the `Dialect` for their fragment.
The contract tests in tests/store/ run every domain store against both adapters.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol


class Row(Protocol):
    """One result row, by position or by column name (sqlite3.Row and asyncpg.Record both are)."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Any]: ...

    def keys(self) -> Iterable[str]: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    """The fragments of SQL that differ between the engines; everything else is shared."""

    name: Literal["sqlite", "postgresql"]
    claim_lock: str
    """Appended to a claim's `SELECT … LIMIT 1`: SQLite's BEGIN IMMEDIATE already holds the only
    write lock, PostgreSQL locks the chosen row and lets other claimers skip it."""
    _id_list: str
    _minutes: str

    def id_list(self, expr: str) -> str:
        """An aggregate joining integer ids with commas ('3,7'), NULL when there are none."""
        return self._id_list.format(expr=expr)

    def minutes_between(self, start: str, end: str) -> str:
        """Minutes from one ISO-text timestamp column to another, as a float."""
        return self._minutes.format(start=start, end=end)


SQLITE = Dialect(
    name="sqlite",
    claim_lock="",
    _id_list="group_concat({expr})",
    _minutes="((julianday({end}) - julianday({start})) * 1440.0)",
)

POSTGRESQL = Dialect(
    name="postgresql",
    claim_lock=" FOR UPDATE OF t SKIP LOCKED",
    _id_list="string_agg(CAST({expr} AS TEXT), ',')",
    _minutes=(
        "(CAST(EXTRACT(EPOCH FROM (CAST({end} AS TIMESTAMPTZ) - CAST({start} AS TIMESTAMPTZ)))"
        " AS DOUBLE PRECISION) / 60.0)"
    ),
)


class Tx(Protocol):
    """One open transaction. Statements use `?` placeholders whichever the engine."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return how many rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one INSERT into a table with an `id` column; return the new row's id."""
        ...

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...


class Database(Protocol):
    """A database holding nightshift's tables, migrated to the latest schema when opened."""

    dialect: Dialect

    @property
    def location(self) -> str:
        """Where the data lives, for messages: a file path, or a URL without its password."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """All statements inside commit together or not at all.

        On SQLite transactions are serial (one writer); on PostgreSQL they run concurrently
        at READ COMMITTED, so a domain store never relies on a read staying true within the
        transaction unless it locked the row or re-checks it in the UPDATE's WHERE clause.
        """
        ...

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None: ...

    async def schema_version(self) -> int: ...

    async def integrity_ok(self) -> bool: ...

    async def close(self) -> None: ...
