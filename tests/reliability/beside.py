"""The owner's CLI beside a running daemon: shared by the test and `benchmarks/reliability.py`.

A real `nightshift run` process runs tasks with the fake CLI while every command that opens
the database runs again and again as its own process. Meanwhile a watcher reads
`/proc/<pid>/fd` of the daemon and of each command: a database file held open after it was
unlinked (`… (deleted)`) is the mark of a split database, where one process lost its SQLite
locks (by closing a descriptor of its own on the file) and another then checkpointed and
deleted the `-wal` under it. Afterwards every task the CLI queued must be in the database,
the daemon must have run the ones it could (a split daemon never sees them), and
`PRAGMA integrity_check` must say `ok`.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .scenarios import _daemon_ready

NIGHTSHIFT = str(Path(sys.executable).parent / "nightshift")
OK, USER = {0}, {0, 1}
"""Exit codes a command may end with: 1 is a refusal (a plan not written yet, a task already
done), never a crash; any traceback counts as a failure whatever the code."""


def is_database_file(name: str) -> bool:
    """Every SQLite file nightshift keeps: the database (the usage index is in it), its
    -wal/-shm/-journal, backups and their temporary copies."""
    base = name.removesuffix(" (deleted)")
    return ".db" in base and not base.endswith((".md", ".png"))


class FdWatch:
    """Reads `/proc/<pid>/fd` of the watched processes until stopped (Linux)."""

    def __init__(self, home: Path, interval_s: float = 0.02) -> None:
        self.home = str(home)
        self.interval_s = interval_s
        self.pids: set[int] = set()
        self.deleted: list[str] = []
        """'<pid> <fd> -> <target>' for every database file held after it was unlinked."""
        self.db_links_seen = 0
        """Database descriptors seen in all: proof the watch looked at the right thing."""
        self.loose_modes: dict[str, str] = {}
        """Database files in NIGHTSHIFT_HOME others could read or write (by path: no descriptor)."""
        self.scans = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> FdWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def watch(self, pid: int) -> None:
        with self._lock:
            self.pids.add(pid)

    def forget(self, pid: int) -> None:
        with self._lock:
            self.pids.discard(pid)

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                pids = list(self.pids)
            for pid in pids:
                self.scan(pid)
            if self.scans % 10 == 0:
                self._modes()
            self.scans += 1
            self._stop.wait(self.interval_s)

    def scan(self, pid: int) -> None:
        folder = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(folder)
        except OSError:
            return  # exited meanwhile
        for fd in fds:
            try:
                target = os.readlink(f"{folder}/{fd}")
            except OSError:
                continue
            if not target.startswith(self.home) or not is_database_file(os.path.basename(target)):
                continue
            self.db_links_seen += 1
            if target.endswith(" (deleted)") and len(self.deleted) < 50:
                seen = f"{pid} {fd} -> {target}"
                if seen not in self.deleted:
                    self.deleted.append(seen)

    def _modes(self) -> None:
        for root, _, names in os.walk(self.home):
            for name in names:
                if not is_database_file(name):
                    continue
                path = os.path.join(root, name)
                try:
                    mode = os.lstat(path).st_mode
                except OSError:
                    continue
                if stat.S_ISREG(mode) and mode & 0o077:
                    self.loose_modes[path] = oct(mode & 0o777)


@dataclass
class BesideReport:
    rounds: int = 0
    commands: int = 0
    failed: list[str] = field(default_factory=list)
    """'<argv>: exit <code>: <stderr tail>' for a command that crashed or exited unexpectedly."""
    queued: list[str] = field(default_factory=list)
    """The marker of every task the CLI queued (by `add` or an inbox file)."""
    lost: list[str] = field(default_factory=list)
    """Markers not in the database once the daemon stopped."""
    not_run: list[str] = field(default_factory=list)
    """Plain tasks the daemon never finished: it did not see what the CLI wrote."""
    integrity: str = ""
    deleted: list[str] = field(default_factory=list)
    db_links_seen: int = 0
    loose_modes: dict[str, str] = field(default_factory=dict)
    daemon_exit: int | None = None
    seconds: float = 0.0
    command_s: dict[str, float] = field(default_factory=dict)
    """Seconds spent in each command, all rounds together."""
    stderr_tail: str = ""

    @property
    def ok(self) -> bool:
        return (not self.failed and not self.lost and not self.not_run and self.integrity == "ok"
                and not self.deleted and not self.loose_modes and self.daemon_exit == 0)


class Owner:
    """Runs one CLI command at a time as its own process, watched while it runs."""

    def __init__(self, watch: FdWatch, report: BesideReport, cwd: Path) -> None:
        self.watch = watch
        self.report = report
        self.cwd = cwd

    def __call__(self, *argv: str, codes: set[int] = OK) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        proc = subprocess.Popen([NIGHTSHIFT, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, env=dict(os.environ), cwd=self.cwd)
        self.watch.watch(proc.pid)
        try:
            out, err = proc.communicate(timeout=120)
        finally:
            self.watch.forget(proc.pid)
        self.report.commands += 1
        self.report.command_s[argv[0]] = self.report.command_s.get(argv[0], 0.0) + time.monotonic() - started
        if proc.returncode not in codes or "Traceback" in err:
            self.report.failed.append(f"{' '.join(argv)}: exit {proc.returncode}: {err.strip()[-400:]}")
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)

    def add(self, marker: str, script: str, *options: str) -> int | None:
        self.report.queued.append(marker)
        done = self("add", *options, "--json", f"{marker} [fake: {script}]")
        return int(json.loads(done.stdout)["id"]) if done.returncode == 0 else None


def one_round(owner: Owner, brain: Path, index: int, plain: list[str]) -> None:
    """Every command that opens the database, once, on tasks queued in this round."""
    marker = f"beside-r{index:02d}"
    quick = owner.add(f"{marker}-quick", "turns=1", "--no-plan")
    plain.append(f"{marker}-quick")
    slow = owner.add(f"{marker}-slow", "slow delay=0.2 turns=3", "--no-plan")
    planned = owner.add(f"{marker}-planned", "turns=1", "--plan")
    refused = owner.add(f"{marker}-refused", "turns=1", "--plan")
    inbox = brain / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    owner.report.queued.append(f"{marker}-inbox")
    plain.append(f"{marker}-inbox")
    (inbox / f"{marker}.md").write_text(f"---\npriority: high\n---\n{marker}-inbox [fake: turns=1]\n")
    owner("inbox", "--json")
    owner("list")
    owner("list", "--json")
    owner("list", "--state", "ready")
    for task in (quick, slow, planned):
        owner("show", str(task))
    owner("show", str(slow), "--json")
    owner("plan", str(planned), codes=USER)
    owner("edit", str(planned), "--after", str(quick), codes=USER)
    owner("cancel", str(slow), codes=USER)
    owner("retry", str(slow), codes=USER)
    owner("approve", str(planned), codes=USER)
    owner("revise", str(refused), "smaller steps", codes=USER)
    owner("reject", str(refused), "not now", codes=USER)
    owner("usage")
    owner("usage", "--json")
    owner("usage", "blocks", "--json")
    owner("stats")
    owner("stats", "--json")
    owner("chart", "--out", f"chart-{index}.png")
    owner("notes")
    owner("retro", "--no-send")
    owner("lessons")
    owner("styles")
    owner("styles", "pin", "direct", "--hours", "1")
    owner("styles", "unpin")
    owner("clean")
    owner("doctor", codes=USER)  # 1: no Claude login on a test machine
    made = owner("backup", "--json")  # into NIGHTSHIFT_HOME/backups, where the daemon's go
    if made.returncode == 0:
        backup = json.loads(made.stdout)["path"]
        refused_restore = owner("restore", "--yes", backup, codes={1})
        if "stop it before restoring" not in refused_restore.stderr:
            owner.report.failed.append(f"restore beside the daemon: {refused_restore.stderr.strip()}")
    owner.report.rounds += 1


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """A short read-only look (its own connection, closed at once: this process holds no other)."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _states(db: Path) -> dict[str, str]:
    """Marker -> state of every task whose prompt starts with one."""
    return {str(prompt).split(" ", 1)[0]: str(state)
            for prompt, state in _rows(db, "SELECT prompt, state FROM tasks")}


