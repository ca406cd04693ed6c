"""Choosing a prompt style per run: Thompson sampling with an exploration floor and pinning.

Thompson sampling draws a success rate from each style's posterior and runs the style
with the highest draw, so a style is chosen as often as it is likely to be the best:
it settles on the better style quickly while still testing the others now and then.
The floor keeps a minimum of uniform exploration so a style that started unlucky can
recover; a pin (by the owner) overrides the experiment until it expires.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from core.improve.bayes import Posterior
from core.improve.styles import PromptStyle

DEFAULT_FLOOR = 0.1
RETIRE_PROBABILITY = 0.95
RETIRE_MIN_RUNS = 10
"""Neither style in a comparison may have fewer runs: early streaks are not evidence."""


@dataclass(frozen=True, slots=True)
class Pin:
    name: str
    until: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.until is None or now < self.until


def candidates(styles: Sequence[PromptStyle], retired: frozenset[str]) -> list[PromptStyle]:
    """Styles the experiment may pick: enabled and not retired (all enabled if all retired)."""
    enabled = [s for s in styles if s.enabled]
    live = [s for s in enabled if s.name not in retired]
    return live or enabled


def choose(
    styles: Sequence[PromptStyle],
    stats: Mapping[str, Posterior],
    rng: random.Random,
    *,
    now: datetime,
    retired: frozenset[str] = frozenset(),
    pin: Pin | None = None,
    floor: float = DEFAULT_FLOOR,
) -> PromptStyle:
    """One style for one run. Pure given its arguments: the same rng state gives the same pick."""
    if not 0.0 <= floor <= 1.0:
        raise ValueError(f"exploration floor must be in [0, 1], got {floor!r}")
    if pin is not None and pin.active(now):
        pinned = next((s for s in styles if s.name == pin.name and s.enabled), None)
        if pinned is not None:
            return pinned
    pool = candidates(styles, retired)
    if not pool:
        raise ValueError("no enabled prompt style to choose from")
    if len(pool) == 1:
        return pool[0]
    if rng.random() < floor:
        return pool[rng.randrange(len(pool))]
    draws = [stats.get(s.name, Posterior()).sample(rng) for s in pool]
    best = max(range(len(pool)), key=lambda i: draws[i])
    return pool[best]


@dataclass(frozen=True, slots=True)
class Retirement:
    name: str
    versus: str
    probability_worse: float
    reason: str


def retirements(
    stats: Mapping[str, Posterior],
    live: Sequence[str],
    *,
    protected: frozenset[str] = frozenset(),
    probability: float = RETIRE_PROBABILITY,
    min_runs: int = RETIRE_MIN_RUNS,
) -> list[Retirement]:
    """Live styles worse than the best one with posterior probability above `probability`.

    The best is the live style with the highest posterior mean among those with enough
    runs. At least one style always stays live, and protected (pinned) styles never retire.
    """
    seasoned = [n for n in live if stats.get(n, Posterior()).trials >= min_runs]
    if len(seasoned) < 2:
        return []
    best = max(seasoned, key=lambda n: (stats[n].mean, stats[n].trials))
    out = []
    for name in seasoned:
        if name == best or name in protected:
            continue
        p = stats[name].prob_worse_than(stats[best])
        if p > probability:
            mine, theirs = stats[name], stats[best]
            out.append(Retirement(
                name, best, p,
                f"{name} succeeded {mine.successes}/{mine.trials}, {best} "
                f"{theirs.successes}/{theirs.trials}: P({name} is worse) = {p:.3f} > "
                f"{probability:.2f}",
            ))
    return out
