"""The pictures' entry points for the daemon, the bot and the CLI: load, draw, write, tell.

Each reads the store through the service, draws off the event loop (matplotlib is slow
and synchronous) and writes `charts/<name>.png` under the state directory atomically.
The daily summary and the morning digest are timed jobs of the daemon (`core.daemon.timers`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from core.abc import Notification
from core.budgets import budget_lines, load_budgets, night_spend
from core.log import event
from core.metrics.digest import build_morning_digest
from core.metrics.history import load_history
from core.metrics.style import write_png
from core.metrics.timeline import build_timeline, timeline_facts, window_of
from core.models import iso, parse_iso

if TYPE_CHECKING:
    from core.service import Service
    from core.settings import Settings
    from core.usage.monitor import UsageMonitor

DIGEST_SENT_KEY = "digest.last_sent_at"
"""KV: when the last morning digest was built; the next one covers everything since."""
FIRST_DIGEST_SPAN = timedelta(days=1)
WINDOW_SUMMARY_CHART = "window-summary"
DIGEST_CHART = "morning-digest"
DAILY_SUMMARY_CHART = "completion"


def chart_path(settings: Settings, name: str) -> Path:
    from core.store.db import ensure_private_dir

    return ensure_private_dir(settings.home_dir / "charts") / f"{name}.png"


async def render_window_timeline(
    service: Service,
    task_ids: Iterable[int],
    scheduled_for: datetime,
    capacity_tokens: int | None,
    *,
    now: datetime,
) -> tuple[Path, str]:
    """The window summary's picture and its text twin (one line: what the picture shows
    beyond the summary's task lines): the window the batch `task_ids` (set off at
    `scheduled_for`) ran in, from its start to its reset."""
    from core.metrics.timeline_draw import timeline_png

    settings = service.settings
    history = await load_history(service.store)
    start = window_of(history, task_ids, scheduled_for)
    data = build_timeline(history, start=start, now=now, tz=settings.local_tz,
                          capacity_tokens=capacity_tokens,
                          reserve_by_hour=settings.reserve_by_hour)
    png = await asyncio.to_thread(timeline_png, [data])
    path = await asyncio.to_thread(write_png, png, chart_path(settings, WINDOW_SUMMARY_CHART))
    return path, " · ".join(timeline_facts(data))


async def current_capacity(service: Service) -> int | None:
    """The window capacity the daemon plans with (same sources, same order), or None."""
    from core.scheduling.estimates import choose_capacity

    settings = service.settings
    try:
        state = await service.usage()
    except Exception as exc:  # the usage sources are best effort; the digest goes out anyway
        event("digest without usage", logging.WARNING, logger="metrics", error=repr(exc))
        return settings.window_capacity_tokens or None
    from_endpoint = dict(state.sources).get("utilization") == "endpoint"
    return choose_capacity(
        utilization=state.utilization if from_endpoint else None,
        tokens_used=state.tokens_used,
        largest_block_tokens=state.capacity_tokens,
        setting_tokens=settings.window_capacity_tokens,
    ).tokens


def weekly_limit_used(service: Service, now: datetime) -> float | None:
    """The weekly limit's use (0..1) from the usage endpoint's last fresh reading, if any."""
    return monitor_weekly_used(service.usage_monitor, now)


def monitor_weekly_used(monitor: UsageMonitor | None, now: datetime) -> float | None:
    """The same, asked of the monitor: the service's `reports` part holds the monitor only."""
    try:
        reading = monitor.endpoint.cached(now) if monitor is not None else None
        window = reading.window("seven_day") if reading is not None else None
    except AttributeError:  # a monitor without an endpoint: unknown, not an error
        return None
    return None if window is None else window.utilization / 100


async def send_morning_digest(service: Service, now: datetime) -> Notification | None:
    """The timer job at NIGHTSHIFT_WAKE_TIME: digest everything since the last digest (the
    first covers a day), send it unless nothing happened, remember when."""
    settings = service.settings
    since = parse_iso(await service.store.kv.get(DIGEST_SENT_KEY)) or now - FIRST_DIGEST_SPAN
    budgets = await load_budgets(service.store, settings)
    note = await build_morning_digest(
        service.store, since, now, tz=settings.local_tz,
        capacity_tokens=await current_capacity(service),
        reserve_by_hour=budgets.reserve_by_hour(settings),
        nightly_cap_usd=budgets.nightly_usd,
        default_task_cap_usd=budgets.task_usd,
        chart_path=chart_path(settings, DIGEST_CHART),
    )
    if note.data.get("empty"):
        event("morning digest empty", logger="metrics", since=iso(since))
        await service.store.kv.set(DIGEST_SENT_KEY, iso(now))
        return None
    await service.notifier.notify(note)  # into the outbox first: a crash here resends, never loses
    await service.store.kv.set(DIGEST_SENT_KEY, iso(now))
    return note


async def send_daily_summary(service: Service, now: datetime) -> Notification:
    """The timer job at NIGHTSHIFT_DAILY_SUMMARY_HOUR: the last 24 hours' metrics and a chart.

    It goes through the notifier like every other notification, so it waits in the outbox
    when Telegram is away. A summary missed while the daemon was down is not sent late (it
    would arrive next to the following one).
    """
    report = await service.metrics(since=now - timedelta(days=1))
    chart = await service.chart(DAILY_SUMMARY_CHART, report, name=f"daily-{DAILY_SUMMARY_CHART}")
    budgets = await load_budgets(service.store, service.settings)
    spend = await night_spend(service.store, now, service.settings.local_tz)
    money = "\n".join(budget_lines(budgets, spend, service.settings))
    note = Notification("daily_summary", f"Daily summary\n{report.as_text(days=1)}\n\nBudget\n{money}",
                        photo=str(chart))
    await service.notifier.notify(note)
    return note
