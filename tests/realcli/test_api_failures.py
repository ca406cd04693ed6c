"""When the API, not the work, fails: logged out, unknown model, overloaded, the CLI's own retries."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from core.execution.executor import Executor
from core.models import Outcome, TaskState
from core.progress import PROGRESS_KIND
from core.service import QUEUE_PAUSED_KEY, Service
from tests.execution.conftest import group_gone
from tests.fakes import messages_api as m
from tests.fakes.messages_api import MessagesAPI
from tests.fakes.notifier import RecordingNotifier
from tests.realcli.conftest import OAUTH_TOKEN, told, until


async def test_logged_out_holds_the_queue_with_one_clear_message_and_no_attempt_spent(
    executor: Executor, cli_service: Service, api: MessagesAPI, claimed: Any, notes: RecordingNotifier,
) -> None:
    api.push(m.oauth_expired(), times=None)
    task = await claimed("Anything")
    run = await executor.execute(task)

    assert run.outcome is Outcome.LOGGED_OUT
    after = await cli_service.get(task.id)
    assert (after.state, after.attempts) == (TaskState.READY, 0)
    assert len(api.model_turns()) == 2  # the subscriber's CLI tries once more, then gives up
    [note] = told(notes)
    assert note.kind == "login_needed"
    assert "/login" in note.text and "CLAUDE_CODE_OAUTH_TOKEN" in note.text
    assert OAUTH_TOKEN not in note.text
    assert (await cli_service.store.kv.get(QUEUE_PAUSED_KEY))["hold"] == "login"
    assert "login" in (await cli_service.queue_paused() or "")

    # A second task in the same logged-out spell: no second message.
    other = await claimed("Something else")
    await executor.execute(other)
    assert [n.kind for n in told(notes)] == ["login_needed"]

    await cli_service.resume_queue()  # the owner's /resume lifts it by hand
    assert await cli_service.queue_paused() is None


async def test_an_api_key_login_refused_is_not_retried_for_minutes(
    executor: Executor, api: MessagesAPI, claimed: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With an API key the CLI retries a 401 ten times over about three minutes; nightshift
    stops it as soon as the refusal repeats."""
    monkeypatch.delenv("CLAUDE_CODE_OAUTH_TOKEN")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-test-not-a-secret")
    api.push(m.unauthorized(), times=None)
    run = await executor.execute(await claimed("Anything"))
    assert run.outcome is Outcome.LOGGED_OUT
    assert "stopped the CLI's retries" in run.summary
    assert 2 <= len(api.model_turns()) <= 4  # of the ten the CLI would have made


async def test_a_slow_api_answer_is_stopped_at_the_tasks_time_limit(
    executor: Executor, cli_service: Service, api: MessagesAPI, claimed: Any,
) -> None:
    api.push(m.text("Too late.", delay_s=120))
    task = await claimed("Anything", max_minutes=0.1)
    job = asyncio.create_task(executor.execute(task))
    await asyncio.to_thread(api.wait_for, lambda requests: any(r.is_model_turn for r in requests), 60)
    run = await job
    assert run.outcome is Outcome.TIMEOUT
    assert (await cli_service.get(task.id)).state is TaskState.FAILED
    [waiting] = api.model_turns()
    assert waiting.status == 0  # still unanswered: the CLI was stopped while it waited
    await until(lambda: group_gone(run.extra["pid"]), "the CLI's process group to end")


async def test_an_unknown_model_fails_once_clearly_and_is_not_retried(
    executor: Executor, cli_service: Service, api: MessagesAPI, claimed: Any, notes: RecordingNotifier,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(executor.settings, "model", "claude-nope-9")
    api.push(m.unknown_model("claude-nope-9"), times=None)
    task = await claimed("Anything")
    run = await executor.execute(task)

    assert run.outcome is Outcome.ERROR
    after = await cli_service.get(task.id)
    assert (after.state, after.attempts) == (TaskState.FAILED, 1)  # max_attempts is 2: not retried
    assert {r.body["model"] for r in api.model_turns()} == {"claude-nope-9"}
    [note] = told(notes)
    assert "'claude-nope-9' does not exist" in note.text and "NIGHTSHIFT_MODEL" in note.text


async def test_overloaded_backs_off_the_queue_without_spending_an_attempt(
    executor: Executor, cli_service: Service, api: MessagesAPI, claimed: Any, notes: RecordingNotifier,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLAUDE_CODE_MAX_RETRIES", "1")  # keeps the CLI's own retries short here
    api.push(m.overloaded(), times=None)
    task = await claimed("Anything")
    run = await executor.execute(task)

    assert run.outcome is Outcome.OVERLOADED
    after = await cli_service.get(task.id)
    assert (after.state, after.attempts) == (TaskState.READY, 0)
    hold = await cli_service.store.kv.get(QUEUE_PAUSED_KEY)
    assert (hold["hold"], hold["count"]) == ("overload", 1)
    until, since = datetime.fromisoformat(hold["until"]), datetime.fromisoformat(hold["since"])
    assert until - since == timedelta(minutes=1)  # the first back-off
    assert after.resume_after == until  # the task waits it out with the queue
    assert "overloaded" in (await cli_service.queue_paused() or "")
    assert told(notes)[-1].kind == "api_overloaded" and "no attempt was counted" in told(notes)[-1].text
    assert len(api.model_turns()) == 2


async def test_the_clis_own_retries_show_as_progress_and_the_run_goes_on(
    executor: Executor, cli_service: Service, api: MessagesAPI, claimed: Any, notes: RecordingNotifier,
) -> None:
    api.push(m.overloaded(), m.overloaded(), m.overloaded(), m.text("Done.\nNIGHTSHIFT-TASK-COMPLETE"))
    task = await claimed("Anything")
    run = await executor.execute(task)

    assert run.outcome is Outcome.SUCCESS
    assert run.extra["api_retries"] == 3
    assert run.extra["api_retry"]["status"] == 529
    assert [n.kind for n in told(notes)] == ["run_finished"]
    # The live progress message counts the CLI's retries while it waits (not a silent hang).
    progress = [n.text for n in notes.sent if n.kind == PROGRESS_KIND]
    assert any("CLI retries: 3, last 529" in text for text in progress)
    assert "attempt 3 of 10" in run.extra["progress"]  # what `nightshift show` prints
    assert await cli_service.store.kv.get(QUEUE_PAUSED_KEY) is None
