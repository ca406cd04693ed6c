"""An account's weekly pace as nightshift keeps it: the week the monitor knows, the day's start.

The pace itself is pure (`core.scheduling.pacing`); this finds the week (the monitor's weekly
window when it has one, else the usage endpoint's `seven_day`) and keeps the utilization the
day began with in the queue's key-value table, per account, so a restart mid-day paces on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from core.accounts import Account
from core.models import iso, parse_iso
from core.scheduling.pacing import WeeklyPace, weekly_pace
from core.settings import Settings
from core.store.store import Store

if TYPE_CHECKING:
    from core.usage.monitor import LimitState, UsageMonitor

PACE_KEY = "weekly_pace"
SAME_RESET = timedelta(hours=1)
"""Two readings of the reset time this close are the same week (sources round differently)."""


def week_of(monitor: UsageMonitor, state: LimitState | None, now: datetime) -> tuple[float, datetime] | None:
    """(utilization 0..1, reset) of the account's 7-day window, if a source knows it."""
    for window in state.windows if state is not None else ():  # the monitor's weekly picture
        if window.kind == "weekly" and window.utilization is not None and window.resets_at is not None \
                and window.resets_at > now:
            return window.utilization, window.resets_at
    reading = monitor.endpoint.cached(now) or monitor.endpoint.reading
    seven = reading.window("seven_day") if reading is not None else None
    if seven is not None and seven.resets_at is not None and seven.resets_at > now:
        return seven.utilization / 100, seven.resets_at
    return None


async def account_pace(
    settings: Settings, store: Store, account: Account, monitor: UsageMonitor, state: LimitState | None,
    now: datetime, *, record: bool,
) -> WeeklyPace | None:
    """Today's pace on `account`; with `record`, the first reading of a day is kept as its start."""
    week = week_of(monitor, state, now)
    if week is None:
        return None
    utilization, resets_at = week
    key = PACE_KEY + account.kv_scope(settings)
    today = now.astimezone(settings.local_tz).date().isoformat()
    saved = await store.kv.get(key)
    start = utilization
    kept = parse_iso(saved.get("resets_at")) if isinstance(saved, dict) else None
    if isinstance(saved, dict) and saved.get("day") == today and kept is not None \
            and abs(kept - resets_at) < SAME_RESET and isinstance(saved.get("utilization"), int | float):
        start = float(saved["utilization"])
    elif record:
        await store.kv.set(key, {"day": today, "resets_at": iso(resets_at), "utilization": utilization})
    return weekly_pace(
        now, utilization=utilization, resets_at=resets_at, day_start_utilization=start,
        owner_days=settings.owner_day_set, owner_share=settings.weekly_owner_share, tz=settings.local_tz,
    )
