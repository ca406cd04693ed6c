"""Claude's log files on disk and what is known of each: where a re-scan picks up.

Each file's read state is kept (path, device and inode, size, mtime, the byte offset up to
the last complete line, a checksum of the bytes just before that offset), so a re-scan
reads only what was appended. A file that shrank, was replaced (new inode) or whose bytes
before the offset changed is read again from the start.
"""

from __future__ import annotations

import os
import stat as stat_mod
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from core.usage import walk

CHECK_BYTES = 4096
"""Bytes before the read offset whose checksum tells an append from a rewrite."""


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


FILE_STATE_COLUMNS = ("id, path, dev, inode, size, mtime_ns, offset, tail_check, min_ts_ms, lines,"
                      " malformed, pending_bytes")


class FileRead:
    """One file to read (from `start` to `size`) and, once read, what it gave.

    `slot` numbers the reads of one scan: rows carry it until the file has an id.
    """

    __slots__ = ("base", "dev", "error", "inode", "lines", "malformed", "min_ts_ms", "mtime_ns", "offset",
                 "path", "pending_bytes", "reset", "rows", "size", "slot", "start", "tail_check")

    def __init__(self, path: str, dev: int, inode: int, size: int, mtime_ns: int, start: int,
                 reset: bool, base: FileState | None, slot: int = 0) -> None:
        self.path, self.dev, self.inode, self.size, self.mtime_ns = path, dev, inode, size, mtime_ns
        self.start, self.reset, self.base, self.slot = start, reset, base, slot
        self.offset = start
        self.tail_check = ""
        self.min_ts_ms: int | None = None if reset or base is None else base.min_ts_ms
        self.lines = self.malformed = self.pending_bytes = 0
        self.rows: list[tuple[Any, ...]] = []
        self.error: str | None = None

    @property
    def to_read(self) -> int:
        return self.size - self.start

    def outcome(self) -> tuple[Any, ...]:
        """What a worker process reports back for this read (rows travel separately)."""
        return (self.slot, self.offset, self.tail_check, self.min_ts_ms, self.lines, self.malformed,
                self.pending_bytes, self.error)

    def take(self, outcome: tuple[Any, ...]) -> None:
        (_, self.offset, self.tail_check, self.min_ts_ms, self.lines, self.malformed, self.pending_bytes,
         self.error) = outcome


def log_files(projects: Sequence[Path], skip: frozenset[tuple[int, int]] = frozenset(),
              ) -> Iterator[tuple[str, os.stat_result]]:
    """Every `**/*.jsonl` below the `projects/` dirs with its stat (see core.usage.walk)."""
    return walk.log_files([str(path) for path in projects], skip)


def checksum(data: bytes) -> str:
    # CRC-32 and Adler-32 together: enough to tell an append from a rewrite, and zlib is
    # much cheaper to import than hashlib on the `usage blocks` fast path.
    return f"{len(data):x}-{zlib.crc32(data):08x}-{zlib.adler32(data):08x}"


def read_check(path: str, offset: int) -> str | None:
    """Checksum of the bytes just before `offset` as the file is now (None if unreadable)."""
    start = max(0, offset - CHECK_BYTES)
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            data = handle.read(offset - start)
    except OSError:
        return None
    return checksum(data) if len(data) == offset - start else None


def plan(path: str, info: os.stat_result, state: FileState | None, slot: int) -> FileRead | None:
    """What to read of `path`: None when unchanged, else from where."""
    if not stat_mod.S_ISREG(info.st_mode):
        return None

    def fresh(reset: bool) -> FileRead:
        return FileRead(path, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, 0, reset, state, slot)

    if state is None:
        return fresh(False)
    same_file = (state.dev, state.inode) == (info.st_dev, info.st_ino)
    if same_file and state.size == info.st_size and state.mtime_ns == info.st_mtime_ns:
        return None
    if not same_file or info.st_size < state.offset:
        return fresh(True)
    if state.offset and read_check(path, state.offset) != state.tail_check:
        return fresh(True)
    return FileRead(path, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, state.offset, False,
                    state, slot)


def still_valid(item: FileRead, now: FileState | None) -> bool:
    """Whether the file's stored state is still the one `item` was planned from (else another
    scanner moved it on meanwhile, and this read is dropped)."""
    base = item.base
    if base is None:
        return now is None
    if now is None:
        return False
    return (now.dev, now.inode, now.offset, now.size, now.mtime_ns) == (
        base.dev, base.inode, base.offset, base.size, base.mtime_ns)
