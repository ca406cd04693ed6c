"""Incremental reader of Claude Code's logs into SQLite.

Claude Code appends to its `.jsonl` logs and rarely rewrites them, and users keep gigabytes
of them; earlier tools that re-read everything took tens of seconds (reference section 6).
So each file's read state is kept (`core.usage.tree`) and a re-scan reads only what was
appended; a big read uses every core (`core.usage.parallel`). Everything one scan adds is
written in one transaction, together with the per-file state, so a crash or a concurrent
scanner never sees half a file.

Deduplication follows ccusage 17: entries with both `message.id` and `requestId` count
once; the copy that wins is the first in file order, files ordered by their earliest
timestamp (any line's), then by path. A file keeps only the first copy of each response
(`core.usage.reader`), so a group of copies has at most one row per file and the winner is
the row of the first file. Winners are kept in a column so that building the blocks is a
plain ordered read; every change to the winners records the earliest time it touched
(`dirty_from_ms`), from where the block cache (`core.usage.report`) recomputes.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from core.usage.prices import PriceTable
from core.usage.tree import (
    FILE_STATE_COLUMNS,
    FileRead,
    FileState,
    ProgressHook,
    log_files,
    plan,
    still_valid,
)

# Reading modules (msgspec, worker processes, logging) are imported when there is something
# to read: a re-scan that finds nothing new must cost little more than the stat of each file.

FAST_READER_MIN_BYTES = 64 << 10
"""Below this much to read, the standard library's json is used: msgspec's speed does not
show on a few lines."""
MSGSPEC_IMPORT_MIN_BYTES = 2 << 20
"""Below this much to read, a process that has not imported msgspec yet (a `usage blocks`
poll) keeps to the standard library: importing msgspec (with typing_extensions, inspect,
decimal, uuid) costs about 10 ms, what it saves on 2 MB of JSON."""
ONLY_MAX_FILES = 500
"""More files named as changed than this (SQLite's bound parameters) are compared all."""
BULK_MIN_ROWS = 20_000
"""Into an empty table at least this many rows go without its secondary indexes, which are
built afterwards: sorting once is much cheaper than updating three indexes per row."""
FULL = -(2**62)
"""`dirty_from_ms` meaning "everything changed": the block cache is rebuilt from scratch."""

_failed: dict[str, tuple[int, int]] = {}
"""Files whose read failed in this process, with the (size, mtime) that failed: not read
(nor logged) again until they change, so a daemon does not report one file on every tick."""


class ScanReport:
    """What one scan did. (Plain classes here and in the modules the `usage blocks` fast path
    imports: `dataclasses` costs more to import and apply than the whole re-scan's work.)"""

    __slots__ = ("bytes_read", "entries", "failed", "files", "files_read", "files_removed", "files_reset",
                 "lines", "malformed", "pending_bytes", "seconds")

    def __init__(self) -> None:
        self.files = self.files_read = self.files_reset = self.files_removed = self.failed = 0
        self.bytes_read = self.lines = self.entries = self.malformed = self.pending_bytes = 0
        self.seconds = 0.0

    def as_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (
            "files", "files_read", "files_reset", "files_removed", "failed", "bytes_read", "lines", "entries",
            "malformed", "pending_bytes", "seconds")}

    def __repr__(self) -> str:
        return f"ScanReport({', '.join(f'{k}={v!r}' for k, v in self.as_json().items())})"


class Walked(Protocol):
    """Log files a caller listed with `core.usage.walk.log_files` just before the scan."""

    roots: list[str]
    skip: frozenset[tuple[int, int]]
    listing: list[tuple[str, os.stat_result]]
    known: list[tuple[Any, ...]] | None
    """`usage_files` as (path, dev, inode, size, mtime_ns), when read before the walk's end."""
    only: Collection[str] | None
    """The listed files that may differ from `usage_files`, when the lister knows (the
    daemon's watch, with no other writer since its last scan): every other one is as stored,
    and none is gone. None: compare them all."""


