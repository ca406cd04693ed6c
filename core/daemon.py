"""The daemon behind `nightshift run`: start the right work the moment a window resets.

One asyncio process per NIGHTSHIFT_HOME (an fcntl lock in the home says so). APScheduler
3.x fires the timed jobs (usage refresh, inbox import, the reset job, the owner's cron
triggers, window priming); a dispatcher coroutine, woken by those jobs and by every change
the service makes, claims tasks and hands them to the executor.

The rules come from the tools that came before (DESIGN, "Usage windows and resets"): one
limit pauses the whole queue until the reset plus a margin, and the pause is kept in the
database so a restart honours it; nothing probes the limit by running `claude`; after the
reset the interrupted task resumes its session first; a "still limited" answer backs off
1, 2, 4 … minutes without touching the task's attempts.

Stopping (SIGTERM, SIGINT) stops claiming and leaves live runs in tmux; the next start
adopts them through the executor's `reconcile()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core import safefs
from core.abc import Notification
from core.agent.argv import ClaudeCall, build_command
from core.agent.stream import StreamState
from core.childenv import child_env
from core.errors import AlreadyRunning, NightshiftError
from core.models import Outcome, Plan, Run, RunKind, Task, TaskState, iso, parse_iso
from core.scheduling.budget import Candidate, WindowCapacity, WindowPlan, plan_window
from core.scheduling.cron import cron_triggers
from core.scheduling.estimates import choose_capacity, choose_estimate
from core.scheduling.hours import is_quiet, quiet_ends_at
from core.scheduling.priming import (
    PRIME_MODEL,
    PRIME_PROMPT,
    WINDOW_LENGTH,
    prime_decision,
    prime_times,
)
from core.scheduling.resets import LimitPause, pause_for_limit, reset_fire_time
from core.scheduling.summary import window_summary_text
from core.service import Service
from core.store.db import ensure_private_dir
from core.usage.limits import LimitHit
from core.usage.monitor import LimitState, UsageMonitor

log = logging.getLogger("nightshift.daemon")

LIMIT_PAUSE_KEY = "limit_pause"
"""KV: the queue pause after a limit (`LimitPause.as_json`); survives restarts."""
LAST_PRIMED_KEY = "last_primed_at"
LOCK_FILE = "daemon.lock"

POST_RESET_PROBE_S = 30.0
"""After a reset only the resumed task runs until a run gets through or has run this long:
a CLI that still says "limited" answers within seconds, and then only one call was spent."""
SAFETY_TICK_S = 60.0
"""The dispatcher also wakes on this interval, for pauses that end without an event."""
PRIME_TIMEOUT_S = 120.0
MESSAGE_PRECISION = timedelta(minutes=1)
"""Limit messages name the reset to the minute; the stream's `resetsAt` to the second."""
HISTORY_TASKS = 20
"""How many recent finished tasks the history estimate looks at."""
GOT_THROUGH = frozenset(
    {
        Outcome.SUCCESS,
        Outcome.CHECK_FAILED,
        Outcome.MAX_TURNS,
        Outcome.BUDGET,
        Outcome.TIMEOUT,
        Outcome.PERMISSION_DENIED,
    }
)
"""Outcomes that prove the CLI was served; a crash or an error proves nothing about the limit."""
PLAN_ESTIMATE_TOKENS = 150_000
"""What a plan run is assumed to spend while it runs (reading code, no edits)."""
START_FAILURE_HOLD_S = 60.0
"""After a run could not even start (CLI or tmux missing), claim nothing for this long rather
than claim, fail and re-queue the same task in a tight loop."""


# --- the seams the daemon drives ----------------------------------------------------------


class TaskExecutor(Protocol):
    """Runs one claimed task to its end (`core.execution.executor.Executor`)."""

    adopted: dict[int, asyncio.Task[Run]]
    """Runs `reconcile` found alive in tmux and follows in the background."""

    async def execute(
        self,
        task: Task,
        *,
        scheduled_for: datetime | None = None,
        window_id: str | None = None,
        prompt_variant: str | None = None,
        prompt: str | None = None,
    ) -> Run: ...

    async def reconcile(self) -> list[Run]: ...


class TaskPlanner(Protocol):
    """Drafts the plan of a task in `planning` (`core.plans.planner.Planner`)."""

    async def plan(self, task: Task) -> Plan | None: ...

    async def reconcile(self) -> list[Run]: ...


class RunObserver(Protocol):
    """Hears of every finished run and of the periodic tick (`core.feedback.Feedback`)."""

    async def run_finished(self, task: Task, run: Run | None, now: datetime) -> None: ...

    async def tick(self, now: datetime) -> None: ...


class PromptChooser(Protocol):
    """Picks the prompt style of a fresh run (`core.improve`): (variant name, prompt) or None."""

    async def __call__(self, task: Task, now: datetime) -> tuple[str, str] | None: ...


FrontFactory = Callable[[], AbstractAsyncContextManager[Any]]
"""A front that lives as long as the daemon (the Telegram bot); entered at start."""


# --- structured log lines -----------------------------------------------------------------


