"""The usage index of a process that lives on (the daemon): one connection, one use at a
time on a worker thread, the log files watched rather than walked.

A scan runs on a worker thread on the index's SQLite connection. Closing that connection
under it crashes the process, so every use is shielded from cancellation (APScheduler
cancels jobs at shutdown), the next use starts only when the last one's thread is done
(not when its caller gave up), and `close` waits for the one in flight.

While the daemon answers polls (`follow_writes`), it also reads new lines as soon as they
are written: the loop waits on the watch's descriptor, so a poll that comes a few
milliseconds after Claude Code wrote finds them read (and still drains anything newer
before it answers: the answer is never older than the poll).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

from core.log import event
from core.store.names import database_inodes
from core.usage.blocks_command import index_output
from core.usage.config import UsageConfig
from core.usage.index import UsageIndex
from core.usage.prices import load_prices
from core.usage.report import BlocksQuery
from core.usage.scanner import ScanReport
from core.usage.tree import ProgressHook
from core.usage.watch import Listing, LogWatch

T = TypeVar("T")


class Watched:
    """A listing by `LogWatch`, handed to the scanner in place of its own walk."""

    __slots__ = ("known", "listing", "only", "roots", "skip")

    def __init__(self, roots: list[str], skip: frozenset[tuple[int, int]], listing: Listing,
                 only: set[str] | None = None) -> None:
        self.roots = roots
        self.skip = skip
        self.listing = listing
        self.only: Collection[str] | None = only
        self.known: list[tuple[Any, ...]] | None = None


def _stamp(path: Path) -> tuple[int, ...] | None:
    """What changes when a file is written or replaced (None: no such file)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def _data_version(index: UsageIndex) -> int:
    """Changes when another connection commits to the database (never for this one's own)."""
    row = index.conn.execute("PRAGMA data_version").fetchone()
    return int(row[0])


class IndexWorker:
    def __init__(self, config: UsageConfig, watch: LogWatch | None = None) -> None:
        self.config = config
        self.watch = watch or LogWatch()
        self._index: UsageIndex | None = None
        self._free = asyncio.Lock()
        self._busy: asyncio.Future[Any] | None = None
        self._following = False
        self._fd: int | None = None
        """The watch's descriptor as the last use on the thread left it."""
        self._armed: int | None = None
        self._catching_up: asyncio.Future[Any] | None = None
        self._last_error = ""
        self._prices_stamp: tuple[int, ...] | None = None
        """The override price file as the index's table was read from it."""
        self._scanned: tuple[list[str], frozenset[tuple[int, int]], int] | None = None
        """(Folders, skipped files, the connection's data version) as the last scan left them."""

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
        future.add_done_callback(self._done)
        self._busy = future
        return await asyncio.shield(future)

    def _call(self, work: Callable[[UsageIndex], T]) -> T:
        if self._index is None:
            # A process that lives on reads even a few new lines with msgspec: its import
            # (some 10 ms) is paid once, not by each read (core.usage.scanner).
            import msgspec  # noqa: F401

            self._prices_stamp = _stamp(self.config.price_file)
            self._index = UsageIndex.open(self.config)
        try:
            return work(self._index)
        finally:
            self._fd = self.watch.fileno() if self._following else None

    def _done(self, _: object) -> None:
        self._free.release()
        self._arm(self._fd if self._following else None)

    # --- reading as Claude Code writes ------------------------------------------------------

    def follow_writes(self) -> None:
        """From now on, scan whenever a log file is written (from the next use on)."""
        self._following = True
        self.watch.live()
        self._catching_up = asyncio.ensure_future(self._catch_up())

    def _arm(self, fd: int | None) -> None:
        if fd == self._armed:
            return
        loop = asyncio.get_running_loop()
        if self._armed is not None:
            loop.remove_reader(self._armed)
        self._armed = None
        if fd is not None:
            loop.add_reader(fd, self._written)
            self._armed = fd

    def _written(self) -> None:
        self._arm(None)  # until the scan has drained the events
        if self._catching_up is None or self._catching_up.done():
            self._catching_up = asyncio.ensure_future(self._catch_up())

    async def _catch_up(self) -> None:
        try:
            await self.run(self.scan)
        except Exception as exc:  # the usage job and the polls meet it again, and report it
            text = f"{type(exc).__name__}: {exc}"
            if text != self._last_error:
                event("usage: reading new log lines failed", logging.WARNING, logger="usage", error=text)
            self._last_error = text
        else:
            self._last_error = ""

    def scan(self, index: UsageIndex, progress: ProgressHook | None = None) -> ScanReport:
        """An incremental scan that stats only the files the watch saw written. (The
        `projects/` folders are looked up again each time: one Claude Code creates after
        the daemon started is read too, without a restart.)"""
        index.projects = projects = self.config.projects
        roots = [str(path) for path in projects]
        skip = database_inodes(str(self.config.db_path))
        stamp = _stamp(self.config.price_file)
        if stamp != self._prices_stamp:
            # `nightshift prices update` wrote a new table: price with it, as the command does
            # (the table was read once, when the index was opened).
            self._prices_stamp = stamp
            index.prices = load_prices(self.config.price_file, skip)
            self._scanned = None
        listing = self.watch.listing(roots, skip)
        written = self.watch.written
        if written is None or self._scanned != (roots, skip, _data_version(index)):
            index.walked = Watched(roots, skip, listing)  # walked, or another writer: compare all
        elif not written:
            # No file written, and no other connection committed since this one scanned
            # (a scan for other folders would have): a scan would find what it left.
            report = ScanReport()
            report.files = len(listing)
            return report
        else:  # only the files written can differ from what this connection's scan stored
            index.walked = Watched(roots, skip, listing, written)
        report = index.scan(progress)
        self._scanned = (roots, skip, _data_version(index))
        return report

    async def answer(self, query: BlocksQuery, now_ms: int) -> list[bytes | memoryview]:
        """`usage blocks --json`'s output at `now_ms`, after a scan: what the command prints."""
        def work(index: UsageIndex) -> list[bytes | memoryview]:
            self.scan(index)
            return index_output(index, query, now_ms, self.config)

        return await self.run(work)

    async def close(self) -> None:
        """Close the connection, after any use still running on its thread."""
        self._following = False
        if self._armed is not None:
            self._arm(None)
        if self._catching_up is not None and not self._catching_up.done():
            self._catching_up.cancel()  # its scan on the thread, if started, is waited for below
        busy, self._busy = self._busy, None
        if busy is not None and not busy.done():
            await asyncio.wait({busy})
        self.watch.close()
        if self._index is not None:
            index, self._index = self._index, None
            await asyncio.to_thread(index.close)
