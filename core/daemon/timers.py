"""Every timed job of the daemon, declared as data: what runs when is read here.

| job             | when                                        | what                                     |
|-----------------|---------------------------------------------|------------------------------------------|
| `tick`          | every minute                                | a safety dispatch round, the event log    |
| `heartbeat`     | every NIGHTSHIFT_NODE_STALE_S / 3           | alive; take over; the sender lease        |
| `usage`         | every NIGHTSHIFT_USAGE_REFRESH_S            | usage scan; a limit pauses the queue      |
| `inbox`         | every NIGHTSHIFT_INBOX_POLL_S, now          | import notes from `brain/inbox`           |
| `backup`        | hourly, now                                 | today's database copy (once a day)        |
| `retro`         | every 6 hours, first a minute after start   | last week's retrospective (told once)     |
| `meta-task`     | every minute                                | near a window's end, queue the meta-task  |
| `cron-N`        | each NIGHTSHIFT_CRON line                   | a window reset the owner declares         |
| `prime-HHMM`    | each NIGHTSHIFT_PRIME_AT time               | open a window with a minimal prompt       |
| `daily-summary` | NIGHTSHIFT_DAILY_SUMMARY_HOUR, with Telegram | the last 24 hours' metrics and a chart   |
| `digest`        | NIGHTSHIFT_WAKE_TIME, when set              | the morning digest of the night's windows |
| `reset`         | once: the limit's reset + margin            | release the paused queue                  |
| `quiet-end`     | once: the end of quiet hours                | a dispatch round                          |
| `probe`         | once: 30 s after the first run after a reset | a dispatch round                         |

Daily times are wall-clock times in the owner's zone (`next_daily_at`: a time a
daylight-saving jump skips fires when the zone maps it); crontab lines follow cron's rules
(`core.scheduling.cron`: a skipped time fires at the jump, a repeated one once). `--burst`
keeps only `tick`, `heartbeat`, the retrospective and the one-off jobs. This module is the only
user of APScheduler (3.x; `tests/test_architecture.py` checks it): jobs are coroutines run on
the daemon's loop, a missed fire runs once when it can (coalesced, no grace limit), a job never
overlaps itself, and a job that fails is one logged line (its schedule goes on). When a job
fires is computed by pure functions of `now` (`DailyTrigger`, `CrontabTrigger`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.log import event
from core.scheduling.cron import CronExpr, next_fire, parse_crontab
from core.scheduling.hours import next_daily_at
from core.scheduling.priming import prime_times
from core.settings import Settings

Action = Callable[[], Awaitable[None]]

SAFETY_TICK_S = 60.0
"""The dispatcher also wakes on this interval, for pauses that end without an event."""
BACKUP_CHECK_S = 3600.0
RETRO_CHECK_S = 6 * 3600.0
"""The retrospective is weekly; looking four times a day finds the new week soon enough."""


@dataclass(frozen=True, slots=True)
class Every:
    """Every `seconds`; with `now`, also once at start; with `first_after_s`, first then."""

    seconds: float
    now: bool = False
    first_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class DailyAt:
    """Every day at hour:minute in the owner's zone."""

    hour: int
    minute: int = 0


@dataclass(frozen=True, slots=True)
class Crontab:
    """One crontab line (minute hour day month weekday; Sunday = 0), in the owner's zone."""

    expr: str


@dataclass(frozen=True, slots=True)
class Once:
    """At `at`; a time already past runs at once."""

    at: datetime


When = Every | DailyAt | Crontab | Once


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    when: When
    action: Action


@dataclass(frozen=True, slots=True)
class StandingWork:
    """What the standing jobs do; each part of the daemon lends its own."""

    tick: Action
    import_inbox: Action
    backup: Action
    cron: Action
    prime: Action
    refresh_usage: Action | None = None
    """None without a usage monitor."""
    retro: Action | None = None
    meta_task: Action | None = None
    """Both lent by the run observer (the learning loop); None without one."""
    daily_summary: Action | None = None
    morning_digest: Action | None = None
    work_prime: Action | None = None
    """Primes a window five hours before the owner's work starts (NIGHTSHIFT_WORK_HOURS)."""
    heartbeat: Action | None = None
    """None without a node agent (a daemon alone on its queue still has one)."""


WORK_PRIME_CHECK_S = 300.0
"""How often the work-hours prime looks whether one is due (it stays due for ten minutes)."""


