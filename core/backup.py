"""Backups of the database: SQLite's online backup API, private files, a daily rotation.

Why the backup API and not a file copy: the daemon keeps the database open in WAL mode, and
a copy of `nightshift.db` alone can miss what still sits in `nightshift.db-wal` or catch the
main file half-way through a checkpoint. The backup API copies one consistent snapshot,
page by page, while other connections go on reading and writing.

A backup is one self-contained file (rollback journal, not WAL), written under a temporary
name, checked with `PRAGMA integrity_check` and only then renamed into place, so a backup
that exists is a good one. Restoring refuses while the daemon runs, keeps a copy of the
database it replaces, and brings an older backup's schema up to date.

Manual restore, without nightshift (the same steps `nightshift restore FILE` takes): stop
the daemon; move `nightshift.db`, `nightshift.db-wal` and `nightshift.db-shm` out of
NIGHTSHIFT_HOME (together: the -wal belongs to its database); copy the backup to
`NIGHTSHIFT_HOME/nightshift.db`; `chmod 600` it; start nightshift (it migrates the schema on open).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from core import safefs
from core.errors import AlreadyRunning, DatabaseCorrupt, InvalidInput, SchemaTooNew, StoreError
from core.lock import InstanceLock  # the daemon's own lock: no daemon starts meanwhile
from core.settings import Settings
from core.store import migrations
from core.store.db import BUSY_TIMEOUT_MS, Database, migrate_file
from core.store.files import (
    BACKUP_DIR,
    DAMAGED_PREFIX,
    corrupt,
    database_files,
    ensure_private_dir,
    is_corruption,
    is_live_database,
    prepare_database_file,
)
from core.store.store import Store

DAILY_PREFIX = "nightshift-daily-"
PRE_RESTORE_PREFIX = "nightshift-before-restore-"
SQLITE_MAGIC = b"SQLite format 3\x00"
REQUIRED_TABLES = ("schema_migrations", "tasks", "runs", "events")
"""A file without these is some other SQLite database, not a nightshift backup."""


@dataclass(frozen=True, slots=True)
class BackupInfo:
    path: Path
    size_bytes: int
    schema_version: int
    tasks: int

    def as_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "size_bytes": self.size_bytes,
                "schema_version": self.schema_version, "tasks": self.tasks}


@dataclass(frozen=True, slots=True)
class RestoreInfo:
    restored: BackupInfo
    previous: BackupInfo | None
    """The copy of the database that was replaced (None if there was none, or it was damaged)."""
    damaged: Path | None = None
    """Where the replaced database went when it was too damaged to copy: moved aside as it was."""

    def as_json(self) -> dict[str, Any]:
        return {"restored": self.restored.as_json(),
                "previous": self.previous.as_json() if self.previous else None,
                "damaged": str(self.damaged) if self.damaged else None}


def backups_dir(settings: Settings) -> Path:
    return settings.home_dir / BACKUP_DIR


def _unused(folder: Path, prefix: str, moment: datetime) -> Path:
    """A name not taken yet: two backups in one second must not overwrite each other."""
    stem = f"{prefix}{moment:%Y%m%d-%H%M%S}"
    path, counter = folder / f"{stem}.db", 1
    while path.exists():
        path, counter = folder / f"{stem}-{counter}.db", counter + 1
    return path


def default_backup_path(settings: Settings, now: datetime) -> Path:
    return _unused(backups_dir(settings), "nightshift-", now.astimezone(settings.local_tz))


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def inspect_backup(path: Path) -> BackupInfo:
    """What a backup file holds; raises `InvalidInput` for anything that is not a sound one."""
    try:
        with path.open("rb") as fh:
            magic = fh.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        raise InvalidInput(f"no backup file at {path}") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a directory, not a backup file") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None
    if magic != SQLITE_MAGIC:
        raise InvalidInput(f"{path} is not a SQLite database, so not a nightshift backup")
    # Read-only, so that inspecting a file never changes it (nor creates a -wal beside it).
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InvalidInput(f"cannot open {path}: {exc}") from None
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()
        if check is None or check[0] != "ok":
            raise InvalidInput(f"{path} is damaged (integrity check: {check[0] if check else '?'})")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = [t for t in REQUIRED_TABLES if t not in tables]
        if missing:
            raise InvalidInput(f"{path} is not a nightshift backup (no {', '.join(missing)} table)")
        version = int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0])
        tasks = int(conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0])
    except sqlite3.Error as exc:
        raise InvalidInput(f"{path} cannot be read as a nightshift backup: {exc}") from None
    finally:
        conn.close()
    if version > migrations.latest_version():
        raise SchemaTooNew(version, migrations.latest_version())
    return BackupInfo(path, path.stat().st_size, version, tasks)


def backup_database(source: Path, out: Path) -> BackupInfo:
    """Copy the live database at `source` to `out` (0600), consistently, while others use it."""
    if not source.is_file():
        raise StoreError(f"no database at {source} to back up")
    if out.exists() and out.is_dir():
        raise InvalidInput(f"{out} is a directory; name the backup file")
    if is_live_database(out, source):
        raise InvalidInput("the backup cannot replace the database it copies (or its -wal/-shm)")
    ensure_private_dir(out.parent)
    # A new 0600 file under a random name (O_EXCL|O_NOFOLLOW): never a link planted at a
    # predictable temp name, which SQLite would otherwise write the copy through.
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(6)}.tmp")
    try:
        safefs.create_new(tmp)
        src = _connect(source)
        try:
            dst = sqlite3.connect(tmp, isolation_level=None)
            try:
                src.backup(dst)  # all pages in one step: one snapshot, never restarted
                # The copy inherits WAL mode; a backup should be one file that opens anywhere.
                dst.execute("PRAGMA journal_mode = DELETE")
                check = dst.execute("PRAGMA integrity_check").fetchone()
            finally:
                dst.close()
        finally:
            src.close()
        if check is None or check[0] != "ok":  # a sound source gives a sound copy
            raise corrupt(source, f"integrity check: {check[0] if check else '?'}")
        # The copy is closed and no connection of any process is on it: fsync it via a
        # descriptor of its own is safe here (it never is on a live database).
        fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, out)
    except sqlite3.Error as exc:
        if is_corruption(exc):
            raise corrupt(source, exc) from None
        raise StoreError(f"could not back up {source}: {exc}") from None
    except OSError as exc:
        raise StoreError(f"could not write the backup {out}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return inspect_backup(out)


def inspect_restore_source(settings: Settings, backup: Path) -> BackupInfo:
    """`inspect_backup`, refusing the live database and its siblings before reading them."""
    if is_live_database(backup, settings.db_path):
        raise InvalidInput("that is the live database, not a backup")
    return inspect_backup(backup)


def _move_aside(settings: Settings, target: Path, now: datetime) -> Path:
    """Rename a damaged database and its -wal/-shm into backups/, untouched (renaming takes
    no descriptor, and what the -wal still holds stays beside its database)."""
    folder = ensure_private_dir(backups_dir(settings))
    aside = _unused(folder, DAMAGED_PREFIX, now.astimezone(settings.local_tz))
    for source, dest in zip(database_files(target), database_files(aside), strict=True):
        if source.exists():
            os.replace(source, dest)
    return aside


def restore_database(settings: Settings, backup: Path, *, now: datetime) -> RestoreInfo:
    """Replace the database with `backup`; refuses while the daemon runs.

    The database being replaced is backed up first (into `backups/`), so a restore can be
    undone with another restore; one too damaged to copy is moved there as it is.
    """
    info = inspect_restore_source(settings, backup)
    target = settings.db_path
    lock = InstanceLock(settings.home_dir)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        raise InvalidInput(f"{exc.message}; stop it before restoring") from None
    try:
        previous: BackupInfo | None = None
        damaged: Path | None = None
        if target.exists():
            try:
                previous = backup_database(target, _unused(backups_dir(settings), PRE_RESTORE_PREFIX,
                                                           now.astimezone(settings.local_tz)))
            except DatabaseCorrupt:
                damaged = _move_aside(settings, target, now)
        prepare_database_file(target)
        try:
            src = sqlite3.connect(f"{backup.resolve().as_uri()}?mode=ro", uri=True)
            try:
                dst = _connect(target)
                try:
                    src.backup(dst)
                    dst.execute("PRAGMA journal_mode = WAL")
                    check = dst.execute("PRAGMA integrity_check").fetchone()
                finally:
                    dst.close()
            finally:
                src.close()
        except sqlite3.Error as exc:
            raise StoreError(f"could not restore {backup}: {exc}") from None
        if check is None or check[0] != "ok":
            raise StoreError(f"the restored database failed its integrity check; restore "
                             f"{previous.path if previous else 'another backup'} to go back")
        migrate_file(target)
    finally:
        lock.release()
    return RestoreInfo(info, previous, damaged)


def daily_files(settings: Settings) -> list[Path]:
    """The daily backups, oldest first (their names sort by date)."""
    folder = backups_dir(settings)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"{DAILY_PREFIX}*.db") if p.is_file())


async def daily_backup(settings: Settings, store: Store, now: datetime, keep: int = 7) -> Path | None:
    """Today's backup (in the owner's zone) unless it exists; keeps the newest `keep` of them.

    Returns the new file, or None when today's backup was already taken. Safe to call on
    every tick: it costs a directory listing when there is nothing to do. A shared PostgreSQL
    queue is not copied here: its server's own backups (pg_dump, base backups) cover it.
    """
    if keep < 1:
        raise InvalidInput("keep at least one daily backup")
    if not isinstance(store.db, Database):
        return None
    day = now.astimezone(settings.local_tz).date()
    path = backups_dir(settings) / f"{DAILY_PREFIX}{day:%Y-%m-%d}.db"
    if path.exists():
        return None
    await asyncio.to_thread(backup_database, store.db.path, path)
    for old in daily_files(settings)[:-keep]:
        old.unlink(missing_ok=True)
    return path
