"""Every way nightshift reaches its database keeps this process's SQLite locks, and its files private.

On Linux, closing any descriptor of a file drops every POSIX lock the process holds on it.
So each way in (making the file private, migrating, the usage index, a backup, doctor's
check, a restore's refusal) runs here while this process holds a connection with the `-wal`
open; then another process opens and closes the database. Had the way in dropped our
locks, that close would checkpoint and delete the `-wal` under our connection: the split
database of issue 14 in one step.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.backup import backup_database, inspect_restore_source
from core.cli.doctor import check_database
from core.errors import ConfigError, InvalidInput
from core.settings import Settings
from core.store.db import migrate_file
from core.store.files import database_files, prepare_database_file
from core.store.store import Store
from core.usage.blocks_command import main as blocks_main
from core.usage.config import UsageConfig
from core.usage.db import open_scan_db
from core.usage.index import UsageIndex
from core.usage.lean import lean_document
from core.usage.lean_config import LeanConfig, read_lean
from core.usage.report import load_blocks
from tests.usage.logtree import assistant, at

OTHER_PROCESS = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=30)
conn.execute("INSERT INTO kv (key, value, updated_at) VALUES ('other', '1', 'now')")
conn.commit()
conn.close()
"""


def _deleted_links(db: Path) -> list[str]:
    """Database files this process holds after they were unlinked."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(db)) and target.endswith("(deleted)"):
            found.append(target)
    return found


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _open_store(db: Path) -> None:
    async def go() -> None:
        store = await Store.open(db)
        await store.close()

    asyncio.run(go())


def _refuse_restoring_live(settings: Settings) -> None:
    for path in database_files(settings.db_path)[:3]:
        with pytest.raises(InvalidInput, match="live database"):
            inspect_restore_source(settings, path)


def _scan_with_links_to_the_database(settings: Settings) -> None:
    """Claude (or anything with its Bash tool) links a `.jsonl` in its projects folder to the
    database: the usage scan must not open it."""
    folder = settings.claude_config_dir[0] / "projects" / "planted"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "symlink.jsonl").symlink_to(settings.db_path)
    os.link(settings.db_path, folder / "hardlink.jsonl")
    os.link(f"{settings.db_path}-wal", folder / "wal.jsonl")
    index = UsageIndex.open(UsageConfig.from_settings(settings))
    try:
        report = index.scan()
    finally:
        index.close()
    assert report.files == 0, "nightshift's own files are not Claude's logs"


def _lean_past_links(settings: Settings) -> None:
    """The `usage blocks` lean path answers (or hands over) with the same links planted: it
    stats them, never opens them, and its own connection is SQLite's."""
    _scan_with_links_to_the_database(settings)
    config = UsageConfig.from_settings(settings)
    conn = open_scan_db(settings.db_path)
    load_blocks(conn, 0)  # a refresh: the lean path can answer now
    conn.close()
    lean = LeanConfig({"nightshift_home": str(settings.home), "nightshift_tz": "",
                       "claude_config_dir": ",".join(str(p) for p in config.claude_config_dirs),
                       "nightshift_usage_prices_file": ""})
    text, seen = lean_document(lean, {"json"}, 0)
    assert text is not None and seen is not None and seen.listing == []
    assert seen.conn is not None
    seen.conn.close()


def _handover_past_a_linked_env(settings: Settings) -> None:
    """A log changed: the lean path hands its connection to the full path, which must not
    open a settings file again (a `.env` in the working folder linked to the database)."""
    folder = settings.claude_config_dir[0] / "projects" / "p"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.jsonl").write_text(assistant(at(0), msg="a", req="a") + "\n")
    config = read_lean()
    assert config is not None
    text, seen = lean_document(config, {"json"}, 0)
    assert text is None and seen is not None and seen.conn is not None
    Path(".env").symlink_to(settings.db_path)
    try:
        assert blocks_main(["usage", "blocks", "--json"], handover=seen) == 0
    finally:
        Path(".env").unlink()


