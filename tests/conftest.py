"""Shared fixtures: every test gets its own NIGHTSHIFT_HOME, vault and Claude data dir."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.execution.tmux import TmuxRunner
from core.service import Service
from core.settings import Settings, load_settings
from core.store.store import Store
from tests.pgserver import PostgresUnavailable, TempPostgres, create_database, create_schema
from tests.support import Record, read_record

_ENV_PREFIXES = ("NIGHTSHIFT_", "TELEGRAM_", "CLAUDE_CONFIG_DIR", "CLAUDECODE")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No test reads the developer's real settings, `.env`, Claude logs or tmux server."""
    for key in list(os.environ):
        if key.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(key, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("NIGHTSHIFT_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("NIGHTSHIFT_BRAIN", str(tmp_path / "brain"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    socket = f"ns-test-{os.getpid()}-{tmp_path.name}"
    monkeypatch.setenv("NIGHTSHIFT_TMUX_SOCKET", socket)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    # The test's tmux server ends with it, and its socket file in /tmp/tmux-UID with it.
    tmux = TmuxRunner(socket)
    if tmux.socket_path().exists():
        tmux.stop_server()


@pytest.fixture
def settings(isolated_env: Path) -> Settings:
    return load_settings(env_file=None)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    opened = await Store.open(settings.db_path)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def service(settings: Settings, store: Store) -> AsyncIterator[Service]:
    yield Service(settings, store)


@pytest.fixture
def record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Record:
    """Every invocation of the fake CLI, as it arrived (it appends to FAKE_CLAUDE_RECORD)."""
    path = tmp_path / "fake-record.jsonl"
    monkeypatch.setenv("FAKE_CLAUDE_RECORD", str(path))
    return lambda: read_record(path)


# --- PostgreSQL: one throwaway server per test session (per xdist worker) --------------------

PG_DATABASE = "nightshift_tests"
_pg_schemas = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[TempPostgres]:
    """A private PostgreSQL server, or a skip saying why none can run on this machine."""
    try:
        server = TempPostgres.start()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL adapter not tested: {exc}")
    try:
        create_database(server, PG_DATABASE)
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server: TempPostgres) -> str:
    """An empty schema of its own for one test (nightshift migrates it when it connects)."""
    return create_schema(postgres_server, PG_DATABASE, f"t{next(_pg_schemas)}")
