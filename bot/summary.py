"""The daily summary: at NIGHTSHIFT_DAILY_SUMMARY_HOUR, owner's time, metrics and a chart.

It goes through the notifier like every other notification, so it waits in the outbox
when Telegram is away. After a restart the next summary is the next one due; a missed
one is not sent late (it would arrive next to the following one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta, tzinfo

from core.abc import Clock, Notification
from core.budgets import budget_lines, load_budgets, night_spend
from core.service import Service

log = logging.getLogger(__name__)

CHART_KIND = "completion"
MAX_NAP_S = 300.0
"""Re-read the wall clock at least this often: a suspended laptop's monotonic clock stops."""


def next_daily(now: datetime, hour: int, tz: tzinfo) -> datetime:
    """The first moment strictly after `now` when the wall clock in `tz` reads `hour`:00 (UTC).

    On a day whose `hour` does not exist (clocks jump forward over it) the moment is the
    one the zone maps that wall time to, an hour later on the clock.
    """
    day = now.astimezone(tz).date()
    for offset in range(3):
        candidate = datetime.combine(day + timedelta(days=offset), time(hour), tzinfo=tz)
        if candidate.astimezone(UTC) > now:
            return candidate.astimezone(UTC)
    raise AssertionError("unreachable: two days later is always after now")


async def send_daily_summary(service: Service, now: datetime) -> Notification:
    """Build the last 24 hours' summary and its chart, and hand it to the notifier."""
    report = await service.metrics(since=now - timedelta(days=1))
    chart = await service.chart(CHART_KIND, report, name=f"daily-{CHART_KIND}")
    budgets = await load_budgets(service.store, service.settings)
    spend = await night_spend(service.store, now, service.settings.local_tz)
    money = "\n".join(budget_lines(budgets, spend, service.settings))
    note = Notification("daily_summary", f"Daily summary\n{report.as_text(days=1)}\n\nBudget\n{money}",
                        photo=str(chart))
    await service.notifier.notify(note)
    return note


async def daily_summaries(
    service: Service,
    hour: int,
    tz: tzinfo,
    *,
    clock: Clock,
    stop: asyncio.Event,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> None:
    """Send a summary every day at `hour` until `stop` is set."""

    async def nap(seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)

    sleep = sleep or nap
    while not stop.is_set():
        fire = next_daily(clock(), hour, tz)
        while not stop.is_set() and (remaining := (fire - clock()).total_seconds()) > 0:
            await sleep(min(remaining, MAX_NAP_S))
        if stop.is_set():
            return
        try:
            await send_daily_summary(service, clock())
        except Exception:
            log.exception("the daily summary could not be built")
