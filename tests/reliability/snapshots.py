"""What "nothing changed" means, measured: every row of every table, every file's bytes."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

DB_FILES = ("nightshift.db", "nightshift.db-wal", "nightshift.db-shm", "daemon.lock")


def db_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """All rows of all tables, sorted (a read-only connection: looking changes nothing)."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


def changed_tables(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> list[str]:
    return sorted(t for t in set(before) | set(after) if before.get(t) != after.get(t))


def files(root: Path, *, skip: tuple[str, ...] = DB_FILES) -> dict[str, str]:
    """Every file under `root` (but the database's own) with a hash of its bytes."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name not in skip:
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def integrity_ok(path: Path) -> bool:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("PRAGMA integrity_check").fetchone()
        return row is not None and row[0] == "ok"
    finally:
        conn.close()
