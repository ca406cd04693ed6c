"""What a simulation is set up with, and what it reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, tzinfo
from typing import Any


@dataclass(frozen=True)
class SimConfig:
    days: int = 14
    seed: int = 1
    capacity_tokens: int = 6_000_000
    max_parallel: int = 1
    """Runs at once on each account."""
    accounts: int = 1
    """Claude subscriptions nightshift may use; the owner's own use is on the first."""
    margin_s: float = 60.0
    reserve: str = "9-17:50"
    """The owner keeps half of a window for themselves in working hours (NIGHTSHIFT_RESERVE)."""
    capacity_known: bool = False
    """False plays a new user: the daemon learns the window's size from the logs (the largest
    window seen) and exactly from the first limit or `allowed_warning`."""
    shape: str = "normal"
    history_days: int = 14
    """Days of the owner's own use already in Claude's logs when nightshift starts (0: a
    new Claude user; the daemon learns the owner's hours from these on its first start)."""
    default_task_tokens: int = 2_000_000
    resume_overhead: float = 0.10
    """A resumed session re-reads its context: this share of the task's cost is spent again."""
    tz: tzinfo = UTC


@dataclass(frozen=True)
class SimResult:
    policy: str
    submitted: int
    completed: int
    completion_rate: float
    utilization: float
    """Tokens used (owner and nightshift) / what back-to-back windows of every account could
    hold in the period."""
    window_utilization: float | None
    """Mean of used / capacity over the windows that opened."""
    windows: int
    limit_hits: int
    budget_stops: int
    """Runs paused by nightshift itself to keep what the owner needs (not limits)."""
    nightshift_tokens: int
    owner_tokens: int
    owner_blocked_tokens: int
    """Owner use refused because nightshift had emptied the window."""
    resume_overhead_tokens: int
    start_latency_mean_h: float | None
    start_latency_median_h: float | None
    """From when a task could run (queued, dependencies done, window reset) to its start."""
    accounts: int = 1

    def as_json(self) -> dict[str, Any]:
        return asdict(self)
