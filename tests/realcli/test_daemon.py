"""The daemon with the real CLI: limits pause the queue and the reset resumes the session;
a refused login holds the queue until the login changes. Real tmux, margin 1 s."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from core.assembly import build_daemon
from core.daemon import LIMIT_PAUSE_KEY, Daemon
from core.execution.tmux import TmuxRunner
from core.models import Outcome, Task, TaskState
from core.service import QUEUE_PAUSED_KEY, Service
from core.settings import Settings
from core.store.store import Store
from tests.daemon.conftest import Running, run_daemon
from tests.fakes import messages_api as m
from tests.fakes.messages_api import MessagesAPI
from tests.fakes.notifier import RecordingNotifier
from tests.realcli.conftest import FAST, told

Start = Callable[[], Awaitable[Daemon]]


@pytest.fixture
async def start_daemon(cli_settings: Settings, store: Store, runner: TmuxRunner, notes: RecordingNotifier
                       ) -> AsyncIterator[Start]:
    """The daemon as `nightshift run` builds it (core.assembly), the real CLI under it."""
    started: list[Running] = []

    async def start() -> Daemon:
        daemon = build_daemon(cli_settings, store, notifier=notes, usage_monitor=True, runner=runner,
                              install_signal_handlers=False, timings=FAST)
        started.append(await run_daemon(daemon))
        return daemon

    yield start
    for running in started:
        if not running.job.done():
            await running.stop()


async def states(store: Store, task_id: int, wanted: set[TaskState], limit_s: float = 60) -> Task:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while True:
        task = await store.tasks.get(task_id)
        if task.state in wanted:
            return task
        if loop.time() > deadline:
            raise AssertionError(f"task {task_id} stayed {task.state}")
        await asyncio.sleep(0.05)


async def test_a_limit_mid_turn_pauses_and_the_reset_resumes_the_session_with_its_conversation(
    cli_service: Service, api: MessagesAPI, start_daemon: Start, notes: RecordingNotifier,
) -> None:
    task = await cli_service.add("Write the module", repo=None)
    scratch = cli_service.settings.home_dir / "scratch" / f"{task.id}-write-the-module"
    api.push(m.write(str(scratch / "module.py"), "VALUE = 1\n", preamble="Writing the module first."),
             m.usage_limit_in("five_hour", 4))
    daemon = await start_daemon()

    paused = await states(cli_service.store, task.id, {TaskState.PAUSED_LIMIT})
    assert paused.attempts == 0 and paused.resume_after is not None
    reset = int(api.model_turns()[1].reply_headers["anthropic-ratelimit-unified-reset"])
    assert paused.resume_after == datetime.fromtimestamp(reset, UTC)  # exact, from the 429's headers
    # The queue pauses until the exact reset plus the margin (the monitor may have paused it
    # a moment earlier from the log's minute-precision text; the later reset wins).
    wanted = paused.resume_after + timedelta(seconds=1)
    for _ in range(500):
        pause = await cli_service.store.kv.get(LIMIT_PAUSE_KEY)
        if pause and datetime.fromisoformat(pause["until"]) == wanted:
            break
        await asyncio.sleep(0.02)
    assert pause is not None and datetime.fromisoformat(pause["until"]) == wanted
    limited_at = len(api.requests)
    assert [r.status for r in api.model_turns()] == [200, 429]
    limit_note = next(n for n in told(notes) if n.kind == "limit_hit")
    assert "5-hour limit" in limit_note.text and "holds until" in limit_note.text

    api.push(m.text("Finished the module.\nNIGHTSHIFT-TASK-COMPLETE"))
    done = await states(cli_service.store, task.id, {TaskState.DONE})
    daemon.request_stop("test over")

    turns = api.model_turns()
    # Nothing was sent into the exhausted window: the next call came after the reset.
    assert all(r.at >= reset for r in api.requests[limited_at:])
    resumed = turns[2]
    assert resumed.session_id == turns[0].session_id
    conversation = json.dumps(resumed.messages)
    assert "Writing the module first." in conversation and "module.py" in conversation
    assert "You were interrupted" in conversation  # nightshift's resume prompt, in the same session
    runs = await cli_service.store.runs.for_task(task.id)
    assert [r.outcome for r in runs] == [Outcome.LIMIT, Outcome.SUCCESS]
    assert done.attempts == 1
    assert runs[1].latency_s is not None


async def test_a_weekly_limit_holds_the_queue_for_days_and_says_until_when(
    cli_service: Service, api: MessagesAPI, start_daemon: Start, notes: RecordingNotifier,
) -> None:
    reset = int(time.time()) + 3 * 86400
    first = await cli_service.add("First")
    second = await cli_service.add("Second")
    api.push(m.usage_limit("seven_day", reset, other=(m.Window("five_hour", reset - 86400, 0.4),)))
    daemon = await start_daemon()

    paused = await states(cli_service.store, first.id, {TaskState.PAUSED_LIMIT})
    assert paused.resume_after == datetime.fromtimestamp(reset, UTC)
    for _ in range(500):
        pause = await cli_service.store.kv.get(LIMIT_PAUSE_KEY)
        if pause:
            break
        await asyncio.sleep(0.02)
    assert pause is not None and pause["kind"] == "weekly"
    assert datetime.fromisoformat(pause["until"]) - datetime.now(UTC) > timedelta(days=2, hours=23)
    daemon.wake("try again")
    await asyncio.sleep(0.5)
    assert len(api.model_turns()) == 1  # the second task did not spend a call
    assert (await cli_service.get(second.id)).state is TaskState.READY
    [note] = [n for n in told(notes) if n.kind == "limit_hit"]
    assert "weekly limit" in note.text and "(in 3 days)" in note.text


async def test_logged_out_holds_the_queue_until_the_login_changes_without_spending_requests(
    cli_service: Service, api: MessagesAPI, start_daemon: Start, notes: RecordingNotifier,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api.push(m.oauth_expired(), times=None)
    first = await cli_service.add("First")
    second = await cli_service.add("Second")
    daemon = await start_daemon()

    for _ in range(400):
        if await cli_service.store.kv.get(QUEUE_PAUSED_KEY):
            break
        await asyncio.sleep(0.05)
    assert (await cli_service.store.kv.get(QUEUE_PAUSED_KEY))["hold"] == "login"
    await states(cli_service.store, first.id, {TaskState.READY})
    refused = len(api.requests)
    for _ in range(3):  # the dispatcher wakes (a tick, a change): the hold keeps it still
        daemon.wake("tick")
        await asyncio.sleep(0.3)
    assert len(api.requests) == refused
    assert [n.kind for n in told(notes)] == ["login_needed"]
    assert {(await cli_service.get(t.id)).attempts for t in (first, second)} == {0}

    # The owner logs in again: the credentials change, and the queue moves by itself.
    api.clear()
    api.push(m.text("First done.\nNIGHTSHIFT-TASK-COMPLETE"),
             m.text("Second done.\nNIGHTSHIFT-TASK-COMPLETE"))
    monkeypatch.setenv("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat01-a-fresh-login")
    daemon.wake("tick")
    await states(cli_service.store, first.id, {TaskState.DONE})
    await states(cli_service.store, second.id, {TaskState.DONE})
    assert await cli_service.store.kv.get(QUEUE_PAUSED_KEY) is None
    assert api.requests[-1].headers["authorization"] == "Bearer sk-ant-oat01-a-fresh-login"
