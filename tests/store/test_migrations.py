"""Migrations: each applied once, in a transaction with its record; old databases upgrade."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from core.errors import SchemaTooNew, StoreError
from core.store import migrations, sqlite_schema
from core.store.db import Database, migrate_file
from core.store.schema_step import SchemaStep


def _tables(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall())
    finally:
        conn.close()


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "state" / "n.db"
    first = migrate_file(db)
    assert first == [m.version for m in sqlite_schema.MIGRATIONS]
    schema = _tables(db)
    assert migrate_file(db) == []
    assert _tables(db) == schema


def test_files_are_private(tmp_path: Path) -> None:
    db = tmp_path / "state" / "n.db"
    migrate_file(db)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700


async def test_v1_database_with_data_upgrades(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrations.migrate(conn, target=1) == [1]
    conn.execute(
        "INSERT INTO tasks (title, prompt, priority, state, created_at, updated_at)"
        " VALUES ('old', 'old task', 2, 'queued', '2026-01-01T00:00:00.000000+00:00',"
        " '2026-01-01T00:00:00.000000+00:00')"
    )
    conn.close()
    db = await Database.open(path)
    try:
        assert await db.schema_version() == migrations.latest_version()
        row = await db.fetchone("SELECT title FROM tasks")
        assert row is not None and row[0] == "old"
        assert await db.fetchone("SELECT COUNT(*) FROM runs") is not None
    finally:
        await db.close()


def test_failed_migration_leaves_no_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "n.db"
    migrate_file(path)

    statements = ("CREATE TABLE half_done (x)", "INSERT INTO missing VALUES (1)")
    step = SchemaStep(migrations.latest_version() + 1, "broken", statements)
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", (*sqlite_schema.MIGRATIONS, step))
    with pytest.raises(StoreError, match="no such table: missing"):
        migrate_file(path)
    tables = _tables(path)
    assert "half_done" not in tables
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == step.version - 1
    conn.close()


def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "n.db"
    migrate_file(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'x')")
    conn.close()
    with pytest.raises(SchemaTooNew, match="upgrade nightshift"):
        migrate_file(path)


async def test_wal_and_foreign_keys(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "n.db")
    try:
        assert (await db.fetchone("PRAGMA journal_mode"))[0] == "wal"  # type: ignore[index]
        assert (await db.fetchone("PRAGMA foreign_keys"))[0] == 1  # type: ignore[index]
        assert (await db.fetchone("PRAGMA busy_timeout"))[0] >= 1000  # type: ignore[index]
    finally:
        await db.close()
