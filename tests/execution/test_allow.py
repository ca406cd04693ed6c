"""A refusal is shown with the rules that would allow it; allowing one retries in the same session."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from core.errors import InvalidInput
from core.execution.executor import Executor
from core.models import Outcome, TaskState
from core.service import Service
from core.store.store import Store
from tests.fakes.notifier import RecordingNotifier
from tests.support import NIGHTSHIFT


@pytest.fixture
def allow_service(exec_settings: Any, exec_store: Store) -> Service:
    return Service(exec_settings, exec_store)


async def test_a_refusal_is_reported_with_allow_buttons_and_allowing_retries_the_session(
    executor: Executor, exec_store: Store, allow_service: Service, repo: Path, claimed: Any,
    notes: RecordingNotifier, record: Any,
) -> None:
    task = await claimed("Look around [fake: permission_denied]", repo=str(repo))
    run = await executor.execute(task)

    assert run.outcome is Outcome.PERMISSION_DENIED
    assert (await exec_store.tasks.get(task.id)).state is TaskState.FAILED
    assert run.extra["refused"] == [{"tool": "Bash", "detail": "git status --short",
                                     "rules": ["Bash(git status:*)"]}]
    note = next(n for n in reversed(notes.sent) if n.kind == "permission_denied")
    assert note.kind == "permission_denied"
    assert "`git status --short`" in note.text and f"nightshift allow {task.id}" in note.text
    assert [[b.data for b in row] for row in note.buttons] == [
        [f"al:{run.id}:0", f"ar:{run.id}:0"], [f"rt:{task.id}", f"lg:{task.id}"]]

    again = await allow_service.allow_refused(run.id, 0, scope="repo")
    assert again.state is TaskState.READY and again.attempts == 0
    assert await allow_service.allowed(task.id) == ["Bash(git status:*)"]
    claimed_again = await exec_store.tasks.claim_next(only_ids=[task.id])
    assert claimed_again is not None
    await executor.execute(claimed_again)
    second = record()[-1]
    assert second["resume"] == run.session_id  # the same session, not a fresh start
    assert "you may now also use Bash(git status:*)" in second["prompt"]
    assert "Bash(git status:*)" in second["argv"]


async def test_allowing_refuses_what_it_cannot_mean(allow_service: Service, claimed: Any) -> None:
    task = await claimed("No repo")
    with pytest.raises(InvalidInput, match="every Bash command"):
        await allow_service.allow(task.id, "Bash")
    with pytest.raises(InvalidInput, match="no repository"):
        await allow_service.allow(task.id, "pytest", scope="repo")
    with pytest.raises(InvalidInput, match="task or the repo"):
        await allow_service.allow(task.id, "pytest", scope="everything")
    assert await allow_service.allowed(task.id) == []
    # A task that did not fail on a refusal only gets the rule; its state stays.
    allowed = await allow_service.allow(task.id, "pytest -q")
    assert allowed.state is TaskState.RUNNING
    assert await allow_service.allowed(task.id) == ["Bash(pytest -q:*)"]


async def test_a_button_for_a_refusal_that_does_not_exist_is_refused(
    executor: Executor, allow_service: Service, repo: Path, claimed: Any,
) -> None:
    run = await executor.execute(await claimed("Look [fake: permission_denied]", repo=str(repo)))
    with pytest.raises(InvalidInput, match="no refusal 3"):
        await allow_service.allow_refused(run.id, 3)
    assert (await allow_service.get(run.task_id)).state is TaskState.FAILED


def test_the_allow_command(isolated_env: Path) -> None:
    env = dict(os.environ)
    add = subprocess.run([NIGHTSHIFT, "add", "--no-plan", "--json", "Do it"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert add.returncode == 0, add.stderr
    task_id = json.loads(add.stdout)["id"]
    done = subprocess.run([NIGHTSHIFT, "allow", str(task_id), "npm test"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Bash(npm test:*)" in done.stdout
    bad = subprocess.run([NIGHTSHIFT, "allow", str(task_id), "Bash(*)"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 1 and "every Bash command" in bad.stderr
