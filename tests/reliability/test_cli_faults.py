"""The Claude CLI crashing, hanging, printing garbage or missing: each run gets the right outcome
class and the queue keeps going.

The real daemon, executor and tmux; the CLI is the project's fake behind a small wrapper
that, for prompts marked `[garbage]` or `[noise]`, prints junk instead of (or between) the
fake's stream-json lines.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.assembly import build_daemon
from core.daemon import Daemon
from core.execution.tmux import TmuxRunner
from core.models import Outcome, TaskState, utcnow
from core.service import Service
from core.settings import Settings
from core.store.store import Store
from core.store.task_rows import NewTask
from tests.daemon.conftest import FAKE, FAST_TIMINGS, Record, wait_for_states
from tests.execution.conftest import eventually, group_gone

WRAPPER = f"""#!{sys.executable}
# A CLI that misbehaves on request; otherwise the project's fake, unchanged.
import os, subprocess, sys
argv = sys.argv[1:]
text = " ".join(argv)
if "[garbage]" in text:
    junk = b"\\x00\\xff not json at all\\n{{\\"type\\": \\"resu\\n"
    sys.stdout.buffer.write(junk + os.urandom(64) + b"\\n")
    sys.exit(0)
if "[noise]" in text:
    child = subprocess.Popen([{FAKE!r}, *argv], stdout=subprocess.PIPE)
    for line in child.stdout:
        sys.stdout.buffer.write(b"Warning: something chatty\\n[1, 2, 3]\\n\\xfe\\xfe\\n" + line)
        sys.stdout.buffer.flush()
    sys.exit(child.wait())
os.execv({FAKE!r}, [{FAKE!r}, *argv])
"""


class Clock:
    """The daemon's clock (through the service): moved by the test, never slept on."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset


async def _daemon(settings: Settings, store: Store, runner: TmuxRunner,
                  clock: Clock | None = None) -> tuple[Service, Daemon, asyncio.Task[int]]:
    daemon = build_daemon(settings, store, clock=clock or utcnow, runner=runner,
                          install_signal_handlers=False, timings=FAST_TIMINGS)
    return daemon.service, daemon, asyncio.create_task(daemon.run())


@pytest.mark.timeout(90)
async def test_crash_hang_and_garbage_each_get_their_outcome_and_the_queue_goes_on(
    daemon_settings: Settings, dstore: Store, runner: TmuxRunner, record: Record, tmp_path: Path,
) -> None:
    wrapper = tmp_path / "claude-wrapper"
    wrapper.write_text(WRAPPER)
    wrapper.chmod(0o700)
    settings = daemon_settings.model_copy(update={"claude_bin": str(wrapper), "max_parallel": 3})
    tasks = {
        "crash": await dstore.tasks.add(NewTask("crashes [fake: crash]", needs_plan=False)),
        # A minute and a half of limit would be the default; this one may hang 1.5 s.
        "hang": await dstore.tasks.add(NewTask("hangs [fake: hang]", needs_plan=False, max_minutes=0.025)),
        "garbage": await dstore.tasks.add(NewTask("prints junk [garbage]", needs_plan=False)),
        "noise": await dstore.tasks.add(NewTask("junk between lines [noise] [fake: turns=1]",
                                                needs_plan=False)),
        "fine": await dstore.tasks.add(NewTask("an ordinary task [fake: turns=1]", needs_plan=False)),
    }
    _, daemon, job = await _daemon(settings, dstore, runner)
    try:
        ids = [t.id for t in tasks.values()]
        await wait_for_states(dstore, ids, {TaskState.DONE, TaskState.FAILED}, timeout_s=60)
    finally:
        daemon.request_stop("test over")
        assert await asyncio.wait_for(job, 30) == 0

    async def outcomes(name: str) -> list[Outcome | None]:
        return [r.outcome for r in await dstore.runs.for_task(tasks[name].id)]

    async def state(name: str) -> tuple[TaskState, int]:
        task = await dstore.tasks.get(tasks[name].id)
        return task.state, task.attempts

    # A crash is retried once (resuming its session), then the task fails.
    assert await outcomes("crash") == [Outcome.CRASHED, Outcome.CRASHED]
    assert await state("crash") == (TaskState.FAILED, 2)
    # A hang is stopped at the task's time limit; its whole process group is gone.
    assert await outcomes("hang") == [Outcome.TIMEOUT]
    assert (await state("hang"))[0] is TaskState.FAILED
    [hung] = [c for c in record() if c["prompt"].startswith("hangs")]
    await eventually(lambda: group_gone(hung["pgid"]), "the hung CLI's process group to end")
    # Junk with no stream at all: the CLI did not start; retried, then failed.
    assert await outcomes("garbage") == [Outcome.ERROR, Outcome.ERROR]
    garbage_runs = await dstore.runs.for_task(tasks["garbage"].id)
    assert all(r.extra["bad_lines"] >= 2 for r in garbage_runs)
    # Junk between good lines is counted and skipped: the run still succeeds.
    [noisy] = await dstore.runs.for_task(tasks["noise"].id)
    assert noisy.outcome is Outcome.SUCCESS and noisy.extra["bad_lines"] >= 3
    assert await state("noise") == (TaskState.DONE, 1)
    assert await state("fine") == (TaskState.DONE, 1)
    # Every crash retry resumed the session it crashed in; nothing started from scratch twice.
    firsts = [c["prompt"].splitlines()[0] for c in record() if c["resume"] is None]
    assert len(firsts) == len(set(firsts)) == 4, firsts


@pytest.mark.timeout(60)
async def test_a_missing_cli_holds_the_queue_without_burning_attempts_until_it_is_back(
    daemon_settings: Settings, dstore: Store, runner: TmuxRunner, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    claude = tmp_path / "bin" / "claude"
    settings = daemon_settings.model_copy(update={"claude_bin": str(claude)})
    first = await dstore.tasks.add(NewTask("first [fake: turns=1]", needs_plan=False))
    second = await dstore.tasks.add(NewTask("second [fake: turns=1]", needs_plan=False))
    clock = Clock()
    _, daemon, job = await _daemon(settings, dstore, runner, clock)
    try:
        for _ in range(500):
            failed = [r for r in caplog.records if r.getMessage() == "run failed to execute"]
            if failed:
                break
            await asyncio.sleep(0.01)
        # One clear line: what is missing and how to fix it.
        assert f"{claude} not found: install Claude Code" in failed[0].fields["error"]  # type: ignore[attr-defined]
        # Nothing was burnt: both wait, ready, no attempt counted, no run recorded.
        for task in (first, second):
            fresh = await dstore.tasks.get(task.id)
            assert (fresh.state, fresh.attempts) == (TaskState.READY, 0)
            assert await dstore.runs.for_task(task.id) == []
        # The CLI is installed; a minute later (on the daemon's clock) the queue goes on.
        claude.parent.mkdir()
        claude.symlink_to(FAKE)
        clock.offset += timedelta(seconds=61)
        daemon.wake("test: a minute later")
        await wait_for_states(dstore, [first.id, second.id], {TaskState.DONE}, timeout_s=30)
    finally:
        daemon.request_stop("test over")
        await asyncio.wait_for(job, 30)
    assert [(await dstore.tasks.get(t.id)).attempts for t in (first, second)] == [1, 1]
