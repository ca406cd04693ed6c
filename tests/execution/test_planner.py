"""Plans end to end: the fake CLI in plan mode under real tmux, in a real git worktree."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from core.errors import StalePlan
from core.execution.executor import Executor
from core.models import Outcome, RunKind, TaskState
from core.plans.planner import Planner
from core.service import Service
from core.settings import Settings
from core.store.store import Store
from tests.fakes.notifier import RecordingNotifier

Record = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def service(exec_settings: Settings, exec_store: Store, notes: RecordingNotifier) -> Service:
    return Service(exec_settings, exec_store, notifier=notes)


@pytest.fixture
def planner(
    exec_settings: Settings, exec_store: Store, executor: Executor, notes: RecordingNotifier
) -> Planner:
    return Planner(exec_settings, exec_store, executor, notes)


async def start_planning(service: Service, prompt: str, repo: Path) -> int:
    task = await service.add(prompt, repo=str(repo), plan=True)
    claimed = await service.store.tasks.claim_next(source=TaskState.QUEUED, target=TaskState.PLANNING)
    assert claimed is not None and claimed.id == task.id
    return task.id


def tree_state(path: Path) -> str:
    return (
        subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all"],
            cwd=path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        + subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True
        ).stdout
    )


async def test_plan_is_read_only_stored_and_offered(
    service: Service, planner: Planner, repo: Path, record: Record, notes: RecordingNotifier
) -> None:
    task_id = await start_planning(service, "fix the flaky login test", repo)
    before = tree_state(repo)
    plan = await planner.plan(await service.get(task_id))
    assert plan is not None and plan.version == 1 and plan.size == "small"
    assert plan.suggested_check and "Plan for: fix the flaky login test" in plan.body
    task = await service.get(task_id)
    assert task.state is TaskState.AWAITING_APPROVAL
    assert task.check_cmd is None  # adopted only on approval
    calls = record()
    assert len(calls) == 1
    argv = calls[0]["argv"]
    assert argv[argv.index("--permission-mode") + 1] == "plan"
    worktree = Path(calls[0]["cwd"])
    assert tree_state(worktree).splitlines()[-1] == before.splitlines()[-1]  # no commit
    assert tree_state(worktree).splitlines()[:-1] == []  # no edits
    ready = [n for n in notes.sent if n.kind == "plan_ready"]
    assert len(ready) == 1 and ready[0].data["version"] == 1
    assert [b.data for b in ready[0].buttons[0]] == [f"ap:{task_id}:1", f"rv:{task_id}:1", f"rj:{task_id}:1"]
    runs = await service.store.runs.for_task(task_id)
    assert [(r.kind, r.outcome) for r in runs] == [(RunKind.PLAN, Outcome.SUCCESS)]


async def test_approved_plan_reaches_the_work_prompt(
    service: Service, planner: Planner, executor: Executor, repo: Path, record: Record
) -> None:
    task_id = await start_planning(service, "add a changelog entry", repo)
    plan = await planner.plan(await service.get(task_id))
    assert plan is not None
    task = await service.approve(task_id, version=1)
    assert task.check_cmd == plan.suggested_check
    claimed = await service.store.tasks.claim_next(only_ids=[task_id])
    assert claimed is not None
    run = await executor.execute(claimed)
    assert run.outcome is Outcome.SUCCESS
    work = record()[-1]
    assert (
        "--permission-mode" not in work["argv"]
        or work["argv"][work["argv"].index("--permission-mode") + 1] != "plan"
    )
    assert "An approved plan for this task" in work["prompt"]
    assert plan.body.splitlines()[0] in work["prompt"]
    assert (await service.get(task_id)).state is TaskState.DONE


async def test_revise_makes_version_two_with_the_comment(
    service: Service, planner: Planner, repo: Path, record: Record
) -> None:
    task_id = await start_planning(service, "refactor the parser", repo)
    first = await planner.plan(await service.get(task_id))
    assert first is not None
    await service.revise(task_id, "keep the public API unchanged", version=1)
    second = await planner.plan(await service.get(task_id))
    assert second is not None and second.version == 2
    assert second.comment == "keep the public API unchanged"
    prompt = record()[-1]["prompt"]
    assert "keep the public API unchanged" in prompt
    assert first.body.splitlines()[0] in prompt  # the previous plan is shown
    assert await service.plan_request(task_id) is None
    with pytest.raises(StalePlan, match="replaced by v2"):
        await service.approve(task_id, version=1)
    assert (await service.reject(task_id, "no longer needed")).state is TaskState.REJECTED


async def test_plan_run_hitting_the_limit_pauses_the_task(
    service: Service, planner: Planner, repo: Path
) -> None:
    task_id = await start_planning(service, "[fake: limit reset_in=30]\nplan the migration", repo)
    assert await planner.plan(await service.get(task_id)) is None
    task = await service.get(task_id)
    assert task.state is TaskState.PAUSED_LIMIT and task.attempts == 0
    assert task.resume_after is not None
    # What the daemon's gate reads once the follower hands it this run (tests/daemon/test_reset.py).
    (run,) = await service.store.runs.for_task(task_id)
    assert (run.kind, run.outcome) == (RunKind.PLAN, Outcome.LIMIT)
    assert run.extra["limit"]["exact"] is True and run.extra["limit"]["kind"] == "session"
    assert datetime.fromisoformat(run.extra["limit"]["resets_at"]) == task.resume_after
    assert await service.store.plans.latest(task_id) is None


async def test_crashing_plan_runs_retry_then_fail(service: Service, planner: Planner, repo: Path) -> None:
    task_id = await start_planning(service, "[fake: crash]\nplan it", repo)
    for attempt in range(3):
        assert await planner.plan(await service.get(task_id)) is None
        state = (await service.get(task_id)).state
        if attempt < 2:
            assert state is TaskState.QUEUED
            await service.store.tasks.claim_next(source=TaskState.QUEUED, target=TaskState.PLANNING)
    task = await service.get(task_id)
    assert task.state is TaskState.FAILED and "planning failed 3 times" in (task.state_reason or "")
