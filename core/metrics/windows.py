"""Which usage window a run belongs to.

The usage monitor stamps each run with the id of the 5-hour block it ran in (for example
`2026-10-01T10:00:00.000Z`, ccusage's block start). Metrics treat that id as an opaque key.
Only when a run has no `window_id` (it started before the monitor knew a window, or the
monitor was off) do we fall back to a fixed 5-hour grid counted from the Unix epoch in
UTC: a guess, but a stable one, so the same run always lands in the same window.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from core.models import Run

BLOCK_S = 5 * 3600
BLOCK = timedelta(seconds=BLOCK_S)


def block_floor(moment: datetime) -> datetime:
    """Start of the epoch-aligned 5-hour block holding `moment` (aware, UTC)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    stamp = math.floor(moment.timestamp())
    return datetime.fromtimestamp(stamp - stamp % BLOCK_S, UTC)


def block_id(start: datetime) -> str:
    """The id text the usage monitor uses for a block starting at `start`."""
    return start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def window_key(run: Run) -> str | None:
    """The run's window id, or the fallback block of its start; None if it never started."""
    if run.window_id:
        return run.window_id
    if run.started_at is None:
        return None
    return block_id(block_floor(run.started_at))


def window_start(key: str, fallback: datetime) -> datetime:
    """When a window began: its id if it reads as a time, else `fallback` (its first run)."""
    try:
        start = datetime.fromisoformat(key)
    except ValueError:
        return fallback
    return start if start.tzinfo else start.replace(tzinfo=UTC)
