"""The limit gate: the one owner of "may work start now, as far as the usage limit goes".

The rules (DESIGN, "Usage windows and resets"): one limit pauses the whole queue until the
reset plus a margin, and the pause is kept in the store so a restart honours it; nothing
probes the limit by running `claude`; after the reset the interrupted task resumes first
and goes alone until a run gets through ("window proven"); a "still limited" answer backs
off 1, 2, 4 … minutes without touching the task's attempts.

The gate learns of limits from finished runs (their `extra["limit"]`, written by the
executor), from the usage monitor and from priming; the dispatcher asks it `check(now)`.
The monitor's noted limits and the tasks' `resume_after` follow what the gate decides; the
pause record and the paused tasks are kept in the store by `core.daemon.pause`.
Every pause, reset and "window open again" is also a line in `brain/logs` (`core.brain_logs`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.brain_logs import LogBook
from core.daemon.model_limits import MODEL_KINDS, ModelHolds
from core.daemon.pause import LIMIT_PAUSE_KEY, StoredPause
from core.daemon.seams import DaemonStats
from core.daemon.timers import Job, Once, Timers
from core.daemon.usage import UsageWatch
from core.daemon.wake import Background, Doorbell, Round
from core.log import event
from core.models import Outcome, Run, Task, TaskState, iso
from core.scheduling.resets import LimitPause, pause_for_limit, reset_fire_time
from core.store.store import Store
from core.usage.limits import LimitHit

POST_RESET_PROBE_S = 30.0
"""After a reset only the resumed task runs until a run gets through or has run this long:
a CLI that still says "limited" answers within seconds, and then only one call was spent."""
MESSAGE_PRECISION = timedelta(minutes=1)
"""Limit messages name the reset to the minute; the stream's `resetsAt` to the second."""
USAGE_AFTER_RESET_S = 1.0
"""The usage scan after a reset waits this long: it must not delay the first run."""
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

WindowOpened = Callable[[str, datetime], Awaitable[None]]
"""Told of every window reset (trigger, scheduled time): the window summary opens a batch."""


@dataclass(frozen=True, slots=True)
class Check:
    """The gate's answer to the dispatcher."""

    closed: bool
    """A limit pauses the queue: start nothing."""
    round: Round | None = None
    """The reset was due and has just been done: the round it set off (scheduled)."""
    after_reset: bool = False
    """The window reset but no run has got through yet: one run goes first, then the rest."""


