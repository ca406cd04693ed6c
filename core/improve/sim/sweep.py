"""Many seeds and workload shapes at once: means and worst cases, and the budget targets.

One seed can flatter a policy; the owner lives through every night. A sweep runs every
policy on the same workloads and judges the budgeted policy (`reset-aware+packing`) against
greedy reset-aware starts, seed by seed, on the three things the owner cares about: they
were never blocked (at most `MAX_BLOCKED_SHARE` of their own demand refused), the queue
did not lose work (`MIN_COMPLETED_VS_GREEDY` of greedy's completed tasks), and no more
limits were hit.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.improve.sim.config import SimResult
from core.improve.sim.engine import POLICIES, simulate

DEFAULT_SEEDS = (3, 5, 8, 13, 21, 34, 55, 89, 144, 233)
BUDGETED, GREEDY = "reset-aware+packing", "reset-aware"
MAX_BLOCKED_SHARE = 0.01
MIN_COMPLETED_VS_GREEDY = 0.95


def seeds_for(count: int) -> tuple[int, ...]:
    """The first `count` seeds of the fixed series (3, 5, 8, 13, …: the issue's ten, then on)."""
    out = [3, 5]
    while len(out) < count:
        out.append(out[-1] + out[-2])
    return tuple(out[:count])


def blocked_share(result: SimResult) -> float:
    demand = result.owner_tokens + result.owner_blocked_tokens
    return result.owner_blocked_tokens / demand if demand else 0.0


@dataclass(frozen=True)
class SeedRow:
    seed: int
    results: dict[str, SimResult]

    @property
    def completed_vs_greedy(self) -> float:
        greedy = self.results[GREEDY].completed
        return self.results[BUDGETED].completed / greedy if greedy else 1.0


@dataclass(frozen=True)
class Sweep:
    shape: str
    days: int
    rows: tuple[SeedRow, ...]

    def mean(self, policy: str, metric: str) -> float:
        return statistics.fmean(_metric(r.results[policy], metric) for r in self.rows)

    def worst(self, policy: str, metric: str) -> float:
        values = [_metric(r.results[policy], metric) for r in self.rows]
        return min(values) if metric in ("completed", "completion_rate") else max(values)

    def targets(self) -> dict[str, bool]:
        return {
            "owner blocked <= 1% on every seed": all(
                blocked_share(r.results[BUDGETED]) <= MAX_BLOCKED_SHARE for r in self.rows),
            "completed >= 95% of greedy on every seed": all(
                r.completed_vs_greedy >= MIN_COMPLETED_VS_GREEDY for r in self.rows),
            "limit hits <= greedy on every seed": all(
                r.results[BUDGETED].limit_hits <= r.results[GREEDY].limit_hits for r in self.rows),
        }

    def as_json(self) -> dict[str, Any]:
        metrics = ("completed", "blocked_share", "limit_hits", "utilization", "start_latency_mean_h")
        return {
            "shape": self.shape, "days": self.days, "seeds": [r.seed for r in self.rows],
            "policies": {p: {m: {"mean": self.mean(p, m), "worst": self.worst(p, m)} for m in metrics}
                         for p in POLICIES},
            "completed_vs_greedy": {"mean": statistics.fmean(r.completed_vs_greedy for r in self.rows),
                                    "worst": min(r.completed_vs_greedy for r in self.rows)},
            "targets": self.targets(),
            "per_seed": [{"seed": r.seed, **{p: v.as_json() for p, v in r.results.items()}}
                         for r in self.rows],
        }


def _metric(result: SimResult, metric: str) -> float:
    if metric == "blocked_share":
        return blocked_share(result)
    value = getattr(result, metric)
    return float(value) if value is not None else 0.0


def sweep(seeds: Sequence[int], *, days: int = 14, shape: str = "normal", **overrides: Any) -> Sweep:
    rows = tuple(SeedRow(s, simulate(days, s, shape=shape, **overrides)) for s in seeds)
    return Sweep(shape, days, rows)
