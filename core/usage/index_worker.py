"""The usage index of a process that lives on (the daemon): one connection, one use at a
time on a worker thread, the log files watched rather than walked.

A scan runs on a worker thread on the index's SQLite connection. Closing that connection
under it crashes the process, so every use is shielded from cancellation (APScheduler
cancels jobs at shutdown), the next use starts only when the last one's thread is done
(not when its caller gave up), and `close` waits for the one in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from core.store.names import database_inodes
from core.usage.blocks_command import index_output
from core.usage.config import UsageConfig
from core.usage.index import UsageIndex
from core.usage.report import BlocksQuery
from core.usage.scanner import ScanReport
from core.usage.tree import ProgressHook
from core.usage.watch import Listing, LogWatch

T = TypeVar("T")


class Watched:
    """A listing by `LogWatch`, handed to the scanner in place of its own walk."""

    __slots__ = ("known", "listing", "roots", "skip")

    def __init__(self, roots: list[str], skip: frozenset[tuple[int, int]], listing: Listing) -> None:
        self.roots = roots
        self.skip = skip
        self.listing = listing
        self.known: list[tuple[Any, ...]] | None = None


class IndexWorker:
    def __init__(self, config: UsageConfig, watch: LogWatch | None = None) -> None:
        self.config = config
        self.watch = watch or LogWatch()
        self._index: UsageIndex | None = None
        self._free = asyncio.Lock()
        self._busy: asyncio.Future[Any] | None = None

    @property
    def busy(self) -> bool:
        return self._busy is not None and not self._busy.done()

    async def run(self, work: Callable[[UsageIndex], T]) -> T:
        """`work(index)` on a worker thread, after any use before it has finished."""
        await self._free.acquire()
        try:
            future = asyncio.get_running_loop().run_in_executor(None, self._call, work)
        except BaseException:
            self._free.release()
            raise
        future.add_done_callback(lambda _: self._free.release())
        self._busy = future
        return await asyncio.shield(future)

    def _call(self, work: Callable[[UsageIndex], T]) -> T:
        if self._index is None:
            self._index = UsageIndex.open(self.config)
        return work(self._index)

    def scan(self, index: UsageIndex, progress: ProgressHook | None = None) -> ScanReport:
        """An incremental scan that stats only the files the watch saw written. (The
        `projects/` folders are looked up again each time: one Claude Code creates after
        the daemon started is read too, without a restart.)"""
        index.projects = projects = self.config.projects
        roots = [str(path) for path in projects]
        skip = database_inodes(str(self.config.db_path))
        index.walked = Watched(roots, skip, self.watch.listing(roots, skip))
        return index.scan(progress)

    async def answer(self, query: BlocksQuery, now_ms: int) -> list[bytes | memoryview]:
        """`usage blocks --json`'s output at `now_ms`, after a scan: what the command prints."""
        def work(index: UsageIndex) -> list[bytes | memoryview]:
            self.scan(index)
            return index_output(index, query, now_ms, self.config)

        return await self.run(work)

    async def close(self) -> None:
        """Close the connection, after any use still running on its thread."""
        busy, self._busy = self._busy, None
        if busy is not None and not busy.done():
            await asyncio.wait({busy})
        self.watch.close()
        if self._index is not None:
            index, self._index = self._index, None
            await asyncio.to_thread(index.close)
