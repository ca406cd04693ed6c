"""Incremental reader of Claude Code's logs into SQLite.

Claude Code appends to its `.jsonl` logs and rarely rewrites them, and users keep gigabytes
of them; earlier tools that re-read everything took tens of seconds (reference section 6).
So each file's read state is kept (path, device and inode, size, mtime, the byte offset up
to the last complete line, a checksum of the bytes just before that offset) and a re-scan
reads only what was appended. A file that shrank, was replaced (new inode) or whose bytes
before the offset changed is read again from the start. An unfinished last line is left
for the next scan; if it already is a complete JSON object (only its newline is missing)
its entry counts provisionally, as ccusage would count it, and is dropped and re-read once
the file grows.

Files are read in 4 MiB chunks and split on newlines. Only lines that contain `"usage"` are
decoded into entries; the others are decoded by a struct with a single field (their
timestamp decides the file's place in the dedup order; broken ones are counted). Big reads
use msgspec and write on a second thread; small ones (a re-scan) use the standard json.
Everything one batch of files adds is written in one transaction, together with the
per-file state, so a crash or a concurrent scanner never sees half a file.

Deduplication follows ccusage 17: entries with both `message.id` and `requestId` count
once; the copy that wins is the first in file order, files ordered by their earliest
timestamp (any line's), then by path. Winners are kept in a column so that building the
blocks is a plain ordered read.
"""

from __future__ import annotations

import os
import sqlite3
import stat as stat_mod
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from core.store.files import database_inodes
from core.usage.blocks import iso_ms
from core.usage.logline import NOTHING, DecodedLine, UsageLine, decode_line, timestamp_ms
from core.usage.prices import PriceTable

CHUNK_BYTES = 4 << 20
BATCH_ENTRIES = 25_000
"""Rows written per transaction: bounds memory on a cold scan and keeps write locks short."""
FAST_READER_MIN_BYTES = 1 << 20
"""Below this much to read, the standard library's json is used: importing msgspec would
cost more than it saves (a re-scan after a few appended lines must stay a few ms)."""
CHECK_BYTES = 4096
"""Bytes before the read offset whose checksum tells an append from a rewrite."""
FULL = -(2**62)
"""`dirty_from_ms` meaning "everything changed": the block cache is rebuilt from scratch."""

_USAGE_KEY = b'"usage"'

ProgressHook = Callable[[int, int], None]
"""Called with (bytes done, bytes to read) during a scan that reads a lot."""


class FileState(NamedTuple):
    id: int
    path: str
    dev: int
    inode: int
    size: int
    mtime_ns: int
    offset: int
    tail_check: str
    min_ts_ms: int | None
    lines: int
    malformed: int
    pending_bytes: int


class ScanReport:
    """What one scan did. (Plain classes here and in the modules the `usage blocks` fast path
    imports: `dataclasses` costs more to import and apply than the whole re-scan's work.)"""

    __slots__ = ("bytes_read", "entries", "files", "files_read", "files_removed", "files_reset",
                 "lines", "malformed", "pending_bytes", "seconds")

    def __init__(self) -> None:
        self.files = self.files_read = self.files_reset = self.files_removed = 0
        self.bytes_read = self.lines = self.entries = self.malformed = self.pending_bytes = 0
        self.seconds = 0.0

    def as_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (
            "files", "files_read", "files_reset", "files_removed", "bytes_read", "lines", "entries",
            "malformed", "pending_bytes", "seconds")}

    def __repr__(self) -> str:
        return f"ScanReport({', '.join(f'{k}={v!r}' for k, v in self.as_json().items())})"


class _FileRead:
    """What reading one file produced; applied to the database in a batch."""

    __slots__ = ("base", "dev", "inode", "lines", "malformed", "min_ts_ms", "mtime_ns", "offset", "path",
                 "pending_bytes", "reset", "rows", "size", "start", "tail_check")

    def __init__(self, path: str, dev: int, inode: int, size: int, mtime_ns: int, start: int,
                 reset: bool, base: FileState | None) -> None:
        self.path, self.dev, self.inode, self.size, self.mtime_ns = path, dev, inode, size, mtime_ns
        self.start, self.reset, self.base = start, reset, base
        self.offset = 0
        self.tail_check = ""
        self.min_ts_ms: int | None = None
        self.lines = self.malformed = self.pending_bytes = 0
        self.rows: list[tuple[Any, ...]] = []


