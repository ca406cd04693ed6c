"""Real parts for daemon tests: the daemon as the assembly builds it, the fake CLI, a private
tmux server, a temp database, margin 1 s."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from core.abc import Clock, Notifier
from core.assembly import ExecutorTimings, FrontsFor, build_daemon
from core.daemon import Daemon
from core.execution.executor import Executor
from core.execution.tmux import TmuxRunner
from core.models import Task, TaskState, utcnow
from core.service import Service
from core.settings import Settings, load_settings
from core.store.store import Store
from tests.support import FAKE, NIGHTSHIFT, Record, git, make_repo  # noqa: F401 - re-exported for tests

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def daemon_settings(isolated_env: Path, monkeypatch: pytest.MonkeyPatch, record: Record) -> Settings:
    monkeypatch.setenv("NIGHTSHIFT_CLAUDE_BIN", FAKE)
    monkeypatch.setenv("NIGHTSHIFT_RESET_MARGIN_S", "1")
    monkeypatch.setenv("NIGHTSHIFT_PLAN_BY_DEFAULT", "false")
    monkeypatch.setenv("NIGHTSHIFT_USAGE_REFRESH_S", "5")
    monkeypatch.setenv("NIGHTSHIFT_USAGE_API", "false")
    # One prompt style, the one that passes the owner's words through first: tests read them.
    monkeypatch.setenv("NIGHTSHIFT_PROMPT_STYLE", "direct")
    # As on a machine where Claude Code has run: the usage monitor reads the logs it finds.
    (isolated_env / "claude" / "projects").mkdir(parents=True)
    return load_settings(env_file=None)


@pytest.fixture
def dstore(daemon_settings: Settings, store: Store) -> Store:
    """The shared temp-dir store (same NIGHTSHIFT_HOME), once the daemon settings are in place."""
    return store


@pytest.fixture
def dservice(daemon_settings: Settings, dstore: Store) -> Service:
    return Service(daemon_settings, dstore)


@pytest.fixture
def runner(daemon_settings: Settings) -> Iterator[TmuxRunner]:
    tmux = TmuxRunner(daemon_settings.tmux_socket)
    try:
        yield tmux
    finally:
        tmux.stop_server()


@pytest.fixture
def config_dirs(isolated_env: Path) -> dict[str, Path]:
    """Two Claude accounts, `work` and `home`, each its own config directory (for
    NIGHTSHIFT_ACCOUNTS: `accounts=config_dirs`)."""
    dirs = {name: isolated_env / f"claude-{name}" for name in ("work", "home")}
    for path in dirs.values():
        (path / "projects").mkdir(parents=True)
    return dirs


def claude_log(config_dir: Path, session: str, at: datetime, tokens: int) -> None:
    """One assistant usage line in Claude Code's log for `session`, as it writes them."""
    folder = config_dir / "projects" / "-home-owner-code"
    folder.mkdir(parents=True, exist_ok=True)
    line = {"type": "assistant", "sessionId": session, "requestId": f"r-{session}-{at.timestamp()}",
            "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "message": {"id": f"m-{session}-{at.timestamp()}", "model": "claude-sonnet-4-5",
                        "usage": {"input_tokens": tokens, "output_tokens": 0,
                                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}}
    with (folder / f"{session}.jsonl").open("a") as fh:
        fh.write(json.dumps(line, separators=(",", ":")) + "\n")


FAST_TIMINGS = ExecutorTimings(poll_interval_s=0.02, progress_interval_s=0.2, kill_grace_s=1.0)
"""The executor looks at runs more often than in production: tests wait less."""

MakeDaemon = Callable[..., Daemon]


@pytest.fixture
def executor(dservice: Service, runner: TmuxRunner) -> Executor:
    """The real executor alone (no daemon), for tests of one run's inputs and outputs."""
    return Executor(dservice.settings, dservice.store, runner, dservice.notifier, **asdict(FAST_TIMINGS))


@pytest.fixture
def make_daemon(daemon_settings: Settings, dstore: Store, runner: TmuxRunner) -> MakeDaemon:
    """The daemon as `nightshift run` builds it (`core.assembly`), over the test's store.

    Keyword arguments of `build_daemon` pass through (`clock`, `notifier`, `fronts`, `burst`,
    `max_wait_s`); `monitor` (default on) is the real usage monitor; any other keyword
    changes a setting for this daemon.
    """

    def make(
        *,
        monitor: bool = True,
        clock: Clock = utcnow,
        notifier: Notifier | None = None,
        fronts: FrontsFor | None = None,
        burst: bool = False,
        max_wait_s: float = 0.0,
        **changes: Any,
    ) -> Daemon:
        settings = daemon_settings.model_copy(update=changes) if changes else daemon_settings
        return build_daemon(
            settings,
            dstore,
            notifier=notifier,
            clock=clock,
            burst=burst,
            max_wait_s=max_wait_s,
            usage_monitor=monitor,
            fronts=fronts,
            runner=runner,
            install_signal_handlers=False,
            timings=FAST_TIMINGS,
        )

    return make


@dataclass
class Running:
    daemon: Daemon
    job: asyncio.Task[int]

    @property
    def service(self) -> Service:
        """The daemon's own service: what a front holds (a change wakes the dispatcher)."""
        return self.daemon.service

    async def stop(self) -> int:
        self.daemon.request_stop("test over")
        return await asyncio.wait_for(self.job, 30)


async def run_daemon(daemon: Daemon) -> Running:
    """Start `daemon` in this event loop; returns once its timed jobs run."""
    job = asyncio.create_task(daemon.run())
    for _ in range(500):
        if daemon.started or job.done():
            break
        await asyncio.sleep(0.01)
    if job.done():
        job.result()
    return Running(daemon, job)


@pytest.fixture
async def start_daemon(make_daemon: MakeDaemon) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    """Build (as `make_daemon`) and start a daemon; it is stopped at the end of the test."""
    started: list[Running] = []

    async def start(**kwargs: Any) -> Running:
        running = await run_daemon(make_daemon(**kwargs))
        started.append(running)
        return running

    yield start
    for running in started:
        if not running.job.done():
            await running.stop()


async def wait_for_states(store: Store, ids: list[int], states: set[TaskState],
                          timeout_s: float = 60) -> list[Task]:
    """Poll until every task is in one of `states` (the test's only wait on the real clock)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        tasks = [await store.tasks.get(i) for i in ids]
        if all(t.state in states for t in tasks):
            return tasks
        if loop.time() > deadline:
            raise AssertionError(f"timed out; states: {[(t.id, t.state.value) for t in tasks]}")
        await asyncio.sleep(0.05)


def start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([NIGHTSHIFT, *args], env=env or dict(os.environ), cwd=os.getcwd(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_cli(proc: subprocess.Popen[str], timeout_s: float = 30) -> tuple[int, str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=timeout_s)
    return proc.returncode, out, err