class JsonLines(logging.Formatter):
    """One JSON object per line: `at`, `level`, `event`, then the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "at": iso(datetime.fromtimestamp(record.created, UTC)),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def _log(event: str, level: int = logging.INFO, **fields: Any) -> None:
    log.log(level, event, extra={"fields": fields})


# --- one daemon per home ------------------------------------------------------------------


class InstanceLock:
    """An exclusive `flock` on `<home>/daemon.lock`, holding the owner's pid.

    The kernel drops the lock when the process dies, so a crash never leaves a stale lock
    behind; the file itself is kept (deleting a lock file races with the next start).
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        ensure_private_dir(self.home)
        fd = safefs.open_lock(self.path)  # never through a link planted at the lock's name
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raw = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise AlreadyRunning(str(self.home), int(raw) if raw.isdigit() else None) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


# --- the daemon ---------------------------------------------------------------------------


@dataclass
class _Active:
    task: Task
    job: asyncio.Task[None]
    started_at: datetime
    estimate_tokens: int


@dataclass
class _Round:
    """Why the next dispatch round runs: a reset or cron time makes it 'scheduled'."""

    reason: str
    scheduled_for: datetime | None = None
    fresh_window: bool = False


@dataclass
class _Batch:
    """The runs a window reset (or cron time) set off, for the window summary."""

    trigger: str
    scheduled_for: datetime
    capacity_tokens: int | None
    tasks: dict[int, Run | None] = field(default_factory=dict)


@dataclass
class DaemonStats:
    """What happened, for `--burst`'s exit and for tests."""

    started: list[int] = field(default_factory=list)
    finished: list[tuple[int, str]] = field(default_factory=list)
    resets: int = 0
    primes: int = 0
    summaries: int = 0


