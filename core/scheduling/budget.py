"""Which tasks to start now: by priority and dependencies, within what the owner does not need.

What the owner needs comes from `core.scheduling.protect` (the `Horizon`). Tasks are taken in
queue order; one that does not fit is passed over (a smaller one behind it may fit). A task
larger than any window starts alone where most of the window is the queue's: it will stop at
the owner's line or the limit and resume its session later, in its turn, not before the rest
as other interrupted tasks do (`goes_first`). Admission is not the owner's only guard: the
stop line (`protect.stop_line`) pauses any run that reaches what is kept for them,
so a start that may not fit costs a resume, never the owner's share. A task passed over may
still fit later in the same window: a run spends before the reset only what the time left
lets it, so the plan says when (`WindowPlan.fits_at`) and the task starts then, its rest
going into the next window within what that one keeps free. The daemon and the simulator
both plan with this.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.scheduling.protect import SAFETY, Horizon

OVERFLOW_SHARE = 0.5
"""An idle window's leftover starts a task that does not fit when it covers this share of
it; a task larger than any window starts when this share of the window is the queue's."""
ANYTIME_TAG = "anytime"
"""A task tagged so may use the owner's reserve: the owner said so for that task."""


OVERRUN_SHARE = 0.5
"""A task that has spent its whole estimate is not nearly done: costs spread log-normally,
so one that overran is likely a big one. Its remaining cost is taken as at least this share
of what it has spent so far (and of its estimate), never as nothing."""


def remaining_estimate(estimate_tokens: float, spent_tokens: float) -> int:
    """What a task that already spent `spent_tokens` is still expected to need."""
    left = estimate_tokens - spent_tokens
    floor = OVERRUN_SHARE * max(estimate_tokens, spent_tokens) if spent_tokens > 0 else 0.0
    return max(1, round(max(left, floor)))


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
    anytime: bool = False
    """The owner let this task use what is otherwise kept for them."""
    whole_tokens: int | None = None
    """The task's whole estimate where `estimate_tokens` is only what is left of it (a task
    under way); None: `estimate_tokens` is the whole."""

    @property
    def size_tokens(self) -> int:
        return self.estimate_tokens if self.whole_tokens is None else self.whole_tokens

    def order(self, capacity_tokens: int) -> tuple[Any, ...]:
        """Queue order in a window of `capacity_tokens`: a task that `goes_first`, then by
        priority and rank."""
        return (not goes_first(self, capacity_tokens), self.priority, self.rank, self.task_id)


def goes_first(task: Candidate, capacity_tokens: int) -> bool:
    """Whether a task a limit interrupted resumes before the rest of the queue, whatever their
    priority: it does, so that work under way is finished before other work starts. Not a task
    larger than any window: it is not finished in the window it resumes in but stops at the
    limit again, so going first would only hold the lane through that window while the tasks
    queued behind it, many small ones, wait for its limit and then for the reset. It resumes
    in its turn instead, by priority and age, as it started; a few hours matter little to work
    that spans days of windows."""
    return task.resuming and task.size_tokens <= capacity_tokens


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
    in_turn: tuple[int, ...] = ()
    """Tasks a limit interrupted that resume in their turn, not before the rest (`goes_first`):
    the dispatcher, which claims the tasks it resumes first outside the plan, leaves these to it."""
    fits_at: datetime | None = None
    """The first moment a task passed over fits after all, as the reset nears (None: none
    will in this window, as things stand). Nothing else needs to change for it: look again then."""

    def allows(self, task_id: int) -> bool:
        return task_id in self.picked


def _pick(
    queue: Sequence[Candidate],
    picked: list[int],
    picked_set: set[int],
    ready: Callable[[Candidate], bool],
    fits: Callable[[Candidate, int], bool],
) -> int:
    """Take, again and again, the first ready candidate in queue order for which `fits(c,
    planned tokens with c)` holds; returns the tokens planned. Re-scanning after each pick
    lets a dependency picked late admit an earlier-ranked dependent."""
    planned = 0
    progress = True
    while progress:
        progress = False
        for c in queue:
            if c.task_id in picked_set or not ready(c):
                continue
            if fits(c, planned + c.estimate_tokens):
                picked.append(c.task_id)
                picked_set.add(c.task_id)
                planned += c.estimate_tokens
                progress = True
                break
    return planned