def log_files(projects: Sequence[Path], skip: frozenset[tuple[int, int]] = frozenset(),
              ) -> Iterator[tuple[str, os.stat_result]]:
    """Every `**/*.jsonl` below the `projects/` dirs, as ccusage's glob finds them.

    Names starting with a dot are skipped (the glob's `dot: false`); symbolic links are
    followed (with a guard against loops); a file reachable twice is listed once. Files
    whose (device, inode) is in `skip` are never listed: a link from Claude's folder to
    nightshift's own database must not be opened (closing that descriptor would drop this
    process's SQLite locks, see core.store.files).
    """
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    stack = [str(p) for p in reversed(projects)]
    while stack:
        directory = stack.pop()
        try:
            info = os.stat(directory)
        except OSError:
            continue
        key = (info.st_dev, info.st_ino)
        if key in seen_dirs:
            continue
        seen_dirs.add(key)
        try:
            with os.scandir(directory) as listing:
                items = list(listing)  # order does not matter: dedup orders files itself
        except OSError:
            continue
        subdirs: list[str] = []
        for item in items:
            if item.name.startswith("."):
                continue
            try:
                if item.is_dir():
                    subdirs.append(item.path)
                elif item.name.endswith(".jsonl") and item.is_file():
                    file_info = item.stat()
                    file_key = (file_info.st_dev, file_info.st_ino)
                    if file_key not in seen_files and file_key not in skip:
                        seen_files.add(file_key)
                        yield item.path, file_info
            except OSError:
                continue
        stack.extend(subdirs)


def _checksum(data: bytes) -> str:
    # CRC-32 and Adler-32 together: enough to tell an append from a rewrite, and zlib is
    # much cheaper to import than hashlib on the `usage blocks` fast path.
    return f"{len(data):x}-{zlib.crc32(data):08x}-{zlib.adler32(data):08x}"


def _read_check(path: str, offset: int) -> str | None:
    """Checksum of the bytes just before `offset` as the file is now (None if unreadable)."""
    start = max(0, offset - CHECK_BYTES)
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            data = handle.read(offset - start)
    except OSError:
        return None
    return _checksum(data) if len(data) == offset - start else None


