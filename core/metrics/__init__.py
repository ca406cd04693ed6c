"""Day-one metrics: completion, token efficiency, retries, plan quality, utilization, latency.

`compute_metrics()` is the entry point the CLI, the bot's /stats and the daily notes call;
`compute()` is the same as a pure function of a loaded `History`.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from core.metrics.compute import Capacity, compute
from core.metrics.history import History, TaskEnd, load_history
from core.metrics.report import GroupMetrics, LatencyStats, MetricsReport, WindowMetrics
from core.store.store import Store


async def compute_metrics(
    store: Store,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime,
    capacity_tokens: Capacity = None,
    tz: tzinfo = UTC,
) -> MetricsReport:
    """Metrics over [since, until) from the database.

    `capacity_tokens` is the usage monitor's estimate of a window's capacity (one number,
    or a mapping of window id to number); without it utilization is unknown. `tz` is the
    zone days and weeks are cut in (the owner's, for anything a person reads).
    """
    history = await load_history(store)
    return compute(history, now=now, since=since, until=until, capacity_tokens=capacity_tokens,
                   tz=tz)


__all__ = [
    "Capacity",
    "GroupMetrics",
    "History",
    "LatencyStats",
    "MetricsReport",
    "TaskEnd",
    "WindowMetrics",
    "compute",
    "compute_metrics",
    "load_history",
]
