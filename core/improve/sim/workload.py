"""A synthetic fortnight: the tasks an owner queues and the Claude use they make themselves.

Shaped on the product's user (see DESIGN.md): most tasks are queued in the evening from a
phone, some during the day; the owner uses Claude interactively on weekday working hours,
which opens and drains windows too. Task kinds differ in cost by an order of magnitude, so
an estimate learned per tag is worth something. Everything comes from one seeded
`random.Random`, drawn up front, so a seed fixes the whole workload.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SIM_START = datetime(2026, 1, 5, tzinfo=UTC)
"""A Monday: a fixed start keeps results independent of the day the simulator runs."""

KINDS: dict[str, tuple[float, float]] = {
    # tag: (share of tasks, median tokens)
    "docs": (0.30, 300_000),
    "bugfix": (0.35, 1_200_000),
    "feature": (0.25, 3_000_000),
    "refactor": (0.10, 6_000_000),
}
COST_SIGMA = 0.4
"""Log-normal spread of a task's cost around its kind's median."""
BURN_TOKENS_PER_MIN = 30_000
PRIORITIES = ((0, 0.05), (1, 0.20), (2, 0.60), (3, 0.15))

SHAPES: dict[str, tuple[int, int]] = {
    # shape: tasks queued per day (fewest, most); "bursty" adds a few days far above that
    "normal": (4, 8),
    "light": (1, 3),
    "heavy": (9, 14),
    "bursty": (1, 4),
}
BURST_DAY_CHANCE = 0.2
BURST_TASKS = (12, 20)


@dataclass(frozen=True, slots=True)
class TaskSpec:
    id: int
    arrival: datetime
    tags: tuple[str, ...]
    tokens: int
    """What the task really costs, which no policy sees; they see estimates."""
    burn_per_min: float
    priority: int
    depends_on: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class OwnerUse:
    at: datetime
    tokens: int


HISTORY_DAYS = 14
"""Days of the owner's own use on disk before nightshift starts: Claude Code keeps 30 days
of transcripts (`cleanupPeriodDays`), and the daemon reads them on its first start."""


@dataclass(frozen=True)
class Workload:
    start: datetime
    end: datetime
    tasks: tuple[TaskSpec, ...]
    owner: tuple[OwnerUse, ...]
    history: tuple[OwnerUse, ...] = ()
    """The owner's use before `start`, as the logs on disk show it: learned from, not measured."""


def _weighted(rng: random.Random, options: list[tuple[object, float]]) -> object:
    roll = rng.random() * sum(w for _, w in options)
    for value, weight in options:
        roll -= weight
        if roll < 0:
            return value
    return options[-1][0]


def _owner_day(rng: random.Random, midnight: datetime) -> list[OwnerUse]:
    """The owner's own use on one day: working hours on weekdays, some late evenings, and
    weekend sessions, as owners really have them (not only the hours they name)."""
    out: list[OwnerUse] = []
    weekday = midnight.weekday() < 5

    def burst(hours: range, chance: float, low: int, high: int) -> None:
        for hour in hours:
            if rng.random() < chance:
                at = midnight + timedelta(hours=hour, minutes=rng.uniform(0, 59))
                out.append(OwnerUse(at, int(rng.uniform(low, high))))

    if weekday:
        burst(range(9, 18), 0.7, 200_000, 700_000)
        if rng.random() < 0.35:  # a late evening at the keyboard
            burst(range(20, 23), 0.6, 150_000, 500_000)
    else:
        burst(range(10, 17), 0.2, 200_000, 700_000)
        if rng.random() < 0.3:  # a weekend project afternoon
            burst(range(14, 19), 0.7, 200_000, 600_000)
    return out


def _history(seed: int, start: datetime, days: int) -> tuple[OwnerUse, ...]:
    """The owner's use in the `days` before `start`, from its own generator so that the
    measured fortnight is the same with or without history."""
    rng = random.Random(f"history-{seed}")
    out: list[OwnerUse] = []
    for day in range(days, 0, -1):
        out.extend(_owner_day(rng, start - timedelta(days=day)))
    return tuple(sorted(out, key=lambda o: o.at))


def make_workload(days: int, seed: int, *, start: datetime = SIM_START, shape: str = "normal",
                  history_days: int = HISTORY_DAYS) -> Workload:
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if history_days < 0:
        raise ValueError(f"history_days must not be negative, got {history_days}")
    if shape not in SHAPES:
        raise ValueError(f"unknown workload shape {shape!r} (known: {', '.join(SHAPES)})")
    rng = random.Random(seed)
    tasks: list[TaskSpec] = []
    owner: list[OwnerUse] = []
    next_id = 1
    for day in range(days):
        midnight = start + timedelta(days=day)
        owner.extend(_owner_day(rng, midnight))
        # Tasks: mostly queued in the evening, some during the day.
        previous: int | None = None
        fewest, most = SHAPES[shape]
        count = rng.randint(fewest, most)
        if shape == "bursty" and rng.random() < BURST_DAY_CHANCE:
            count = rng.randint(*BURST_TASKS)
        for _ in range(count):
            if rng.random() < 0.7:
                offset = timedelta(hours=rng.uniform(18.0, 23.5))
            else:
                offset = timedelta(hours=rng.uniform(8.0, 18.0))
            tag = str(_weighted(rng, [(k, share) for k, (share, _) in KINDS.items()]))
            median = KINDS[tag][1]
            tokens = max(20_000, int(rng.lognormvariate(math.log(median), COST_SIGMA)))
            burn = BURN_TOKENS_PER_MIN * rng.uniform(0.8, 1.2)
            priority = int(str(_weighted(rng, [(p, w) for p, w in PRIORITIES])))
            deps: tuple[int, ...] = (previous,) if previous is not None and rng.random() < 0.15 else ()
            tasks.append(TaskSpec(next_id, midnight + offset, (tag,), tokens, burn, priority, deps))
            previous = next_id
            next_id += 1
    # A dependency must arrive no later than its dependent for the queue to make sense.
    by_id = {t.id: t for t in tasks}
    fixed = []
    for t in tasks:
        kept = tuple(d for d in t.depends_on if by_id[d].arrival <= t.arrival)
        fixed.append(TaskSpec(t.id, t.arrival, t.tags, t.tokens, t.burn_per_min, t.priority, kept))
    fixed.sort(key=lambda t: (t.arrival, t.id))
    owner.sort(key=lambda o: o.at)
    return Workload(start, start + timedelta(days=days), tuple(fixed), tuple(owner),
                    _history(seed, start, history_days))