class LimitGate:
    def __init__(
        self,
        store: Store,
        *,
        margin_s: float,
        timers: Timers,
        usage: UsageWatch,
        doorbell: Doorbell,
        background: Background,
        stats: DaemonStats,
        clock: Callable[[], datetime],
        window_opened: WindowOpened,
        logbook: LogBook,
        burst: bool = False,
        pause_key: str = LIMIT_PAUSE_KEY,
        mine: Callable[[Task], bool] = lambda task: True,
        job_suffix: str = "",
        models: ModelHolds | None = None,
    ) -> None:
        self.store = store
        self.logbook = logbook
        self.pause = StoredPause(store, key=pause_key, mine=mine)
        """The pause as the store keeps it; each machine's (and account's) limit is its own."""
        self.job_suffix = job_suffix
        """Names this gate's one-off jobs apart from other accounts' gates' (`reset-work`)."""
        self.models = models
        """Opus/Sonnet limits hold only the work that needs that model (not the whole account)."""
        self.margin_s = margin_s
        self.timers = timers
        self.usage = usage
        self.doorbell = doorbell
        self.background = background
        self.stats = stats
        self.clock = clock
        self.window_opened = window_opened
        self.burst = burst
        self.resume_first: list[int] = []
        """Tasks a reset released, the interrupted one first: they go before anything new."""
        self._lifted_at: datetime | None = None
        self._known_resets: list[datetime] = []
        """Exact reset times already handled: the minute-precision text of the same limit,
        read back from the logs later, must not pause the queue a second time."""

    # --- start ----------------------------------------------------------------------------

    async def restore(self) -> None:
        """The pause as the store has it, including tasks paused without a record."""
        now = self.clock()
        pause, rebuilt = await self.pause.recover(now, self.margin_s)
        if pause is not None and rebuilt:
            await self._log_pause(pause, now)
        if pause is None:
            self._schedule_predicted_reset(now)
            return
        self._known_resets.append(pause.resets_at)
        if pause.lifted:
            self._lifted_at = now
            self.resume_first = [t.id for t in await self.pause.resuming()]
            return
        if pause.until <= now:
            return  # missed while down: the first dispatch round fires it, before claiming
        event(
            "queue paused by a limit",
            until=iso(pause.until),
            resets_at=iso(pause.resets_at),
            kind=pause.kind,
            still_limited=pause.still_limited,
        )
        self._schedule_reset(pause.until)

    # --- what the dispatcher asks ---------------------------------------------------------

    async def check(self, now: datetime) -> Check:
        pause = await self.pause.load()
        if pause is not None and pause.active(now):
            return Check(closed=True)
        round_ = None
        if pause is not None and not pause.lifted:
            # The reset is due but its job has not run yet (a restart, or a ring that came
            # first): release the paused tasks now, so that they go before anything else.
            round_ = await self._window_reset(now, pause.until, "reset")
            pause = await self.pause.load()
        return Check(closed=False, round=round_, after_reset=pause is not None and pause.lifted)

    def probing(self, now: datetime, run_starts: list[datetime]) -> bool:
        """Right after a reset: is the first run still proving the window open?"""
        since = self._lifted_at
        probes = [s for s in run_starts if since is None or s >= since]
        if not probes:
            return False
        first = min(probes)
        if now - first < timedelta(seconds=POST_RESET_PROBE_S):
            self.timers.place(
                Job(f"probe{self.job_suffix}", Once(first + timedelta(seconds=POST_RESET_PROBE_S)),
                    self._ring_probe_over)
            )
            return True
        self.background.spawn(self.window_proven(), "clear pause")
        return False

    def resumed(self, task_id: int) -> None:
        """A released task was claimed again: it no longer goes before the rest."""
        if task_id in self.resume_first:
            self.resume_first.remove(task_id)

    def keep_resuming(self, waiting: Collection[int]) -> None:
        """Forget released tasks no longer waiting to be claimed (cancelled, failed): left in
        the list, they would hold every new plan back until a restart."""
        self.resume_first = [i for i in self.resume_first if i in waiting]

    async def _ring_probe_over(self) -> None:
        self.doorbell.ring("probe over")

    # --- what the gate is told ------------------------------------------------------------

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
        """Pause the whole queue for a limit seen at `now`; (re)place the reset job."""
        previous = await self.pause.load()
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
            await self.pause.save(pause)
            self._lifted_at = None
            self._schedule_reset(pause.until)
            event(
                "queue paused by a limit",
                until=iso(pause.until),
                resets_at=iso(pause.resets_at),
                kind=pause.kind,
                source=source,
                task=task_id,
                still_limited=pause.still_limited,
            )
            await self._log_pause(pause, now)
        return pause

    async def _log_pause(self, pause: LimitPause, now: datetime) -> None:
        fields = pause.as_json()
        await self.logbook.record("limit_pause", at=now, task=fields.pop("task_id"), **fields)

    async def run_ending(self, task_id: int, run: Run | None) -> None:
        """A run ended on a limit: pause the queue. Told while the run still counts as active,
        so that no dispatch round can slip a new claim in between its end and the pause."""
        task = await self.store.tasks.get(task_id)
        if not (task.state is TaskState.PAUSED_LIMIT or (run is not None and run.outcome is Outcome.LIMIT)):
            return
        now = self.clock()
        limit = run.extra.get("limit") if run is not None else None
        limit = limit if isinstance(limit, dict) else {}
        kind, estimated = str(limit.get("kind", "unknown")), bool(limit.get("estimated", False))
        if kind in MODEL_KINDS and self.models is not None and task.resume_after is not None:
            await self.models.hold(kind, task.resume_after, task)
            await self.usage.note_limit(
                LimitHit(kind, task.resume_after, str(limit.get("text", "")), estimated), now
            )
            return
        await self.apply_limit(
            task.resume_after, now, kind=kind, source="run", task_id=task_id, estimated=estimated
        )
        if task.resume_after is not None:
            await self.usage.note_limit(
                LimitHit(kind, task.resume_after, str(limit.get("text", "")), estimated), now
            )

    async def run_ended(self, task: Task, run: Run | None) -> None:
        """A run that got through after a reset proves the window open."""
        limited = task.state is TaskState.PAUSED_LIMIT or (run is not None and run.outcome is Outcome.LIMIT)
        if not limited and run is not None and (run.outcome in GOT_THROUGH or run.tokens.total > 0):
            pause = await self.pause.load()
            if pause is not None and pause.lifted:
                await self.window_proven()

    async def refresh_usage(self) -> None:
        """The `usage` job: a limit the monitor sees pauses the queue like a run's."""
        if self.usage.monitor is None or self.doorbell.stopping:
            return
        now = self.clock()
        state = await self.usage.refresh(now)
        if state is None:
            return
        if state.limited and state.resets_at is not None:
            if state.kind in MODEL_KINDS and self.models is not None:
                await self.models.hold(state.kind, state.resets_at)
                return
            if self._already_known(state.resets_at):
                return
            await self.apply_limit(
                state.resets_at, now, kind=state.kind or "unknown", source=state.source or "monitor"
            )
        elif await self.pause.load() is None:
            self._schedule_predicted_reset(now)

    async def on_cron(self) -> None:
        """An owner's fixed time: a window reset they declare (DESIGN, usage source 5).

        It ends a pause whose reset time was only a guess, never one a source named: that
        would be probing the limit by running `claude`.
        """
        now = self.clock()
        pause = await self.pause.load()
        if pause is not None and pause.active(now) and not pause.estimated:
            event("cron trigger skipped", reason="limited until a known reset", until=iso(pause.until))
            return
        event("cron trigger", at=iso(now))
        await self._window_reset(now, now.replace(microsecond=0), "cron")

    async def on_reset(self, fire_at: datetime) -> None:
        """The reset job: the window reset (plus the margin), known or predicted."""
        now = self.clock()
        pause = await self.pause.load()
        if pause is not None and pause.lifted:
            return  # the dispatcher got to this reset first
        if pause is not None and now < pause.until:
            self._schedule_reset(pause.until)  # the pause was extended after this job was placed
            return
        await self._window_reset(now, fire_at, "reset")

    # --- the reset ------------------------------------------------------------------------

    async def _window_reset(self, now: datetime, scheduled_for: datetime, reason: str) -> Round:
        """Release the paused tasks, the interrupted one first, and start a fresh window's round."""
        pause = await self.pause.load()
        if pause is not None and not pause.lifted:
            await self.pause.save(pause.lift())
            self._lifted_at = now
            released = await self.pause.release(now, force=reason != "reset")
            first = [pause.task_id] if pause.task_id in released else []
            self.resume_first = first + [t for t in released if t not in first]
            if reason == "reset":
                scheduled_for = pause.until
            fields: dict[str, Any] = {
                "trigger": reason,
                "resets_at": iso(pause.resets_at),
                "until": iso(pause.until),
                "resuming": self.resume_first,
                "late_s": round((now - scheduled_for).total_seconds(), 3),
            }
        else:
            fields = {"trigger": reason, "predicted": True, "scheduled_for": iso(scheduled_for)}
        event("window reset", **fields)
        await self.logbook.record("window_reset", at=now, **fields)
        self.stats.resets += 1
        await self.window_opened(reason, scheduled_for)
        self.doorbell.ring(reason, scheduled_for=scheduled_for, fresh_window=True)
        if self.usage.monitor is not None:
            asyncio.get_running_loop().call_later(
                USAGE_AFTER_RESET_S,
                lambda: self.background.spawn(self.refresh_usage(), "usage after reset"),
            )
        return Round(reason, scheduled_for, fresh_window=True)

    async def window_proven(self) -> None:
        """A run got through after the reset: the pause is over, the monitor forgets the limit."""
        pause = await self.pause.load()
        if pause is not None and pause.lifted:
            await self.pause.save(None)
            self._lifted_at = None
            await self.usage.clear_limits()
            now = self.clock()
            event("window open again", after_reset=iso(pause.resets_at))
            await self.logbook.record(
                "window_proven", at=now, task=pause.task_id, after_reset=pause.resets_at
            )
            self._schedule_predicted_reset(now)

    def _already_known(self, resets_at: datetime) -> bool:
        """Is this the reset of a limit already handled, seen through its rounded text?"""
        return any(known <= resets_at <= known + MESSAGE_PRECISION for known in self._known_resets)

    def _schedule_reset(self, when: datetime) -> None:
        """(Re)place the one reset job; a time already past runs at once."""

        async def fire() -> None:
            await self.on_reset(when)

        self.timers.place(Job(f"reset{self.job_suffix}", Once(when), fire))

    def _schedule_predicted_reset(self, now: datetime) -> None:
        if self.burst:
            return
        predicted = self.usage.predict_next_reset(now)
        if predicted is not None and predicted > now:
            self._schedule_reset(reset_fire_time(predicted, self.margin_s))