def cli_beside_daemon(home: Path, brain: Path, workdir: Path, *, rounds: int, settle_s: float = 90.0,
                      progress: Callable[[str], None] | None = None) -> BesideReport:
    """`rounds` rounds of every CLI command beside a `nightshift run` process (environment
    as set by the caller: the fake CLI, a private tmux socket, a temp NIGHTSHIFT_HOME)."""
    report = BesideReport()
    started = time.monotonic()
    db = home / "nightshift.db"
    plain: list[str] = []
    stderr_path = workdir / "beside-daemon.log"
    with FdWatch(home) as watch, stderr_path.open("ab") as err:
        daemon = subprocess.Popen([NIGHTSHIFT, "run"], stdout=subprocess.DEVNULL, stderr=err,
                                  stdin=subprocess.DEVNULL, env=dict(os.environ), cwd=workdir,
                                  start_new_session=True)
        watch.watch(daemon.pid)
        try:
            _daemon_ready(home, daemon)
            owner = Owner(watch, report, workdir)
            for index in range(rounds):
                one_round(owner, brain, index, plain)
                if progress:
                    progress(f"round {index + 1}/{rounds}: {report.commands} commands")
            # The daemon runs what the CLI queued: a split daemon would never see it.
            deadline = time.monotonic() + settle_s
            while time.monotonic() < deadline and daemon.poll() is None:
                states = _states(db)
                if all(states.get(m) in ("done", "failed") for m in plain):
                    break
                time.sleep(0.2)
            daemon.send_signal(signal.SIGTERM)
            report.daemon_exit = daemon.wait(60)
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
    states = _states(db)
    report.lost = [m for m in report.queued if m not in states]
    report.not_run = [m for m in plain if states.get(m) != "done"]
    report.integrity = "; ".join(str(r[0]) for r in _rows(db, "PRAGMA integrity_check"))
    report.deleted = watch.deleted
    report.db_links_seen = watch.db_links_seen
    report.loose_modes = watch.loose_modes
    report.seconds = time.monotonic() - started
    report.stderr_tail = stderr_path.read_text(errors="replace")[-3000:]
    return report
