"""The reason nightshift exists: a limit pauses the whole queue, and the reset starts the work.

Real fake CLI in real tmux, margin 1 s, a reset 5 s away.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from core.daemon import LIMIT_PAUSE_KEY
from core.models import Outcome, Priority, RunKind, TaskState
from core.service import Service
from core.store.store import Store
from tests.fakes.notifier import RecordingNotifier

from .conftest import Record, wait_for_states


def _at(call: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(call["at"]).replace("Z", "+00:00"))


def _first_words(call: dict[str, Any]) -> str:
    """'resume' for a --resume call, else the task's prompt before any directive."""
    if call["resume"] is not None:
        return "resume"
    return str(call["prompt"]).splitlines()[0].split(" [")[0]


async def _stored_pause(store: Store) -> dict[str, Any]:
    """The queue pause the gate keeps, once the follower has handed it the limited run."""
    for _ in range(100):
        pause = await store.kv.get(LIMIT_PAUSE_KEY)
        if pause:
            return dict(pause)
        await asyncio.sleep(0.02)
    raise AssertionError("the gate kept no pause")


async def test_a_limit_pauses_the_queue_until_the_reset_and_the_limited_task_resumes_first(
    dservice: Service, dstore: Store, record: Record, start_daemon: object
) -> None:
    notes = RecordingNotifier()
    first = await dservice.add("first task [fake: limit reset_in=5]", priority=Priority.HIGH)
    second = await dservice.add("second task")
    third = await dservice.add("third task")
    running = await start_daemon(notifier=notes)  # type: ignore[operator]

    # The first task hits the limit: it is paused, its attempt not counted, the queue paused.
    (paused,) = await wait_for_states(dstore, [first.id], {TaskState.PAUSED_LIMIT})
    assert paused.attempts == 0 and paused.resume_after is not None
    reset = paused.resume_after
    # The limit reaches the gate one way only: kept on the run, which the follower hands it.
    (limited,) = await dstore.runs.for_task(first.id)
    assert limited.outcome is Outcome.LIMIT and limited.extra["limit"]["exact"] is True
    assert datetime.fromisoformat(limited.extra["limit"]["resets_at"]) == reset
    pause = await _stored_pause(dstore)
    until = reset + timedelta(seconds=1)
    assert datetime.fromisoformat(pause["until"]) == until
    assert pause["task_id"] == first.id and pause["kind"] == "session"
    assert running.daemon.timers.next_fire("reset") == until
    # Closed right up to the reset (plus the margin), whatever the dispatcher is asked meanwhile.
    assert limited.finished_at is not None
    for asked in (limited.finished_at, until - timedelta(microseconds=1)):
        assert (await running.daemon.gate.check(asked)).closed

    tasks = await wait_for_states(dstore, [first.id, second.id, third.id], {TaskState.DONE})
    # One window summary for the batch the reset set off.
    for _ in range(600):
        summaries = [n for n in notes.sent if n.kind == "window_summary"]
        if summaries:
            break
        await asyncio.sleep(0.05)
    assert await running.stop() == 0
    (summary,) = summaries
    assert summary.text.startswith("Window summary: reset at ")
    assert "3 tasks started\ndone 3\n" in summary.text
    assert [line.split(":")[0] for line in summary.text.splitlines()[3:]] == [
        f"task {first.id} done", f"task {second.id} done", f"task {third.id} done"]
    assert summary.photo is not None and Path(summary.photo).read_bytes()[:4] == b"\x89PNG"

    calls = record()
    assert [_first_words(c) for c in calls] == [
        "first task", "resume", "second task", "third task",
    ], calls
    # Nothing but the first call reached the CLI before the reset.
    assert _at(calls[0]) < reset
    assert all(_at(c) >= reset for c in calls[1:])
    # The limited task resumed its own session, with --resume.
    runs = await dstore.runs.for_task(first.id)
    assert [r.outcome for r in runs] == [Outcome.LIMIT, Outcome.SUCCESS]
    assert calls[1]["resume"] == runs[0].session_id
    assert "--resume" in calls[1]["argv"]
    # One attempt in all: the limit cost none.
    assert tasks[0].attempts == 1
    # Reset-to-start latency is recorded for the run the reset started.
    resumed = runs[1]
    assert resumed.scheduled_for == reset + timedelta(seconds=1)
    assert resumed.started_at is not None and resumed.latency_s is not None
    assert resumed.started_at >= resumed.scheduled_for
    # The window got through: the pause is gone.
    assert await dstore.kv.get(LIMIT_PAUSE_KEY) is None


