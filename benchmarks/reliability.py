"""Reliability figures: kills survived, notifications delivered after outages, fuzz cases run,
tasks lost and duplicated (both must be 0).

Six parts, each the same code the reliability suite asserts with (tests/reliability):

1. fuzz: the suite's hypothesis fuzzing and abuse tests (bot commands and buttons through
   the real PTB application, every CLI command, inbox files, settings, Claude's logs, the
   stream parser), run here with pytest; every generated example counts as a case;
2. kills: `nightshift run` processes SIGKILLed at seeded random points while a queue of
   tasks (plain, a second iteration, a failing check, CLI errors with a retry) runs with
   the fake CLI in tmux; a new daemon is started after each kill;
3. outages: the Telegram bot against the local fake Bot API answering 502, 429, hanging
   or refusing, round after round, while notifications are written;
4. hostile inbox: every kind of file the inbox must refuse (links, FIFOs, hard links, a 3 GB
   sparse file, a 311-byte alias bomb, deep nesting, giant front matter), imported in a
   fresh process: files refused, that process's peak memory and the longest event-loop
   stall, each against the same number of ordinary files imported the same way;
5. secrets: a run started through the real tmux launcher with the bot token and other
   secrets in our environment; the environment of each of its processes is checked;
6. beside: every CLI command, round after round, as its own process beside a running
   `nightshift run`; then no task lost, `integrity_check` ok, no database file held open
   after it was unlinked (read from /proc/<pid>/fd), every database file 0600.

    .venv/bin/python benchmarks/reliability.py [--tasks 20] [--kills 10] [--notifications 60]
                                               [--hostile-copies 3] [--seed 1] [--no-fuzz]
                                               [--beside-rounds 3]

Exit 1 when a task was lost or started twice, a notification was lost, duplicated or
reordered, a fuzz case failed, a hostile file was not refused, a secret reached a run, or
the CLI beside the daemon lost a task or split the database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FUZZ_MODULES = ["test_fuzz_bot.py", "test_fuzz_cli.py", "test_fuzz_inputs.py", "test_abuse.py"]
_CASES = re.compile(r"(\d+) passing, (\d+) failing")


class CaseCounter:
    """A pytest plugin: hypothesis examples per test (every phase), 1 for a plain test."""

    def __init__(self) -> None:
        self.cases = 0
        self.tests = 0
        self.failed: list[str] = []

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when == "call" and report.failed:
            self.failed.append(report.nodeid)

    def pytest_runtest_makereport(self, item: Any, call: Any) -> None:
        if call.when != "teardown":
            return
        self.tests += 1
        stats = getattr(item, "hypothesis_statistics", None)
        found = [int(a) + int(b) for a, b in _CASES.findall(stats or "")]
        self.cases += sum(found) if found else 1


def fuzz() -> CaseCounter:
    import pytest

    counter = CaseCounter()
    paths = [str(ROOT / "tests" / "reliability" / m) for m in FUZZ_MODULES]
    pytest.main([*paths, "-q", "-p", "no:cacheprovider", "-W", "ignore"], plugins=[counter])
    return counter


def _env(base: Path) -> None:
    """A private world: state, vault, Claude data, HOME, tmux socket, the fake CLI."""
    for key in list(os.environ):
        if key.startswith(("NIGHTSHIFT_", "TELEGRAM_", "CLAUDE_CONFIG_DIR", "CLAUDECODE")):
            del os.environ[key]
    (base / "home").mkdir()
    (base / "claude" / "projects").mkdir(parents=True)
    os.environ.update({
        "HOME": str(base / "home"),
        "NIGHTSHIFT_HOME": str(base / "state"),
        "NIGHTSHIFT_BRAIN": str(base / "brain"),
        "CLAUDE_CONFIG_DIR": str(base / "claude"),
        "NIGHTSHIFT_TMUX_SOCKET": f"ns-reliability-{os.getpid()}",
        "NIGHTSHIFT_CLAUDE_BIN": str(Path(sys.executable).parent / "nightshift-fake-claude"),
        "NIGHTSHIFT_RESET_MARGIN_S": "1",
        "NIGHTSHIFT_PLAN_BY_DEFAULT": "false",
        "NIGHTSHIFT_USAGE_API": "false",
        "NIGHTSHIFT_USAGE_REFRESH_S": "5",
        "NIGHTSHIFT_MAX_PARALLEL": "2",
        "FAKE_CLAUDE_RECORD": str(base / "record.jsonl"),
    })
    os.chdir(base)


async def kills(tasks: int, kill_count: int, seed: int) -> Any:
    from core.service import Service
    from core.settings import load_settings
    from tests.daemon.conftest import make_repo
    from tests.reliability.scenarios import kill_and_restart, mixed_tasks

    base = Path(tempfile.mkdtemp(prefix="ns-reliability-"))
    _env(base)
    settings = load_settings(env_file=None)
    service = await Service.open(settings)
    try:
        repos = [make_repo(base / "repo-a"), make_repo(base / "repo-b")]
        return await kill_and_restart(service, mixed_tasks(tasks, repos), base / "record.jsonl",
                                      seed=seed, kills=kill_count, timeout_s=600)
    finally:
        await service.close()
        await asyncio.to_thread(subprocess.run, ["tmux", "-L", settings.tmux_socket, "kill-server"],
                                capture_output=True, check=False)
        tmux_dir = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
        (tmux_dir / settings.tmux_socket).unlink(missing_ok=True)
        os.chdir(ROOT)
        shutil.rmtree(base, ignore_errors=True)


def beside(rounds: int) -> Any:
    """The owner's CLI beside a real `nightshift run` (tests/reliability/beside.py)."""
    from tests.reliability.beside import cli_beside_daemon

    base = Path(tempfile.mkdtemp(prefix="ns-beside-"))
    _env(base)
    socket = os.environ["NIGHTSHIFT_TMUX_SOCKET"]
    try:
        return cli_beside_daemon(base / "state", base / "brain", base, rounds=rounds)
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)
        os.chdir(ROOT)
        shutil.rmtree(base, ignore_errors=True)


