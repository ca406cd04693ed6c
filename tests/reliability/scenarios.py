"""Fault scenarios shared by the tests and `benchmarks/reliability.py`: the same code measures
what the tests assert.

`kill_and_restart`: `nightshift run` processes SIGKILLed at seeded random points while a
queue of tasks runs (a mix that succeeds, needs a second iteration, fails its check, or
errors and retries), a new one started after each kill. Afterwards the fake CLI's own
invocation log says whether any task was started from scratch twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.models import TaskState
from core.service import Service

NIGHTSHIFT = str(Path(sys.executable).parent / "nightshift")


@dataclass(frozen=True)
class TaskPlan:
    """One task of the scenario and the state it must end in."""

    marker: str
    prompt: str
    expect: TaskState
    repo: Path
    check: str | None = None
    attempts: int = 1


def mixed_tasks(count: int, repos: list[Path]) -> list[TaskPlan]:
    """`count` tasks over `repos` (one run per repo at a time), mostly plain successes, with
    the other endings mixed in."""
    plans: list[TaskPlan] = []
    for i in range(count):
        marker = f"kill-task-{i:02d}"
        slow = "slow delay=0.04"
        repo = repos[i % len(repos)]
        if i % 10 == 3:
            plans.append(TaskPlan(marker, f"{marker} iterate [fake: {slow} needs_iterations=2]",
                                  TaskState.DONE, repo, check="grep -qx done fake-status.txt"))
        elif i % 10 == 6:
            plans.append(TaskPlan(marker, f"{marker} errors [fake: {slow} fail]", TaskState.FAILED, repo,
                                  attempts=2))
        elif i % 10 == 8:
            plans.append(TaskPlan(marker, f"{marker} never passes [fake: {slow} turns=1]", TaskState.FAILED,
                                  repo, check="false"))
        else:
            plans.append(TaskPlan(marker, f"{marker} plain [fake: {slow}]", TaskState.DONE, repo))
    return plans


@dataclass
class KillReport:
    tasks: int = 0
    kills: int = 0
    starts: int = 0
    """Daemon processes started (kills + 1)."""
    lost: list[int] = field(default_factory=list)
    """Tasks not in a terminal state at the end."""
    wrong: list[tuple[int, str, str]] = field(default_factory=list)
    """(task, expected, found) for tasks that ended in another state or attempt count."""
    duplicates: list[int] = field(default_factory=list)
    """Tasks the CLI was asked to start from scratch more than once."""
    invocations: int = 0
    resumes: int = 0
    leftover_sessions: int = 0
    seconds: float = 0.0
    kill_points: list[str] = field(default_factory=list)
    stderr_tail: str = ""


def read_record(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def fresh_starts(calls: list[dict[str, Any]], markers: list[str]) -> Counter[str]:
    """How many times each task was started without `--resume` (a second one is a duplicate)."""
    counts: Counter[str] = Counter()
    for call in calls:
        if call.get("resume") is not None or call.get("permission_mode") == "plan":
            continue
        prompt = str(call.get("prompt") or "")
        for marker in markers:
            if marker + " " in prompt:
                counts[marker] += 1
    return counts


def _daemon_ready(home: Path, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    lock = home / "daemon.lock"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the daemon exited early: {proc.returncode}")
        try:
            if lock.read_text().strip() == str(proc.pid):
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise AssertionError("the daemon never took its lock")


async def kill_and_restart(service: Service, plans: list[TaskPlan], record: Path, *, seed: int,
                           kills: int, timeout_s: float = 150.0) -> KillReport:
    """Queue `plans`, then run daemons, SIGKILLing `kills` of them at seeded random points."""
    rng = random.Random(seed)
    report = KillReport(tasks=len(plans))
    started_at = time.monotonic()
    ids = []
    for plan in plans:
        task = await service.add(plan.prompt, repo=str(plan.repo), check=plan.check, plan=False)
        ids.append(task.id)
    home = service.settings.home_dir
    stderr_path = home.parent / "daemon-stderr.log"
    deadline = started_at + timeout_s

    async def all_settled() -> bool:
        states = [(await service.store.tasks.get(i)).state for i in ids]
        return all(s.terminal for s in states)

    while True:
        with stderr_path.open("ab") as err:
            proc = subprocess.Popen([NIGHTSHIFT, "run"], stdout=subprocess.DEVNULL, stderr=err,  # noqa: ASYNC220
                                    env=dict(os.environ), start_new_session=True)
        report.starts += 1
        try:
            await asyncio.to_thread(_daemon_ready, home, proc)
            if report.kills < kills:
                # A seeded random point: a moment after start, or just after a CLI starts.
                if rng.random() < 0.5:
                    delay = rng.uniform(0.05, 2.5)
                    report.kill_points.append(f"{delay:.2f}s after start")
                else:
                    seen = len(read_record(record))
                    delay = rng.uniform(0.0, 0.5)
                    report.kill_points.append(f"{delay:.2f}s after CLI call {seen + 1}")
                    while len(read_record(record)) <= seen and time.monotonic() < deadline:
                        if await all_settled():
                            break
                        await asyncio.sleep(0.02)
                await asyncio.sleep(delay)
                proc.send_signal(signal.SIGKILL)
                await asyncio.to_thread(proc.wait)
                report.kills += 1
                if await all_settled():
                    break
                continue
            while not await all_settled():
                if time.monotonic() > deadline or proc.poll() is not None:
                    break
                await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(proc.wait, 30)
            break
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    report.seconds = time.monotonic() - started_at
    markers = [p.marker for p in plans]
    calls = read_record(record)
    report.invocations = len(calls)
    report.resumes = sum(1 for c in calls if c.get("resume") is not None)
    report.duplicates = [ids[markers.index(m)] for m, n in fresh_starts(calls, markers).items() if n > 1]
    for task_id, plan in zip(ids, plans, strict=True):
        task = await service.store.tasks.get(task_id)
        if not task.state.terminal:
            report.lost.append(task_id)
        elif task.state is not plan.expect or task.attempts != plan.attempts:
            report.wrong.append((task_id, f"{plan.expect.value}/{plan.attempts}",
                                 f"{task.state.value}/{task.attempts}: {task.state_reason}"))
    sessions = subprocess.run(["tmux", "-L", service.settings.tmux_socket, "list-sessions"],
                              capture_output=True, text=True, check=False)
    report.leftover_sessions = len(sessions.stdout.splitlines()) if sessions.returncode == 0 else 0
    report.stderr_tail = stderr_path.read_text(errors="replace")[-3000:] if stderr_path.exists() else ""
    return report


# --- Telegram outages ---------------------------------------------------------------------------


@dataclass
class OutageReport:
    written: int = 0
    delivered: int = 0
    refused: int = 0
    """Messages Telegram refused for good (400): skipped so the rest are not held hostage."""
    lost: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    """Failed requests by kind: 502, 429, timed out (stalled), 400."""
    seconds: float = 0.0


async def outage_scenario(notifier: Any, fake: Any, runtime: Any, chat_id: int, *, count: int,
                          seed: int, timeout_s: float = 90.0) -> OutageReport:
    """Write `count` notifications through rounds of Telegram failures, then let it recover.

    Each round picks a failure (a run of 502s, 429s with retry_after, requests that hang
    until the client gives up, a full outage, a message refused for good) and writes a few
    notifications into it. `fake` is the fake Bot API, `runtime` the running bot.
    """
    from core.abc import Notification

    rng = random.Random(seed)
    report = OutageReport()
    started = time.monotonic()
    written: list[str] = []

    async def write(n: int) -> None:
        for _ in range(n):
            text = f"notification {len(written):04d}"
            written.append(text)
            await notifier.notify(Notification("run_finished", text, task_id=len(written)))

    def calls(status: int) -> int:
        return sum(c.status == status for c in fake.calls("sendMessage"))

    while len(written) < count:
        kind = rng.choice(["502", "429", "stall", "down", "400", "502", "429"])
        batch = min(count - len(written), rng.randint(1, 6))
        if kind == "stall":
            fake.fail("stall", method="sendMessage", times=2)
            await write(batch)
            # The second hanging request is made only once the client gave up on the first.
            await fake.wait_for(lambda f: sum(c.status == 0 for c in f.calls("sendMessage")) >= 2,
                                timeout_s, "requests to hang and time out")
            report.failures["timed out"] += 2
            fake.heal()
        elif kind == "down":
            before = calls(502)
            fake.fail("502", method="sendMessage", times=None)
            await write(batch)
            await fake.wait_for(lambda f, seen=before: calls(502) >= seen + 3, timeout_s, "an outage")
            fake.heal()
        else:
            for _ in range(rng.randint(1, 4) if kind != "400" else 1):
                fake.fail(kind, method="sendMessage", retry_after=rng.randint(1, 30),
                          description="Bad Request: message is too long")
            await write(batch)
            await fake.wait_for(lambda f: not f.state.faults, timeout_s, "the faults to be met")
    await asyncio.wait_for(runtime.sender.idle.wait(), timeout_s)
    for status, name in ((502, "502"), (429, "429"), (400, "400")):
        report.failures[name] = calls(status)
    refused = {c.params["text"] for c in fake.calls("sendMessage") if c.status == 400}
    delivered = [s.text for s in fake.sent(chat_id)]
    expected = [t for t in written if t not in refused]
    report.written = len(written)
    report.refused = len(refused)
    report.delivered = len(set(delivered))
    report.duplicates = len(delivered) - len(set(delivered))
    report.lost = len(set(expected) - set(delivered))
    order = [t for t in delivered if t in set(expected)]
    report.out_of_order = sum(1 for a, b in zip(order, expected, strict=False) if a != b)
    report.seconds = time.monotonic() - started
    return report
