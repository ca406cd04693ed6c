"""The owner's own Claude use per hour, learned from Claude's logs less nightshift's runs.

The budget keeps what the owner is likely to use in the hours ahead (`core.scheduling.owner`);
this reads it off the usage index the monitor keeps: each Claude session writes its own log
file, so the files of sessions nightshift ran (its runs know their session ids) are left out
and the rest is the owner's. Rebuilt at most once an hour: a day's pattern does not change
by the minute.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta, tzinfo
from pathlib import PurePath

from core.scheduling.owner import DAYS_KEPT, OwnerUseBook
from core.scheduling.workhours import learned_day_start
from core.store.store import Store
from core.usage.monitor import UsageMonitor

LOOKBACK = timedelta(days=3 * DAYS_KEPT)
REBUILD_EVERY = timedelta(hours=1)


def session_of(path: str) -> str:
    """`…/projects/<project>/<session>.jsonl` or `…/<project>/<session>/subagents/x.jsonl`."""
    parts = PurePath(path).parts
    where = max((i for i, part in enumerate(parts) if part == "projects"), default=-1)
    rest = parts[where + 2:] if where >= 0 else parts[-1:]
    first = rest[0] if rest else PurePath(path).name
    return first.removesuffix(".jsonl")


class OwnerUseSource:
    def __init__(self, monitor: UsageMonitor | None, store: Store, tz: tzinfo) -> None:
        self.monitor = monitor
        self.store = store
        self.tz = tz
        self._book: OwnerUseBook | None = None
        self._built_at: datetime | None = None

    async def __call__(self, now: datetime) -> OwnerUseBook | None:
        if self.monitor is None:
            return None
        if self._book is not None and self._built_at is not None and now - self._built_at < REBUILD_EVERY:
            return self._book
        since = now - LOOKBACK
        ours = {r.session_id for r in await self.store.runs.between(since - timedelta(days=1), None)
                if r.session_id}
        book = OwnerUseBook(tz=self.tz)
        for path, hour, tokens in await self.monitor.hourly_use(since):
            if session_of(path) not in ours:
                book.observe(hour, tokens)
        self._book, self._built_at = book, now
        return book


async def day_start(owner_use: Callable[[datetime], Awaitable[OwnerUseBook | None]] | None,
                    now: datetime) -> time | None:
    """When the owner's working day starts, learned from their own use (None while unknown):
    without NIGHTSHIFT_WORK_HOURS, the work-hours prime is planned from this."""
    book = await owner_use(now) if owner_use is not None else None
    return learned_day_start(book, now) if book is not None else None
