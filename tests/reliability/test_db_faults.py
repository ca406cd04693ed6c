"""The database busy (another connection holds the write lock) or the disk full while writing:
a clear error, the next tick recovers, and the database stays consistent.

Busy: a second SQLite connection takes `BEGIN IMMEDIATE` and keeps it past the busy timeout
(shortened here to 0.3 s, from 10 s). Full: the command runs with RLIMIT_FSIZE, which makes
the kernel refuse any write past a size (EFBIG) exactly as a full disk refuses with ENOSPC,
without mounting anything, as root or not.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.assembly import ExecutorTimings, build_daemon
from core.daemon import Daemon
from core.execution.tmux import TmuxRunner
from core.models import TaskState, utcnow
from core.service import Service
from core.settings import Settings
from core.store import db as db_module
from core.store.store import Store
from tests.daemon.conftest import Record, wait_for_states

from .snapshots import db_rows, files, integrity_ok

NIGHTSHIFT = str(Path(sys.executable).parent / "nightshift")
BUSY_TIMEOUT_MS = 300


@contextmanager
def write_lock_held(path: Path) -> Iterator[threading.Event]:
    """Another connection holds the database's write lock until the block ends."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        try:
            conn.execute("BEGIN IMMEDIATE")
            taken.set()
            release.wait(60)
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(30), "could not take the write lock"
    try:
        yield release
    finally:
        release.set()
        thread.join(30)


@pytest.fixture
async def busy_store(daemon_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Store]:
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", BUSY_TIMEOUT_MS)
    store = await Store.open(daemon_settings.db_path)
    try:
        yield store
    finally:
        await store.close()


class Clock:
    """The daemon's clock (through the service): moved by the test, never slept on."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset


def _daemon(settings: Settings, store: Store, runner: TmuxRunner,
            clock: Clock | None = None) -> tuple[Service, Daemon]:
    timings = ExecutorTimings(poll_interval_s=0.02, progress_interval_s=0.1, kill_grace_s=1.0)
    daemon = build_daemon(settings, store, clock=clock or utcnow, runner=runner,
                          install_signal_handlers=False, timings=timings)
    return daemon.service, daemon


async def _logged(caplog: pytest.LogCaptureFixture, message: str, timeout_s: float = 30) -> logging.LogRecord:
    for _ in range(int(timeout_s / 0.02)):
        found = [r for r in caplog.records if r.getMessage() == message]
        if found:
            return found[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {message!r} in the log: {caplog.text[-2000:]}")


@pytest.mark.timeout(60)
async def test_busy_when_claiming_is_a_clear_error_and_the_next_tick_recovers(
    daemon_settings: Settings, busy_store: Store, runner: TmuxRunner, record: Record,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    service, daemon = _daemon(daemon_settings, busy_store, runner)
    task = await service.add("wait for the lock [fake: turns=1]", plan=False)
    with write_lock_held(daemon_settings.db_path):
        job = asyncio.create_task(daemon.run())
        failed = await _logged(caplog, "dispatch failed")
        assert failed.exc_info is not None
        assert "database busy or unwritable: database is locked" in str(failed.exc_info[1])
        assert (await busy_store.tasks.get(task.id)).state is TaskState.READY  # reads still work
        assert record() == []
    try:
        # The lock is gone; the next safety tick (due in a minute) runs now.
        daemon.timers.fire_now("tick")
        await wait_for_states(busy_store, [task.id], {TaskState.DONE}, timeout_s=30)
    finally:
        daemon.request_stop("test over")
        await asyncio.wait_for(job, 30)
    assert len(record()) == 1 and integrity_ok(daemon_settings.db_path)


@pytest.mark.timeout(60)
async def test_busy_while_a_run_reports_progress_does_not_lose_the_run(
    daemon_settings: Settings, busy_store: Store, runner: TmuxRunner, record: Record,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    service, daemon = _daemon(daemon_settings, busy_store, runner, clock)
    task = await service.add("a slow one [fake: slow delay=0.15 turns=3]", plan=False)
    job = asyncio.create_task(daemon.run())
    try:
        for _ in range(1500):
            if record():
                break
            await asyncio.sleep(0.02)
        with write_lock_held(daemon_settings.db_path):
            # The watcher's progress write meets the lock and gives up: a clear error, the
            # run goes on in tmux meanwhile.
            failed = await _logged(caplog, "run failed to execute")
        assert "database busy or unwritable" in failed.fields["error"]  # type: ignore[attr-defined]
        assert (await busy_store.tasks.get(task.id)).state is TaskState.RUNNING
        # A minute later (the hold after a failure) the next tick follows the run again.
        clock.offset += timedelta(seconds=61)
        daemon.timers.fire_now("tick")
        (done,) = await wait_for_states(busy_store, [task.id], {TaskState.DONE, TaskState.FAILED},
                                        timeout_s=30)
    finally:
        daemon.request_stop("test over")
        await asyncio.wait_for(job, 30)
    assert done.state is TaskState.DONE and done.attempts == 1
    assert len(record()) == 1, "the run was followed to its end, not started again"
    assert integrity_ok(daemon_settings.db_path)


def _limited(limit_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))


def ns(*args: str, limit_bytes: int | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NIGHTSHIFT, *args], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ), stdin=subprocess.DEVNULL,
                          preexec_fn=(lambda: _limited(limit_bytes)) if limit_bytes else None)


async def test_a_full_disk_while_writing_notes_is_a_clear_error_and_the_next_run_recovers(
    service: Service, settings: Settings,
) -> None:
    for i in range(3):
        await service.add(f"small task {i}", plan=False)
    # A task note bigger than what the disk still takes (the database itself still fits).
    big = await service.add("a long prompt\n" + "x" * 60_000, plan=False)
    full = ns("notes", limit_bytes=40_000)
    assert full.returncode == 1, full.stdout + full.stderr
    assert full.stderr.startswith("error: could not write ") and "Traceback" not in full.stderr
    assert "free some space" in full.stderr and len(full.stderr.splitlines()) == 1
    brain = settings.brain_dir
    assert [p for p in brain.rglob("*") if p.name.endswith(".tmp")] == [], "no half-written file"
    assert integrity_ok(settings.db_path)

    again = ns("notes")
    assert again.returncode == 0, again.stderr
    note = next((brain / "tasks").glob(f"{big.id}-*.md"))
    assert "x" * 60_000 in note.read_text(encoding="utf-8")
    assert ns("notes").stdout.count("0 written") == 1, "everything was written; nothing left to do"


@pytest.mark.parametrize("command", [["add", "--no-plan", "one more"], ["backup", "--out", "b.db"]])
async def test_a_full_disk_refuses_commands_cleanly_and_changes_nothing(
    service: Service, settings: Settings, isolated_env: Path, command: list[str],
) -> None:
    for i in range(20):
        await service.add(f"task {i}", plan=False)
    before, files_before = db_rows(settings.db_path), files(isolated_env)
    full = ns(*command, limit_bytes=16_000)
    assert full.returncode == 1 and full.stderr.startswith("error: ") and "Traceback" not in full.stderr
    assert len(full.stderr.splitlines()) == 1, full.stderr
    assert db_rows(settings.db_path) == before and integrity_ok(settings.db_path)
    assert files(isolated_env) == files_before, "no partial backup or other file is left"
    assert ns(*command).returncode == 0, "with room again the same command works"