class Daemon:
    def __init__(
        self,
        service: Service,
        executor: TaskExecutor,
        *,
        monitor: UsageMonitor | None = None,
        fronts: Sequence[FrontFactory] = (),
        burst: bool = False,
        max_wait_s: float = 0.0,
        install_signal_handlers: bool = True,
        on_finished: Callable[[Task, Run | None], None] | None = None,
        planner: TaskPlanner | None = None,
        observer: RunObserver | None = None,
        choose_prompt: PromptChooser | None = None,
        learned_estimate: Callable[[Task], Awaitable[int | None]] | None = None,
        parallel_limit: Callable[[datetime, datetime | None], int] | None = None,
    ) -> None:
        self.service = service
        self.planner = planner
        self.observer = observer
        self.choose_prompt = choose_prompt
        self.learned_estimate = learned_estimate
        self.parallel_limit = parallel_limit
        """Runs allowed at once given the window's end (the learning loop lowers it near the end)."""
        self.settings = service.settings
        self.store = service.store
        self.executor = executor
        self.monitor = monitor
        self.fronts = tuple(fronts)
        self.burst = burst
        self.max_wait_s = max_wait_s
        self.install_signal_handlers = install_signal_handlers
        self.on_finished = on_finished
        self.tz = self.settings.local_tz
        self.margin_s = self.settings.reset_margin_s
        self.stats = DaemonStats()
        self.scheduler: AsyncIOScheduler | None = None
        self._active: dict[int, _Active] = {}
        self._adopted: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._stopping = False
        self._round: _Round | None = None
        self._resume_first: list[int] = []
        self._lifted_at: datetime | None = None
        self._limit: LimitState | None = None
        self._known_resets: list[datetime] = []
        """Exact reset times already handled: the minute-precision text of the same limit,
        read back from the logs later, must not pause the queue a second time."""
        self._hold_until: datetime | None = None
        self._batch: _Batch | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._scans: set[asyncio.Future[LimitState]] = set()
        self._exit_code = 0
        self._listener = self._on_service_event

    # --- life cycle ---------------------------------------------------------------------

    def now(self) -> datetime:
        return self.service.now()

    async def run(self) -> int:
        """Run until stopped (or, with `burst`, until nothing runnable is left); the exit code."""
        with InstanceLock(self.settings.home_dir):
            async with AsyncExitStack() as stack:
                for front in self.fronts:
                    await stack.enter_async_context(front())
                try:
                    await self._start()
                    await self._stop.wait()
                finally:
                    await self._shutdown()
        return self._exit_code

    def request_stop(self, reason: str = "stop requested") -> None:
        """Stop claiming and exit; live runs stay in tmux for the next start to adopt."""
        if not self._stopping:
            _log("stopping", reason=reason, live_runs=sorted(self._active))
        self._stopping = True
        self._stop.set()
        self._wake.set()

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.install_signal_handlers:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self.request_stop, signal.Signals(signum).name)
        self.service.listeners.append(self._listener)
        _log(
            "starting",
            home=str(self.settings.home_dir),
            pid=os.getpid(),
            burst=self.burst,
            max_parallel=self.settings.max_parallel,
            margin_s=self.margin_s,
        )
        await self._adopt()
        self.scheduler = AsyncIOScheduler(
            timezone=self.tz,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.scheduler.start()
        await self._rebuild_jobs()
        self._dispatcher = asyncio.create_task(self._dispatch_loop(), name="dispatcher")
        self.wake("start")

    async def _shutdown(self) -> None:
        self._stopping = True
        with contextlib.suppress(ValueError):
            self.service.listeners.remove(self._listener)
        if self.install_signal_handlers:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        dispatcher = self._dispatcher
        if dispatcher is not None:
            dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dispatcher
        # Stop watching; the runs themselves live on in tmux.
        live = sorted(self._active)
        watchers = [a.job for a in self._active.values()] + list(self._adopted)
        for job in watchers:
            job.cancel()
        for job in watchers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await job
        if self.monitor is not None:
            # A scan runs in a worker thread on the monitor's SQLite connection; closing that
            # connection under it crashes the process, so let any scan in flight finish.
            await asyncio.gather(*self._scans, return_exceptions=True)
            await self.monitor.close()
        _log("stopped", left_running=live)

    # --- events -------------------------------------------------------------------------

    def wake(self, reason: str, *, scheduled_for: datetime | None = None, fresh_window: bool = False) -> None:
        """Ask the dispatcher for a round; a scheduled reason marks the runs it starts."""
        if scheduled_for is not None or fresh_window or self._round is None:
            self._round = _Round(reason, scheduled_for, fresh_window)
        self._wake.set()

    def _on_service_event(self, kind: str, task_id: int | None) -> None:
        self.wake(kind)

    # --- jobs ---------------------------------------------------------------------------

    async def _rebuild_jobs(self) -> None:
        """Every timed job, from settings and the database; a missed reset fires now."""
        assert self.scheduler is not None
        s = self.settings
        self.scheduler.add_job(
            self._tick, IntervalTrigger(seconds=SAFETY_TICK_S), id="tick", replace_existing=True
        )
        if not self.burst:
            if self.monitor is not None:
                self.scheduler.add_job(
                    self._refresh_usage,
                    IntervalTrigger(seconds=s.usage_refresh_s),
                    id="usage",
                    replace_existing=True,
                    next_run_time=self.now(),
                )
            self.scheduler.add_job(
                self._import_inbox,
                IntervalTrigger(seconds=s.inbox_poll_s),
                id="inbox",
                replace_existing=True,
                next_run_time=self.now(),
            )
            self.scheduler.add_job(
                self._daily_backup,
                IntervalTrigger(hours=1),
                id="backup",
                replace_existing=True,
                next_run_time=self.now(),
            )
            for index, trigger in enumerate(cron_triggers(s.cron, self.tz)):
                self.scheduler.add_job(self._on_cron, trigger, id=f"cron-{index}", replace_existing=True)
            for hour, minute in prime_times(s.prime_at):
                self.scheduler.add_job(
                    self._prime,
                    CronTrigger(hour=hour, minute=minute, timezone=self.tz),
                    id=f"prime-{hour:02d}{minute:02d}",
                    replace_existing=True,
                )
        await self._restore_pause()

    async def _restore_pause(self) -> None:
        """The queue pause as the database has it, including tasks paused without a record."""
        now = self.now()
        pause = await self.load_pause()
        paused = await self.store.tasks.query([TaskState.PAUSED_LIMIT])
        if pause is None and paused:
            latest = max((t.resume_after for t in paused if t.resume_after), default=None)
            reset = latest or now
            pause = LimitPause(
                reset, reset_fire_time(reset, self.margin_s), source="database", task_id=paused[0].id
            )
            await self.save_pause(pause)
        if pause is None:
            self._schedule_predicted_reset(now)
            return
        self._known_resets.append(pause.resets_at)
        if pause.lifted:
            self._lifted_at = now
            self._resume_first = [t.id for t in await self._resuming_tasks()]
            return
        if pause.until <= now:
            return  # missed while down: the first dispatch round fires it, before claiming
        _log(
            "queue paused by a limit",
            until=iso(pause.until),
            resets_at=iso(pause.resets_at),
            kind=pause.kind,
            still_limited=pause.still_limited,
        )
        self._schedule_reset(pause.until)

    def _schedule_reset(self, when: datetime) -> None:
        """(Re)place the one reset job; a time already past runs at once."""
        if self.scheduler is None:
            return
        self.scheduler.add_job(
            self._on_reset,
            DateTrigger(run_date=when, timezone=self.tz),
            id="reset",
            args=[when],
            replace_existing=True,
            misfire_grace_time=None,
        )

    def _schedule_predicted_reset(self, now: datetime) -> None:
        if self.monitor is None or self.burst:
            return
        predicted = self.monitor.predict_next_reset(now)
        if predicted is not None and predicted > now:
            self._schedule_reset(reset_fire_time(predicted, self.margin_s))

    async def _tick(self) -> None:
        self.wake("tick")
        if self.observer is not None:
            await self.observer.tick(self.now())

    async def _wake_job(self, reason: str) -> None:
        # A coroutine on purpose: APScheduler runs plain functions in a thread pool, and
        # asyncio.Event is not thread-safe.
        self.wake(reason)

    async def _daily_backup(self) -> None:
        """Today's copy of the database (`core.backup`), the newest week of them kept.

        Checked hourly and at start; a no-op once today's copy exists. A failure (a full
        disk) is logged and tried again the next hour: it never stops the queue.
        """
        from core.backup import daily_backup

        try:
            made = await daily_backup(self.settings, self.store, self.now())
        except NightshiftError as exc:
            _log("daily backup failed", logging.WARNING, error=str(exc))
            return
        if made is not None:
            _log("daily backup", path=str(made))

    async def _import_inbox(self) -> None:
        try:
            report = await self.service.import_inbox()
        except NightshiftError as exc:  # a link planted at inbox/rejected/, say: one line, next tick
            _log("inbox import refused", logging.WARNING, error=str(exc))
            return
        if report.imported or report.rejected:
            _log("inbox imported", imported=report.imported, rejected=report.rejected)

    async def _refresh_usage(self) -> None:
        if self.monitor is None or self._stopping:
            return
        now = self.now()
        state = await self._monitor_refresh(now)
        self._limit = state
        if state.limited and state.resets_at is not None:
            if self._already_known(state.resets_at):
                return
            await self.apply_limit(
                state.resets_at, now, kind=state.kind or "unknown", source=state.source or "monitor"
            )
        elif await self.load_pause() is None:
            self._schedule_predicted_reset(now)

    async def _monitor_refresh(self, now: datetime) -> LimitState:
        """`monitor.refresh`, shielded: cancelling the caller (APScheduler does at shutdown)
        must not leave the scan's worker thread running while the monitor is closed."""
        assert self.monitor is not None
        scan = asyncio.ensure_future(self.monitor.refresh(now))
        self._scans.add(scan)
        scan.add_done_callback(self._scans.discard)
        return await asyncio.shield(scan)

    def _already_known(self, resets_at: datetime) -> bool:
        """Is this the reset of a limit we already handled, seen through its rounded text?"""
        return any(known <= resets_at <= known + MESSAGE_PRECISION for known in self._known_resets)

    async def _on_cron(self) -> None:
        """An owner's fixed time: a window reset they declare (DESIGN, usage source 5).

        It ends a pause whose reset time was only a guess, never one a source named: that
        would be probing the limit by running `claude`.
        """
        now = self.now()
        pause = await self.load_pause()
        if pause is not None and pause.active(now) and not pause.estimated:
            _log("cron trigger skipped", reason="limited until a known reset", until=iso(pause.until))
            return
        _log("cron trigger", at=iso(now))
        await self._window_reset(now, now.replace(microsecond=0), "cron")

    async def _on_reset(self, fire_at: datetime) -> None:
        """The reset job: the window reset (plus the margin), known or predicted."""
        now = self.now()
        pause = await self.load_pause()
        if pause is not None and pause.lifted:
            return  # the dispatcher got to this reset first
        if pause is not None and now < pause.until:
            self._schedule_reset(pause.until)  # the pause was extended after this job was placed
            return
        await self._window_reset(now, fire_at, "reset")

    async def _window_reset(self, now: datetime, scheduled_for: datetime, reason: str) -> _Round:
        """Release the paused tasks, the interrupted one first, and start a fresh window's round."""
        pause = await self.load_pause()
        if pause is not None and not pause.lifted:
            await self.save_pause(pause.lift())
            self._lifted_at = now
            released = await self._release_paused(now, force=reason != "reset")
            first = [pause.task_id] if pause.task_id in released else []
            self._resume_first = first + [t for t in released if t not in first]
            if reason == "reset":
                scheduled_for = pause.until
            _log(
                "window reset",
                trigger=reason,
                resets_at=iso(pause.resets_at),
                until=iso(pause.until),
                resuming=self._resume_first,
                late_s=round((now - scheduled_for).total_seconds(), 3),
            )
        else:
            _log("window reset", trigger=reason, predicted=True, at=iso(scheduled_for))
        self.stats.resets += 1
        capacity = await self._capacity(fresh_window=True)
        self._batch = _Batch(reason, scheduled_for, capacity.total_tokens if capacity else None)
        self.wake(reason, scheduled_for=scheduled_for, fresh_window=True)
        if self.monitor is not None:
            # After the round starts: the scan must not delay the first run.
            asyncio.get_running_loop().call_later(
                1.0, lambda: self._spawn(self._refresh_usage(), "usage after reset")
            )
        return _Round(reason, scheduled_for, fresh_window=True)

    def _spawn(self, coro: Any, what: str) -> None:
        job: asyncio.Task[Any] = asyncio.ensure_future(coro)

        def done(j: asyncio.Task[Any]) -> None:
            self._adopted.discard(j)
            if not j.cancelled() and j.exception() is not None:
                _log("background job failed", logging.ERROR, what=what, error=repr(j.exception()))

        self._adopted.add(job)
        job.add_done_callback(done)

    async def _release_paused(self, now: datetime, *, force: bool = False) -> list[int]:
        """Tasks a limit paused go back to the queue: work to ready, planning to queued.

        Their `resume_after` is cleared: the pause decides when work starts, and a guessed
        reset time must not keep a task back once the owner's cron time has ended the pause.
        """
        released: list[int] = []
        for task in await self.store.tasks.query([TaskState.PAUSED_LIMIT]):
            if not force and task.resume_after is not None and task.resume_after > now:
                continue
            runs = await self.store.runs.for_task(task.id)
            target = TaskState.QUEUED if runs and runs[-1].kind is RunKind.PLAN else TaskState.READY
            try:
                await self.store.tasks.transition(
                    task.id,
                    target,
                    reason="window reset",
                    expect=(TaskState.PAUSED_LIMIT,),
                    now=now,
                    fields={"resume_after": None},
                )
            except NightshiftError as exc:  # cancelled meanwhile: nothing to resume
                _log("not resumed", task=task.id, reason=str(exc))
                continue
            released.append(task.id)
        return released

    async def _resuming_tasks(self) -> list[Task]:
        """Ready tasks whose last run ended on a limit: they resume before anything new."""
        out = []
        for task in await self.store.tasks.query([TaskState.READY]):
            runs = await self.store.runs.for_task(task.id)
            if runs and runs[-1].outcome is Outcome.LIMIT:
                out.append(task)
        return out

    # --- the queue pause ----------------------------------------------------------------

    async def load_pause(self) -> LimitPause | None:
        raw = await self.store.kv.get(LIMIT_PAUSE_KEY)
        if not raw:
            return None
        try:
            return LimitPause.from_json(raw)
        except (KeyError, TypeError, ValueError):
            _log("unreadable limit pause dropped", logging.WARNING, value=raw)
            await self.store.kv.delete(LIMIT_PAUSE_KEY)
            return None

    async def save_pause(self, pause: LimitPause | None) -> None:
        if pause is None:
            await self.store.kv.delete(LIMIT_PAUSE_KEY)
        else:
            await self.store.kv.set(LIMIT_PAUSE_KEY, pause.as_json())

    async def apply_limit(
        self,
        resets_at: datetime | None,
        now: datetime,
        *,
        kind: str = "unknown",
        source: str = "run",
        task_id: int | None = None,
        estimated: bool = False,
    ) -> LimitPause:
        """Pause the whole queue for a limit seen at `now`; reschedule the reset job."""
        previous = await self.load_pause()
        pause = pause_for_limit(
            previous,
            resets_at,
            now,
            self.margin_s,
            kind=kind,
            source=source,
            task_id=task_id,
            estimated=estimated,
        )
        if resets_at is not None and source in ("run", "prime"):
            self._known_resets = [*self._known_resets[-7:], resets_at]
        if pause != previous:
            await self.save_pause(pause)
            self._lifted_at = None
            self._schedule_reset(pause.until)
            _log(
                "queue paused by a limit",
                until=iso(pause.until),
                resets_at=iso(pause.resets_at),
                kind=pause.kind,
                source=source,
                task=task_id,
                still_limited=pause.still_limited,
            )
        return pause

    # --- dispatching --------------------------------------------------------------------

    async def _dispatch_loop(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                break
            round_, self._round = self._round, None
            started: list[int] = []
            try:
                started = await self.dispatch(round_ or _Round("wake"))
                if self._batch is not None and not started and not self._active:
                    await self._close_batch()
            except Exception:
                log.exception("dispatch failed", extra={"fields": {}})
            if self.burst:
                await self._maybe_finish_burst()

    async def dispatch(self, round_: _Round) -> list[int]:
        """One round: start what may start now. Returns the ids started."""
        now = self.now()
        if self._stopping:
            return []
        await self._follow_orphans(now)
        if await self.service.queue_paused():
            return []
        pause = await self.load_pause()
        if pause is not None and pause.active(now):
            return []
        if pause is not None and not pause.lifted:
            # The reset is due but its job has not run yet (a restart, or a wake that came
            # first): release the paused tasks now, so that they go before anything else.
            round_ = await self._window_reset(now, pause.until, "reset")
            pause = await self.load_pause()
        if not self.burst and is_quiet(self.settings.quiet_hour_set, now, self.tz):
            end = quiet_ends_at(self.settings.quiet_hour_set, now, self.tz)
            if end is not None and self.scheduler is not None:
                self.scheduler.add_job(
                    self._wake_job,
                    DateTrigger(run_date=end, timezone=self.tz),
                    args=["quiet hours over"],
                    id="quiet-end",
                    replace_existing=True,
                )
            return []
        if self._hold_until is not None and now < self._hold_until:
            return []
        free = self._max_parallel(now) - len(self._active)
        if free <= 0:
            return []
        if pause is not None and pause.lifted and self._probing(now):
            return []
        started: list[int] = []
        resuming = [i for i in self._resume_first if i not in self._active]
        plan = await self._plan(now, round_)
        for _ in range(free):
            busy = {a.task.repo for a in self._active.values() if a.task.repo}
            task = None
            if resuming:
                task = await self.store.tasks.claim_next(
                    now, exclude_repos=busy, only_ids=resuming, reason="resumed after reset"
                )
            if task is None and not resuming:
                planning = await self._claim_planning(now)
                if planning is not None:
                    self._start_planning(planning, now)
                    started.append(planning.id)
                    if pause is not None and pause.lifted:
                        break
                    continue
            if task is None:
                allowed = None if plan is None else list(plan.picked)
                task = await self.store.tasks.claim_next(
                    now, exclude_repos=busy, only_ids=allowed, reason=round_.reason
                )
            if task is None:
                break
            if task.id in self._resume_first:
                self._resume_first.remove(task.id)
            self._start_run(task, round_.scheduled_for, now, await self.estimate(task), plan)
            started.append(task.id)
            if pause is not None and pause.lifted:
                break  # after a reset one run goes first; the rest follow once it gets through
        if plan is not None and plan.deferred:
            _log(
                "deferred",
                level=logging.DEBUG,
                budget=plan.budget_tokens,
                reasons={str(k): v for k, v in plan.reasons.items()},
            )
        return started

    async def _follow_orphans(self, now: datetime) -> None:
        """Running tasks nobody here follows: their watcher failed (the database was busy past
        its timeout, say) while the run went on in tmux. After the hold such a failure set, they
        are followed again: `execute` attaches to their run and never starts one twice."""
        if self._hold_until is not None and now < self._hold_until:
            return
        for task in await self.store.tasks.query([TaskState.RUNNING]):
            if task.id not in self._active:
                _log("following a run again", logging.WARNING, task=task.id)
                self._follow(task, self.executor.execute(task), now, await self.estimate(task))

    def _probing(self, now: datetime) -> bool:
        """Right after a reset: is the first run still proving the window open?"""
        since = self._lifted_at
        probes = [a for a in self._active.values() if since is None or a.started_at >= since]
        if not probes:
            return False
        first = min(a.started_at for a in probes)
        if now - first < timedelta(seconds=POST_RESET_PROBE_S):
            if self.scheduler is not None:
                when = first + timedelta(seconds=POST_RESET_PROBE_S)
                self.scheduler.add_job(
                    self._wake_job,
                    DateTrigger(run_date=when, timezone=self.tz),
                    args=["probe over"],
                    id="probe",
                    replace_existing=True,
                )
            return True
        self._spawn(self._window_proven(), "clear pause")
        return False

    async def _window_proven(self) -> None:
        pause = await self.load_pause()
        if pause is not None and pause.lifted:
            await self.save_pause(None)
            self._lifted_at = None
            if self.monitor is not None:
                await self.monitor.clear_limits()
            _log("window open again", after_reset=iso(pause.resets_at))
            self._schedule_predicted_reset(self.now())

    async def _plan(self, now: datetime, round_: _Round) -> WindowPlan | None:
        """The budget plan for this window, or None to hold nothing back."""
        if self.burst:
            return None
        ready = await self.store.tasks.runnable(now)
        if not ready:
            return None
        capacity = await self._capacity(round_.fresh_window)
        resuming = set(self._resume_first)
        histories: dict[str | None, list[int]] = {}
        candidates = []
        for task in ready:
            if task.repo not in histories:
                histories[task.repo] = await self._history(task.repo)
            candidates.append(
                Candidate(
                    task_id=task.id,
                    priority=int(task.priority),
                    estimate_tokens=await self.estimate(task, histories[task.repo]),
                    rank=(iso(task.created_at),),
                    resuming=task.id in resuming,
                )
            )
        return plan_window(candidates, capacity, self.settings.reserve_by_hour, now, self.tz)

    async def _capacity(self, fresh_window: bool) -> WindowCapacity | None:
        state = self._limit
        utilization = state.utilization if state is not None else None
        tokens_used = state.tokens_used if state is not None else None
        choice = choose_capacity(
            utilization=utilization if not fresh_window else None,
            tokens_used=tokens_used,
            largest_block_tokens=state.capacity_tokens if state is not None else None,
            setting_tokens=self.settings.window_capacity_tokens,
        )
        if choice.tokens is None:
            return None
        used = 0 if fresh_window else int(tokens_used or 0)
        # Runs in flight will spend their estimates; count them as spent already.
        used += sum(a.estimate_tokens for a in self._active.values())
        return WindowCapacity(choice.tokens, used)

    async def estimate(self, task: Task, history: list[int] | None = None) -> int:
        """Plan estimate, else learned, else the median of recent finished tasks, else default."""
        plan = await self.store.plans.approved(task.id)
        if history is None:
            history = await self._history(task.repo)
        learned = await self.learned_estimate(task) if self.learned_estimate is not None else None
        choice = choose_estimate(
            plan.estimate_tokens if plan else None, history, self.settings.default_task_tokens, learned
        )
        return int(choice.tokens or self.settings.default_task_tokens)

    async def _history(self, repo: str | None) -> list[int]:
        rows = await self.store.db.fetchall(
            "SELECT SUM(r.tokens_input + r.tokens_output + r.tokens_cache_creation"
            " + r.tokens_cache_read) FROM runs r JOIN tasks t ON t.id = r.task_id"
            " WHERE t.state = 'done' AND r.kind = 'work' AND (? IS NULL OR t.repo = ?)"
            " GROUP BY r.task_id ORDER BY MAX(r.id) DESC LIMIT ?",
            (repo, repo, HISTORY_TASKS),
        )
        return [int(r[0] or 0) for r in rows]

    # --- runs ---------------------------------------------------------------------------

    def _start_run(
        self,
        task: Task,
        scheduled_for: datetime | None,
        now: datetime,
        estimate_tokens: int,
        plan: WindowPlan | None,
    ) -> None:
        self._follow(task, self._execute(task, scheduled_for, now), now, estimate_tokens)
        if self._batch is not None:
            self._batch.tasks.setdefault(task.id, None)
        self.stats.started.append(task.id)
        _log(
            "run starting",
            task=task.id,
            title=task.title,
            scheduled_for=iso(scheduled_for),
            resume=bool(task.session_id),
            budget=plan.budget_tokens if plan else None,
        )

    async def _execute(self, task: Task, scheduled_for: datetime | None, now: datetime) -> Run:
        """One work attempt, in the prompt style the learning loop picks for a fresh start.

        A resumed session keeps the style it started with, so the attempt's outcome is
        credited to the style that shaped it.
        """
        variant: str | None = None
        prompt: str | None = None
        if task.session_id:
            runs = [r for r in await self.store.runs.for_task(task.id) if r.kind is RunKind.WORK]
            variant = next((r.prompt_variant for r in reversed(runs) if r.prompt_variant), None)
        elif self.choose_prompt is not None:
            try:
                chosen = await self.choose_prompt(task, now)
            except Exception as exc:  # a broken template must not stop the work: plain prompt
                _log("prompt style not chosen", logging.WARNING, task=task.id, error=str(exc))
            else:
                variant, prompt = chosen if chosen is not None else (None, None)
        return await self.executor.execute(
            task,
            scheduled_for=scheduled_for,
            window_id=self._window_id(now),
            prompt_variant=variant,
            prompt=prompt,
        )

    def _window_end(self, now: datetime) -> datetime | None:
        start = self._limit.window_start if self._limit is not None else None
        if start is None or now >= start + WINDOW_LENGTH:
            return None
        return start + WINDOW_LENGTH

    def _max_parallel(self, now: datetime) -> int:
        if self.parallel_limit is None:
            return self.settings.max_parallel
        return self.parallel_limit(now, self._window_end(now))

    def _window_id(self, now: datetime) -> str | None:
        """The open 5-hour window's id as ccusage names blocks, when the usage monitor knows it."""
        start = self._limit.window_start if self._limit is not None else None
        if start is None or now >= start + WINDOW_LENGTH:
            return None
        return start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    # --- planning -----------------------------------------------------------------------

    async def _claim_planning(self, now: datetime) -> Task | None:
        """A task to plan: one left in `planning` (a revision, a restart), else a queued one."""
        if self.planner is None:
            return None
        for task in await self.store.tasks.query([TaskState.PLANNING]):
            if task.id not in self._active:
                return task
        return await self.store.tasks.claim_next(
            now, source=TaskState.QUEUED, target=TaskState.PLANNING, deps_done=False, reason="planning"
        )

    def _start_planning(self, task: Task, now: datetime) -> None:
        self._follow(task, self._draft_plan(task), now, PLAN_ESTIMATE_TOKENS)
        self.stats.started.append(task.id)
        _log("planning", task=task.id, title=task.title)

    async def _draft_plan(self, task: Task) -> Run | None:
        """A plan run, followed like a work run (limits, hold on start failure, after-run)."""
        assert self.planner is not None
        await self.planner.plan(task)
        runs = [r for r in await self.store.runs.for_task(task.id) if r.kind is RunKind.PLAN]
        return runs[-1] if runs else None

    def _follow(
        self, task: Task, execution: Awaitable[Run | None], started_at: datetime, estimate_tokens: int
    ) -> None:
        job = asyncio.create_task(self._run(task, execution), name=f"task-{task.id}")
        self._active[task.id] = _Active(task, job, started_at, estimate_tokens)

    async def _run(self, task: Task, execution: Awaitable[Run | None]) -> None:
        run: Run | None = None
        try:
            run = await execution
            await self._note_limit(task.id, run)
        except asyncio.CancelledError:
            # The daemon is stopping: stop watching, leave the run alive in tmux.
            raise
        except Exception as exc:
            self._hold_until = self.now() + timedelta(seconds=START_FAILURE_HOLD_S)
            _log(
                "run failed to execute",
                logging.ERROR,
                task=task.id,
                error=str(exc),
                hold_s=START_FAILURE_HOLD_S,
            )
        finally:
            self._active.pop(task.id, None)
        await self._after_run(task.id, run)

    async def _after_run(self, task_id: int, run: Run | None) -> None:
        now = self.now()
        task = await self.store.tasks.get(task_id)
        outcome = run.outcome.value if run is not None and run.outcome else None
        self.stats.finished.append((task_id, outcome or "unknown"))
        _log(
            "run finished",
            task=task_id,
            run=run.id if run else None,
            outcome=outcome,
            state=task.state.value,
            latency_s=run.latency_s if run else None,
        )
        if self._batch is not None and task_id in self._batch.tasks and run is not None:
            self._batch.tasks[task_id] = run
        limited = task.state is TaskState.PAUSED_LIMIT or (run is not None and run.outcome is Outcome.LIMIT)
        if not limited and run is not None and (run.outcome in GOT_THROUGH or run.tokens.total > 0):
            pause = await self.load_pause()
            if pause is not None and pause.lifted:
                await self._window_proven()
        if self.on_finished is not None:
            self.on_finished(task, run)
        if self.observer is not None:
            await self.observer.run_finished(task, run, now)
        self.wake("run finished")

    async def _note_limit(self, task_id: int, run: Run | None) -> None:
        """Pause the queue for a run that hit the limit.

        Called while the run still counts as active, so that no dispatch round can slip a
        new claim in between the run's end and the pause.
        """
        task = await self.store.tasks.get(task_id)
        if not (task.state is TaskState.PAUSED_LIMIT or (run is not None and run.outcome is Outcome.LIMIT)):
            return
        now = self.now()
        limit = run.extra.get("limit") if run is not None else None
        limit = limit if isinstance(limit, dict) else {}
        kind, estimated = str(limit.get("kind", "unknown")), bool(limit.get("estimated", False))
        await self.apply_limit(
            task.resume_after, now, kind=kind, source="run", task_id=task_id, estimated=estimated
        )
        if self.monitor is not None and task.resume_after is not None:
            # So that `nightshift usage` and the next refresh know it too.
            await self.monitor.note_limit(
                LimitHit(kind, task.resume_after, str(limit.get("text", "")), estimated), "daemon", now
            )

    async def _adopt(self) -> None:
        """Runs left by the previous daemon: followed again if alive, else finished from logs."""
        if self.planner is not None:
            await self.planner.reconcile()
        settled = await self.executor.reconcile()
        for task_id, following in list(self.executor.adopted.items()):
            task = await self.store.tasks.get(task_id)
            runs = await self.store.runs.for_task(task_id)
            started = next((r.started_at for r in reversed(runs) if r.started_at), None)
            self._follow(task, following, started or self.now(), await self.estimate(task))
        if settled:
            _log(
                "reconciled",
                adopted=sorted(self.executor.adopted),
                finished=[
                    {"run": r.id, "task": r.task_id, "outcome": r.outcome.value if r.outcome else None}
                    for r in settled
                    if r.finished_at is not None
                ],
            )

    async def _close_batch(self) -> None:
        """The batch a reset set off has run its course: tell the owner how the window went."""
        batch, self._batch = self._batch, None
        if batch is None or not batch.tasks:
            return
        entries = [(await self.store.tasks.get(task_id), run) for task_id, run in batch.tasks.items()]
        photo: str | None = None
        twin = ""
        try:
            from core.metrics.pictures import render_window_timeline

            path, twin = await render_window_timeline(
                self.service, batch.tasks, batch.scheduled_for, batch.capacity_tokens, now=self.now()
            )
            photo = str(path)
        except Exception as exc:  # a chart is a nicety; the summary goes out without it
            _log("window chart not drawn", logging.WARNING, error=repr(exc))
        text = window_summary_text(
            batch.trigger, batch.scheduled_for, self.tz, entries, batch.capacity_tokens, twin
        )
        self.stats.summaries += 1
        _log("window summary", tasks=sorted(batch.tasks), trigger=batch.trigger)
        try:
            await self.service.notifier.notify(
                Notification("window_summary", text, photo=photo, data={"tasks": sorted(batch.tasks)})
            )
        except NightshiftError as exc:
            _log("window summary not delivered", logging.WARNING, error=str(exc))

    # --- burst ----------------------------------------------------------------------------

    async def _maybe_finish_burst(self) -> None:
        if self._active or self._stopping:
            return
        now = self.now()
        pause = await self.load_pause()
        if pause is not None and pause.active(now):
            wait_s = (pause.until - now).total_seconds()
            if wait_s <= self.max_wait_s:
                _log("waiting for the reset", seconds=round(wait_s, 1))
                return
            _log("limited beyond --max-wait", until=iso(pause.until), max_wait_s=self.max_wait_s)
            self.request_stop("burst: limited beyond --max-wait")
            return
        if await self.service.queue_paused():
            self.request_stop("burst: the queue is paused by the owner")
        elif self._hold_until is not None and now < self._hold_until:
            self._exit_code = 1  # a run could not even start (the log line says why)
            self.request_stop("burst: a run could not start")
        elif not await self.store.tasks.runnable(now) and not await self._planning_pending():
            self.request_stop("burst: nothing runnable left")
        else:
            # Became runnable after this round looked (a dependency just finished).
            self.wake("burst")

    async def _planning_pending(self) -> bool:
        if self.planner is None:
            return False
        return await self.store.tasks.count([TaskState.QUEUED, TaskState.PLANNING]) > 0

    # --- priming ------------------------------------------------------------------------

    async def _prime(self) -> None:
        """At a priming time with no window open, start one with a minimal prompt."""
        now = self.now()
        if self._stopping:
            return
        if self.monitor is None:
            _log("priming skipped", reason="no usage monitor to tell whether a window is open")
            return
        state = await self._monitor_refresh(now)
        self._limit = state
        last = parse_iso(await self.store.kv.get(LAST_PRIMED_KEY))
        decision = prime_decision(
            now, window_start=state.window_start, limited=state.limited, last_primed_at=last
        )
        if not decision.prime or self._active:
            _log("priming skipped", reason=decision.reason if not decision.prime else "a run is in progress")
            return
        await self.store.kv.set(LAST_PRIMED_KEY, iso(now))
        self.stats.primes += 1
        await self._send_prime(now)

    async def _send_prime(self, now: datetime) -> None:
        if shutil.which(self.settings.claude_bin) is None:
            _log("priming skipped", logging.WARNING, reason=f"{self.settings.claude_bin} not found")
            return
        command = build_command(
            self.settings,
            ClaudeCall(prompt=PRIME_PROMPT, model=PRIME_MODEL, max_turns=1, permission_mode="plan"),
        )
        home = ensure_private_dir(self.settings.home_dir)
        _log("priming the window", model=PRIME_MODEL)
        proc = await asyncio.create_subprocess_exec(
            *command.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=home,
            env=child_env(self.settings.pass_env),
        )
        stream = StreamState()
        try:
            async with asyncio.timeout(PRIME_TIMEOUT_S):
                assert proc.stdout is not None
                async for line in proc.stdout:
                    stream.feed(line)
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()
        hit = stream.limit_hit(self.now(), self.tz)
        if hit is not None:
            await self.apply_limit(hit.resets_at, self.now(), kind=hit.kind, source="prime")
        _log("primed", exit_code=proc.returncode, limited=hit is not None, tokens=stream.tokens.total)
