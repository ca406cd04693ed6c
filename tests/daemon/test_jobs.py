"""The daemon's timed jobs and dispatch rules, in process with the real executor and fake CLI."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.daemon import LAST_PRIMED_KEY, LIMIT_PAUSE_KEY, Daemon, _Round
from core.execution.executor import Executor
from core.models import Outcome, Run, Task, TaskState, utcnow
from core.scheduling.cron import next_cron_fire
from core.scheduling.hours import quiet_ends_at
from core.scheduling.priming import PRIME_MODEL, PRIME_PROMPT
from core.scheduling.resets import LimitPause
from core.service import Service
from core.settings import Settings
from core.store.store import Store
from core.usage.monitor import UsageMonitor

from .conftest import Record, Running, make_repo, wait_for_states

Start = Callable[..., Awaitable[Running]]


async def _paused_task(service: Service, prompt: str, resume_after: datetime) -> Task:
    """A task the limit paused (as the executor leaves it), without running anything."""
    task = await service.add(prompt)
    claimed = await service.store.tasks.claim_next(only_ids=[task.id])
    assert claimed is not None
    return await service.store.tasks.transition(
        task.id, TaskState.PAUSED_LIMIT, reason="limit", fields={"resume_after": resume_after}
    )


def _configure(service: Service, **changes: Any) -> Settings:
    service.settings = service.settings.model_copy(update=changes)
    return service.settings


async def test_a_cron_trigger_fires_and_ends_a_pause_whose_reset_was_only_guessed(
    dservice: Service,
    dstore: Store,
    record: Record,
    start_daemon: Start,
) -> None:
    tz = ZoneInfo("Europe/Berlin")
    _configure(dservice, cron="0 0 * * *", tz="Europe/Berlin")
    guess = utcnow() + timedelta(hours=5)
    task = await _paused_task(dservice, "night work", guess)
    await dstore.kv.set(
        LIMIT_PAUSE_KEY,
        LimitPause(guess, guess + timedelta(seconds=1), task_id=task.id, estimated=True).as_json(),
    )
    before = utcnow()
    running = await start_daemon()
    after = utcnow()
    scheduler = running.daemon.scheduler
    assert scheduler is not None
    job = scheduler.get_job("cron-0")
    # The job's next fire time is the trigger computed from now: the next midnight in Berlin.
    assert job.next_run_time in {
        next_cron_fire("0 0 * * *", before, tz),
        next_cron_fire("0 0 * * *", after, tz),
    }
    assert job.next_run_time.astimezone(tz).hour == 0
    assert (await dstore.tasks.get(task.id)).state is TaskState.PAUSED_LIMIT
    assert record() == []

    # Fire it now instead of at midnight: APScheduler runs the real job.
    fired_at = datetime.now(UTC)
    job.modify(next_run_time=fired_at)
    await wait_for_states(dstore, [task.id], {TaskState.DONE})
    (run,) = await dstore.runs.for_task(task.id)
    assert run.scheduled_for is not None
    assert fired_at - timedelta(seconds=1) <= run.scheduled_for <= utcnow()
    assert len(record()) == 1
    assert scheduler.get_job("cron-0").next_run_time.astimezone(tz).hour == 0


async def test_a_cron_trigger_never_ends_a_pause_with_a_known_reset(
    dservice: Service,
    dstore: Store,
    record: Record,
    start_daemon: Start,
) -> None:
    _configure(dservice, cron="0 0 * * *")
    reset = utcnow() + timedelta(hours=2)
    task = await _paused_task(dservice, "night work", reset)
    await dstore.kv.set(
        LIMIT_PAUSE_KEY, LimitPause(reset, reset + timedelta(seconds=1), task_id=task.id).as_json()
    )
    running = await start_daemon()
    await running.daemon._on_cron()
    started = await running.daemon.dispatch(_Round("test"))
    assert started == [] and record() == []
    assert (await dstore.tasks.get(task.id)).state is TaskState.PAUSED_LIMIT


async def test_a_reset_missed_while_the_daemon_was_down_fires_at_start(
    dservice: Service,
    dstore: Store,
    record: Record,
    start_daemon: Start,
) -> None:
    reset = utcnow() - timedelta(seconds=30)
    limited = await _paused_task(dservice, "was limited", reset)
    waiting = await dservice.add("queued meanwhile", priority="urgent")
    until = reset + timedelta(seconds=1)
    await dstore.kv.set(LIMIT_PAUSE_KEY, LimitPause(reset, until, task_id=limited.id).as_json())
    await start_daemon()
    await wait_for_states(dstore, [limited.id, waiting.id], {TaskState.DONE})
    calls = record()
    # The paused task goes first although the other one is urgent.
    assert [c["prompt"].splitlines()[0] for c in calls] == ["was limited", "queued meanwhile"]
    (run,) = await dstore.runs.for_task(limited.id)
    assert run.scheduled_for == until


async def test_a_paused_task_without_a_pause_record_still_pauses_the_queue_after_a_restart(
    dservice: Service,
    dstore: Store,
    record: Record,
    start_daemon: Start,
) -> None:
    """The executor paused the task, then the daemon died before it saved the pause."""
    reset = utcnow() + timedelta(hours=1)
    await _paused_task(dservice, "was limited", reset)
    other = await dservice.add("other")
    running = await start_daemon()
    assert await running.daemon.dispatch(_Round("test")) == []
    pause = await running.daemon.load_pause()
    assert pause is not None and pause.until == reset + timedelta(seconds=1)
    assert running.daemon.scheduler.get_job("reset").next_run_time == pause.until
    assert (await dstore.tasks.get(other.id)).state is TaskState.READY and record() == []


async def test_still_limited_after_the_reset_backs_off_1_then_2_minutes_without_attempts(
    dservice: Service,
    dstore: Store,
    record: Record,
    start_daemon: Start,
) -> None:
    running = await start_daemon()
    daemon = running.daemon
    reset = utcnow() - timedelta(seconds=5)
    task = await _paused_task(dservice, "x", reset)
    await daemon.save_pause(LimitPause(reset, reset, task_id=task.id, lifted=True))
    now = utcnow()
    one = await daemon.apply_limit(reset, now, task_id=task.id)
    assert (one.still_limited, one.until) == (1, now + timedelta(minutes=1))
    assert daemon.scheduler.get_job("reset").next_run_time == one.until
    assert await daemon.load_pause() == one
    await daemon.save_pause(one.lift())
    two = await daemon.apply_limit(None, one.until, task_id=task.id)
    assert (two.still_limited, two.until) == (2, one.until + timedelta(minutes=2))
    assert daemon.scheduler.get_job("reset").next_run_time == two.until
    assert (await dstore.tasks.get(task.id)).attempts == 0
    assert record() == []


async def test_max_parallel_runs_at_once_but_never_two_in_one_repository(
    dservice: Service,
    dstore: Store,
    start_daemon: Start,
    tmp_path: Any,
) -> None:
    _configure(dservice, max_parallel=2)
    repo = make_repo(tmp_path / "shop")
    a = await dservice.add("a [fake: slow delay=0.1]", repo=str(repo), priority="urgent")
    b = await dservice.add("b [fake: slow delay=0.1]", repo=str(repo), priority="high")
    c = await dservice.add("c [fake: slow delay=0.1]")
    await start_daemon()
    await wait_for_states(dstore, [a.id, b.id, c.id], {TaskState.DONE})

    async def run_of(task: Task) -> Run:
        (run,) = await dstore.runs.for_task(task.id)
        assert run.started_at and run.finished_at and run.outcome is Outcome.SUCCESS
        return run

    ra, rb, rc = await run_of(a), await run_of(b), await run_of(c)
    assert rc.started_at < ra.finished_at and ra.started_at < rc.finished_at  # a and c overlapped
    assert rb.started_at >= ra.finished_at  # b waited for a: same repository


async def test_quiet_hours_start_nothing_and_wake_the_dispatcher_when_they_end(
    dservice: Service,
    dstore: Store,
    record: Record,
    start_daemon: Start,
) -> None:
    hour = utcnow().hour
    settings = _configure(dservice, quiet_hours=f"{hour}-{(hour + 1) % 24}", tz="UTC")
    task = await dservice.add("not now")
    running = await start_daemon()
    now = utcnow()
    assert await running.daemon.dispatch(_Round("test")) == []
    job = running.daemon.scheduler.get_job("quiet-end")
    assert job.next_run_time == quiet_ends_at(settings.quiet_hour_set, now, UTC)
    assert (await dstore.tasks.get(task.id)).state is TaskState.READY and record() == []


@pytest.mark.parametrize(
    "task_tokens",
    [
        pytest.param(600, id="600+600 > 1000: b waits although two may run"),
        pytest.param(5000, id="a task larger than any window starts alone"),
    ],
)
async def test_the_budget_holds_back_what_does_not_fit_beside_a_run_in_flight(
    dservice: Service,
    dstore: Store,
    start_daemon: Start,
    task_tokens: int,
) -> None:
    _configure(dservice, max_parallel=2, window_capacity_tokens=1000, default_task_tokens=task_tokens)
    a = await dservice.add("a [fake: slow delay=0.05]", priority="high")
    b = await dservice.add("b [fake: slow delay=0.05]")
    await start_daemon()
    await wait_for_states(dstore, [a.id, b.id], {TaskState.DONE})
    (ra,) = await dstore.runs.for_task(a.id)
    (rb,) = await dstore.runs.for_task(b.id)
    assert ra.finished_at is not None and rb.started_at is not None
    assert rb.started_at >= ra.finished_at


def _limit_line(config_dir: Path, at: datetime, text: str) -> None:
    """The synthetic line Claude Code writes to its log when a call is refused."""
    folder = config_dir / "projects" / "-work-shop"
    folder.mkdir(parents=True, exist_ok=True)
    line = {
        "type": "assistant",
        "sessionId": "3acb76ab-6551-4a55-b284-b83394dab14e",
        "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "isApiErrorMessage": True,
        "error": "rate_limit",
        "apiErrorStatus": 429,
        "message": {
            "id": f"m-{at.timestamp()}",
            "type": "message",
            "role": "assistant",
            "model": "<synthetic>",
            "content": [{"type": "text", "text": text}],
            "usage": {
                "input_tokens": 0,
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        },
        "uuid": f"u-{at.timestamp()}",
    }
    with (folder / "3acb76ab-6551-4a55-b284-b83394dab14e.jsonl").open("a") as fh:
        fh.write(json.dumps(line, separators=(",", ":")) + "\n")


async def test_the_rounded_text_of_a_limit_already_handled_does_not_pause_the_queue_again(
    dservice: Service,
    dstore: Store,
    executor: Executor,
    daemon_settings: Settings,
) -> None:
    """The stream said the window resets at 09:18:15; the logged text says "resets 9:19am"."""
    exact = datetime(2026, 11, 27, 9, 18, 15, tzinfo=UTC)
    config_dir = daemon_settings.claude_config_dir[0]
    _limit_line(
        config_dir, exact - timedelta(seconds=14), "You’ve hit your session limit · resets 9:19am (UTC)"
    )
    daemon = Daemon(
        dservice, executor, monitor=UsageMonitor(dservice.settings, dstore), install_signal_handlers=False
    )
    try:
        limited = await daemon.apply_limit(exact, exact - timedelta(seconds=14), source="run")
        await daemon.save_pause(limited.lift())
        await daemon._window_proven()  # the resumed run got through
        dservice.clock = lambda: exact + timedelta(seconds=2)
        await daemon._refresh_usage()
        state = daemon._limit
        assert state is not None and state.limited and state.source == "message"
        assert state.resets_at == datetime(2026, 11, 27, 9, 19, tzinfo=UTC)
        assert await daemon.load_pause() is None

        # A limit the owner hit meanwhile (a new reset time) still pauses the queue.
        _limit_line(
            config_dir, exact + timedelta(seconds=1), "You’ve hit your weekly limit · resets Dec 3, 5pm (UTC)"
        )
        await daemon._refresh_usage()
        pause = await daemon.load_pause()
        assert pause is not None and pause.kind == "weekly" and pause.source == "message"
        assert pause.until == datetime(2026, 12, 3, 17, 0, 1, tzinfo=UTC)
    finally:
        assert daemon.monitor is not None
        await daemon.monitor.close()


async def test_priming_sends_one_minimal_prompt_and_never_while_a_window_is_open(
    dservice: Service,
    dstore: Store,
    record: Record,
    start_daemon: Start,
) -> None:
    _configure(dservice, prime_at=["06:00"], tz="UTC")
    before = utcnow()
    running = await start_daemon()
    daemon = running.daemon
    assert daemon.scheduler is not None
    job = daemon.scheduler.get_job("prime-0600")
    assert job.next_run_time in {
        next_cron_fire("0 6 * * *", before, UTC),
        next_cron_fire("0 6 * * *", utcnow(), UTC),
    }

    await daemon._prime()  # what the job does at 06:00
    (call,) = record()
    argv = call["argv"]
    assert call["prompt"] == PRIME_PROMPT and call["stdin_devnull"] is True
    assert argv[argv.index("--model") + 1] == PRIME_MODEL
    assert argv[argv.index("--max-turns") + 1] == "1"
    assert call["permission_mode"] == "plan"
    assert daemon.stats.primes == 1

    # The window it opened is open now: no second prime, by our own record or by the logs.
    await daemon._prime()
    await dstore.kv.delete(LAST_PRIMED_KEY)
    await daemon._prime()
    assert len(record()) == 1 and daemon.stats.primes == 1
    assert daemon._limit is not None and daemon._limit.window_start is not None


async def test_the_inbox_job_imports_a_note_and_the_dispatcher_runs_it(
    dservice: Service,
    dstore: Store,
    record: Record,
    start_daemon: Start,
) -> None:
    inbox = dservice.settings.brain_dir / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "changelog.md").write_text("---\nplan: false\n---\nwrite the changelog\n")
    await start_daemon()
    for _ in range(600):
        if await dstore.tasks.query():
            break
        await asyncio.sleep(0.02)
    (task,) = await dstore.tasks.query()
    await wait_for_states(dstore, [task.id], {TaskState.DONE})
    assert task.source == "inbox" and not (inbox / "changelog.md").exists()
    assert [c["prompt"].splitlines()[0] for c in record()] == ["write the changelog"]


async def test_the_inbox_job_survives_hostile_files_and_a_linked_rejected_folder(
    dservice: Service,
    dstore: Store,
    start_daemon: Start,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A planted link at inbox/rejected stops the import with one logged line, the daemon
    keeps running and answering; once the link is gone the hostile file is refused."""
    inbox = dservice.settings.brain_dir / "inbox"
    inbox.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (inbox / "rejected").symlink_to(elsewhere, target_is_directory=True)
    (inbox / "bomb.md").write_text("---\na: &a [x, x]\ntags: [*a, *a]\n---\nbody\n")
    running = await start_daemon()
    with caplog.at_level(logging.WARNING, logger="core.daemon"):
        await running.daemon._import_inbox()
    assert "inbox import refused" in caplog.text
    assert not running.job.done() and list(elsewhere.iterdir()) == []
    assert await dservice.list() == []  # the queue still answers
    (inbox / "rejected").unlink()
    await running.daemon._import_inbox()
    assert "anchors" in (inbox / "rejected" / "bomb.md.error.txt").read_text()
    assert await dstore.tasks.count() == 0


async def test_the_learned_parallel_limit_overrides_the_setting(
    dservice: Service,
    dstore: Store,
    start_daemon: Start,
) -> None:
    _configure(dservice, max_parallel=2)
    asked: list[int] = []

    def one_at_a_time(now: datetime, window_end: datetime | None) -> int:
        asked.append(1)
        return 1  # as near a window's end after limits cut overlapping runs short

    a = await dservice.add("a [fake: slow delay=0.05]", priority="high")
    b = await dservice.add("b [fake: slow delay=0.05]")
    await start_daemon(parallel_limit=one_at_a_time)
    await wait_for_states(dstore, [a.id, b.id], {TaskState.DONE})
    (ra,) = await dstore.runs.for_task(a.id)
    (rb,) = await dstore.runs.for_task(b.id)
    assert asked and ra.finished_at is not None and rb.started_at is not None
    assert rb.started_at >= ra.finished_at