class UsageScanner:
    """Scans Claude's `projects/` dirs into the scanner tables of one SQLite database.

    The connection must be in autocommit mode (isolation_level=None): every write happens
    in an explicit BEGIN IMMEDIATE … COMMIT here.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        projects: Sequence[Path],
        prices: PriceTable,
        progress: ProgressHook | None = None,
    ) -> None:
        self.conn = conn
        self.projects = list(projects)
        self.prices = prices
        self.progress = progress

    # --- public -----------------------------------------------------------------------------

    def scan(self) -> ScanReport:
        started = time.perf_counter()
        report = ScanReport()
        self._reprice_if_needed()
        known = self._known_files()
        work: list[_FileRead] = []
        found: set[str] = set()
        for path, info in log_files(self.projects, skip=self._own_files()):
            found.add(path)
            report.files += 1
            plan = self._plan(path, info, known.get(path))
            if plan is not None:
                work.append(plan)
        gone = [state for path, state in known.items() if path not in found]
        total_bytes = sum(item.size - item.start for item in work)
        fast = total_bytes >= FAST_READER_MIN_BYTES
        done_bytes = 0
        batch: list[_FileRead] = []
        pending_rows = 0

        def read(item: _FileRead) -> None:
            nonlocal done_bytes, pending_rows
            self._read(item, fast)
            report.files_read += 1
            report.files_reset += item.reset and item.base is not None
            report.bytes_read += item.size - item.start
            report.lines += item.lines
            report.entries += len(item.rows)
            report.malformed += item.malformed
            batch.append(item)
            pending_rows += len(item.rows)
            done_bytes += item.size - item.start
            if self.progress is not None:
                self.progress(done_bytes, total_bytes)

        if fast:
            # A big read: writing runs on a second thread (SQLite updates its indexes with
            # the GIL released) while the next batch is decoded; one batch in flight.
            from concurrent.futures import Future, ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-writer") as writer:
                in_flight: Future[None] | None = None
                for item in work:
                    read(item)
                    if pending_rows >= BATCH_ENTRIES:
                        if in_flight is not None:
                            in_flight.result()
                        in_flight = writer.submit(self._apply, batch, [])
                        batch, pending_rows = [], 0
                if in_flight is not None:
                    in_flight.result()
        else:
            for item in work:
                read(item)
        if batch or gone:
            self._apply(batch, gone)
        report.files_removed = len(gone)
        row = self.conn.execute("SELECT COALESCE(SUM(pending_bytes), 0) FROM usage_files").fetchone()
        report.pending_bytes = int(row[0])
        report.seconds = time.perf_counter() - started
        return report

    def _own_files(self) -> frozenset[tuple[int, int]]:
        """The database this connection writes to, and its -wal/-shm."""
        rows = self.conn.execute("PRAGMA database_list").fetchall()
        main = next((str(r[2]) for r in rows if r[1] == "main" and r[2]), None)
        return database_inodes(Path(main)) if main else frozenset()

    # --- planning ---------------------------------------------------------------------------

    def _known_files(self, paths: Sequence[str] | None = None) -> dict[str, FileState]:
        columns = ("SELECT id, path, dev, inode, size, mtime_ns, offset, tail_check, min_ts_ms, lines,"
                   " malformed, pending_bytes FROM usage_files")
        if paths is None:
            rows = self.conn.execute(columns).fetchall()
        else:
            rows = []
            for start in range(0, len(paths), 500):
                chunk = list(paths[start:start + 500])
                marks = ",".join("?" * len(chunk))
                rows += self.conn.execute(f"{columns} WHERE path IN ({marks})", chunk).fetchall()
        return {row[1]: FileState(*row) for row in rows}

    def _plan(self, path: str, info: os.stat_result, state: FileState | None) -> _FileRead | None:
        """What to read of `path`: None when unchanged, else from where."""
        if not stat_mod.S_ISREG(info.st_mode):
            return None

        def fresh(reset: bool) -> _FileRead:
            return _FileRead(path, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns,
                             start=0, reset=reset, base=state)

        if state is None:
            return fresh(False)
        same_file = (state.dev, state.inode) == (info.st_dev, info.st_ino)
        if same_file and state.size == info.st_size and state.mtime_ns == info.st_mtime_ns:
            return None
        if not same_file or info.st_size < state.offset:
            return fresh(True)
        if state.offset and _read_check(path, state.offset) != state.tail_check:
            return fresh(True)
        read = _FileRead(path, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns,
                         start=state.offset, reset=False, base=state)
        read.min_ts_ms = state.min_ts_ms
        read.lines = 0
        return read

    # --- reading ----------------------------------------------------------------------------

    def _read(self, item: _FileRead, fast: bool = True) -> None:
        """Read `item.path` from `item.start` up to the size seen when planning."""
        pos = item.start
        carry = b""
        remaining = item.size - item.start
        min_ts = item.min_ts_ms
        min_text = ""
        rows = item.rows
        price = self.prices.cost
        if fast:
            from core.usage.fastline import (
                STAMP_DECODER,
                USAGE_DECODER,
                DecodeError,
                ValidationError,
                row_of,
            )

            usage_decode = USAGE_DECODER.decode
            stamp_decode = STAMP_DECODER.decode
        try:
            handle = open(item.path, "rb", buffering=0)  # noqa: SIM115 - closed below
        except OSError:
            item.offset = item.size = item.start
            return
        with handle:
            handle.seek(item.start)
            while remaining > 0:
                chunk = handle.read(min(CHUNK_BYTES, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                data = carry + chunk if carry else chunk
                cut = data.rfind(b"\n")
                if cut < 0:
                    carry = data
                    continue
                carry = data[cut + 1:]
                line_at = pos
                if not fast:
                    min_ts = self._lines(item, data[:cut], pos, min_ts, rows, price)
                    pos += cut + 1
                    continue
                for line in data[:cut].split(b"\n"):
                    at = line_at
                    line_at += len(line) + 1
                    # The hot loop of a cold scan: decoders and checks inline, no helpers.
                    stamp = None
                    if _USAGE_KEY in line:
                        try:
                            parsed = usage_decode(line)
                        except ValidationError:
                            parsed = None  # JSON that is no usage entry (or broken later on)
                        except DecodeError:
                            item.lines += 1
                            item.malformed += 1
                            continue
                        if parsed is not None:
                            item.lines += 1
                            row = row_of(parsed, at, price)
                            if row is not None:
                                rows.append(row)
                                if min_ts is None or row[2] < min_ts:
                                    min_ts = row[2]
                                    min_text = ""
                                continue
                            stamp = parsed.timestamp
                    elif not line.strip():
                        continue  # ccusage skips blank lines without a word
                    if stamp is None:
                        # Other lines matter only for their timestamp (the file's place in
                        # the dedup order) and to count broken ones; msgspec skips the rest in C.
                        item.lines += 1
                        try:
                            stamp = stamp_decode(line).timestamp
                        except ValidationError:
                            continue  # JSON, but not an object
                        except DecodeError:
                            item.malformed += 1
                            continue
                        if not isinstance(stamp, str):
                            continue
                    if min_ts is not None and len(stamp) == 24 and stamp[23] == "Z":
                        # ISO text with milliseconds orders like its time: no parsing needed
                        if not min_text:
                            min_text = iso_ms(min_ts)
                        if stamp >= min_text:
                            continue
                    millis = timestamp_ms(stamp)
                    if millis is not None and (min_ts is None or millis < min_ts):
                        min_ts = millis
                        min_text = ""
                pos += cut + 1
        item.offset = pos
        item.min_ts_ms = min_ts
        if carry.strip():
            item.pending_bytes = len(carry)
            decoded = decode_line(carry) if _USAGE_KEY in carry else NOTHING
            if decoded.entry is not None:
                # Complete JSON without its newline: counted for now, as ccusage counts it.
                rows.append(_row(decoded.entry, pos, True, price))
        start = max(0, pos - CHECK_BYTES)
        if pos:
            try:
                with open(item.path, "rb") as again:
                    again.seek(start)
                    item.tail_check = _checksum(again.read(pos - start))
            except OSError:
                item.tail_check = ""

    def _lines(self, item: _FileRead, block: bytes, pos: int, min_ts: int | None,
               rows: list[tuple[Any, ...]],
               price: Callable[[str | None, tuple[float, float, float, float]], float]) -> int | None:
        """The plain reader for small reads: one `decode_line` per line."""
        for line in block.split(b"\n"):
            at = pos
            pos += len(line) + 1
            if not line.strip():
                continue
            item.lines += 1
            decoded: DecodedLine = decode_line(line)
            if decoded.malformed:
                item.malformed += 1
                continue
            if decoded.timestamp is not None:
                millis = timestamp_ms(decoded.timestamp)
                if millis is not None and (min_ts is None or millis < min_ts):
                    min_ts = millis
            if decoded.entry is not None and _USAGE_KEY in line:
                rows.append(_row(decoded.entry, at, False, price))
        return min_ts

    # --- writing ----------------------------------------------------------------------------

    def _apply(self, batch: list[_FileRead], gone: list[FileState]) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            dirty: int | None = None

            def mark(ts: int | None) -> None:
                nonlocal dirty
                if ts is not None and (dirty is None or ts < dirty):
                    dirty = ts

            touched: set[str] = set()
            current = self._known_files([item.path for item in batch] + [state.path for state in gone])
            applied: list[tuple[_FileRead, int]] = []
            # 1. removals: vanished files, files read again from the start, provisional rows
            for state in gone:
                if state.path in current:
                    self._delete_rows("file_id = ?", (state.id,), mark, touched)
                    conn.execute("DELETE FROM usage_files WHERE id = ?", (state.id,))
            for item in batch:
                now_state = current.get(item.path)
                if not _still_valid(item, now_state):
                    continue  # another scanner moved this file on meanwhile; next scan sees it
                if now_state is not None:
                    if item.reset:
                        self._delete_rows("file_id = ?", (now_state.id,), mark, touched)
                    else:
                        self._delete_rows("file_id = ? AND provisional = 1", (now_state.id,),
                                          mark, touched)
                applied.append((item, now_state.id if now_state else 0))
            # 2. per-file state
            targets: list[tuple[_FileRead, int]] = []
            for item, file_id in applied:
                old = current.get(item.path)
                lines = item.lines + (old.lines if old and not item.reset else 0)
                malformed = item.malformed + (old.malformed if old and not item.reset else 0)
                values = (item.dev, item.inode, item.size, item.mtime_ns, item.offset, item.tail_check,
                          item.min_ts_ms, lines, malformed, item.pending_bytes)
                if file_id:
                    conn.execute(
                        "UPDATE usage_files SET dev = ?, inode = ?, size = ?, mtime_ns = ?, offset = ?,"
                        " tail_check = ?, min_ts_ms = ?, lines = ?, malformed = ?, pending_bytes = ?"
                        " WHERE id = ?", (*values, file_id))
                    if old is not None and not item.reset and old.min_ts_ms != item.min_ts_ms:
                        # the file moved in the dedup order: its duplicates must be re-decided
                        touched.update(h for (h,) in conn.execute(
                            "SELECT DISTINCT hash FROM usage_entries WHERE file_id = ? AND hash IS NOT NULL",
                            (file_id,)))
                else:
                    file_id = int(conn.execute(
                        "INSERT INTO usage_files (path, dev, inode, size, mtime_ns, offset, tail_check,"
                        " min_ts_ms, lines, malformed, pending_bytes) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (item.path, *values)).lastrowid or 0)
                targets.append((item, file_id))
            # 3. new rows, each inserted already marked as the winner of its duplicate group
            #    or not (first in ccusage's file order); an older winner that loses is updated
            winners = self._decide(targets, mark)
            for item, file_id in targets:
                if item.rows:
                    conn.executemany(
                        "INSERT INTO usage_entries (file_id, offset, provisional, ts_ms, hash, input_tokens,"
                        " output_tokens, cache_creation_tokens, cache_read_tokens, cost, logged_cost, model,"
                        " reset_ms, limit_text, winner) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        [(file_id, *row, (row[3] is None or winners.get(row[3]) == (file_id, row[0])))
                         for row in item.rows])
                item.rows = []  # free the memory now that the rows are in the database
            # 4. groups that lost their winner or whose files moved in the order: decide again
            self._resolve(touched, mark)
            if dirty is not None:
                _merge_dirty(conn, dirty)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _decide(self, targets: list[tuple[_FileRead, int]],
                mark: Callable[[int | None], None]) -> dict[str, tuple[int, int]]:
        """The winning (file id, offset) of every hash among the new rows.

        Done here before inserting, so that a cold scan writes each row once: a group's
        winner is its first copy in (file's earliest timestamp, path, offset) order, and
        a copy already in the database wins unless a new one comes before it.
        """
        best: dict[str, tuple[tuple[bool, int, str, int], int, int]] = {}
        for item, file_id in targets:
            rank = (item.min_ts_ms is None, item.min_ts_ms or 0, item.path)
            for row in item.rows:
                key = row[3]
                if key is None:
                    mark(row[2])
                    continue
                order = (*rank, row[0])
                found = best.get(key)
                if found is None or order < found[0]:
                    best[key] = (order, file_id, row[2])
        if not best:
            return {}
        conn = self.conn
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS usage_new (hash TEXT PRIMARY KEY) WITHOUT ROWID")
        conn.execute("DELETE FROM temp.usage_new")
        conn.executemany("INSERT INTO temp.usage_new VALUES (?)", ((h,) for h in best))
        losers: list[tuple[int]] = []
        for key, row_id, ts, min_ts, path, offset in conn.execute(
            # CROSS JOIN keeps the (small) list of new hashes as the outer loop: SQLite has no
            # statistics on temp tables and would otherwise walk the whole hash index.
            "SELECT e.hash, e.id, e.ts_ms, f.min_ts_ms, f.path, e.offset FROM temp.usage_new t"
            " CROSS JOIN usage_entries e ON e.hash = t.hash AND e.winner = 1"
            " CROSS JOIN usage_files f ON f.id = e.file_id"
        ):
            if (min_ts is None, min_ts or 0, path, offset) < best[key][0]:
                del best[key]  # the copy already counted stays the one that counts
            else:
                losers.append((row_id,))
                mark(ts)
        conn.execute("DELETE FROM temp.usage_new")
        if losers:
            conn.executemany("UPDATE usage_entries SET winner = 0 WHERE id = ?", losers)
        decided: dict[str, tuple[int, int]] = {}
        for key, (order, file_id, ts) in best.items():
            decided[key] = (file_id, order[3])
            mark(ts)
        return decided

    def _delete_rows(self, where: str, params: tuple[Any, ...], mark: Callable[[int | None], None],
                     touched: set[str]) -> None:
        for ts, hash_, winner in self.conn.execute(
            f"SELECT ts_ms, hash, winner FROM usage_entries WHERE {where}", params
        ):
            if winner:
                mark(ts)
                if hash_ is not None:
                    touched.add(hash_)
        self.conn.execute(f"DELETE FROM usage_entries WHERE {where}", params)

    def _resolve(self, touched: set[str], mark: Callable[[int | None], None]) -> None:
        """Decide every duplicate group in `touched` from scratch (all copies, any state).

        Needed only when a counted copy was deleted (a file shrank, was replaced or removed)
        or a file moved in the order; the hash index holds winners only, so this scans.
        """
        if not touched:
            return
        conn = self.conn
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS usage_touched (hash TEXT PRIMARY KEY) WITHOUT ROWID")
        conn.execute("DELETE FROM temp.usage_touched")
        conn.executemany("INSERT OR IGNORE INTO temp.usage_touched VALUES (?)", ((h,) for h in touched))
        rows = conn.execute(
            "SELECT e.hash, e.id, e.ts_ms, e.winner FROM usage_entries e"
            " JOIN usage_files f ON f.id = e.file_id"
            " WHERE e.hash IN (SELECT t.hash FROM temp.usage_touched t)"
            " ORDER BY e.hash, f.min_ts_ms IS NULL, f.min_ts_ms, f.path, e.offset"
        ).fetchall()
        changes: list[tuple[int, int]] = []
        previous = None
        for hash_, row_id, ts, winner in rows:
            should = 1 if hash_ != previous else 0
            previous = hash_
            if should != winner:
                changes.append((should, row_id))
                mark(ts)
        if changes:
            conn.executemany("UPDATE usage_entries SET winner = ? WHERE id = ?", changes)
        conn.execute("DELETE FROM temp.usage_touched")

    def _reprice_if_needed(self) -> None:
        """Entries without a logged cost were priced with a table; a new table reprices them."""
        conn = self.conn
        row = conn.execute("SELECT value FROM usage_state WHERE key = 'prices'").fetchone()
        if row is not None and row[0] == self.prices.fingerprint:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            updates = [
                (self.prices.cost(model, (i, o, c, r)), row_id)
                for row_id, model, i, o, c, r in conn.execute(
                    "SELECT id, model, input_tokens, output_tokens, cache_creation_tokens,"
                    " cache_read_tokens FROM usage_entries WHERE logged_cost IS NULL")
            ]
            conn.executemany("UPDATE usage_entries SET cost = ? WHERE id = ?", updates)
            conn.execute("INSERT OR REPLACE INTO usage_state (key, value) VALUES ('prices', ?)",
                         (self.prices.fingerprint,))
            if updates:
                _merge_dirty(conn, FULL)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _row(entry: UsageLine, offset: int, provisional: bool,
         price: Callable[[str | None, tuple[float, float, float, float]], float]) -> tuple[Any, ...]:
    tokens = (entry.input_tokens, entry.output_tokens, entry.cache_creation_tokens, entry.cache_read_tokens)
    cost = entry.logged_cost if entry.logged_cost is not None else price(entry.model, tokens)
    return (offset, int(provisional), entry.ts_ms, entry.hash, *tokens, cost, entry.logged_cost,
            entry.model, entry.reset_ms, entry.limit_text)


def _still_valid(item: _FileRead, now: FileState | None) -> bool:
    base = item.base
    if base is None:
        return now is None
    if now is None:
        return False
    return (now.dev, now.inode, now.offset, now.size, now.mtime_ns) == (
        base.dev, base.inode, base.offset, base.size, base.mtime_ns)


def _merge_dirty(conn: sqlite3.Connection, ts: int) -> None:
    conn.execute(
        "INSERT INTO usage_state (key, value) VALUES ('dirty_from_ms', ?)"
        " ON CONFLICT(key) DO UPDATE SET value = MIN(CAST(value AS INTEGER), excluded.value)",
        (ts,),
    )