def plan_protected(
    tasks: Sequence[Candidate],
    *,
    used_tokens: int,
    committed_tokens: int,
    horizon: Horizon,
) -> WindowPlan:
    """Pick the tasks to start now without taking what the owner will need.

    The queue's runs spend at the learned rate: what they cannot spend before the reset
    goes on in the next window. A pick must fit both: the open window's part within its
    capacity less what is used and what is kept for the owner until the reset, and the
    part past the reset within what the next window keeps free. A task tagged `anytime`
    is measured against the capacity alone.
    """
    queue = sorted(tasks, key=lambda c: c.order(horizon.capacity_tokens))
    in_turn = tuple(c.task_id for c in queue if c.resuming and not goes_first(c, horizon.capacity_tokens))
    known = {c.task_id for c in queue}
    picked: list[int] = []
    picked_set: set[int] = set()
    room_now = horizon.capacity_tokens - used_tokens - horizon.keep_tokens
    room_all_now = horizon.capacity_tokens - used_tokens

    def ready(c: Candidate) -> bool:
        return all(dep in picked_set for dep in c.depends_on)

    def split(total: int) -> tuple[int, int]:
        before = min(total, horizon.run_tokens)
        return before, total - before

    def fits(c: Candidate, planned: int) -> bool:
        before, after = split(committed_tokens + planned)
        if c.anytime:
            return before <= room_all_now and after <= horizon.capacity_tokens
        return before <= room_now and after <= horizon.spill_room

    oversized: int | None = None
    first = next((c for c in queue if ready(c)), None)
    unprotected = horizon.keep_tokens == 0 and horizon.next_keep_tokens == 0
    if unprotected and not horizon.capacity_known:
        # Nobody needs this window or the next, and its size is a guess: hold nothing back.
        # The limit pause is the safety net, and the limit teaches the real size.
        _pick(queue, picked, picked_set, ready, lambda c, total: True)
        waits = {c.task_id: "waits for a dependency" for c in queue if c.task_id not in picked_set}
        return WindowPlan(tuple(picked), tuple(waits), None, 0, None, waits, in_turn)
    if (committed_tokens <= 0 and first is not None and first.estimate_tokens > horizon.capacity_tokens
            and room_now >= OVERFLOW_SHARE * horizon.capacity_tokens):
        # No window will ever hold it, nothing runs, and most of this one is nobody's: it
        # runs alone, stops at the owner's line or the limit, and resumes its session after
        # the reset.
        oversized = first.task_id
        picked.append(first.task_id)
        picked_set.add(first.task_id)
    planned = 0 if oversized is not None else _pick(queue, picked, picked_set, ready, fits)
    left = room_now - split(committed_tokens + planned)[0]
    if oversized is None and not picked and committed_tokens == 0 and horizon.keep_tokens == 0 and left > 0:
        # Nobody needs the rest of this window, nothing runs and nothing fits: rather than
        # leave it idle, start the smallest ready task when what is left covers a good share
        # of it. It may hit the limit and resume after the reset, where what is left of it
        # is planned against that window's protection. (Where something is kept this costs
        # more resumes at the stop line than it gains: measured with `simulate`.)
        ready_now = [c for c in queue if ready(c)]
        smallest = min(ready_now, key=lambda c: (c.estimate_tokens, c.order(horizon.capacity_tokens)),
                       default=None)
        if smallest is not None and left >= OVERFLOW_SHARE * smallest.estimate_tokens:
            picked.append(smallest.task_id)
            picked_set.add(smallest.task_id)
            planned += smallest.estimate_tokens
    before, _ = split(committed_tokens + planned)
    left_now = max(0, room_now - before)
    later: dict[int, datetime] = {} if oversized is not None else {
        c.task_id: at for c in queue if c.task_id not in picked_set and ready(c)
        and (at := fits_later(c, committed_tokens + planned, used_tokens, horizon)) is not None}
    reasons: dict[int, str] = {}
    why = f" ({horizon.reason})" if horizon.reason else ""
    end = f"{horizon.window_end.astimezone(horizon.tz):%H:%M}"
    for c in queue:
        if c.task_id in picked_set:
            continue
        if any(dep not in known for dep in c.depends_on):
            reasons[c.task_id] = "waits for a dependency outside the queue"
        elif not ready(c):
            reasons[c.task_id] = "waits for a dependency that does not fit this window"
        elif oversized is not None:
            reasons[c.task_id] = f"task {oversized} has this window to itself"
        elif c.estimate_tokens > horizon.capacity_tokens:
            reasons[c.task_id] = "larger than any window: waits to start alone in a fresh one"
        elif horizon.keep_tokens or horizon.next_keep_tokens:
            reasons[c.task_id] = (f"needs ~{c.estimate_tokens:,} tokens; {left_now:,} left before "
                                  f"what is kept for you{why}")
        else:
            reasons[c.task_id] = f"needs ~{c.estimate_tokens:,} tokens; {left_now:,} left in this window{why}"
        if c.task_id in later:
            reasons[c.task_id] += (f"; can start at {later[c.task_id].astimezone(horizon.tz):%H:%M}, "
                                   f"when less of it falls before the reset at {end}")
    deferred = tuple(c.task_id for c in queue if c.task_id not in picked_set)
    return WindowPlan(tuple(picked), deferred, max(0, room_now), planned, oversized, reasons, in_turn,
                      min(later.values(), default=None))


def fits_later(task: Candidate, planned_tokens: int, used_tokens: int, horizon: Horizon) -> datetime | None:
    """When `task`, passed over now, fits after all: the moment so little time is left before
    the reset that what a run spends until then fits the room before the owner's line, and the
    rest fits what the next window keeps free. None when no such moment comes in this window.

    A run spends at most the learned rate until the reset; one `SAFETY` faster still stays
    within the room, so a start then does not run into the stop line. `planned_tokens` is
    what runs in flight and the tasks picked before it are still expected to spend. None
    where no window is open: one a later start opens has its whole five hours left."""
    rate = horizon.burn_tokens_per_min
    if rate <= 0 or not horizon.window_open:
        return None  # no window open: a start later opens a later one, with as much time left
    capacity = horizon.capacity_tokens
    room = capacity - used_tokens - (0 if task.anytime else horizon.keep_tokens)
    spill = capacity if task.anytime else horizon.spill_room
    # Whole seconds before the reset, rounded down (a later start spends less before it);
    # what a run then spends before the reset is counted as `horizon` counts it.
    seconds_left = math.floor(max(0, room) / (rate * SAFETY) * 60)
    spent_before = math.floor(rate * seconds_left / 60)
    if seconds_left <= 0 or spent_before >= horizon.run_tokens:
        return None  # no room at all, or the time left is already that short
    if planned_tokens + task.estimate_tokens - spent_before > spill:
        return None  # what goes on past the reset would take what the next window keeps
    return horizon.window_end - timedelta(seconds=seconds_left)
