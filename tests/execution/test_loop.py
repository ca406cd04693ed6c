"""Continuation-loop logic with an in-memory runner (no processes): caps, resumes, retries."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from core.abc import ProcessSpec
from core.agent.prompts import COMPLETION_MARKER
from core.errors import ExecutionError, ToolMissing
from core.execution.executor import Executor
from core.models import Outcome, Task, TaskState
from core.progress import PROGRESS_KIND
from core.settings import HARD_MAX_ITERATIONS, Settings
from core.store.store import Store
from core.store.task_rows import NewTask
from tests.execution.conftest import logged
from tests.fakes.runner import MockResponse, MockRunner


def flag(spec: ProcessSpec, name: str) -> str | None:
    argv = list(spec.argv)
    return argv[argv.index(name) + 1] if name in argv else None


def session_of(spec: ProcessSpec) -> str:
    return flag(spec, "--session-id") or flag(spec, "--resume") or "?"


def answer(text: str = "not yet", **result: Any) -> Callable[[ProcessSpec], MockResponse]:
    def handle(spec: ProcessSpec) -> MockResponse:
        sid = session_of(spec)
        return MockResponse([
            {"type": "system", "subtype": "init", "session_id": sid},
            {"type": "assistant", "session_id": sid, "message": {"id": f"m-{spec.name}", "content": [
                {"type": "text", "text": text}], "usage": {"input_tokens": 1, "output_tokens": 2}}},
            {"type": "result", "subtype": "success", "is_error": False, "num_turns": 1, "result": text,
             "session_id": sid, "total_cost_usd": 0.01, "usage": {"input_tokens": 1, "output_tokens": 2},
             **result},
        ], exit_code=1 if result.get("is_error") else 0)

    return handle


@pytest.fixture
def mock_settings(settings: Settings) -> Settings:
    # Any executable will do: the mock runner never starts it.
    return settings.model_copy(update={"claude_bin": "sh"})


async def ready_task(store: Store, prompt: str = "do it", **fields: Any) -> Task:
    task = await store.tasks.add(NewTask(prompt=prompt, needs_plan=False, **fields))
    claimed = await store.tasks.claim_next(only_ids=[task.id])
    assert claimed is not None
    return claimed


def make(mock_settings: Settings, store: Store, handler: Callable[[ProcessSpec], MockResponse]
         ) -> tuple[Executor, MockRunner]:
    runner = MockRunner(handler)
    return Executor(mock_settings, store, runner, poll_interval_s=0.01), runner


async def test_no_setting_or_task_can_raise_the_loop_above_the_hard_cap(
    mock_settings: Settings, store: Store,
) -> None:
    executor, runner = make(mock_settings, store, answer())
    task = await ready_task(store, max_iterations=50)
    run = await executor.execute(task)
    assert len(runner.calls) == HARD_MAX_ITERATIONS == run.iteration
    assert {session_of(c) for c in runner.calls} == {session_of(runner.calls[0])}
    assert all(flag(c, "--resume") for c in runner.calls[1:])
    assert (await store.tasks.get(task.id)).state is TaskState.FAILED


async def test_the_default_is_the_setting(mock_settings: Settings, store: Store) -> None:
    executor, runner = make(mock_settings, store, answer())
    await executor.execute(await ready_task(store))
    assert len(runner.calls) == mock_settings.max_iterations == 3


async def test_success_ends_the_loop(mock_settings: Settings, store: Store) -> None:
    executor, runner = make(mock_settings, store, answer(f"done\n{COMPLETION_MARKER}"))
    run = await executor.execute(await ready_task(store))
    assert run.outcome is Outcome.SUCCESS and len(runner.calls) == 1


async def test_an_interruption_before_the_session_started_starts_a_fresh_session(
    mock_settings: Settings, store: Store,
) -> None:
    executor, runner = make(mock_settings, store, lambda spec: MockResponse([], exit_code=None))
    task = await ready_task(store)
    run = await executor.execute(task)
    assert run.outcome is Outcome.INTERRUPTED
    assert (await store.tasks.get(task.id)).state is TaskState.READY
    runner.handler = answer(f"ok\n{COMPLETION_MARKER}")
    again = await store.tasks.claim_next(only_ids=[task.id])
    assert again is not None
    await executor.execute(again)
    assert flag(runner.calls[1], "--resume") is None
    assert flag(runner.calls[1], "--session-id") not in (None, flag(runner.calls[0], "--session-id"))


async def test_a_refused_resume_is_retried_with_a_fresh_session(
    mock_settings: Settings, store: Store,
) -> None:
    executor, runner = make(mock_settings, store, lambda spec: MockResponse([], exit_code=None))
    task = await ready_task(store)
    # First run: the session starts, then the process is lost.
    runner.handler = lambda spec: MockResponse(
        [{"type": "system", "subtype": "init", "session_id": session_of(spec)}], exit_code=None)
    await executor.execute(task)
    # Second: the CLI no longer knows the session.
    runner.handler = lambda spec: MockResponse(
        [], exit_code=1, stderr=f"No conversation found with session ID: {session_of(spec)}\n")
    again = await store.tasks.claim_next(only_ids=[task.id])
    assert again is not None
    refused = await executor.execute(again)
    assert refused.outcome is Outcome.ERROR and "No conversation found" in refused.extra["reason"]
    assert flag(runner.calls[1], "--resume") == flag(runner.calls[0], "--session-id")
    retry = await store.tasks.get(task.id)
    assert retry.state is TaskState.READY and retry.attempts == 1
    runner.handler = answer(f"ok\n{COMPLETION_MARKER}")
    third = await store.tasks.claim_next(only_ids=[task.id])
    assert third is not None
    assert (await executor.execute(third)).outcome is Outcome.SUCCESS
    assert flag(runner.calls[2], "--resume") is None and flag(runner.calls[2], "--session-id")
    assert "do it" in runner.calls[2].argv[-1]  # the whole task again, in the same worktree


async def test_an_owner_retry_after_failure_resumes_the_session_from_iteration_one(
    mock_settings: Settings, store: Store,
) -> None:
    from core.service import Service

    executor, runner = make(mock_settings, store, answer())
    task = await ready_task(store, max_iterations=1)
    failed = await executor.execute(task)
    assert failed.outcome is Outcome.CHECK_FAILED
    assert (await store.tasks.get(task.id)).state is TaskState.FAILED
    await Service(mock_settings, store).retry(task.id)
    runner.handler = answer(f"ok\n{COMPLETION_MARKER}")
    again = await store.tasks.claim_next(only_ids=[task.id])
    assert again is not None
    run = await executor.execute(again)
    assert run.iteration == 1 and run.outcome is Outcome.SUCCESS
    assert flag(runner.calls[1], "--resume") == failed.session_id
    assert "owner asked to try again" in runner.calls[1].argv[-1]


async def test_a_hanging_run_is_stopped_at_its_time_limit(mock_settings: Settings, store: Store,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="nightshift.execution")
    executor, runner = make(mock_settings, store, lambda spec: MockResponse(hang=True))
    task = await ready_task(store, max_minutes=0.001)
    run = await executor.execute(task)
    assert run.outcome is Outcome.TIMEOUT
    assert runner.handles[run.tmux_session or ""].killed
    assert logged(caplog, "run over time") == [{"task": task.id, "run": run.id, "max_minutes": 0.001}]


async def test_a_missing_cli_is_a_clear_error_and_loses_nothing(settings: Settings, store: Store) -> None:
    broken = settings.model_copy(update={"claude_bin": "no-such-claude-binary"})
    executor = Executor(broken, store, MockRunner(answer()))
    task = await ready_task(store)
    with pytest.raises(ToolMissing, match="no-such-claude-binary not found"):
        await executor.execute(task)
    assert (await store.tasks.get(task.id)).state is TaskState.READY
    assert await store.runs.for_task(task.id) == []


async def test_only_a_claimed_task_runs_and_only_once(mock_settings: Settings, store: Store) -> None:
    executor, _ = make(mock_settings, store, answer())
    task = await store.tasks.add(NewTask(prompt="x", needs_plan=False))
    with pytest.raises(ExecutionError, match="claim it"):
        await executor.execute(task)
    executor, _ = make(mock_settings, store, lambda spec: MockResponse(hang=True))
    claimed = await store.tasks.claim_next(only_ids=[task.id])
    assert claimed is not None
    import asyncio

    first = asyncio.create_task(executor.execute(claimed))
    await asyncio.sleep(0.05)
    with pytest.raises(ExecutionError, match="already executing"):
        await executor.execute(claimed)
    await executor.cancel(claimed)
    assert (await first).outcome is Outcome.CANCELLED


async def test_notifications_for_start_and_end(mock_settings: Settings, store: Store,
                                               caplog: pytest.LogCaptureFixture) -> None:
    from tests.fakes.notifier import RecordingNotifier

    caplog.set_level(logging.INFO, logger="nightshift.execution")
    notes = RecordingNotifier()
    settings = mock_settings.model_copy(update={"notify_run_started": True})
    executor = Executor(settings, store, MockRunner(answer()), notes, poll_interval_s=0.01)
    task = await ready_task(store, "Tidy up", max_iterations=2)
    await executor.execute(task)
    # Continuation iterations do not announce themselves again (live progress aside).
    reports = [n for n in notes.sent if n.kind != PROGRESS_KIND]
    assert [n.kind for n in reports] == ["run_started", "run_finished"]
    assert "attach: tmux -L" in reports[0].text
    assert reports[1].data["outcome"] == "check_failed" and reports[1].data["state"] == "failed"
    # One live message per run: each iteration's run has its own key and a final version.
    finals = [n.key for n in notes.sent if n.kind == PROGRESS_KIND and n.data["final"]]
    runs = await store.runs.for_task(task.id)
    assert finals == [f"run:{r.id}" for r in runs] and len(finals) == 2
    # The log tells the same story as events with fields, one per run.
    tmux = [f"ns-{task.id}-{r.id}" for r in runs]
    assert logged(caplog, "run started") == [
        {"task": task.id, "run": runs[0].id, "step": "initial", "iteration": 1, "tmux_session": tmux[0]},
        {"task": task.id, "run": runs[1].id, "step": "continuation", "iteration": 2, "tmux_session": tmux[1]},
    ]
    assert [(e["run"], e["outcome"]) for e in logged(caplog, "run ended")] == [
        (runs[0].id, "check_failed"), (runs[1].id, "check_failed")]


async def test_a_failing_notifier_loses_nothing_of_the_limit(mock_settings: Settings, store: Store,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        async def notify(self, note: object) -> None:
            raise RuntimeError("outbox down")

    limited = MockResponse([
        {"type": "system", "subtype": "init", "session_id": "s"},
        {"type": "rate_limit_event", "rate_limit_info": {"status": "rejected", "resetsAt": 4102444800,
                                                          "rateLimitType": "five_hour"}},
        {"type": "result", "subtype": "success", "is_error": True, "api_error_status": 429,
         "result": "You've hit your session limit", "session_id": "s"},
    ], exit_code=1)
    executor = Executor(mock_settings, store, MockRunner(lambda spec: limited), Broken(),  # type: ignore[arg-type]
                        poll_interval_s=0.01)
    task = await ready_task(store)
    run = await executor.execute(task)
    assert run.outcome is Outcome.LIMIT
    paused = await store.tasks.get(task.id)
    assert paused.state is TaskState.PAUSED_LIMIT and paused.resume_after == datetime(2100, 1, 1, tzinfo=UTC)
    # What the daemon's gate reads is kept whatever the outbox does: the limit on the run.
    assert run.extra["limit"] == {"kind": "session", "resets_at": "2100-01-01T00:00:00+00:00",
                                  "text": "rate_limit_event rejected (five_hour)",
                                  "estimated": False, "exact": True}
    # The failure is logged as an event with its fields.
    assert logged(caplog, "notification not delivered", logging.WARNING) == [
        {"kind": "limit_hit", "task": task.id, "run": run.id, "error": "outbox down"}]
