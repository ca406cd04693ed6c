"""PostgreSQL migrations: applied exactly once however many daemons start at the same moment."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import SchemaTooNew, StoreError
from core.store import pg_schema, sqlite_schema
from core.store.pg import PostgresDatabase, numbered, redact, rows_changed
from core.store.schema_step import SchemaStep


async def test_many_openers_at_once_migrate_once(pg_url: str) -> None:
    async def applied_by_one() -> list[int]:
        conn = await asyncpg.connect(pg_url)
        try:
            return await pg_schema.migrate(conn)
        finally:
            await conn.close()

    results = await asyncio.gather(*(applied_by_one() for _ in range(6)))
    assert sorted(results, key=len) == [[]] * 5 + [[m.version for m in pg_schema.MIGRATIONS]]
    db = await PostgresDatabase.open(pg_url)
    try:
        rows = await db.fetchall("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in rows] == [m.version for m in pg_schema.MIGRATIONS]
        assert await db.schema_version() == pg_schema.latest_version()
    finally:
        await db.close()


def test_versions_match_the_sqlite_schema() -> None:
    """`schema_version()` means the same on both engines."""
    assert [m.version for m in pg_schema.MIGRATIONS] == [m.version for m in sqlite_schema.MIGRATIONS]


async def test_a_newer_database_is_refused(pg_url: str) -> None:
    await (await PostgresDatabase.open(pg_url)).close()
    conn = await asyncpg.connect(pg_url)
    await conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 'x')")
    await conn.close()
    with pytest.raises(SchemaTooNew, match="999"):
        await PostgresDatabase.open(pg_url)


async def test_a_failed_step_leaves_no_trace(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = SchemaStep(
        pg_schema.latest_version() + 1, "broken", ("CREATE TABLE half_done (x INTEGER)", "SELECT 1/0")
    )
    monkeypatch.setattr(pg_schema, "MIGRATIONS", (*pg_schema.MIGRATIONS, broken))
    with pytest.raises(StoreError, match="division by zero"):
        await PostgresDatabase.open(pg_url)
    conn = await asyncpg.connect(pg_url)
    try:
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
        assert await conn.fetchval("SELECT to_regclass('tasks')") is None  # all steps, one transaction
    finally:
        await conn.close()


async def test_an_unreachable_server_is_one_clear_error_without_the_password() -> None:
    url = "postgresql://ns:s3cret@127.0.0.1:1/nightshift"
    with pytest.raises(StoreError) as caught:
        await PostgresDatabase.open(url)
    assert "cannot open the database at postgresql://ns:***@127.0.0.1:1/nightshift" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_placeholders_are_numbered_outside_quotes() -> None:
    assert numbered("SELECT ? , '?', \"a?\", ? FROM t WHERE x = '' || ?") == (
        "SELECT $1 , '?', \"a?\", $2 FROM t WHERE x = '' || $3"
    )
    assert numbered("SELECT 'it''s ?' , ?") == "SELECT 'it''s ?' , $1"


def test_row_counts_and_redaction() -> None:
    assert [rows_changed(s) for s in ("UPDATE 3", "INSERT 0 1", "DELETE 0", "SELECT 7", "BEGIN")] == [
        3, 1, 0, 7, 0,
    ]
    assert redact("postgresql://u:p@h/db") == "postgresql://u:***@h/db"
    assert redact("postgresql://u@h:5433/db?sslmode=require") == "postgresql://u@h:5433/db?sslmode=require"


_piece = st.one_of(
    st.just("?"),
    st.text(alphabet="abc ,=()", min_size=1, max_size=5),
    st.text(alphabet="ab?'", max_size=6).map(lambda t: "'" + t.replace("'", "''") + "'"),
    st.text(alphabet="ab?", max_size=4).map(lambda t: f'"{t}"'),
)


@given(st.lists(_piece, max_size=12))
def test_numbering_touches_only_the_marks_outside_quotes(pieces: list[str]) -> None:
    marks = [p for p in pieces if p == "?"]
    expected = []
    for piece in pieces:
        expected.append(f"${len([e for e in expected if e.startswith('$')]) + 1}" if piece == "?" else piece)
    assert numbered(" ".join(pieces)) == " ".join(expected)
    assert numbered(" ".join(pieces)).count("$") == len(marks)
