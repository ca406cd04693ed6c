"""The whole path as the owner drives it: `nightshift run --burst` executes with this executor,
and `nightshift clean` (subprocesses, real tmux, the fake CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from core.execution.tmux import TmuxRunner
from core.models import TaskState
from core.store.store import Store
from core.store.task_rows import NewTask
from tests.execution.conftest import git

NIGHTSHIFT = str(Path(sys.executable).parent / "nightshift")


def nightshift(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NIGHTSHIFT, *args], env=dict(os.environ), capture_output=True, text=True,
                          timeout=120)


def session_flag(call: dict[str, Any], name: str) -> str | None:
    argv = call["argv"]
    return argv[argv.index(name) + 1] if name in argv else None


async def test_burst_waits_out_a_limit_resumes_that_task_first_then_runs_the_rest(
    exec_store: Store, runner: TmuxRunner, repo: Path, record: Any,
) -> None:
    first = await exec_store.tasks.add(NewTask(prompt="First [fake: limit reset_in=1]",
                                               repo=str(repo), needs_plan=False))
    second = await exec_store.tasks.add(NewTask(prompt="Second", needs_plan=False))
    done = nightshift("run", "--burst", "--max-wait", "30")
    assert done.returncode == 0, done.stderr
    calls = record()
    # Fresh starts get a prompt style around the owner's words; a resume gets the resume prompt.
    assert len(calls) == 3
    assert "First [fake: limit reset_in=1]" in calls[0]["prompt"]
    assert calls[1]["prompt"].startswith("You were interrupted")
    assert "Second" in calls[2]["prompt"] and "First" not in calls[2]["prompt"]
    assert session_flag(calls[1], "--resume") == session_flag(calls[0], "--session-id")
    for task in (first, second):
        assert (await exec_store.tasks.get(task.id)).state is TaskState.DONE
    assert (await exec_store.tasks.get(first.id)).attempts == 1
    branch = (await exec_store.runs.for_task(first.id))[-1].branch or ""
    assert git(repo, "log", "-1", "--format=%s", branch).startswith("fake claude")


async def test_burst_stops_when_the_reset_is_beyond_max_wait(
    exec_store: Store, runner: TmuxRunner, record: Any,
) -> None:
    first = await exec_store.tasks.add(NewTask(prompt="A [fake: limit reset_in=3600]", needs_plan=False))
    second = await exec_store.tasks.add(NewTask(prompt="B", needs_plan=False))
    done = nightshift("run", "--burst")
    assert done.returncode == 0, done.stderr
    assert len(record()) == 1  # nobody probed the limit, and B was not tried against it
    assert (await exec_store.tasks.get(first.id)).state is TaskState.PAUSED_LIMIT
    untouched = await exec_store.tasks.get(second.id)
    assert untouched.state is TaskState.READY and untouched.attempts == 0


async def test_clean_via_the_cli(exec_store: Store, runner: TmuxRunner, repo: Path) -> None:
    await exec_store.tasks.add(NewTask(prompt="Work", repo=str(repo), needs_plan=False))
    assert nightshift("run", "--burst").returncode == 0
    out = nightshift("clean", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert len(report["removed"]) == 1 and report["kept_dirty"] == []
    assert not Path(report["removed"][0]).exists()
    assert nightshift("clean").stdout.strip() == "nothing to clean"
