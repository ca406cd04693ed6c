"""One step of the schema, the same shape on both engines: a version, a name, its statements.

The SQLite steps (`sqlite_schema`) and the PostgreSQL ones (`pg_schema`) are data of this
one shape with matching version numbers, so the two can be read side by side and checked to
stay in step (tests/store/test_pg_migrations.py); each engine's runner applies them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SchemaStep:
    version: int
    name: str
    statements: tuple[str, ...]


def sql_statements(sql: str) -> tuple[str, ...]:
    """Statements end with `;` at the end of a line, so triggers and function bodies keep their
    inner `;`. (SQLite's executescript() would split them itself, but it also COMMITs.)"""
    return tuple(s.strip() for s in sql.split(";\n") if s.strip())
