"""A database with a few KiB of pages overwritten: every command says so in one line, naming
the file and the way out (the newest backup and `nightshift restore`); `run` refuses to
start on it; `doctor` finds it with `PRAGMA quick_check`; the restore it names works.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import DatabaseCorrupt
from core.service import Service
from core.settings import Settings
from core.store.store import Store

from .snapshots import db_rows, integrity_ok


def sound(path: Path) -> bool:
    """integrity_check says ok (a file too damaged to be read at all is not sound either)."""
    try:
        return integrity_ok(path)
    except sqlite3.DatabaseError:
        return False

NIGHTSHIFT = str(Path(sys.executable).parent / "nightshift")
PAGE = 4096
SEED = 14


def ns(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NIGHTSHIFT, *args], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ), stdin=subprocess.DEVNULL)


async def _fill(settings: Settings, count: int) -> None:
    """Tasks with long prompts, then closed: the last close checkpoints all into the main file."""
    store = await Store.open(settings.db_path)
    try:
        service = Service(settings, store)
        for i in range(count):
            await service.add(f"task {i} " + "x" * 1500, plan=False)
    finally:
        await store.close()


def _root_page(db: Path, name: str) -> int:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0])
    finally:
        conn.close()


def overwrite(db: Path, first_page: int, pages: int) -> None:
    """`pages` pages from `first_page` (1-based) replaced with seeded noise (no connection is open)."""
    wal = Path(f"{db}-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "all data is in the main file"
    noise = random.Random(SEED).randbytes(pages * PAGE)
    with db.open("r+b") as fh:
        fh.seek((first_page - 1) * PAGE)
        fh.write(noise)


@pytest.fixture
def damaged(settings: Settings) -> tuple[Path, Path]:
    """A database of 30 tasks, a backup of it, then 12 KiB of the tasks table overwritten."""
    asyncio.run(_fill(settings, 30))
    made = ns("backup", "--json")
    assert made.returncode == 0, made.stderr
    backup = Path(json.loads(made.stdout)["path"])
    overwrite(settings.db_path, _root_page(settings.db_path, "tasks"), 3)
    return settings.db_path, backup


def _one_line_naming_the_way_out(done: subprocess.CompletedProcess[str], db: Path, backup: Path) -> None:
    shown = f"exit {done.returncode}\n{done.stderr}"
    assert done.returncode == DatabaseCorrupt.exit_code, shown
    assert "Traceback" not in done.stderr, shown
    assert len(done.stderr.splitlines()) == 1, shown
    assert done.stderr.startswith(f"error: the database {db} is damaged ("), shown
    assert done.stderr.rstrip().endswith(f"nightshift restore {shlex.quote(str(backup))}"), shown


COMMANDS = [["list"], ["list", "--json"], ["show", "3"], ["add", "--no-plan", "one more"], ["cancel", "3"],
            ["retry", "3"], ["edit", "3", "--after", "2"], ["stats"], ["notes"], ["backup"],
            ["run"], ["run", "--burst"]]


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_every_command_on_a_damaged_database_is_one_line_naming_the_backup(
    damaged: tuple[Path, Path], argv: list[str],
) -> None:
    db, backup = damaged
    _one_line_naming_the_way_out(ns(*argv), db, backup)


def test_run_refuses_damage_its_own_start_would_not_touch(settings: Settings) -> None:
    """Pages only the usage index uses: `run` reads every page with quick_check first."""
    asyncio.run(_fill(settings, 5))
    backup = Path(json.loads(ns("backup", "--json").stdout)["path"])
    overwrite(settings.db_path, _root_page(settings.db_path, "usage_entries"), 1)
    assert ns("list").returncode == 0, "this damage is out of the task tables' way"
    _one_line_naming_the_way_out(ns("run"), settings.db_path, backup)


def test_a_database_that_is_not_one_any_more_is_one_line_for_every_command(
    settings: Settings,
) -> None:
    asyncio.run(_fill(settings, 5))
    backup = Path(json.loads(ns("backup", "--json").stdout)["path"])
    overwrite(settings.db_path, 1, 2)  # the header and the schema
    for argv in (["list"], ["usage"], ["usage", "blocks", "--json"], ["run"]):
        _one_line_naming_the_way_out(ns(*argv), settings.db_path, backup)


def test_without_a_backup_the_line_says_how_to_start_again(settings: Settings) -> None:
    asyncio.run(_fill(settings, 5))
    overwrite(settings.db_path, _root_page(settings.db_path, "tasks"), 3)
    done = ns("list")
    assert done.returncode == DatabaseCorrupt.exit_code and len(done.stderr.splitlines()) == 1
    assert f"there is no backup in {settings.home_dir / 'backups'}" in done.stderr
    assert f"move {settings.db_path} aside" in done.stderr


def test_doctor_runs_quick_check_and_names_the_way_out(damaged: tuple[Path, Path]) -> None:
    db, backup = damaged
    as_json = ns("doctor", "--json")
    check = {c["name"]: c for c in json.loads(as_json.stdout)}["database"]
    assert as_json.returncode == 1 and check["ok"] is False
    assert check["detail"].startswith(f"{db} is damaged (quick_check: ")
    assert check["fix"].endswith(f"nightshift restore {shlex.quote(str(backup))}")
    text = ns("doctor").stdout
    (line,) = [ln for ln in text.splitlines() if "database" in ln]
    assert line.startswith("!!  database") and "quick_check" in line


def test_the_restore_the_line_names_brings_the_tasks_back(damaged: tuple[Path, Path]) -> None:
    db, backup = damaged
    before = db_rows(backup)
    line = ns("list").stderr
    command = shlex.split(line.rsplit(": ", 1)[1])
    assert command[:2] == ["nightshift", "restore"]
    done = ns(*command[1:], "--yes")
    assert done.returncode == 0, done.stderr
    assert integrity_ok(db) and db_rows(db)["tasks"] == before["tasks"]
    aside = Path(done.stdout.split("was moved, as it was, to ")[1].strip())
    assert aside.parent == db.parent / "backups" and aside.name.startswith("nightshift-damaged-")
    assert not sound(aside), "the damaged file is kept as it was"
    listed = ns("list", "--json")
    assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 30
    doctor = {c["name"]: c for c in json.loads(ns("doctor", "--json").stdout)}
    assert doctor["database"]["ok"] is True and "quick_check ok" in doctor["database"]["detail"]
