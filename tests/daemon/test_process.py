"""`nightshift run` as real processes: one per home, SIGTERM leaves runs alive, a restart adopts them."""

from __future__ import annotations

import asyncio
import json
import os
import time

from core.execution.tmux import TmuxRunner
from core.models import Outcome, TaskState
from core.service import Service
from core.settings import Settings
from core.store.store import Store

from .conftest import Record, start_cli, stop_cli, wait_for_states


def _wait_for_lock(settings: Settings, pid: int, timeout_s: float = 30) -> None:
    lock = settings.home_dir / "daemon.lock"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if lock.exists() and lock.read_text().strip() == str(pid):
            return
        time.sleep(0.05)
    raise AssertionError("the daemon never took its lock")


async def test_a_second_daemon_for_the_same_home_says_so_and_exits_1(
    daemon_settings: Settings,
) -> None:
    first = start_cli("run")
    try:
        _wait_for_lock(daemon_settings, first.pid)
        second = start_cli("run")
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert f"nightshift is already running for {daemon_settings.home_dir} (pid {first.pid})" in err
        assert first.poll() is None  # the first one is untouched
    finally:
        code, _, err = stop_cli(first)
    assert code == 0, err
    # Structured log lines: one JSON object per line, with the events that happened.
    events = [json.loads(line)["event"] for line in err.splitlines() if line.startswith("{")]
    assert "starting" in events and "stopped" in events


async def test_sigterm_leaves_the_run_alive_and_a_restart_adopts_it_without_a_duplicate(
    daemon_settings: Settings, dservice: Service, dstore: Store, record: Record, runner: TmuxRunner,
) -> None:
    task = await dservice.add("slow work [fake: slow delay=0.25]")
    first = start_cli("run")
    try:
        for _ in range(600):
            if record():
                break
            assert first.poll() is None, first.communicate()[1]
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the fake CLI never started")
    finally:
        code, _, err = stop_cli(first)
    assert code == 0, err
    (run,) = await dstore.runs.for_task(task.id)
    assert run.finished_at is None and run.tmux_session is not None
    assert await runner.has_session(run.tmux_session), "SIGTERM must not kill the run"
    assert (await dstore.tasks.get(task.id)).state is TaskState.RUNNING

    second = start_cli("run")
    try:
        (done,) = await wait_for_states(dstore, [task.id], {TaskState.DONE, TaskState.FAILED})
    finally:
        code, _, err = stop_cli(second)
    assert code == 0, err
    assert done.state is TaskState.DONE
    assert len(record()) == 1, "the restart must follow the run, not start it again"
    runs = await dstore.runs.for_task(task.id)
    assert [(r.id, r.outcome) for r in runs] == [(run.id, Outcome.SUCCESS)]


async def test_burst_waits_for_a_reset_within_max_wait_then_exits_0(
    dservice: Service, dstore: Store, record: Record,
) -> None:
    limited = await dservice.add("limited [fake: limit reset_in=2]", priority="high")
    other = await dservice.add("other")
    proc = start_cli("run", "--burst", "--max-wait", "30")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    states = {t.id: t.state for t in await dstore.tasks.query()}
    assert states == {limited.id: TaskState.DONE, other.id: TaskState.DONE}
    assert [c["resume"] is not None for c in record()] == [False, True, False]
    assert f"task {limited.id} → done" in out and f"task {other.id} → done" in out


async def test_burst_stops_when_the_reset_is_beyond_max_wait(
    dservice: Service, dstore: Store, record: Record,
) -> None:
    limited = await dservice.add("limited [fake: limit reset_in=600]")
    other = await dservice.add("other")
    proc = start_cli("run", "--burst", "--max-wait", "1")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert (await dstore.tasks.get(limited.id)).state is TaskState.PAUSED_LIMIT
    assert (await dstore.tasks.get(other.id)).state is TaskState.READY
    assert len(record()) == 1  # the other task never reached the limited CLI
    assert any(json.loads(line).get("event") == "stopping" and "max-wait" in
               json.loads(line).get("reason", "") for line in err.splitlines()
               if line.startswith("{"))



async def test_burst_without_the_claude_cli_exits_1_and_keeps_the_task(
    dservice: Service, dstore: Store,
) -> None:
    task = await dservice.add("anything")
    env = dict(os.environ, NIGHTSHIFT_CLAUDE_BIN="no-such-claude-binary")
    proc = start_cli("run", "--burst", env=env)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "no-such-claude-binary not found" in err
    again = await dstore.tasks.get(task.id)
    assert again.state is TaskState.READY and again.attempts == 0
