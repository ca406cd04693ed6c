"""The daemon's timed jobs and dispatch rules, in process with the real executor and fake CLI.

The daemon is built by the production assembly; the tests drive it through its parts'
public seams: the timers (when a job fires next, fire it now), the limit gate, one
dispatch round, the primer.
"""

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

from core.daemon import LAST_PRIMED_KEY, LIMIT_PAUSE_KEY, Round
from core.improve.adjustments import Adjustment, Knob
from core.improve.storage import ImproveStore
from core.models import Outcome, Run, Task, TaskState, utcnow
from core.scheduling.cron import next_cron_fire
from core.scheduling.hours import quiet_ends_at
from core.scheduling.priming import PRIME_MODEL, PRIME_PROMPT
from core.scheduling.resets import LimitPause
from core.service import Service
from core.settings import Settings
from core.store.store import Store

from .conftest import MakeDaemon, Record, Running, make_repo, wait_for_states

Start = Callable[..., Awaitable[Running]]


async def _paused_task(service: Service, prompt: str, resume_after: datetime) -> Task:
    """A task the limit paused (as the executor leaves it), without running anything."""
    task = await service.add(prompt)
    claimed = await service.store.tasks.claim_next(only_ids=[task.id])
    assert claimed is not None
    return await service.store.tasks.transition(
        task.id, TaskState.PAUSED_LIMIT, reason="limit", fields={"resume_after": resume_after}
    )


class MovableClock:
    def __init__(self) -> None:
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        return self.now or utcnow()


async def test_a_cron_trigger_fires_and_ends_a_pause_whose_reset_was_only_guessed(
    dservice: Service,
    dstore: Store,
    record: Record,
    start_daemon: Start,
) -> None:
    tz = ZoneInfo("Europe/Berlin")
    guess = utcnow() + timedelta(hours=5)
    task = await _paused_task(dservice, "night work", guess)
    await dstore.kv.set(
        LIMIT_PAUSE_KEY,
        LimitPause(guess, guess + timedelta(seconds=1), task_id=task.id, estimated=True).as_json(),
    )
    before = utcnow()
    running = await start_daemon(cron="0 0 * * *", tz="Europe/Berlin")
    after = utcnow()
    timers = running.daemon.timers
    fires = timers.next_fire("cron-0")
    # The job's next fire time is the trigger computed from now: the next midnight in Berlin.
    assert fires in {
        next_cron_fire("0 0 * * *", before, tz),
        next_cron_fire("0 0 * * *", after, tz),
    }
    assert fires is not None and fires.astimezone(tz).hour == 0
    assert (await dstore.tasks.get(task.id)).state is TaskState.PAUSED_LIMIT
    assert record() == []

    # Fire it now instead of at midnight: the scheduler runs the real job.
    fired_at = datetime.now(UTC)
    timers.fire_now("cron-0")
    await wait_for_states(dstore, [task.id], {TaskState.DONE})
    (run,) = await dstore.runs.for_task(task.id)
    assert run.scheduled_for is not None
    assert fired_at - timedelta(seconds=1) <= run.scheduled_for <= utcnow()
    assert len(record()) == 1
    fires = timers.next_fire("cron-0")
    assert fires is not None and fires.astimezone(tz).hour == 0


async def test_a_cron_trigger_never_ends_a_pause_with_a_known_reset(
    dservice: Service,
    dstore: Store,
    record: Record,
    start_daemon: Start,
) -> None:
    reset = utcnow() + timedelta(hours=2)
    task = await _paused_task(dservice, "night work", reset)
    await dstore.kv.set(
        LIMIT_PAUSE_KEY, LimitPause(reset, reset + timedelta(seconds=1), task_id=task.id).as_json()
    )
    running = await start_daemon(cron="0 0 * * *")
    await running.daemon.gate.on_cron()  # what the cron job does at midnight
    started = await running.daemon.dispatcher.round(Round("test"))
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
    assert await running.daemon.dispatcher.round(Round("test")) == []
    pause = await running.daemon.gate.pause.load()
    assert pause is not None and pause.until == reset + timedelta(seconds=1)
    assert running.daemon.timers.next_fire("reset") == pause.until
    assert (await dstore.tasks.get(other.id)).state is TaskState.READY and record() == []


