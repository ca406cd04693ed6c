"""Where freshly read rows wait until one transaction moves them into `usage_entries`.

Reading is the slow part of a scan and can run in several processes; writing to the
database is one short transaction at the end. Rows go first to a staging table: a temp
table of the scanner's own connection, or a private SQLite file per worker process that the
scanner then attaches. Moving them is one `INSERT … SELECT` inside SQLite, with no Python
object per row, and nobody waits for the database's write lock while logs are decoded.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from core.usage.prices import PriceTable
from core.usage.reader import ROW_COLUMNS, read_file
from core.usage.tree import FileRead

PARALLEL_MIN_BYTES = 24 << 20
"""Below this much to read, a worker process's start (an interpreter and its imports) costs
more than it saves: the read happens here, without importing `core.usage.parallel`."""

ROWS_TABLE = "usage_staged"
OUTCOMES_TABLE = "usage_outcomes"
_ROW_TYPES = {"slot": "INTEGER", "offset": "INTEGER", "provisional": "INTEGER", "ts_ms": "INTEGER",
              "key": "TEXT", "cost": "REAL", "logged_cost": "REAL", "estimated": "INTEGER", "model": "TEXT",
              "reset_ms": "INTEGER", "limit_text": "TEXT"}
_INSERT_ROW = (f"INSERT INTO {{schema}}.{ROWS_TABLE} ({', '.join(ROW_COLUMNS)})"
               f" VALUES ({', '.join('?' * len(ROW_COLUMNS))})")


def create(conn: sqlite3.Connection, schema: str) -> None:
    """The staging tables in `schema` (`temp`, or `main` of a worker's file), empty."""
    columns = ", ".join(f'"{name}" {_ROW_TYPES.get(name, "")}'.rstrip() for name in ROW_COLUMNS)
    conn.execute(f"DROP TABLE IF EXISTS {schema}.{ROWS_TABLE}")
    conn.execute(f"DROP TABLE IF EXISTS {schema}.{OUTCOMES_TABLE}")
    conn.execute(f"CREATE TABLE {schema}.{ROWS_TABLE} ({columns})")
    conn.execute(f"CREATE TABLE {schema}.{OUTCOMES_TABLE} (slot INTEGER PRIMARY KEY, offset INTEGER,"
                 " tail_check TEXT, min_ts_ms INTEGER, lines INTEGER, malformed INTEGER,"
                 " pending_bytes INTEGER, error TEXT)")


def add_rows(conn: sqlite3.Connection, schema: str, rows: Iterable[tuple[Any, ...]]) -> None:
    conn.executemany(_INSERT_ROW.format(schema=schema), rows)


def drop_slot(conn: sqlite3.Connection, schema: str, slot: int) -> None:
    """Forget the rows of a read that failed half way."""
    conn.execute(f"DELETE FROM {schema}.{ROWS_TABLE} WHERE slot = ?", (slot,))


def add_outcome(conn: sqlite3.Connection, schema: str, outcome: tuple[Any, ...]) -> None:
    conn.execute(f"INSERT OR REPLACE INTO {schema}.{OUTCOMES_TABLE} VALUES (?,?,?,?,?,?,?,?)", outcome)


def outcomes(conn: sqlite3.Connection, schema: str) -> list[tuple[Any, ...]]:
    return conn.execute(f"SELECT * FROM {schema}.{OUTCOMES_TABLE} ORDER BY slot").fetchall()


def copy_into_entries(conn: sqlite3.Connection, schema: str) -> tuple[int, int | None]:
    """Move the staged rows of the reads listed in `temp.usage_slots` into `usage_entries`.

    Every row arrives counted (`winner = 1`); groups of copies are decided afterwards. A row
    of an appended part whose response the same file already holds is dropped: the earlier
    copy in the file always comes first (see `core.usage.reader`). Returns (rows moved,
    earliest time among them).
    """
    columns = [name for name in ROW_COLUMNS if name not in ("slot", "offset")]
    before = conn.total_changes
    conn.execute(
        f"INSERT INTO usage_entries (file_id, offset, {', '.join(columns)})"
        f" SELECT m.file_id, s.offset, {', '.join('s.' + name for name in columns)}"
        f" FROM {schema}.{ROWS_TABLE} s JOIN temp.usage_slots m ON m.slot = s.slot"
        " WHERE NOT (m.appended AND s.key IS NOT NULL AND EXISTS ("
        "   SELECT 1 FROM usage_entries e WHERE e.key = s.key AND e.file_id = m.file_id))")
    moved = conn.total_changes - before
    earliest = conn.execute(
        f"SELECT MIN(s.ts_ms) FROM {schema}.{ROWS_TABLE} s JOIN temp.usage_slots m ON m.slot = s.slot"
    ).fetchone()[0] if moved else None
    return moved, earliest


def read_here(conn: sqlite3.Connection, items: list[FileRead], prices: PriceTable, fast: bool,
              progress: Callable[[int], None] | None = None) -> None:
    """Read `items` in this process into the `temp` staging table."""
    conn.execute("BEGIN")
    try:
        for item in items:
            try:
                read_file(item, prices, fast, lambda rows: add_rows(conn, "temp", rows))
                if item.rows:
                    add_rows(conn, "temp", item.rows)
                    item.rows = []
            except Exception as exc:
                drop_slot(conn, "temp", item.slot)
                item.rows = []
                item.error = f"{type(exc).__name__}: {exc}"[:500]
            if progress is not None:
                progress(item.to_read)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
