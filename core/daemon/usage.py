"""The usage monitor as the daemon sees it: the last state read, the open window's edges.

A refresh is shielded from cancellation (APScheduler cancels jobs at shutdown), so that it
finishes what it writes to the store, and `close` waits for the ones in flight before the
monitor closes. (Its scan's thread and SQLite connection are the index worker's to guard:
core.usage.index_worker.)
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from core.scheduling.priming import WINDOW_LENGTH
from core.usage.limits import LimitHit
from core.usage.monitor import LimitState, UsageMonitor


class UsageWatch:
    def __init__(self, monitor: UsageMonitor | None) -> None:
        self.monitor = monitor
        self.last: LimitState | None = None
        """What the last scan said; kept while the monitor's own cache is dropped by a note."""
        self._scans: set[asyncio.Future[LimitState]] = set()

    async def refresh(self, now: datetime) -> LimitState | None:
        """Scan the usage sources now (None without a monitor)."""
        if self.monitor is None:
            return None
        scan = asyncio.ensure_future(self.monitor.refresh(now))
        self._scans.add(scan)
        scan.add_done_callback(self._scans.discard)
        self.last = await asyncio.shield(scan)
        return self.last

    def window_end(self, now: datetime) -> datetime | None:
        """The end of the open 5-hour window, when the monitor knows one is open."""
        start = self.last.window_start if self.last is not None else None
        if start is None or now >= start + WINDOW_LENGTH:
            return None
        return start + WINDOW_LENGTH

    def window_id(self, now: datetime) -> str | None:
        """The open window's id as ccusage names blocks."""
        end = self.window_end(now)
        if end is None:
            return None
        return (end - WINDOW_LENGTH).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def predict_next_reset(self, now: datetime) -> datetime | None:
        return self.monitor.predict_next_reset(now) if self.monitor is not None else None

    async def note_limit(self, hit: LimitHit, now: datetime) -> None:
        """So that `nightshift usage` and the next refresh know of a limit a run met."""
        if self.monitor is not None:
            await self.monitor.note_limit(hit, "daemon", now)

    async def clear_limits(self) -> None:
        if self.monitor is not None:
            await self.monitor.clear_limits()

    async def close(self) -> None:
        if self.monitor is not None:
            await asyncio.gather(*self._scans, return_exceptions=True)
            await self.monitor.close()