class UsageScanner:
    """Scans Claude's `projects/` dirs into the scanner tables of one SQLite database.

    The connection must be in autocommit mode (isolation_level=None): every write happens
    in an explicit BEGIN IMMEDIATE … COMMIT here. `scratch` is a private folder for the
    reader processes' staging files (None: read in this process only).
    """

    def __init__(self, conn: sqlite3.Connection, projects: Sequence[Path], prices: PriceTable,
                 progress: ProgressHook | None = None, *, scratch: Path | None = None,
                 price_file: Path | None = None, processes: int | None = None) -> None:
        self.conn = conn
        self.projects = list(projects)
        self.prices = prices
        self.progress = progress
        self.scratch = scratch
        self.price_file = price_file
        self.processes = processes

    def scan(self, walked: Walked | None = None) -> ScanReport:
        """Read what changed. `walked`: the log files as a caller just listed them (the
        `usage blocks` lean path), used when it walked the same folders for this database."""
        started = time.perf_counter()
        report = ScanReport()
        self._reprice_if_needed()
        skip = self._own_files()
        listing: Iterable[tuple[str, os.stat_result]]
        rows: Iterable[tuple[Any, ...]] | None = None
        files: int | None = None
        if walked is not None and walked.skip == skip and walked.roots == [str(p) for p in self.projects]:
            listing, rows = walked.listing, walked.known
            only = walked.only
            if only is not None and len(only) <= ONLY_MAX_FILES:
                files = len(walked.listing)
                listing = [(path, info) for path, info in walked.listing if path in only]
                rows = self.conn.execute("SELECT path, dev, inode, size, mtime_ns FROM usage_files"
                                         f" WHERE path IN ({','.join('?' * len(only))})", list(only))
        else:
            listing = log_files(self.projects, skip=skip)
        if rows is None:
            rows = self.conn.execute("SELECT path, dev, inode, size, mtime_ns FROM usage_files")
        # What each known file looked like: an unchanged file costs one stat and one lookup.
        known = {row[0]: row[1:] for row in rows}
        changed: list[tuple[str, os.stat_result]] = []
        found: set[str] = set()
        for path, info in listing:
            found.add(path)
            report.files += 1
            if known.get(path) != (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns) \
                    and _failed.get(path) != (info.st_size, info.st_mtime_ns):
                changed.append((path, info))
        if files is not None:
            report.files = files
        gone_paths = [path for path in known if path not in found]
        wanted = [path for path, _ in changed] + gone_paths
        states = self._known_files(wanted) if wanted else {}
        work: list[FileRead] = []
        for path, info in changed:
            item = plan(path, info, states.get(path), len(work))
            if item is not None:
                work.append(item)
        gone = [states[path] for path in gone_paths if path in states]
        if work:
            self.prices.check()  # a broken price file is one clear error, not a failure per file
            total = sum(item.to_read for item in work)
            fast = total >= FAST_READER_MIN_BYTES and (
                total >= MSGSPEC_IMPORT_MIN_BYTES or "msgspec" in sys.modules)
            with self._read(work, total, fast) as schemas:
                good = [item for item in work if self._usable(item)]
                report.entries = self._apply(good, gone, schemas)
            for item in good:
                report.files_read += 1
                report.files_reset += item.reset and item.base is not None
                report.bytes_read += item.size - item.start
                report.lines += item.lines
                report.malformed += item.malformed
            report.failed = len(work) - len(good)
        elif gone:
            self._apply([], gone, [])
        report.files_removed = len(gone)
        row = self.conn.execute("SELECT COALESCE(SUM(pending_bytes), 0) FROM usage_files").fetchone()
        report.pending_bytes = int(row[0])
        report.seconds = time.perf_counter() - started
        return report

    @contextmanager
    def _read(self, work: list[FileRead], total: int, fast: bool) -> Iterator[list[str]]:
        """Read `work` into staging (yields the schemas that hold the rows)."""
        from core.usage import staging

        if total >= staging.PARALLEL_MIN_BYTES and self.scratch is not None and self.processes != 1:
            from core.usage.parallel import reader_processes, staged_reads

            processes = reader_processes() if self.processes is None else self.processes
            with staged_reads(self.conn, work, self.prices, fast, processes=processes, scratch=self.scratch,
                              price_file=self.price_file, progress=self.progress) as schemas:
                yield schemas
            return
        staging.create(self.conn, "temp")
        try:
            staging.read_here(self.conn, work, self.prices, fast)
            yield ["temp"]
        finally:
            self.conn.execute(f"DELETE FROM temp.{staging.ROWS_TABLE}")

    def _usable(self, item: FileRead) -> bool:
        """A read that failed is left out (its file keeps its old state) and named once."""
        if item.error is None:
            _failed.pop(item.path, None)
            return True
        if _failed.get(item.path) != (item.size, item.mtime_ns):
            import logging

            from core.log import event

            event("usage log file could not be read; skipped until it changes", logging.WARNING,
                  logger="usage", path=item.path, error=item.error)
        _failed[item.path] = (item.size, item.mtime_ns)
        return False

    # --- the database -----------------------------------------------------------------------

    def _own_files(self) -> frozenset[tuple[int, int]]:
        """The database this connection writes to, and its -wal/-shm."""
        from core.store.files import database_inodes

        rows = self.conn.execute("PRAGMA database_list").fetchall()
        main = next((str(r[2]) for r in rows if r[1] == "main" and r[2]), None)
        return database_inodes(Path(main)) if main else frozenset()

    def _known_files(self, paths: Sequence[str] | None = None) -> dict[str, FileState]:
        columns = f"SELECT {FILE_STATE_COLUMNS} FROM usage_files"
        if paths is None:
            rows = self.conn.execute(columns).fetchall()
        else:
            rows = []
            for start in range(0, len(paths), 500):
                chunk = list(paths[start:start + 500])
                marks = ",".join("?" * len(chunk))
                rows += self.conn.execute(f"{columns} WHERE path IN ({marks})", chunk).fetchall()
        return {row[1]: FileState(*row) for row in rows}

    def _apply(self, work: list[FileRead], gone: list[FileState], schemas: list[str]) -> int:
        """Write one scan: removals, file states, the staged rows, then decide the copies."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            dirty: int | None = None

            def mark(ts: int | None) -> None:
                nonlocal dirty
                if ts is not None and (dirty is None or ts < dirty):
                    dirty = ts

            touched: set[str] = set()
            current = self._known_files([item.path for item in work] + [state.path for state in gone])
            for state in gone:
                if state.path in current:
                    self._delete_rows("file_id = ?", (state.id,), mark, touched)
                    conn.execute("DELETE FROM usage_files WHERE id = ?", (state.id,))
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS usage_slots"
                         " (slot INTEGER PRIMARY KEY, file_id INTEGER, appended INTEGER)")
            conn.execute("DELETE FROM temp.usage_slots")
            slots: list[tuple[int, int, int]] = []
            for item in work:
                now_state = current.get(item.path)
                if not still_valid(item, now_state):
                    continue  # another scanner moved this file on meanwhile; next scan sees it
                if now_state is not None:
                    where = "file_id = ?" if item.reset else "file_id = ? AND provisional = 1"
                    self._delete_rows(where, (now_state.id,), mark, touched)
                file_id = self._save_state(item, now_state, touched)
                slots.append((item.slot, file_id, int(item.start > 0)))
            conn.executemany("INSERT INTO temp.usage_slots VALUES (?,?,?)", slots)
            moved = self._move_rows(schemas, mark, touched)
            self._resolve(touched, mark)
            if dirty is not None:
                _merge_dirty(conn, dirty)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return moved

    def _save_state(self, item: FileRead, old: FileState | None, touched: set[str]) -> int:
        conn = self.conn
        keep = old is not None and not item.reset
        lines = item.lines + (old.lines if keep and old else 0)
        malformed = item.malformed + (old.malformed if keep and old else 0)
        values = (item.dev, item.inode, item.size, item.mtime_ns, item.offset, item.tail_check,
                  item.min_ts_ms, lines, malformed, item.pending_bytes)
        if old is None:
            return int(conn.execute(
                "INSERT INTO usage_files (path, dev, inode, size, mtime_ns, offset, tail_check,"
                " min_ts_ms, lines, malformed, pending_bytes) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (item.path, *values)).lastrowid or 0)
        conn.execute(
            "UPDATE usage_files SET dev = ?, inode = ?, size = ?, mtime_ns = ?, offset = ?,"
            " tail_check = ?, min_ts_ms = ?, lines = ?, malformed = ?, pending_bytes = ?"
            " WHERE id = ?", (*values, old.id))
        if keep and old.min_ts_ms != item.min_ts_ms:
            # the file moved in the dedup order: its copies must be decided again
            touched.update(k for (k,) in conn.execute(
                "SELECT key FROM usage_entries WHERE file_id = ? AND key IS NOT NULL", (old.id,)))
        return old.id

    def _move_rows(self, schemas: list[str], mark: Callable[[int | None], None], touched: set[str]) -> int:
        """Staged rows into `usage_entries`; groups with more than one row go to `touched`."""
        from core.usage import staging

        conn = self.conn
        bulk = False
        indexes: list[tuple[str, str]] = []
        if conn.execute("SELECT 1 FROM usage_entries LIMIT 1").fetchone() is None:
            staged = sum(conn.execute(f"SELECT COUNT(*) FROM {schema}.{staging.ROWS_TABLE}").fetchone()[0]
                         for schema in schemas)
            bulk = staged >= BULK_MIN_ROWS
        if bulk:
            indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                                   " AND tbl_name = 'usage_entries' AND sql IS NOT NULL").fetchall()
            for name, _ in indexes:
                conn.execute(f'DROP INDEX "{name}"')
        moved = 0
        for schema in schemas:
            count, earliest = staging.copy_into_entries(conn, schema)
            moved += count
            mark(earliest)
        for _, sql in indexes:
            conn.execute(sql)
        if bulk:
            touched.update(k for (k,) in conn.execute(
                "SELECT key FROM usage_entries WHERE key IS NOT NULL GROUP BY key HAVING COUNT(*) > 1"))
        else:
            for schema in schemas:
                touched.update(k for (k,) in conn.execute(
                    f"SELECT DISTINCT s.key FROM {schema}.{staging.ROWS_TABLE} s WHERE s.key IS NOT NULL"
                    " AND (SELECT COUNT(*) FROM usage_entries e WHERE e.key = s.key) > 1"))
        return moved

    def _delete_rows(self, where: str, params: tuple[Any, ...], mark: Callable[[int | None], None],
                     touched: set[str]) -> None:
        for ts, key, winner in self.conn.execute(
            f"SELECT ts_ms, key, winner FROM usage_entries WHERE {where}", params
        ):
            if winner:
                mark(ts)
            if key is not None:
                touched.add(key)
        self.conn.execute(f"DELETE FROM usage_entries WHERE {where}", params)

    def _resolve(self, touched: set[str], mark: Callable[[int | None], None]) -> None:
        """Decide every group of copies in `touched`: the row of the first file counts."""
        if not touched:
            return
        conn = self.conn
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS usage_touched (key TEXT PRIMARY KEY) WITHOUT ROWID")
        conn.execute("DELETE FROM temp.usage_touched")
        conn.executemany("INSERT OR IGNORE INTO temp.usage_touched VALUES (?)", ((k,) for k in touched))
        rows = conn.execute(
            "SELECT e.key, e.file_id, e.offset, e.ts_ms, e.winner FROM temp.usage_touched t"
            " CROSS JOIN usage_entries e ON e.key = t.key"
            " JOIN usage_files f ON f.id = e.file_id"
            " ORDER BY e.key, f.min_ts_ms IS NULL, f.min_ts_ms, f.path, e.offset"
        ).fetchall()
        changes: list[tuple[int, int, int]] = []
        previous = None
        for key, file_id, offset, ts, winner in rows:
            should = 1 if key != previous else 0
            previous = key
            if should != winner:
                changes.append((should, file_id, offset))
                mark(ts)
        if changes:
            conn.executemany("UPDATE usage_entries SET winner = ? WHERE file_id = ? AND offset = ?", changes)
        conn.execute("DELETE FROM temp.usage_touched")

    def _reprice_if_needed(self) -> None:
        """Entries without a logged cost were priced with a table; a new table reprices them."""
        conn = self.conn
        row = conn.execute("SELECT value FROM usage_state WHERE key = 'prices'").fetchone()
        if row is not None and row[0] == self.prices.fingerprint:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            updates = []
            for file_id, offset, model, i, o, c, r in conn.execute(
                    "SELECT file_id, offset, model, input_tokens, output_tokens, cache_creation_tokens,"
                    " cache_read_tokens FROM usage_entries WHERE logged_cost IS NULL"):
                cost, estimated = self.prices.price(model, (i, o, c, r))
                updates.append((cost, int(estimated), file_id, offset))
            conn.executemany("UPDATE usage_entries SET cost = ?, estimated = ?"
                             " WHERE file_id = ? AND offset = ?", updates)
            conn.execute("INSERT OR REPLACE INTO usage_state (key, value) VALUES ('prices', ?)",
                         (self.prices.fingerprint,))
            if updates:
                _merge_dirty(conn, FULL)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _merge_dirty(conn: sqlite3.Connection, ts: int) -> None:
    conn.execute(
        "INSERT INTO usage_state (key, value) VALUES ('dirty_from_ms', ?)"
        " ON CONFLICT(key) DO UPDATE SET value = MIN(CAST(value AS INTEGER), excluded.value)",
        (ts,),
    )