async def test_still_limited_after_the_reset_backs_off_1_then_2_minutes_without_attempts(
    dservice: Service,
    dstore: Store,
    record: Record,
    start_daemon: Start,
) -> None:
    # The owner's pause keeps the daemon's own rounds from claiming the task set up below
    # before the test does (on a busy machine the start round can still be running).
    await dservice.pause_queue("test")
    running = await start_daemon()
    gate, timers = running.daemon.gate, running.daemon.timers
    reset = utcnow() - timedelta(seconds=5)
    task = await _paused_task(dservice, "x", reset)
    await gate.pause.save(LimitPause(reset, reset, task_id=task.id, lifted=True))
    now = utcnow()
    one = await gate.apply_limit(reset, now, task_id=task.id)
    assert (one.still_limited, one.until) == (1, now + timedelta(minutes=1))
    assert timers.next_fire("reset") == one.until
    assert await gate.pause.load() == one
    await gate.pause.save(one.lift())
    two = await gate.apply_limit(None, one.until, task_id=task.id)
    assert (two.still_limited, two.until) == (2, one.until + timedelta(minutes=2))
    assert timers.next_fire("reset") == two.until
    assert (await dstore.tasks.get(task.id)).attempts == 0
    assert record() == []


async def test_max_parallel_runs_at_once_but_never_two_in_one_repository(
    dservice: Service,
    dstore: Store,
    start_daemon: Start,
    tmp_path: Any,
) -> None:
    repo = make_repo(tmp_path / "shop")
    a = await dservice.add("a [fake: slow delay=0.1]", repo=str(repo), priority="urgent")
    b = await dservice.add("b [fake: slow delay=0.1]", repo=str(repo), priority="high")
    c = await dservice.add("c [fake: slow delay=0.1]")
    await start_daemon(max_parallel=2)
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
    task = await dservice.add("not now")
    running = await start_daemon(quiet_hours=f"{hour}-{(hour + 1) % 24}", tz="UTC")
    settings = running.daemon.settings
    now = utcnow()
    assert await running.daemon.dispatcher.round(Round("test")) == []
    assert running.daemon.timers.next_fire("quiet-end") == quiet_ends_at(settings.quiet_hour_set, now, UTC)
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
    a = await dservice.add("a [fake: slow delay=0.05]", priority="high")
    b = await dservice.add("b [fake: slow delay=0.05]")
    await start_daemon(max_parallel=2, window_capacity_tokens=1000, default_task_tokens=task_tokens)
    await wait_for_states(dstore, [a.id, b.id], {TaskState.DONE})
    (ra,) = await dstore.runs.for_task(a.id)
    (rb,) = await dstore.runs.for_task(b.id)
    assert ra.finished_at is not None and rb.started_at is not None
    assert rb.started_at >= ra.finished_at


SESSION = "3acb76ab-6551-4a55-b284-b83394dab14e"