async def outages(count: int, seed: int) -> Any:
    from bot.runtime import running_bot
    from bot.sender import RetryPolicy
    from core.assembly import owner_notifier
    from core.service import Service
    from core.settings import load_settings
    from core.store.store import open_store
    from tests.bot.conftest import FAST, OWNER, FakeClock
    from tests.fakes.telegram_api import TOKEN, FakeTelegram
    from tests.reliability.scenarios import outage_scenario

    base = Path(tempfile.mkdtemp(prefix="ns-outage-"))
    _env(base)
    clock = FakeClock()
    options = replace(FAST, read_timeout_s=1.0, write_timeout_s=1.0, clock=clock, sleep=clock.sleep,
                      retry=RetryPolicy(base_s=2.0, factor=2.0, max_s=60.0, idle_poll_s=0.2))
    with FakeTelegram() as fake:
        settings = load_settings(env_file=None, telegram_bot_token=TOKEN,
                                 telegram_allowed_users=frozenset({OWNER}),
                                 telegram_api_base_url=fake.base_url)
        store = await open_store(settings)
        # As the daemon wires it: notifications go through the outbox the bot delivers.
        service = Service(settings, store, notifier=owner_notifier(settings, store))
        try:
            async with running_bot(settings, service, options) as runtime:
                return await outage_scenario(service.notifier, fake, runtime, OWNER, count=count,
                                             seed=seed, timeout_s=300)
        finally:
            await service.close()
            os.chdir(ROOT)
            shutil.rmtree(base, ignore_errors=True)


