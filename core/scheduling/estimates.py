"""Where a window's capacity and a task's cost come from, most trustworthy source first.

Capacity: the usage endpoint's utilization (tokens used / utilization is the window's
size as Anthropic counts it), else the largest completed 5-hour block (as ccusage's
`--token-limit max`), else the owner's setting, else unknown. A task's estimate: its plan's
estimate, else what similar finished tasks cost, else the default.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from core.scheduling.budget import WindowCapacity

MIN_UTILIZATION = 0.05
"""Below 5 % used, tokens / utilization magnifies rounding of the percentage too much."""


@dataclass(frozen=True, slots=True)
class Choice:
    tokens: int | None
    source: str


def choose_capacity(
    *,
    utilization: float | None,
    tokens_used: int | None,
    largest_block_tokens: int | None,
    setting_tokens: int,
) -> Choice:
    """The current window's capacity in tokens; `utilization` is a fraction 0..1."""
    if utilization is not None and tokens_used and MIN_UTILIZATION <= utilization <= 1:
        return Choice(round(tokens_used / utilization), "usage endpoint")
    if largest_block_tokens:
        return Choice(largest_block_tokens, "largest completed block")
    if setting_tokens > 0:
        return Choice(setting_tokens, "NIGHTSHIFT_WINDOW_CAPACITY_TOKENS")
    return Choice(None, "unknown")


def choose_estimate(
    plan_estimate: int | None,
    history_tokens: Sequence[int],
    default_tokens: int,
    learned_tokens: int | None = None,
) -> Choice:
    """A task's expected cost: the plan's, else the learning loop's (tasks with the same tags,
    repo and plan size), else the median of recent history (so one runaway task does not
    skew it), else the default."""
    if plan_estimate is not None and plan_estimate > 0:
        return Choice(plan_estimate, "plan")
    if learned_tokens is not None and learned_tokens > 0:
        return Choice(learned_tokens, "learned")
    usable = [t for t in history_tokens if t > 0]
    if usable:
        return Choice(round(statistics.median(usable)), "history")
    return Choice(default_tokens, "default")


def window_capacity(
    *,
    utilization: float | None,
    tokens_used: int | None,
    largest_block_tokens: int | None,
    setting_tokens: int,
    fresh_window: bool,
    in_flight_tokens: int,
) -> WindowCapacity | None:
    """The window's size and what counts as spent in it; None when the size is unknown.

    A fresh window (just reset) has spent nothing, and its utilization is stale; runs in
    flight will spend their estimates, so they count as spent already.
    """
    choice = choose_capacity(
        utilization=None if fresh_window else utilization,
        tokens_used=tokens_used,
        largest_block_tokens=largest_block_tokens,
        setting_tokens=setting_tokens,
    )
    if choice.tokens is None:
        return None
    used = 0 if fresh_window else int(tokens_used or 0)
    return WindowCapacity(choice.tokens, used + in_flight_tokens)