def _log_line(config_dir: Path, at: datetime, text: str, *, tokens: int = 0, **top: Any) -> None:
    """One assistant line in Claude Code's log, as it writes them."""
    folder = config_dir / "projects" / "-work-shop"
    folder.mkdir(parents=True, exist_ok=True)
    line = {
        "type": "assistant",
        "sessionId": SESSION,
        "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        **top,
        "message": {
            "id": f"m-{at.timestamp()}",
            "type": "message",
            "role": "assistant",
            "model": "<synthetic>" if top.get("isApiErrorMessage") else "claude-sonnet-4-5",
            "content": [{"type": "text", "text": text}],
            "usage": {
                "input_tokens": tokens,
                "output_tokens": tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        },
        "uuid": f"u-{at.timestamp()}",
    }
    with (folder / f"{SESSION}.jsonl").open("a") as fh:
        fh.write(json.dumps(line, separators=(",", ":")) + "\n")


def _limit_line(config_dir: Path, at: datetime, text: str) -> None:
    """The synthetic line Claude Code writes to its log when a call is refused."""
    _log_line(config_dir, at, text, isApiErrorMessage=True, error="rate_limit", apiErrorStatus=429)


def _usage_line(config_dir: Path, at: datetime) -> None:
    """An ordinary logged API response at `at`: it opens a 5-hour window for the monitor."""
    _log_line(config_dir, at, "earlier work", tokens=100, requestId=f"req-{at.timestamp()}")


async def test_the_rounded_text_of_a_limit_already_handled_does_not_pause_the_queue_again(
    make_daemon: MakeDaemon,
    daemon_settings: Settings,
) -> None:
    """The stream said the window resets at 09:18:15; the logged text says "resets 9:19am"."""
    exact = datetime(2026, 11, 27, 9, 18, 15, tzinfo=UTC)
    config_dir = daemon_settings.claude_config_dir[0]
    _limit_line(
        config_dir, exact - timedelta(seconds=14), "You’ve hit your session limit · resets 9:19am (UTC)"
    )
    clock = MovableClock()
    daemon = make_daemon(clock=clock)
    gate = daemon.gate
    try:
        limited = await gate.apply_limit(exact, exact - timedelta(seconds=14), source="run")
        await gate.pause.save(limited.lift())
        await gate.window_proven()  # the resumed run got through
        clock.now = exact + timedelta(seconds=2)
        await gate.refresh_usage()  # what the usage job does
        state = daemon.usage.last
        assert state is not None and state.limited and state.source == "message"
        assert state.resets_at == datetime(2026, 11, 27, 9, 19, tzinfo=UTC)
        assert await gate.pause.load() is None

        # A limit the owner hit meanwhile (a new reset time) still pauses the queue.
        _limit_line(
            config_dir, exact + timedelta(seconds=1), "You’ve hit your weekly limit · resets Dec 3, 5pm (UTC)"
        )
        await gate.refresh_usage()
        pause = await gate.pause.load()
        assert pause is not None and pause.kind == "weekly" and pause.source == "message"
        assert pause.until == datetime(2026, 12, 3, 17, 0, 1, tzinfo=UTC)
    finally:
        await daemon.usage.close()


async def test_priming_sends_one_minimal_prompt_and_never_while_a_window_is_open(
    dservice: Service,
    dstore: Store,
    record: Record,
    start_daemon: Start,
) -> None:
    before = utcnow()
    running = await start_daemon(prime_at=["06:00"], tz="UTC")
    daemon = running.daemon
    assert daemon.timers.next_fire("prime-0600") in {
        next_cron_fire("0 6 * * *", before, UTC),
        next_cron_fire("0 6 * * *", utcnow(), UTC),
    }

    await daemon.primer.prime()  # what the job does at 06:00
    (call,) = record()
    argv = call["argv"]
    assert call["prompt"] == PRIME_PROMPT and call["stdin_devnull"] is True
    assert argv[argv.index("--model") + 1] == PRIME_MODEL
    assert argv[argv.index("--max-turns") + 1] == "1"
    assert call["permission_mode"] == "plan"
    assert daemon.stats.primes == 1

    # The window it opened is open now: no second prime, by our own record or by the logs.
    await daemon.primer.prime()
    await dstore.kv.delete(LAST_PRIMED_KEY)
    await daemon.primer.prime()
    assert len(record()) == 1 and daemon.stats.primes == 1
    assert daemon.usage.last is not None and daemon.usage.last.window_start is not None


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
        await running.daemon.routine.import_inbox()
    assert "inbox import refused" in caplog.text
    assert not running.job.done() and list(elsewhere.iterdir()) == []
    assert await dservice.list() == []  # the queue still answers
    (inbox / "rejected").unlink()
    await running.daemon.routine.import_inbox()
    assert "anchors" in (inbox / "rejected" / "bomb.md.error.txt").read_text()
    assert await dstore.tasks.count() == 0


async def test_the_learned_parallel_limit_overrides_the_setting(
    dstore: Store,
    daemon_settings: Settings,
    start_daemon: Start,
) -> None:
    """The learning loop lowered the parallel limit near a window's end; the window ends soon."""
    real = utcnow()
    # The daemon's clock reads half past an hour (whatever the real minute), so that the
    # window opened at four hours before that hour has half an hour left for the whole test.
    offset = (timedelta(minutes=30) - (real - real.replace(minute=0, second=0, microsecond=0))) % timedelta(
        hours=1
    )

    def clock() -> datetime:
        return utcnow() + offset

    now = clock()
    await ImproveStore(dstore.db).add_adjustments([
        Adjustment(Knob.PARALLEL_NEAR_END, "window", 2.0, 1.0, "limits cut parallel runs short", now)
    ])
    opened = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=4)
    _usage_line(daemon_settings.claude_config_dir[0], opened)
    running = await start_daemon(max_parallel=2, clock=clock)
    for _ in range(600):
        if running.daemon.usage.window_end(clock()) is not None:
            break
        await asyncio.sleep(0.02)
    assert running.daemon.usage.window_end(clock()) == opened + timedelta(hours=5)
    a = await running.service.add("a [fake: slow delay=0.05]", priority="high")
    b = await running.service.add("b [fake: slow delay=0.05]")
    await wait_for_states(dstore, [a.id, b.id], {TaskState.DONE})
    (ra,) = await dstore.runs.for_task(a.id)
    (rb,) = await dstore.runs.for_task(b.id)
    assert ra.finished_at is not None and rb.started_at is not None
    assert rb.started_at >= ra.finished_at