def hostile_inbox(copies: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The hostile import and its reference (as many ordinary files), each in a fresh process."""
    from tests.reliability.hostile import measure_in_subprocess

    base = Path(tempfile.mkdtemp(prefix="ns-hostile-"))
    try:
        results = []
        for kind in ("hostile", "benign"):
            (base / kind).mkdir()
            _env(base / kind)
            results.append(measure_in_subprocess(kind, copies, dict(os.environ)))
        return results[0], results[1]
    finally:
        os.chdir(ROOT)
        shutil.rmtree(base, ignore_errors=True)


async def run_secrets() -> Any:
    from tests.reliability.hostile import run_environments

    base = Path(tempfile.mkdtemp(prefix="ns-secrets-"))
    _env(base)
    secrets = {"TELEGRAM_BOT_TOKEN": "123456789:AAH-benchmark-token-never-to-reach-claude",
               "NIGHTSHIFT_DATABASE_URL": "postgresql://ns:benchmark-password@db/ns",
               "AWS_SECRET_ACCESS_KEY": "benchmark-aws-secret-key-0123456789", "CLAUDECODE": "1"}
    try:
        return await run_environments(os.environ["NIGHTSHIFT_TMUX_SOCKET"], base / "run",
                                      os.environ["NIGHTSHIFT_CLAUDE_BIN"], secrets, [])
    finally:
        os.chdir(ROOT)
        shutil.rmtree(base, ignore_errors=True)


def _ratio(value: float, reference: float) -> str:
    return f"ratio {value / reference:.2f}" if reference > 0 else "ratio n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--notifications", type=int, default=60)
    parser.add_argument("--hostile-copies", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-fuzz", action="store_true")
    parser.add_argument("--beside-rounds", type=int, default=3,
                        help="rounds of every CLI command beside a running daemon (0: skip)")
    args = parser.parse_args()
    import logging

    logging.disable(logging.CRITICAL)  # the outage part logs every failed delivery, by design
    ok = True

    if not args.no_fuzz:
        started = time.monotonic()
        counter = fuzz()
        print(f"fuzz: {counter.cases:,} cases in {counter.tests} tests "
              f"({time.monotonic() - started:.0f} s); failed: {len(counter.failed)}")
        for nodeid in counter.failed:
            print(f"  FAILED {nodeid}")
        ok &= not counter.failed

    report = asyncio.run(kills(args.tasks, args.kills, args.seed))
    survived = report.kills if not (report.lost or report.duplicates or report.wrong) else 0
    print(f"kills: {report.kills} SIGKILLs across {report.tasks} tasks "
          f"({report.invocations} CLI calls, {report.resumes} of them --resume), "
          f"{report.starts} daemon starts, {report.seconds:.0f} s")
    print(f"  kills survived: {survived}")
    print(f"  tasks lost: {len(report.lost)}")
    print(f"  duplicates (a task started from scratch twice): {len(report.duplicates)}")
    print(f"  tasks in the wrong end state: {len(report.wrong)}")
    print(f"  runs left in tmux: {report.leftover_sessions}")
    ok &= not (report.lost or report.duplicates or report.wrong or report.leftover_sessions)

    if args.beside_rounds:
        side = beside(args.beside_rounds)
        print(f"CLI commands run beside the daemon: {side.commands}, lost {len(side.lost)}, "
              f"integrity {side.integrity} ({side.rounds} rounds of every command, {side.seconds:.0f} s)")
        print(f"  database files held after unlink: {len(side.deleted)} "
              f"(in {side.db_links_seen:,} database descriptors seen); "
              f"files not 0600: {len(side.loose_modes)}")
        print(f"  tasks queued beside it the daemon did not run: {len(side.not_run)}; "
              f"commands that failed: {len(side.failed)}")
        for line in side.failed[:10]:
            print(f"  FAILED {line}")
        ok &= side.ok

    outage = asyncio.run(outages(args.notifications, args.seed))
    failures = ", ".join(f"{n} {k}" for k, n in sorted(outage.failures.items()))
    print(f"outages: {outage.written} notifications written through failed requests ({failures}), "
          f"{outage.seconds:.1f} s")
    print(f"  messages delivered after outages: {outage.delivered} of {outage.written} "
          f"({outage.refused} refused for good by a 400, skipped by design)")
    print(f"  lost: {outage.lost}, duplicated: {outage.duplicates}, out of order: {outage.out_of_order}")
    ok &= not (outage.lost or outage.duplicates or outage.out_of_order)

    hostile, benign = hostile_inbox(args.hostile_copies)
    print(f"hostile inbox: {hostile['planted']} files refused: {hostile['refused']} of {hostile['planted']} "
          f"in {hostile['seconds']:.2f} s; the file behind links and hard links untouched: "
          f"{'yes' if hostile['outside_untouched'] else 'NO'}")
    print(f"  peak memory of the importing process: {hostile['maxrss_kb'] / 1024:.0f} MB "
          f"({benign['planted']} ordinary files: {benign['maxrss_kb'] / 1024:.0f} MB, "
          f"{_ratio(hostile['maxrss_kb'], benign['maxrss_kb'])})")
    print(f"  longest event-loop stall while refusing: {hostile['longest_stall_s'] * 1000:.0f} ms "
          f"(ordinary files: {benign['longest_stall_s'] * 1000:.0f} ms, "
          f"{_ratio(hostile['longest_stall_s'], benign['longest_stall_s'])}); "
          f"queue listed {hostile['queue_answers']} times meanwhile")
    ok &= hostile["refused"] == hostile["planted"] and hostile["imported"] == 0
    ok &= hostile["outside_untouched"] and hostile["queue_answers"] > 0

    secrets = asyncio.run(run_secrets())
    print(f"secrets: {secrets.processes} processes of a run checked (tmux server, launcher, Claude, "
          f"the check) and tmux's global environment: {len(secrets.leaks)} leaks")
    for leak in secrets.leaks:
        print(f"  LEAK {leak}")
    ok &= secrets.processes >= 4 and not secrets.leaks

    print("result: " + ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
