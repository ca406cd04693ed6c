"""Backups: SQLite's online backup API while others write, private files, restore, daily rotation."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.backup import (
    DAILY_PREFIX,
    backup_database,
    daily_backup,
    daily_files,
    inspect_backup,
    restore_database,
)
from core.errors import InvalidInput, SchemaTooNew
from core.lock import InstanceLock
from core.service import Service
from core.settings import Settings, load_settings
from core.store import migrations
from core.store.store import Store

from .snapshots import db_rows, integrity_ok

NIGHTSHIFT = str(Path(sys.executable).parent / "nightshift")


def ns(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NIGHTSHIFT, *args], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ), stdin=subprocess.DEVNULL)


def _wait_for(items: list[int], count: int, timeout_s: float = 30.0) -> bool:
    """Block (in a thread) until another thread has appended `count` items."""
    deadline = time.monotonic() + timeout_s
    while len(items) < count and time.monotonic() < deadline:
        time.sleep(0.005)
    return len(items) >= count


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_backup_taken_while_another_process_writes_is_consistent(
    service: Service, settings: Settings, tmp_path: Path
) -> None:
    for i in range(50):
        await service.add(f"task {i}", plan=False)
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        # Another connection keeps committing, as the daemon does while a backup runs.
        conn = sqlite3.connect(settings.db_path, isolation_level=None, timeout=10)
        try:
            while not stop.is_set():
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO kv (key, value, updated_at) VALUES (?, '1', 'now')"
                             " ON CONFLICT(key) DO UPDATE SET value = value + 1", (f"k{len(written) % 7}",))
                conn.execute("COMMIT")
                written.append(1)
        finally:
            conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert await asyncio.to_thread(_wait_for, written, 20), "the writer is under way"
        infos = [backup_database(settings.db_path, tmp_path / "out" / f"b{i}.db") for i in range(5)]
    finally:
        stop.set()
        thread.join()
    for info in infos:
        assert info.tasks == 50 and info.schema_version == migrations.latest_version()
        assert integrity_ok(info.path)
        assert mode(info.path) == 0o600 and mode(info.path.parent) == 0o700
        assert not Path(f"{info.path}-wal").exists(), "a backup is one self-contained file"
        conn = sqlite3.connect(info.path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        conn.close()
    assert list((tmp_path / "out").glob(".*tmp")) == [], "no temporary file is left behind"


def test_backup_and_restore_from_the_command_line(service: Service, settings: Settings,
                                                  tmp_path: Path) -> None:
    asyncio.run(service.add("keep me", plan=False))
    out = tmp_path / "safe" / "copy.db"
    made = ns("backup", "--out", str(out))
    assert made.returncode == 0, made.stderr
    assert "backed up 1 tasks to" in made.stdout and mode(out) == 0o600 and mode(out.parent) == 0o700
    default = ns("backup", "--json")
    assert default.returncode == 0 and "/backups/nightshift-" in default.stdout

    asyncio.run(service.add("added after the backup", plan=False))
    refused = ns("restore", str(out))  # no --yes and no terminal to ask on: nothing happens
    assert refused.returncode == 1 and len(db_rows(settings.db_path)["tasks"]) == 2
    restored = ns("restore", str(out), "--yes")
    assert restored.returncode == 0, restored.stderr
    assert [t[2] for t in sorted(db_rows(settings.db_path)["tasks"])] == ["keep me"]
    kept = restored.stdout.split("is kept at ")[1].strip()
    assert len(db_rows(Path(kept))["tasks"]) == 2, "the replaced database can be restored again"
    assert mode(settings.db_path) == 0o600 and integrity_ok(settings.db_path)
    listed = ns("list", "--json")
    assert listed.returncode == 0 and '"keep me"' in listed.stdout


async def test_restore_is_refused_while_the_daemon_runs(service: Service, settings: Settings,
                                                        tmp_path: Path) -> None:
    await service.add("live", plan=False)
    backup = backup_database(settings.db_path, tmp_path / "b.db")
    before = db_rows(settings.db_path)
    with InstanceLock(settings.home_dir):  # what `nightshift run` holds
        with pytest.raises(InvalidInput, match=r"already running .*stop it before restoring"):
            restore_database(settings, backup.path, now=datetime.now(UTC))
        done = ns("restore", str(backup.path), "--yes")
    assert done.returncode == 1 and "stop it before restoring" in done.stderr
    assert db_rows(settings.db_path) == before


def _damaged(path: Path, source: Path) -> Path:
    """Every page but the first (the header and the schema) overwritten: tables point at junk."""
    shutil.copy(source, path)
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.seek(4096)
        fh.write(os.urandom(size - 4096))
    return path


@pytest.mark.parametrize("kind", ["text", "empty", "damaged", "foreign", "newer", "directory"])
async def test_restore_refuses_anything_but_a_sound_backup(
    service: Service, settings: Settings, tmp_path: Path, kind: str
) -> None:
    await service.add("stay", plan=False)
    good = backup_database(settings.db_path, tmp_path / "good.db").path
    candidate = tmp_path / f"{kind}.db"
    if kind == "text":
        candidate.write_text("not a database\n")
    elif kind == "empty":
        candidate.touch()
    elif kind == "damaged":
        _damaged(candidate, good)
    elif kind == "foreign":
        conn = sqlite3.connect(candidate)
        conn.execute("CREATE TABLE photos (id INTEGER)")
        conn.commit()
        conn.close()
    elif kind == "newer":
        shutil.copy(good, candidate)
        conn = sqlite3.connect(candidate)
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'from the future', 'now')")
        conn.commit()
        conn.close()
    else:
        candidate.mkdir()
    before = db_rows(settings.db_path)
    with pytest.raises((InvalidInput, SchemaTooNew)):
        restore_database(settings, candidate, now=datetime.now(UTC))
    done = ns("restore", str(candidate), "--yes")
    assert done.returncode == 1 and done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert db_rows(settings.db_path) == before
    assert not (settings.home_dir / "backups").exists(), "nothing was replaced, so nothing was kept"


async def test_an_older_backup_is_brought_up_to_the_current_schema(settings: Settings,
                                                                   tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    conn = sqlite3.connect(old, isolation_level=None)
    migrations.migrate(conn, target=2)
    conn.execute("INSERT INTO tasks (title, prompt, state, priority, created_at, updated_at)"
                 " VALUES ('old', 'from v2', 'ready', 2, '2026-01-01T00:00:00+00:00',"
                 " '2026-01-01T00:00:00+00:00')")
    conn.close()
    assert inspect_backup(old).schema_version == 2
    restore_database(settings, old, now=datetime.now(UTC))
    store = await Store.open(settings.db_path)
    try:
        assert await store.db.schema_version() == migrations.latest_version()
        assert [t.title for t in await store.tasks.query()] == ["old"]
    finally:
        await store.close()


def test_the_documented_manual_restore_works(settings: Settings, service: Service, tmp_path: Path) -> None:
    asyncio.run(service.add("by hand", plan=False))
    backup = backup_database(settings.db_path, tmp_path / "b.db").path
    asyncio.run(service.add("lost", plan=False))
    # The module docstring's steps: move the database and its -wal/-shm away, copy the backup in.
    aside = tmp_path / "aside"
    aside.mkdir()
    for name in ("nightshift.db", "nightshift.db-wal", "nightshift.db-shm"):
        if (settings.home_dir / name).exists():
            shutil.move(settings.home_dir / name, aside / name)
    shutil.copy(backup, settings.db_path)
    settings.db_path.chmod(0o600)
    listed = ns("list", "--json")
    assert listed.returncode == 0 and '"by hand"' in listed.stdout and '"lost"' not in listed.stdout


OTTAWA = "America/Toronto"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps_h=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=14),
       keep=st.integers(min_value=1, max_value=4))
async def test_daily_backups_one_per_local_day_keeping_the_newest(
    isolated_env: Path, steps_h: list[int], keep: int
) -> None:
    """Whatever the times of the ticks, there is one backup per local day seen, at most `keep`."""
    home = isolated_env / f"daily-{len(list(isolated_env.glob('daily-*')))}"
    config = load_settings(env_file=None, home=home, tz=OTTAWA)
    store = await Store.open(config.db_path)
    try:
        now = datetime(2026, 3, 7, 12, tzinfo=UTC)  # the night the clocks go forward in Toronto
        days: list[str] = []
        for step in steps_h:
            now += timedelta(hours=step)
            day = now.astimezone(config.local_tz).strftime("%Y-%m-%d")
            made = await daily_backup(config, store, now, keep=keep)
            assert (made is not None) == (day not in days)
            if made is not None:
                days.append(day)
                assert made.name == f"{DAILY_PREFIX}{day}.db" and integrity_ok(made)
        assert [p.name for p in daily_files(config)] == [f"{DAILY_PREFIX}{d}.db" for d in days[-keep:]]
    finally:
        await store.close()


async def test_daily_backup_refuses_to_keep_none(settings: Settings, store: Store) -> None:
    with pytest.raises(InvalidInput):
        await daily_backup(settings, store, datetime.now(UTC), keep=0)


async def test_the_daemon_takes_todays_backup_when_it_starts(
    daemon_settings: Settings, dservice: Service, start_daemon: Any,
) -> None:
    await dservice.add("back me up", plan=False, after=())
    running = await start_daemon(monitor=False)
    folder = daemon_settings.home_dir / "backups"
    for _ in range(500):
        made = list(folder.glob(f"{DAILY_PREFIX}*.db")) if folder.is_dir() else []
        if made:
            break
        await asyncio.sleep(0.02)
    [backup] = made
    today = dservice.now().astimezone(daemon_settings.local_tz).strftime("%Y-%m-%d")
    assert backup.name == f"{DAILY_PREFIX}{today}.db" and mode(backup) == 0o600
    assert inspect_backup(backup).tasks == 1
    assert running.daemon.timers.next_fire("backup") is not None, "checked again every hour"