def _prices_linked_to_the_database(settings: Settings) -> None:
    """The owner's price file is a link to the database: one clear error, never opened."""
    prices = settings.home / "prices.json"
    prices.symlink_to(settings.db_path)
    try:
        config = read_lean()
        assert config is not None and lean_document(config, {"json"}, 0) == (None, None)
        with pytest.raises(ConfigError, match="is nightshift's database"):
            UsageIndex.open(UsageConfig.from_settings(settings))
    finally:
        prices.unlink()


WAYS_IN: dict[str, Callable[[Settings, Path], object]] = {
    "usage blocks handing over past a linked .env": lambda s, _: _handover_past_a_linked_env(s),
    "usage prices linked to the database": lambda s, _: _prices_linked_to_the_database(s),
    "usage scan through links to the database": lambda s, _: _scan_with_links_to_the_database(s),
    "usage blocks lean path past links to the database": lambda s, _: _lean_past_links(s),
    "prepare_database_file": lambda s, _: prepare_database_file(s.db_path),
    "migrate_file": lambda s, _: migrate_file(s.db_path),
    "usage index": lambda s, _: open_scan_db(s.db_path).close(),
    "store open and close": lambda s, _: _open_store(s.db_path),
    "backup": lambda s, tmp: backup_database(s.db_path, tmp / "copy.db"),
    "doctor": lambda s, _: check_database(s.db_path),
    "restore refusing the live database": lambda s, _: _refuse_restoring_live(s),
}


@contextmanager
def live_connection(db: Path) -> Iterator[sqlite3.Connection]:
    """A connection in WAL mode with a commit in the -wal, as the daemon's is."""
    migrate_file(db)
    conn = sqlite3.connect(db, isolation_level=None, timeout=30)
    try:
        conn.execute("INSERT INTO kv (key, value, updated_at) VALUES ('mine', '1', 'now')")
        assert Path(f"{db}-wal").exists()
        yield conn
    finally:
        conn.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")
@pytest.mark.parametrize("way", sorted(WAYS_IN))
def test_no_way_into_the_database_drops_this_process_locks(
    settings: Settings, tmp_path: Path, way: str,
) -> None:
    db = settings.db_path
    with live_connection(db) as conn:
        WAYS_IN[way](settings, tmp_path)
        other = subprocess.run([sys.executable, "-c", OTHER_PROCESS, str(db)], capture_output=True,
                               text=True, timeout=60)
        assert other.returncode == 0, other.stderr
        assert Path(f"{db}-wal").exists(), f"{way}: the other process deleted the -wal under us"
        assert _deleted_links(db) == []
        # One database: each side sees what the other wrote.
        keys = {r[0] for r in conn.execute("SELECT key FROM kv WHERE key IN ('mine', 'other')")}
        assert keys == {"mine", "other"}
    check = sqlite3.connect(db)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()


def test_the_database_and_its_wal_and_shm_are_private_whatever_the_umask(settings: Settings) -> None:
    old = os.umask(0)
    try:
        with live_connection(settings.db_path):
            for path in database_files(settings.db_path)[:3]:
                assert _mode(path) == 0o600, path
    finally:
        os.umask(old)


def test_files_left_readable_by_an_older_version_are_made_private_by_path(settings: Settings) -> None:
    with live_connection(settings.db_path):
        for path in database_files(settings.db_path)[:3]:
            path.chmod(0o644)
        prepare_database_file(settings.db_path)
        assert [_mode(p) for p in database_files(settings.db_path)[:3]] == [0o600] * 3


@pytest.mark.parametrize("name", ["nightshift.db", "nightshift.db-wal", "nightshift.db-shm", "hard link"])
def test_a_backup_never_replaces_the_database_or_the_files_beside_it(
    settings: Settings, tmp_path: Path, name: str,
) -> None:
    db = settings.db_path
    with live_connection(db):
        if name == "hard link":
            out = tmp_path / "link.db"
            os.link(db, out)
        else:
            out = db.with_name(name)
        inodes = {p: p.stat().st_ino for p in database_files(db)[:3]}
        with pytest.raises(InvalidInput, match="cannot replace the database"):
            backup_database(db, out)
        assert {p: p.stat().st_ino for p in database_files(db)[:3]} == inodes
        assert list(db.parent.glob(".*tmp")) == []
