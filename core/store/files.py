"""The database's files on disk: private from the first byte, and never a stray descriptor.

Why no descriptor: SQLite coordinates processes with POSIX advisory locks, and on Linux
closing *any* descriptor of a file drops every such lock the process holds on it, SQLite's
included. A process that opens and closes the live database file (to make it private, to
read it, to fsync it) while it has a connection to it silently loses its locks; the next
process to close its connection then believes it is the last one, checkpoints and deletes
the `-wal` and `-shm`, and from then on the two processes see different databases. So the
files are created without opening them (`mknod`), made private by path (`chmod`), and
every reader of the data goes through SQLite (the backup API, never `open()`).

This module imports nothing heavy: the `usage blocks` fast path uses it too.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import stat
from pathlib import Path

from core.errors import DatabaseCorrupt
from core.store.names import DB_SUFFIXES
from core.store.names import database_inodes as _inodes

BACKUP_DIR = "backups"
"""Where backups live, beside the database (NIGHTSHIFT_HOME/backups)."""
DAMAGED_PREFIX = "nightshift-damaged-"
"""A damaged database moved aside by a restore: kept, but never offered as a backup."""
CORRUPT_CODES = frozenset({11, 26})
"""SQLITE_CORRUPT and SQLITE_NOTADB: the file's bytes are not a sound database."""


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) as 0700: it holds prompts, logs and worktrees.

    `mkdir(parents=True, mode=…)` gives the mode to the last folder only and makes the
    parents it creates world-readable (`runs/` of `runs/7`), so each missing one is made here.
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            folder.mkdir(mode=0o700)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def database_files(path: Path) -> list[Path]:
    """`path` and its `-wal`, `-shm` and `-journal` siblings (whether they exist or not)."""
    return [path.with_name(path.name + suffix) for suffix in DB_SUFFIXES]


def _create_private(path: Path) -> None:
    """Create `path` as an empty 0600 file unless something is there; opens no descriptor
    on an existing file (and none at all where `mknod` may make regular files)."""
    try:
        os.mknod(path, stat.S_IFREG | 0o600)
        return
    except FileExistsError:
        return
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EACCES, errno.ENOSYS, errno.EINVAL):
            raise
    # Where mknod is for root only (macOS): O_EXCL makes a new inode or fails, and no lock of
    # this process can be on an inode that did not exist a moment ago.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def make_private(path: Path) -> None:
    """chmod 600 by path (no descriptor), if `path` is a regular file that others can read."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
        os.chmod(path, 0o600)


def prepare_database_file(path: Path) -> None:
    """Make `path` exist as a private file before SQLite first opens it, and keep the files
    beside it private; safe while this or any other process has connections to it.

    SQLite creates `-wal` and `-shm` with the main file's mode, so a 0600 main file gives
    0600 siblings; ones left looser by an older version are tightened here.
    """
    ensure_private_dir(path.parent)
    _create_private(path)
    for sibling in database_files(path):
        make_private(sibling)


def is_live_database(candidate: Path, database: Path) -> bool:
    """Whether `candidate` is the database or one of its siblings (by name or by inode):
    such a file must never be replaced, opened or read outside SQLite."""
    for sibling in database_files(database):
        if candidate.absolute() == sibling.absolute():
            return True
        with contextlib.suppress(OSError):
            if os.path.samefile(candidate, sibling):
                return True
    return False


def database_inodes(database: Path) -> frozenset[tuple[int, int]]:
    """(device, inode) of the database and the files beside it, by `stat` (no descriptor):
    a reader of other files (Claude's logs) skips these even when a link leads to them."""
    return _inodes(str(database))


def newest_backup(database: Path) -> Path | None:
    """The most recent backup beside `database` (by modification time), if any."""
    folder = database.parent / BACKUP_DIR
    found: list[tuple[float, str, Path]] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name.endswith(".db") and not entry.name.startswith((".", DAMAGED_PREFIX)):
                with contextlib.suppress(OSError):
                    if entry.is_file(follow_symlinks=False):
                        mtime = entry.stat(follow_symlinks=False).st_mtime
                        found.append((mtime, entry.name, Path(entry.path)))
    return max(found)[2] if found else None


def is_corruption(exc: BaseException) -> bool:
    """Whether `exc` is SQLite saying the file is damaged (not busy, not full, not missing)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in CORRUPT_CODES
    text = str(exc)
    return "malformed" in text or "file is not a database" in text


def corrupt(database: Path, exc: BaseException | str) -> DatabaseCorrupt:
    """The one error for a damaged database: its path, what SQLite said, the way out."""
    return DatabaseCorrupt(database, str(exc), newest_backup(database), database.parent / BACKUP_DIR)
