"""One clock: every timed job of the daemon is declared in `core.daemon.timers`, and the
daily summary, the morning digest, the retrospective and the meta-task are jobs there.

The daemon is the production assembly's; a job is fired through the timers' public seam
(`fire_now`) while the daemon's clock is moved to the morning it pretends to be.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from core.abc import Notification
from core.daemon.timers import (
    SAFETY_TICK_S,
    Crontab,
    CrontabTrigger,
    Job,
    StandingWork,
    Timers,
    standing_jobs,
)
from core.improve.retro import IsoWeek, retro_path
from core.metrics.pictures import DIGEST_SENT_KEY
from core.models import TaskState, iso, utcnow
from core.scheduling.cron import next_cron_fire, parse_crontab
from core.scheduling.hours import next_daily_at
from core.settings import Settings
from core.store.store import Store
from tests.fakes.notifier import RecordingNotifier

from .conftest import Record, Running, wait_for_states

Start = Callable[..., Awaitable[Running]]
BERLIN = ZoneInfo("Europe/Berlin")


class MovableClock:
    def __init__(self) -> None:
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        return self.now or utcnow()


async def _nothing() -> None:
    return None


async def heard(notes: RecordingNotifier, kind: str, count: int = 1) -> list[Notification]:
    """The notifications of `kind` once there are `count` of them (a fired job runs on the loop)."""
    for _ in range(1500):
        found = [n for n in notes.sent if n.kind == kind]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {count} {kind!r} notifications; heard {[n.kind for n in notes.sent]}")


def _names(settings: Settings, *, burst: bool) -> set[str]:
    work = StandingWork(
        tick=_nothing, import_inbox=_nothing, backup=_nothing, cron=_nothing, prime=_nothing,
        refresh_usage=_nothing, retro=_nothing, meta_task=_nothing, daily_summary=_nothing,
        morning_digest=_nothing,
    )
    return {job.name for job in standing_jobs(settings, work, burst=burst)}


def test_what_runs_when_follows_the_settings(daemon_settings: Settings) -> None:
    plain = _names(daemon_settings, burst=False)
    assert plain == {"tick", "usage", "inbox", "backup", "retro", "meta-task"}
    owner = daemon_settings.model_copy(update={
        "wake_time": "07:30", "telegram_bot_token": SecretStr("1234:" + "a" * 35),
        "cron": "0 0 * * *", "prime_at": ["06:00"],
    })
    assert _names(owner, burst=False) == plain | {"digest", "daily-summary", "cron-0", "prime-0600"}
    assert _names(owner, burst=True) == {"tick", "retro"}


def test_a_crontab_trigger_fires_by_crontabs_rules() -> None:
    """Either day field when both are restricted, Monday = 1, strictly after `now` (APScheduler's
    own CronTrigger would wait for a 1st that is a Tuesday)."""
    trigger = CrontabTrigger(parse_crontab("0 9 1 * 1"), BERLIN)
    saturday = datetime(2026, 1, 3, 12, tzinfo=BERLIN)
    monday = datetime(2026, 1, 5, 9, tzinfo=BERLIN)
    assert trigger.get_next_fire_time(None, saturday) == monday
    assert trigger.get_next_fire_time(monday, monday) == datetime(2026, 1, 12, 9, tzinfo=BERLIN)
    assert trigger.get_next_fire_time(None, datetime(2026, 1, 26, 10, tzinfo=BERLIN)) == datetime(
        2026, 2, 1, 9, tzinfo=BERLIN)  # a Sunday, the 1st


async def test_a_crontab_job_is_scheduled_by_the_crontab_trigger() -> None:
    timers = Timers(BERLIN)
    before = utcnow()
    timers.start([Job("cron-0", Crontab("0 9 1 * 1"), _nothing)])
    try:
        after = utcnow()
        assert timers.next_fire("cron-0") in {
            next_cron_fire("0 9 1 * 1", before, BERLIN), next_cron_fire("0 9 1 * 1", after, BERLIN)
        }
    finally:
        timers.stop()


async def test_the_morning_digest_fires_at_the_wake_time_and_covers_the_night(
    dstore: Store, record: Record, start_daemon: Start
) -> None:
    notes = RecordingNotifier()
    clock = MovableClock()
    before = utcnow()
    running = await start_daemon(wake_time="07:30", tz="Europe/Berlin", clock=clock, notifier=notes)
    after = utcnow()
    timers = running.daemon.timers
    assert timers.next_fire("digest") in {
        next_daily_at(before, time(7, 30), BERLIN),
        next_daily_at(after, time(7, 30), BERLIN),
    }

    # The night: one task runs through the daemon.
    task = await running.service.add("write the changelog", plan=False)
    await wait_for_states(dstore, [task.id], {TaskState.DONE})
    (run,) = await dstore.runs.for_task(task.id)
    assert run.finished_at is not None

    # The morning, on the daemon's clock: the job reads that clock, not the wall's.
    morning = run.finished_at + timedelta(hours=8)
    clock.now = morning
    timers.fire_now("digest")
    (digest,) = await heard(notes, "morning_digest")
    assert digest.data["done"] == [task.id] and digest.data["until"] == iso(morning)
    assert digest.photo is not None
    for _ in range(500):
        if await dstore.kv.get(DIGEST_SENT_KEY) == iso(morning):
            break
        await asyncio.sleep(0.02)
    assert await dstore.kv.get(DIGEST_SENT_KEY) == iso(morning)
    assert timers.next_fire("digest") is not None  # tomorrow's stays planned

    # The next morning nothing happened: no message, and the next digest starts from here.
    clock.now = morning + timedelta(days=1)
    timers.fire_now("digest")
    for _ in range(500):
        if await dstore.kv.get(DIGEST_SENT_KEY) == iso(clock.now):
            break
        await asyncio.sleep(0.02)
    assert await dstore.kv.get(DIGEST_SENT_KEY) == iso(clock.now)
    assert [n.kind for n in notes.sent].count("morning_digest") == 1


async def test_without_a_wake_time_there_is_no_digest(start_daemon: Start) -> None:
    running = await start_daemon()
    assert running.daemon.timers.next_fire("digest") is None
    assert "digest" not in running.daemon.timers.names()


async def test_the_daily_summary_is_a_timed_job_when_telegram_is_set(
    daemon_settings: Settings, start_daemon: Start
) -> None:
    notes = RecordingNotifier()
    before = utcnow()
    running = await start_daemon(
        notifier=notes, telegram_bot_token=SecretStr("1234:" + "a" * 35), daily_summary_hour=8,
        tz="Europe/Berlin",
    )
    timers = running.daemon.timers
    assert timers.next_fire("daily-summary") in {
        next_daily_at(before, time(8), BERLIN),
        next_daily_at(utcnow(), time(8), BERLIN),
    }
    await running.service.add("counted", plan=False)
    timers.fire_now("daily-summary")
    (summary,) = await heard(notes, "daily_summary")
    assert summary.text.startswith("Daily summary\n") and summary.photo is not None
    assert timers.next_fire("daily-summary") is not None


async def test_a_failing_job_is_one_logged_line_and_keeps_its_schedule(
    daemon_settings: Settings, start_daemon: Start, caplog: pytest.LogCaptureFixture
) -> None:
    notes = RecordingNotifier()
    running = await start_daemon(notifier=notes, telegram_bot_token=SecretStr("1234:" + "a" * 35))
    (daemon_settings.home_dir / "charts").write_text("a file where the charts folder goes")
    timers = running.daemon.timers
    with caplog.at_level(logging.ERROR, logger="nightshift.daemon"):
        timers.fire_now("daily-summary")
        for _ in range(1500):
            if "timed job failed" in caplog.text:
                break
            await asyncio.sleep(0.02)
    failed = [r for r in caplog.records if r.getMessage() == "timed job failed"]
    assert len(failed) == 1 and failed[0].fields["job"] == "daily-summary"  # type: ignore[attr-defined]
    assert timers.next_fire("daily-summary") is not None and not running.job.done()
    assert [n.kind for n in notes.sent if n.kind == "daily_summary"] == []


async def test_the_retrospective_is_looked_at_a_minute_after_start_then_every_six_hours(
    daemon_settings: Settings, start_daemon: Start
) -> None:
    notes = RecordingNotifier()
    clock = MovableClock()
    before = utcnow()
    running = await start_daemon(notifier=notes, clock=clock, tz="Europe/Berlin")
    after = utcnow()
    timers = running.daemon.timers
    first = timers.next_fire("retro")
    assert first is not None
    assert before + timedelta(seconds=SAFETY_TICK_S) <= first <= after + timedelta(seconds=SAFETY_TICK_S)
    assert [n.kind for n in notes.sent] == []  # nothing at start

    clock.now = datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN)  # a Monday: last week's retro is due
    timers.fire_now("retro")
    (retro,) = await heard(notes, "retro")
    week = IsoWeek.of(clock.now, BERLIN).previous()
    assert retro.data["week"] == str(week) and retro_path(daemon_settings, week).exists()
    nxt = timers.next_fire("retro")
    assert nxt is not None and nxt - utcnow() > timedelta(hours=5)