async def test_without_work_hours_the_learned_start_of_the_owners_day_is_primed_for(
    dservice: Service,
    dstore: Store,
    daemon_settings: Settings,
    record: Record,
    start_daemon: Start,
) -> None:
    config_dir = daemon_settings.claude_config_dir[0]
    monday = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    for day in range(4):  # the owner's own use starts at 09:30 from Monday to Thursday
        _log_line(config_dir, monday + timedelta(days=day), "owner's work", tokens=40_000,
                  requestId=f"req-owner-{day}")
    friday_4am = datetime(2026, 1, 9, 4, 2, tzinfo=UTC)
    clock = {"now": friday_4am - timedelta(hours=1)}
    running = await start_daemon(tz="UTC", clock=lambda: clock["now"])
    daemon = running.daemon
    assert daemon.settings.work_hours == ""
    primes = await running.service.planned_primes(clock["now"])
    assert [(p.at, p.reason) for p in primes][:1] == [
        (friday_4am.replace(minute=0), "a fresh window at Fri 09:00 (your day's learned start)")]
    await daemon.primer.prime_for_work()  # 03:02: not due
    assert record() == []
    clock["now"] = friday_4am
    await daemon.primer.prime_for_work()
    (call,) = record()
    assert call["prompt"] == PRIME_PROMPT and daemon.stats.primes == 1


async def test_work_hours_prime_a_window_five_hours_before_work_and_only_then(
    dservice: Service,
    dstore: Store,
    record: Record,
    start_daemon: Start,
) -> None:
    monday_4am = datetime(2026, 1, 5, 4, 2, tzinfo=UTC)
    clock = {"now": monday_4am - timedelta(hours=1)}
    running = await start_daemon(work_hours="9-18", tz="UTC", clock=lambda: clock["now"])
    daemon = running.daemon
    assert daemon.timers.next_fire("work-prime") is not None
    assert [p.at for p in await running.service.planned_primes(monday_4am - timedelta(hours=1))][:1] == [
        monday_4am.replace(minute=0)
    ]
    await daemon.primer.prime_for_work()  # 03:02: not due
    assert record() == [] and daemon.stats.primes == 0
    clock["now"] = monday_4am  # 04:02: the window it opens resets at 09:00
    await daemon.primer.prime_for_work()
    (call,) = record()
    assert call["prompt"] == PRIME_PROMPT and daemon.stats.primes == 1
    clock["now"] = monday_4am + timedelta(minutes=20)  # past the moment: not again
    await dstore.kv.delete(LAST_PRIMED_KEY)
    await daemon.primer.prime_for_work()
    assert len(record()) == 1
