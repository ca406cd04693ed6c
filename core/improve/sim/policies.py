"""The three start policies the simulator compares, built on nightshift's real scheduling code.

- `midnight-cron`: fires at 00:00 (`core.scheduling.cron.next_cron_fire`), works through the
  queue until it is empty or the limit hits, then waits for the next midnight.
- `reset-aware`: starts whenever work is queued; after a limit, waits for the reset plus
  the margin (`core.scheduling.resets.pause_for_limit`), then resumes.
- `reset-aware+packing`: the same start rule, and each start goes through the budget
  planner the daemon uses (`core.scheduling.protect.horizon`, then
  `core.scheduling.budget.plan_protected`) with the owner's reserve, their use learned per
  hour, and estimates learned from the tasks finished so far (`core.improve.estimates`).

None of these copies a rule: each calls the function the daemon calls.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Protocol

from core.improve.estimates import EstimateBook, task_keys
from core.scheduling.budget import ANYTIME_TAG, Candidate, plan_protected, remaining_estimate
from core.scheduling.cron import next_cron_fire
from core.scheduling.owner import OwnerUseBook
from core.scheduling.protect import Horizon, OwnerNeed, horizon, stop_line
from core.scheduling.resets import LimitPause, pause_for_limit, reset_fire_time


@dataclass(frozen=True, slots=True)
class QueuedTask:
    """A task as a policy may see it: never its true cost."""

    id: int
    priority: int
    tags: tuple[str, ...]
    arrival: datetime
    waiting_for: tuple[int, ...]
    """Dependencies not done yet."""
    resuming: bool
    spent_tokens: float


@dataclass(frozen=True, slots=True)
class RunningTask:
    id: int
    tags: tuple[str, ...]
    spent_tokens: float


@dataclass(frozen=True)
class View:
    """What a policy may look at when it decides (what the daemon can see, no more)."""

    now: datetime
    queue: Sequence[QueuedTask]
    running: Sequence[RunningTask]
    window_used: float | None
    """Tokens used in the open window, None when no window is open."""
    owner_used: float
    """The owner's own part of `window_used` (the logs less nightshift's runs)."""
    window_start: datetime | None
    window_end: datetime | None
    capacity_tokens: int | None
    """The window's size as the daemon would know it: exact once a limit showed it, before
    that the largest window seen (a lower bound), None at the very start."""
    capacity_exact: bool
    max_parallel: int
    reserve: Mapping[int, float]
    tz: tzinfo
    account: int = 0
    owners: bool = True
    """The owner's own account: their use and their reserve are on it, no other."""

    @property
    def free(self) -> int:
        return max(0, self.max_parallel - len(self.running))

    def runnable(self) -> list[QueuedTask]:
        ready = [t for t in self.queue if not t.waiting_for]
        return sorted(ready, key=lambda t: (not t.resuming, t.priority, t.arrival, t.id))


class Policy(Protocol):
    name: str

    def wake_at(self, view: View) -> datetime | None:
        """The next moment this policy wants to decide even if nothing else happens."""

    def starts(self, view: View) -> list[int]:
        """Task ids to start now, at most `view.free`, in order."""

    def on_limit(self, now: datetime, resets_at: datetime, account: int = 0) -> None: ...

    def on_finish(self, tags: tuple[str, ...], tokens: float, minutes: float) -> None: ...

    def on_owner_use(self, at: datetime, tokens: float) -> None:
        """The owner's own use, as the logs show it (what they got, not what they wanted)."""

    def stop_line(self, view: View) -> float | None:
        """The open window's use at which running work pauses for the owner (None: never)."""


@dataclass
class MidnightCron:
    """The naive baseline: a fixed 00:00 trigger, as a crontab line would give."""

    margin_s: float
    spec: str = "0 0 * * *"
    name: str = "midnight-cron"
    next_fire: datetime | None = None
    stopped: set[int] = field(default_factory=set)
    """Accounts whose night's run ended (limit hit, or the queue ran dry)."""
    batch: bool = False

    def _advance(self, now: datetime, tz: tzinfo) -> None:
        if self.next_fire is None:
            # A fire at the very start counts: the first one at or after `now`.
            self.next_fire = next_cron_fire(self.spec, now - timedelta(microseconds=1), tz)
        while self.next_fire is not None and self.next_fire <= now:
            self.batch = True
            self.stopped.clear()
            self.next_fire = next_cron_fire(self.spec, self.next_fire, tz)

    def wake_at(self, view: View) -> datetime | None:
        self._advance(view.now, view.tz)
        return self.next_fire

    def starts(self, view: View) -> list[int]:
        self._advance(view.now, view.tz)
        if not self.batch or view.account in self.stopped:
            return []
        ready = view.runnable()
        if not ready and not view.running:
            self.stopped.add(view.account)  # the queue is empty: this night's run is over
            return []
        return [t.id for t in ready[: view.free]]

    def on_limit(self, now: datetime, resets_at: datetime, account: int = 0) -> None:
        self.stopped.add(account)

    def on_finish(self, tags: tuple[str, ...], tokens: float, minutes: float) -> None:
        return None

    def on_owner_use(self, at: datetime, tokens: float) -> None:
        return None

    def stop_line(self, view: View) -> float | None:
        return None


@dataclass
class ResetAware:
    """Start whenever work is queued; after a limit, start again at the reset plus margin."""

    margin_s: float
    name: str = "reset-aware"
    pauses: dict[int, LimitPause] = field(default_factory=dict)
    """One limit pause per account: each has its own windows."""

    def paused(self, now: datetime, account: int = 0) -> bool:
        pause = self.pauses.get(account)
        return pause is not None and pause.active(now)

    def wake_at(self, view: View) -> datetime | None:
        pause = self.pauses.get(view.account)
        if pause is not None and pause.active(view.now):
            return pause.until
        return None

    def starts(self, view: View) -> list[int]:
        if self.paused(view.now, view.account):
            return []
        return [t.id for t in view.runnable()[: view.free]]

    def on_limit(self, now: datetime, resets_at: datetime, account: int = 0) -> None:
        self.pauses[account] = pause_for_limit(self.pauses.get(account), resets_at, now, self.margin_s,
                                               kind="session", source="simulator")

    def on_finish(self, tags: tuple[str, ...], tokens: float, minutes: float) -> None:
        return None

    def on_owner_use(self, at: datetime, tokens: float) -> None:
        return None

    def stop_line(self, view: View) -> float | None:
        return None


@dataclass
class ResetAwarePacking(ResetAware):
    """Reset-aware starts, each admitted by the daemon's own budget code: the protection of
    what the owner will need (`core.scheduling.protect`) and the planner that packs the
    rest (`core.scheduling.budget.plan_protected`), with estimates, the burn rate and the
    owner's use learned as the run goes."""

    default_tokens: int = 2_000_000
    name: str = "reset-aware+packing"
    book: EstimateBook = field(default_factory=EstimateBook)
    owner: OwnerUseBook = field(default_factory=OwnerUseBook)
    burn: list[float] = field(default_factory=list)
    deferred: set[int] = field(default_factory=set)
    """Accounts on which ready work was held back at the last look."""
    plans: int = 0
    fits_at: dict[int, datetime] = field(default_factory=dict)
    """Per account: when a task held back fits as the reset nears (the planner says; the
    daemon looks every minute and would start it then)."""

    def estimate(self, tags: tuple[str, ...]) -> float:
        value = self.book.predict(task_keys(tags, None, None), "tokens")
        return float(self.default_tokens) if value is None else value

    def burn_per_min(self) -> float | None:
        return statistics.median(self.burn[-20:]) if self.burn else None

    def wake_at(self, view: View) -> datetime | None:
        wake = super().wake_at(view)
        if wake is None and view.account in self.deferred:
            # Held back: the protection changes by the hour and at each reset; look again
            # at whichever comes first.
            hour = view.now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            wake = hour if view.window_end is None else min(hour, reset_fire_time(view.window_end,
                                                                                  self.margin_s))
            fits = self.fits_at.get(view.account)
            if fits is not None and view.now < fits < wake:
                wake = fits
        return wake

    def owner_need(self, view: View) -> OwnerNeed | None:
        """What the owner is expected to use between two moments, learned as the run goes."""
        return (lambda a, b: self.owner.expected(a, b, view.now)) if view.owners else None

    def picture(self, view: View) -> Horizon:
        self.owner.tz = view.tz
        return horizon(
            view.now, window_start=view.window_start, capacity_tokens=view.capacity_tokens,
            capacity_exact=view.capacity_exact, reserve=view.reserve,
            owner_need=self.owner_need(view),
            tz=view.tz,
            burn_tokens_per_min=self.burn_per_min(), parallel=view.max_parallel,
            owner_used_tokens=view.owner_used,
            owner_recent_tokens=self.owner.use_lately(view.now) if view.owners else None,
            owner_peak_tokens_per_hour=self.owner.peak_per_hour(view.now) if view.owners else None,
        )

    def stop_line(self, view: View) -> float | None:
        return None if view.window_start is None else stop_line(self.picture(view))

    def _deferred(self, view: View, held: bool) -> None:
        if held:
            self.deferred.add(view.account)
        else:
            self.deferred.discard(view.account)

    def starts(self, view: View) -> list[int]:
        if self.paused(view.now, view.account):
            return []
        ready = view.runnable()
        if not ready or view.free <= 0:
            self._deferred(view, bool(ready))
            self.fits_at.pop(view.account, None)
            return []
        candidates = [
            Candidate(
                task_id=t.id,
                priority=t.priority,
                estimate_tokens=remaining_estimate(self.estimate(t.tags), t.spent_tokens),
                rank=(t.arrival, t.id),
                resuming=t.resuming,
                anytime=ANYTIME_TAG in t.tags,
                whole_tokens=round(self.estimate(t.tags)),
            )
            for t in ready
        ]
        # As the daemon does: runs in flight will still spend what their estimates say.
        committed = sum(remaining_estimate(self.estimate(r.tags), r.spent_tokens) for r in view.running)
        plan = plan_protected(candidates, used_tokens=round(view.window_used or 0.0),
                              committed_tokens=round(committed), horizon=self.picture(view))
        self.plans += 1
        self._deferred(view, bool(plan.deferred))
        if plan.fits_at is None:
            self.fits_at.pop(view.account, None)
        else:
            self.fits_at[view.account] = plan.fits_at
        return list(plan.picked[: view.free])

    def on_finish(self, tags: tuple[str, ...], tokens: float, minutes: float) -> None:
        self.book.observe(task_keys(tags, None, None), {"tokens": tokens, "minutes": minutes})
        if minutes > 0:
            self.burn.append(tokens / minutes)

    def on_owner_use(self, at: datetime, tokens: float) -> None:
        self.owner.observe(at, tokens)