async def test_with_parallel_runs_the_resumed_task_goes_alone_until_it_gets_through(
    dservice: Service, dstore: Store, record: Record, start_daemon: object
) -> None:
    first = await dservice.add("first task [fake: limit reset_in=3]")
    running = await start_daemon(max_parallel=2)  # type: ignore[operator]
    await wait_for_states(dstore, [first.id], {TaskState.PAUSED_LIMIT})
    second = await running.service.add("second task [fake: slow delay=0.1]", priority=Priority.URGENT)
    third = await running.service.add("third task [fake: slow delay=0.1]", priority=Priority.URGENT)
    await wait_for_states(dstore, [first.id, second.id, third.id], {TaskState.DONE})

    assert [_first_words(c) for c in record()][:2] == ["first task", "resume"]
    resumed = (await dstore.runs.for_task(first.id))[-1]
    (run2,) = await dstore.runs.for_task(second.id)
    (run3,) = await dstore.runs.for_task(third.id)
    assert resumed.finished_at is not None
    assert run2.started_at is not None and run3.started_at is not None
    assert run2.finished_at is not None and run3.finished_at is not None
    # Urgent or not, they waited until the resumed run proved the window open ...
    assert min(run2.started_at, run3.started_at) >= resumed.finished_at
    # ... and then ran side by side.
    assert max(run2.started_at, run3.started_at) < min(run2.finished_at, run3.finished_at)


async def test_a_plan_run_that_hits_the_limit_closes_the_gate_and_its_plan_resumes_first_after_the_reset(
    dservice: Service, dstore: Store, record: Record, start_daemon: object
) -> None:
    planned = await dservice.add("plan the migration [fake: limit reset_in=3]", plan=True)
    running = await start_daemon()  # type: ignore[operator]

    # The plan run met the limit: the planner paused the task, the run keeps the limit.
    (paused,) = await wait_for_states(dstore, [planned.id], {TaskState.PAUSED_LIMIT})
    assert paused.attempts == 0 and paused.resume_after is not None
    reset = paused.resume_after
    (limited,) = await dstore.runs.for_task(planned.id)
    assert (limited.kind, limited.outcome) == (RunKind.PLAN, Outcome.LIMIT)
    assert limited.extra["limit"]["exact"] is True and limited.extra["limit"]["kind"] == "session"
    assert datetime.fromisoformat(limited.extra["limit"]["resets_at"]) == reset
    # The follower handed that run to the gate: the queue is paused until the reset.
    pause = await _stored_pause(dstore)
    until = reset + timedelta(seconds=1)
    assert datetime.fromisoformat(pause["until"]) == until and pause["task_id"] == planned.id
    assert (await running.daemon.gate.check(until - timedelta(microseconds=1))).closed

    meanwhile = await running.service.add("meanwhile", plan=False, priority=Priority.URGENT)
    await wait_for_states(dstore, [planned.id], {TaskState.AWAITING_APPROVAL})
    await wait_for_states(dstore, [meanwhile.id], {TaskState.DONE})
    assert await running.stop() == 0

    calls = record()
    modes = [c["argv"][c["argv"].index("--permission-mode") + 1] if "--permission-mode" in c["argv"] else None
             for c in calls]
    # The plan run, then (after the reset) its own session resumed first, then the urgent work.
    assert [(m == "plan", c["resume"]) for m, c in zip(modes, calls, strict=True)] == [
        (True, None), (True, limited.session_id), (False, None)]
    assert _at(calls[0]) < reset and all(_at(c) >= reset for c in calls[1:])
    runs = await dstore.runs.for_task(planned.id)
    assert [(r.kind, r.outcome) for r in runs] == [
        (RunKind.PLAN, Outcome.LIMIT), (RunKind.PLAN, Outcome.SUCCESS)]
    assert (await dstore.plans.latest(planned.id)) is not None
    # The resumed plan run got through: the pause is gone.
    assert await dstore.kv.get(LIMIT_PAUSE_KEY) is None


async def test_a_released_task_cancelled_before_its_claim_does_not_hold_the_next_plans_back(
    dservice: Service, dstore: Store, record: Record, start_daemon: object
) -> None:
    gone = await dservice.add("released at the reset, then cancelled", plan=True)
    await dservice.cancel(gone.id)
    running = await start_daemon()  # type: ignore[operator]
    # The race: the reset released the task to go first, and the owner cancelled it before
    # the next round could claim it.
    running.daemon.gate.resume_first.append(gone.id)
    later = await running.service.add("plan the next thing", plan=True)
    await wait_for_states(dstore, [later.id], {TaskState.AWAITING_APPROVAL})
    assert running.daemon.gate.resume_first == []
    assert await running.stop() == 0
    assert [_first_words(c) for c in record()] == ["plan the next thing"]