def standing_jobs(settings: Settings, work: StandingWork, *, burst: bool) -> list[Job]:
    """The jobs the daemon keeps for its whole life, from the settings."""
    jobs = [Job("tick", Every(SAFETY_TICK_S), work.tick)]
    if work.retro is not None:
        # Not at start: a test or a `--burst` that ends within the minute writes nothing.
        jobs.append(Job("retro", Every(RETRO_CHECK_S, first_after_s=SAFETY_TICK_S), work.retro))
    if work.heartbeat is not None:
        # Also in --burst: a daemon that stops beating has its running tasks taken over.
        jobs.append(Job("heartbeat", Every(settings.heartbeat_s), work.heartbeat))
    if burst:
        return jobs
    if work.meta_task is not None:
        jobs.append(Job("meta-task", Every(SAFETY_TICK_S), work.meta_task))
    if work.refresh_usage is not None:
        # No run at start: the daemon scans once before its first round (the window it is in
        # decides the budget, the learned parallel limit and the runs' window id).
        jobs.append(Job("usage", Every(settings.usage_refresh_s), work.refresh_usage))
    jobs.append(Job("inbox", Every(settings.inbox_poll_s, now=True), work.import_inbox))
    jobs.append(Job("backup", Every(BACKUP_CHECK_S, now=True), work.backup))
    lines = [expr.strip() for expr in settings.cron.split(";") if expr.strip()]
    jobs += [Job(f"cron-{i}", Crontab(expr), work.cron) for i, expr in enumerate(lines)]
    jobs += [
        Job(f"prime-{hour:02d}{minute:02d}", DailyAt(hour, minute), work.prime)
        for hour, minute in prime_times(settings.prime_at)
    ]
    if work.work_prime is not None:  # from NIGHTSHIFT_WORK_HOURS, else the day's learned start
        jobs.append(Job("work-prime", Every(WORK_PRIME_CHECK_S), work.work_prime))
    if work.daily_summary is not None and settings.telegram_enabled:
        jobs.append(Job("daily-summary", DailyAt(settings.daily_summary_hour), work.daily_summary))
    wake = settings.wake_at
    if work.morning_digest is not None and wake is not None:
        jobs.append(Job("digest", DailyAt(wake.hour, wake.minute), work.morning_digest))
    return jobs


class DailyTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 is untyped
    """Fires whenever the wall clock in `tz` reads `at` (`next_daily_at`, a pure function)."""

    __slots__ = ("at", "tz")

    def __init__(self, at: time, tz: tzinfo) -> None:
        self.at = at
        self.tz = tz

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        return next_daily_at(now, self.at, self.tz)


class CrontabTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 is untyped
    """Fires when crontab would (`core.scheduling.cron.next_fire`, a pure function): Sunday = 0,
    either day field matching when both are restricted, cron's daylight-saving rules."""

    __slots__ = ("cron", "tz")

    def __init__(self, cron: CronExpr, tz: tzinfo) -> None:
        self.cron = cron
        self.tz = tz

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        return next_fire(self.cron, now, self.tz)

    def __str__(self) -> str:
        return f"crontab[{self.cron.text}]"


class Timers:
    """The daemon's timed jobs: standing ones plus one-off ones, each replaced by name.

    Fire times are wall-clock times; the jobs themselves read the daemon's clock.
    """

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._scheduler: AsyncIOScheduler | None = None

    @property
    def running(self) -> bool:
        return self._scheduler is not None and bool(self._scheduler.running)

    def start(self, jobs: Iterable[Job] = ()) -> None:
        """Start the clock (on the running event loop) with `jobs`."""
        self._scheduler = AsyncIOScheduler(
            timezone=self.tz,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._scheduler.start()
        for job in jobs:
            self.place(job)

    def place(self, job: Job) -> None:
        """Add `job`, replacing one of the same name. Nothing happens before `start`."""
        if self._scheduler is None:
            return
        action, name = job.action, job.name

        async def run() -> None:
            # A coroutine function on purpose: APScheduler runs plain callables in a thread
            # pool, and the daemon's parts are not thread-safe.
            try:
                await action()
            except Exception:  # one failed run of a job; the next one is due as planned
                event("timed job failed", logging.ERROR, job=name, exc_info=True)

        # "Now" by the scheduler's own (wall) clock: a daemon clock moved by a test or a
        # suspend must not push the first run of a job into the future.
        now = isinstance(job.when, Every) and job.when.now
        extra = {"next_run_time": datetime.now(self.tz)} if now else {}
        self._scheduler.add_job(run, self._trigger(job.when), id=job.name, name=job.name,
                                replace_existing=True, **extra)

    def next_fire(self, name: str) -> datetime | None:
        """When job `name` runs next; None if there is no such job (or it will not run again)."""
        job = self._scheduler.get_job(name) if self._scheduler is not None else None
        return None if job is None else job.next_run_time

    def fire_now(self, name: str) -> None:
        """Run job `name` now instead of at its time (its schedule goes on afterwards)."""
        job = self._scheduler.get_job(name) if self._scheduler is not None else None
        if job is None:
            raise KeyError(f"no timed job named {name!r}")
        job.modify(next_run_time=datetime.now(self.tz))

    def names(self) -> list[str]:
        return [] if self._scheduler is None else sorted(j.id for j in self._scheduler.get_jobs())

    def stop(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def _trigger(self, when: When) -> BaseTrigger:
        if isinstance(when, Every):
            if when.first_after_s is None:
                return IntervalTrigger(seconds=when.seconds)
            first = datetime.now(self.tz) + timedelta(seconds=when.first_after_s)
            return IntervalTrigger(seconds=when.seconds, start_date=first)
        if isinstance(when, DailyAt):
            return DailyTrigger(time(when.hour, when.minute), self.tz)
        if isinstance(when, Crontab):
            return CrontabTrigger(parse_crontab(when.expr), self.tz)
        return DateTrigger(run_date=when.at, timezone=self.tz)
