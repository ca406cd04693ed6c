"""Real parts for execution tests: a private tmux server per test, git repos, the fake CLI."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.execution.executor import Executor
from core.execution.tmux import TmuxRunner
from core.models import Task
from core.settings import Settings, load_settings
from core.store.store import Store
from core.store.task_rows import NewTask
from tests.fakes.notifier import RecordingNotifier
from tests.support import FAKE, Record, git, make_repo  # noqa: F401 - re-exported for tests


async def eventually(condition: Callable[[], Any], what: str, limit_s: float = 60.0) -> None:
    """Wait until `condition()` holds; the limit only guards against a hung test."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not condition():  # the condition lives outside this process: poll it
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.02)


def logged(caplog: pytest.LogCaptureFixture, name: str, level: int | None = None) -> list[dict[str, Any]]:
    """The fields of every `core.log.event(name)` captured (at `level`, if given), oldest first."""
    return [dict(getattr(r, "fields", {})) for r in caplog.records
            if r.getMessage() == name and r.name.startswith("nightshift.") and level in (None, r.levelno)]


def group_gone(pgid: int) -> bool:
    """No live process is left in the group (zombies waiting for a lazy init do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            return False
    return True


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def exec_settings(isolated_env: Path, monkeypatch: pytest.MonkeyPatch, record: Any) -> Settings:
    monkeypatch.setenv("NIGHTSHIFT_CLAUDE_BIN", FAKE)
    monkeypatch.setenv("NIGHTSHIFT_RESET_MARGIN_S", "0")
    return load_settings(env_file=None)


@pytest.fixture
def exec_store(exec_settings: Settings, store: Store) -> Store:
    """The shared temp-dir store (same NIGHTSHIFT_HOME), once the execution settings are in place."""
    return store


@pytest.fixture
def runner(exec_settings: Settings) -> Iterator[TmuxRunner]:
    tmux = TmuxRunner(exec_settings.tmux_socket)
    try:
        yield tmux
    finally:
        tmux.stop_server()


@pytest.fixture
def notes() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def executor(exec_settings: Settings, exec_store: Store, runner: TmuxRunner,
             notes: RecordingNotifier) -> Executor:
    return Executor(exec_settings, exec_store, runner, notes, poll_interval_s=0.05,
                    progress_interval_s=0.2, kill_grace_s=1.0)


AddTask = Callable[..., "asyncio.Future[Task]"]


@pytest.fixture
def claimed(exec_store: Store) -> Callable[..., Any]:
    """Add a task that needs no plan and claim it (move it to running), as the daemon does."""

    async def make(prompt: str, **fields: Any) -> Task:
        task = await exec_store.tasks.add(NewTask(prompt=prompt, needs_plan=False, **fields))
        got = await exec_store.tasks.claim_next(only_ids=[task.id])
        assert got is not None
        return got

    return make
