"""The owner's own Claude use per hour, learned from Claude's logs less nightshift's runs.

The budget keeps what the owner is likely to use in the hours ahead (`core.scheduling.owner`);
this reads it off the usage index the monitor keeps: each Claude session writes its own log
file, so the files of sessions nightshift ran (its runs know their session ids) are left out
and the rest is the owner's. Rebuilt at most once an hour: a day's pattern does not change
by the minute. Whether the owner is at the keyboard now does: the last two hours are read
again at most once a minute (`OwnerUseBook.use_lately`), or an evening session would count
only after the next rebuild.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta, tzinfo
from pathlib import PurePath

from core.scheduling.owner import DAYS_KEPT, OwnerUseBook
from core.scheduling.workhours import learned_day_start
from core.store.store import Store
from core.usage.monitor import UsageMonitor

LOOKBACK = timedelta(days=3 * DAYS_KEPT)
REBUILD_EVERY = timedelta(hours=1)
LATELY_EVERY = timedelta(minutes=1)
"""How often the last two hours are read again between rebuilds (the daemon looks each minute)."""


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
        self._read_at: datetime | None = None

    async def __call__(self, now: datetime) -> OwnerUseBook | None:
        if self.monitor is None:
            return None
        book, built, read = self._book, self._built_at, self._read_at
        if book is not None and built is not None and now - built < REBUILD_EVERY:
            if read is not None and now - read < LATELY_EVERY:
                return book
            since = datetime.fromtimestamp((int(now.timestamp()) // 3600 - 1) * 3600, UTC)
            book.forget_from(since)
            await self._read(book, self.monitor, since)
            self._read_at = now
            return book
        book = OwnerUseBook(tz=self.tz)
        await self._read(book, self.monitor, now - LOOKBACK)
        self._book, self._built_at, self._read_at = book, now, now
        return book

    async def _read(self, book: OwnerUseBook, monitor: UsageMonitor, since: datetime) -> None:
        """The owner's use per hour since `since` into `book` (nightshift's sessions left out)."""
        ours = {r.session_id for r in await self.store.runs.between(since - timedelta(days=1), None)
                if r.session_id}
        for path, hour, tokens in await monitor.hourly_use(since):
            if session_of(path) not in ours:
                book.observe(hour, tokens)


async def day_start(owner_use: Callable[[datetime], Awaitable[OwnerUseBook | None]] | None,
                    now: datetime) -> time | None:
    """When the owner's working day starts, learned from their own use (None while unknown):
    without NIGHTSHIFT_WORK_HOURS, the work-hours prime is planned from this."""
    book = await owner_use(now) if owner_use is not None else None
    return learned_day_start(book, now) if book is not None else None
