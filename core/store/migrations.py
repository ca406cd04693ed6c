"""The SQLite migration runner: brings a database file to the schema of `sqlite_schema`.

Each step runs in one transaction together with the row that records it (as sqlite-utils'
migrations do), so a crash leaves the database either before or after a step, never
half-way. Applying the set twice changes nothing. The steps themselves are data in
`sqlite_schema`; PostgreSQL's runner is `pg_schema.migrate`.
"""

from __future__ import annotations

import sqlite3

from core.errors import SchemaTooNew
from core.store import sqlite_schema


def latest_version() -> int:
    steps = sqlite_schema.MIGRATIONS
    return steps[-1].version if steps else 0


def current_version(conn: sqlite3.Connection) -> int:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection, target: int | None = None) -> list[int]:
    """Apply every step above the database's version; return those applied.

    The connection must be in autocommit mode (isolation_level=None) so that the explicit
    BEGIN IMMEDIATE here is the only transaction: it also serialises two processes that
    start at the same moment. Statements run one by one (executescript() would COMMIT).
    """
    applied: list[int] = []
    goal = latest_version() if target is None else target
    found = current_version(conn)
    if found > latest_version():
        raise SchemaTooNew(found, latest_version())
    for step in sqlite_schema.MIGRATIONS:
        if step.version > goal:
            break
        conn.execute("BEGIN IMMEDIATE")
        try:
            if current_version(conn) >= step.version:
                conn.execute("ROLLBACK")
                continue
            for statement in step.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at)"
                " VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))",
                (step.version, step.name),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(step.version)
    return applied
