"""A plain `sqlite3` connection to nightshift's database for the scanner.

The scanner is synchronous file-and-SQLite work (the monitor runs it in a thread), and the
`usage blocks` fast path must not pay for importing asyncio/aiosqlite; so this opens the
same file with the same pragmas and migrations as `core.store.db.Database.open` does,
without importing that module (which imports aiosqlite).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core.errors import StoreError
from core.store.files import corrupt, is_corruption, prepare_database_file
from core.usage.stored import USAGE_SCHEMA_VERSION

BUSY_TIMEOUT_MS = 10_000
CACHE_KIB = 4_096


def _schema_version(conn: sqlite3.Connection) -> int:
    try:
        row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    except sqlite3.OperationalError:
        return 0  # a new database: no migration table yet
    return int(row[0])


def open_scan_db(path: Path, conn: sqlite3.Connection | None = None) -> sqlite3.Connection:
    """Open (creating and migrating if needed) the database in autocommit mode.

    `conn`: an autocommit connection to `path` already open (the `usage blocks` lean path's,
    core.usage.lean), prepared here instead of opening another."""
    try:
        prepare_database_file(path)  # never a descriptor of its own: see core.store.files
        if conn is None:
            conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000,
                                   check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open the database at {path}: {exc}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        # A little more page cache than the 2 MB default for index updates on random pages; a
        # cold scan builds its indexes after the bulk insert and needs no more (memory stays
        # low: a bigger cache, and the sorter that follows its size, only cost resident memory).
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        if _schema_version(conn) < USAGE_SCHEMA_VERSION:
            from core.store import migrations  # only when needed: see USAGE_SCHEMA_VERSION

            migrations.migrate(conn)
    except sqlite3.Error as exc:
        conn.close()
        if is_corruption(exc):
            raise corrupt(path, exc) from None
        raise StoreError(f"cannot prepare the database at {path}: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn
