"""Which tasks to start in a window: by priority and dependencies, within the window's budget.

The budget is the window's capacity minus what is already used and minus the reserve the
owner keeps for their own work at this hour. Tasks are taken in queue order; one that does
not fit is passed over (a smaller one behind it may fit), and is first in line at the next
fresh window. A task larger than any window this owner ever allows starts alone in a fresh
window: it will hit the limit, pause, and resume its session after the reset.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from core.scheduling.hours import reserve_fraction, smallest_reserve


@dataclass(frozen=True, slots=True)
class Candidate:
    """A task as the planner sees it.

    `depends_on` lists only the dependencies that are not done yet; `rank` breaks ties
    inside a priority (creation time, then id, as the queue orders them). A `resuming`
    task was paused by a limit and goes before everything else.
    """

    task_id: int
    priority: int
    estimate_tokens: int
    depends_on: tuple[int, ...] = ()
    rank: tuple[Any, ...] = ()
    resuming: bool = False

    @property
    def order(self) -> tuple[Any, ...]:
        return (not self.resuming, self.priority, self.rank, self.task_id)


@dataclass(frozen=True, slots=True)
class WindowCapacity:
    """A window's size in tokens and what is already spent in it (by anyone)."""

    total_tokens: int
    used_tokens: int = 0

    @property
    def fresh(self) -> bool:
        return self.used_tokens <= 0


@dataclass(frozen=True, slots=True)
class WindowPlan:
    picked: tuple[int, ...]
    """Task ids in the order they should start."""
    deferred: tuple[int, ...]
    budget_tokens: int | None
    """None when the capacity is unknown: then nothing is held back."""
    planned_tokens: int
    oversized: int | None = None
    """A task admitted alone although it is larger than any window."""
    reasons: dict[int, str] = field(default_factory=dict)

    def allows(self, task_id: int) -> bool:
        return task_id in self.picked


def window_budget(
    capacity: WindowCapacity, reserve: float | Mapping[int, float], now: datetime, tz: tzinfo
) -> int:
    """Tokens the queue may spend now: capacity minus reserve minus what is already used."""
    fraction = reserve if isinstance(reserve, float | int) else reserve_fraction(reserve, now, tz)
    return max(0, math.floor(capacity.total_tokens * (1 - fraction)) - capacity.used_tokens)


def largest_budget(capacity: WindowCapacity, reserve: float | Mapping[int, float]) -> int:
    """The budget of a fresh window at the owner's most generous hour."""
    fraction = reserve if isinstance(reserve, float | int) else smallest_reserve(reserve)
    return math.floor(capacity.total_tokens * (1 - fraction))


def plan_window(
    tasks: Sequence[Candidate],
    capacity: WindowCapacity | None,
    reserve: float | Mapping[int, float],
    now: datetime,
    tz: tzinfo | None = None,
) -> WindowPlan:
    """Pick the tasks to start in this window.

    Repeatedly takes the first task in queue order whose dependencies are done or already
    picked and whose estimate fits what is left. Passing over a task that does not fit, and
    re-scanning after each pick, means a dependency picked late can still let an
    earlier-ranked dependent in. `now` (with `tz`, default `now`'s own zone) selects the
    reserve for the hour.
    """
    zone = tz or now.tzinfo
    if zone is None:
        raise ValueError("now must be timezone-aware")
    queue = sorted(tasks, key=lambda c: c.order)
    known = {c.task_id for c in queue}
    picked: list[int] = []
    picked_set: set[int] = set()
    reasons: dict[int, str] = {}

    def ready(c: Candidate) -> bool:
        return all(dep in picked_set for dep in c.depends_on)

    if capacity is None:
        # Unknown capacity: hold nothing back; the limit pause is the safety net.
        progress = True
        while progress:
            progress = False
            for c in queue:
                if c.task_id not in picked_set and ready(c):
                    picked.append(c.task_id)
                    picked_set.add(c.task_id)
                    progress = True
                    break
        deferred = tuple(c.task_id for c in queue if c.task_id not in picked_set)
        for task_id in deferred:
            reasons[task_id] = "waits for a dependency"
        return WindowPlan(tuple(picked), deferred, None, 0, None, reasons)

    budget = window_budget(capacity, reserve, now, zone)
    biggest = largest_budget(capacity, reserve)
    left = budget
    oversized: int | None = None
    first = next((c for c in queue if ready(c)), None)
    if capacity.fresh and first is not None and first.estimate_tokens > biggest:
        # First in line and no window will ever hold it: give it this fresh one to itself.
        oversized = first.task_id
        picked.append(first.task_id)
        picked_set.add(first.task_id)
        left = 0
    progress = oversized is None
    while progress:
        progress = False
        for c in queue:
            if c.task_id in picked_set or not ready(c):
                continue
            if c.estimate_tokens <= left:
                picked.append(c.task_id)
                picked_set.add(c.task_id)
                left -= c.estimate_tokens
                progress = True
                break
    for c in queue:
        if c.task_id in picked_set:
            continue
        if any(dep not in known for dep in c.depends_on):
            reasons[c.task_id] = "waits for a dependency outside the queue"
        elif not ready(c):
            reasons[c.task_id] = "waits for a dependency that does not fit this window"
        elif oversized is not None:
            reasons[c.task_id] = f"task {oversized} has this window to itself"
        elif c.estimate_tokens > biggest:
            reasons[c.task_id] = "larger than any window: waits to start alone in a fresh one"
        else:
            reasons[c.task_id] = (
                f"needs ~{c.estimate_tokens:,} tokens; {max(left, 0):,} left in this window"
            )
    deferred = tuple(c.task_id for c in queue if c.task_id not in picked_set)
    estimates = {c.task_id: c.estimate_tokens for c in queue}
    planned = sum(estimates[task_id] for task_id in picked)
    return WindowPlan(tuple(picked), deferred, budget, planned, oversized, reasons)
