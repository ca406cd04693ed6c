"""Crash recovery: the process that followed a run is SIGKILLed; a new one reconciles it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from core.execution.executor import Executor
from core.execution.tmux import TmuxRunner
from core.models import Outcome, Run, TaskState
from core.store.store import Store
from core.store.task_rows import NewTask
from tests.execution.conftest import eventually, group_gone

DRIVER = str(Path(__file__).with_name("drive.py"))


async def start_and_kill(exec_store: Store, record: Any, prompt: str, **fields: Any) -> tuple[int, Run]:
    """Queue a task, execute it in another process, SIGKILL that process once the CLI has started."""
    task = await exec_store.tasks.add(NewTask(prompt=prompt, needs_plan=False, **fields))
    proc = subprocess.Popen([sys.executable, DRIVER, str(task.id)], env=dict(os.environ),  # noqa: ASYNC220
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            runs = await exec_store.runs.for_task(task.id)
            log = Path(runs[0].log_path) if runs and runs[0].log_path else None
            if record() and log is not None and log.exists() and b'"init"' in log.read_bytes():
                break
            if proc.poll() is not None:
                raise AssertionError(f"the executor ended early: {proc.stderr.read() if proc.stderr else ''}")
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the fake CLI never started")
    finally:
        proc.kill()
        proc.wait()
    runs = await exec_store.runs.for_task(task.id)
    assert len(runs) == 1 and runs[0].finished_at is None
    assert (await exec_store.tasks.get(task.id)).state is TaskState.RUNNING
    return task.id, runs[0]


async def run_finished_events(exec_store: Store, task_id: int) -> int:
    return sum(1 for e in await exec_store.tasks.events(task_id) if e.kind == "run_finished")


async def test_a_live_run_is_followed_again_and_finished_once(
    executor: Executor, exec_store: Store, runner: TmuxRunner, repo: Path, record: Any,
) -> None:
    task_id, run = await start_and_kill(exec_store, record, "Slow [fake: slow delay=0.15]",
                                              repo=str(repo))
    assert await runner.has_session(run.tmux_session or "")
    found = await executor.reconcile()
    assert [r.id for r in found] == [run.id] and found[0].finished_at is None
    assert executor.executing == {task_id}
    finished = await executor.wait_adopted()
    assert [(r.id, r.outcome) for r in finished] == [(run.id, Outcome.SUCCESS)]
    assert await executor.reconcile() == []
    assert len(record()) == 1  # never started twice
    assert len(await exec_store.runs.for_task(task_id)) == 1
    assert await run_finished_events(exec_store, task_id) == 1
    task = await exec_store.tasks.get(task_id)
    assert task.state is TaskState.DONE and task.attempts == 1


async def test_a_run_that_ended_meanwhile_is_finished_from_its_log(
    executor: Executor, exec_store: Store, runner: TmuxRunner, repo: Path, record: Any,
) -> None:
    task_id, run = await start_and_kill(
        exec_store, record, "Slow [fake: slow delay=0.05]", repo=str(repo),
        check_cmd="grep -qx done fake-status.txt")
    for _ in range(600):
        if not await runner.has_session(run.tmux_session or ""):
            break
        await asyncio.sleep(0.05)
    found = await executor.reconcile()
    assert [(r.id, r.outcome) for r in found] == [(run.id, Outcome.SUCCESS)]
    assert found[0].tokens.total > 0 and found[0].session_id == run.session_id
    assert executor.adopted == {}
    assert len(record()) == 1
    assert await run_finished_events(exec_store, task_id) == 1
    assert (await exec_store.tasks.get(task_id)).state is TaskState.DONE


async def test_a_run_lost_with_its_tmux_server_is_interrupted_and_resumes_its_session(
    executor: Executor, exec_store: Store, runner: TmuxRunner, repo: Path, record: Any,
) -> None:
    task_id, run = await start_and_kill(exec_store, record, "Slow [fake: slow delay=0.3]",
                                              repo=str(repo))
    await runner.kill_server()  # as a reboot would
    found = await executor.reconcile()
    assert [(r.id, r.outcome) for r in found] == [(run.id, Outcome.INTERRUPTED)]
    task = await exec_store.tasks.get(task_id)
    assert task.state is TaskState.READY and task.attempts == 0
    claimed = await exec_store.tasks.claim_next(only_ids=[task_id])
    assert claimed is not None
    second = await executor.execute(claimed)
    assert second.outcome is Outcome.SUCCESS and second.worktree == run.worktree
    calls = record()
    assert len(calls) == 2
    assert calls[1]["argv"][calls[1]["argv"].index("--resume") + 1] == run.session_id
    assert "nightshift was restarted" in calls[1]["prompt"]


async def test_a_running_task_without_a_run_goes_back_to_ready(
    executor: Executor, exec_store: Store,
) -> None:
    task = await exec_store.tasks.add(NewTask(prompt="x", needs_plan=False))
    await exec_store.tasks.claim_next(only_ids=[task.id])
    assert await executor.reconcile() == []
    assert (await exec_store.tasks.get(task.id)).state is TaskState.READY


async def test_an_open_run_of_a_cancelled_task_is_stopped(
    executor: Executor, exec_store: Store, runner: TmuxRunner, repo: Path, record: Any,
) -> None:
    task_id, run = await start_and_kill(exec_store, record, "x [fake: hang]", repo=str(repo))
    await exec_store.tasks.transition(task_id, TaskState.CANCELLED, reason="while the daemon was down")
    found = await executor.reconcile()
    assert [(r.id, r.outcome) for r in found] == [(run.id, Outcome.CANCELLED)]
    assert not await runner.has_session(run.tmux_session or "")
    await eventually(lambda: group_gone(record()[0]["pgid"]), "the process group to end")
