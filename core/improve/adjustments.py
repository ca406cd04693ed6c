"""Automatic adjustments: small, bounded changes nightshift makes to itself, each with a reason.

Three rules, each moving one knob one step inside fixed bounds, and each only on evidence
gathered *after* its previous step (so one bad night cannot ratchet a knob to its bound):

- a tag whose runs time out gets a longer time limit;
- limits that cut several parallel runs short lower parallelism near a window's end;
- a prompt style that is worse than the best one with posterior probability > 95 % retires.

Everything here is pure; `core.improve.learning` stores what it returns in `adjustments`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.improve.bandit import retirements
from core.improve.bayes import Posterior
from core.models import Outcome, iso

LOOKBACK = timedelta(days=7)
NEAR_END_MINUTES = 60.0


class Knob(enum.StrEnum):
    TIME_LIMIT = "time_limit"
    PARALLEL_NEAR_END = "parallel_near_end"
    RETIRE_STYLE = "retire_style"


@dataclass(frozen=True, slots=True)
class Bounds:
    timeouts_to_act: int = 2
    time_limit_factor: float = 1.5
    time_limit_max_factor: float = 4.0
    """A tag's time limit never exceeds this multiple of the configured limit …"""
    time_limit_max_minutes: float = 480.0
    """… nor eight hours."""
    limits_to_act: int = 2
    near_end_minutes: float = NEAR_END_MINUTES
    min_parallel: int = 1
    retire_probability: float = 0.95
    retire_min_runs: int = 10


@dataclass(frozen=True, slots=True)
class Adjustment:
    knob: Knob
    scope: str
    old: float | str | None
    new: float | str | None
    reason: str
    at: datetime
    evidence: tuple[int, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"knob": self.knob.value, "scope": self.scope, "old": self.old, "new": self.new,
                "reason": self.reason, "at": iso(self.at),
                "evidence": [f"run-{r}" for r in self.evidence]}


@dataclass(frozen=True, slots=True)
class RunFact:
    run_id: int
    outcome: Outcome
    tags: tuple[str, ...]
    started_at: datetime
    finished_at: datetime


@dataclass(frozen=True)
class Knobs:
    """Where each knob stands now: the latest adjustment of each (knob, scope)."""

    latest: Mapping[tuple[Knob, str], Adjustment]

    @classmethod
    def from_log(cls, log: Sequence[Adjustment]) -> Knobs:
        latest: dict[tuple[Knob, str], Adjustment] = {}
        for item in sorted(log, key=lambda a: a.at):
            latest[(item.knob, item.scope)] = item
        return cls(latest)

    def value(self, knob: Knob, scope: str) -> float | str | None:
        item = self.latest.get((knob, scope))
        return item.new if item else None

    def since(self, knob: Knob, scope: str) -> datetime | None:
        item = self.latest.get((knob, scope))
        return item.at if item else None

    def time_limit_minutes(self, tags: Sequence[str], default: float) -> float:
        """The longest learned limit among a task's tags, never below the configured one."""
        values = [v for t in tags if isinstance(v := self.value(Knob.TIME_LIMIT, t.lower()), float)]
        return max([default, *values])

    def max_parallel(
        self,
        now: datetime,
        window_end: datetime | None,
        default: int,
        near_end_minutes: float = NEAR_END_MINUTES,
    ) -> int:
        """Parallel runs allowed at `now`: lowered in the last stretch before `window_end`."""
        item = self.latest.get((Knob.PARALLEL_NEAR_END, "window"))
        if item is None or window_end is None or not isinstance(item.new, float):
            return default
        if timedelta(0) <= window_end - now <= timedelta(minutes=near_end_minutes):
            return max(1, min(default, int(item.new)))
        return default

    @property
    def retired_styles(self) -> frozenset[str]:
        return frozenset(
            scope for (knob, scope), item in self.latest.items()
            if knob is Knob.RETIRE_STYLE and item.new == "retired"
        )


def _overlaps(a: RunFact, b: RunFact) -> bool:
    return a.run_id != b.run_id and a.started_at < b.finished_at and b.started_at < a.finished_at


def propose(
    knobs: Knobs,
    runs: Sequence[RunFact],
    *,
    now: datetime,
    default_minutes: float,
    default_parallel: int,
    style_stats: Mapping[str, Posterior] | None = None,
    live_styles: Sequence[str] = (),
    pinned_style: str | None = None,
    bounds: Bounds = Bounds(),
) -> list[Adjustment]:
    """The adjustments the evidence calls for now; empty when nothing needs to change."""
    out: list[Adjustment] = []
    recent = [r for r in runs if now - LOOKBACK < r.finished_at <= now]

    # 1. longer time limit for a tag after timeouts
    ceiling = min(default_minutes * bounds.time_limit_max_factor, bounds.time_limit_max_minutes)
    ceiling = max(ceiling, default_minutes)
    tags = sorted({t.lower() for r in recent for t in r.tags if t.strip()})
    for tag in tags:
        since = knobs.since(Knob.TIME_LIMIT, tag)
        hits = [r for r in recent if r.outcome is Outcome.TIMEOUT and tag in {t.lower() for t in r.tags}
                and (since is None or r.started_at >= since)]
        if len(hits) < bounds.timeouts_to_act:
            continue
        current = knobs.value(Knob.TIME_LIMIT, tag)
        old = current if isinstance(current, float) else float(default_minutes)
        new = round(min(old * bounds.time_limit_factor, ceiling), 1)
        if new <= old:
            continue
        out.append(Adjustment(
            Knob.TIME_LIMIT, tag, old, new,
            f"{len(hits)} runs tagged {tag!r} timed out since "
            + (f"the last change ({since.date().isoformat()})" if since else "the last 7 days began")
            + f": time limit {old:g} → {new:g} min (bound {ceiling:g})",
            now, tuple(r.run_id for r in hits),
        ))

    # 2. fewer parallel runs near a window's end after limits cut parallel runs short
    since = knobs.since(Knob.PARALLEL_NEAR_END, "window")
    current = knobs.value(Knob.PARALLEL_NEAR_END, "window")
    old_parallel = int(current) if isinstance(current, float) else default_parallel
    cut = [r for r in recent if r.outcome is Outcome.LIMIT
           and (since is None or r.started_at >= since)
           and any(_overlaps(r, other) for other in recent)]
    if len(cut) >= bounds.limits_to_act and old_parallel > bounds.min_parallel:
        new_parallel = max(bounds.min_parallel, old_parallel - 1)
        out.append(Adjustment(
            Knob.PARALLEL_NEAR_END, "window", float(old_parallel), float(new_parallel),
            f"{len(cut)} runs were cut short by the limit while other runs were in flight: "
            f"at most {new_parallel} in the last {bounds.near_end_minutes:g} min of a window "
            f"(was {old_parallel}, bound {bounds.min_parallel})",
            now, tuple(r.run_id for r in cut),
        ))

    # 3. retire a style that is worse with posterior probability > 95 %
    if style_stats:
        protected = frozenset({pinned_style}) if pinned_style else frozenset()
        for item in retirements(style_stats, live_styles, protected=protected,
                                probability=bounds.retire_probability,
                                min_runs=bounds.retire_min_runs):
            out.append(Adjustment(Knob.RETIRE_STYLE, item.name, "active", "retired",
                                  f"retired: {item.reason}", now))
    return out
