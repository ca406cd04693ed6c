"""Work runs of the real CLI: it edits, runs the check and commits, or is refused and asks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.execution.executor import Executor
from core.execution.permissions import sandbox_support
from core.models import Outcome, TaskState
from core.service import Service
from tests.fakes import messages_api as m
from tests.fakes.messages_api import MessagesAPI
from tests.fakes.notifier import RecordingNotifier
from tests.realcli.conftest import git, told

HELLO = "print('hello')\n"


def worktree_of(run: Any) -> Path:
    return Path(run.worktree)


def tool_results(api: MessagesAPI) -> list[dict[str, Any]]:
    """Every tool result the CLI sent back to the API, in order (each request repeats the
    conversation, so they are collected from the last request)."""
    last = api.model_turns()[-1]
    return [block for msg in last.messages if msg["role"] == "user" and isinstance(msg["content"], list)
            for block in msg["content"] if block.get("type") == "tool_result"]


def result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


@pytest.mark.parametrize("sandbox", ["auto", "off"])
async def test_a_work_run_edits_runs_the_check_and_commits(
    executor: Executor, cli_service: Service, api: MessagesAPI, repo: Path, claimed: Any,
    notes: RecordingNotifier, sandbox: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    if sandbox == "auto" and not sandbox_support()[0]:
        pytest.skip(f"no Bash sandbox here: {sandbox_support()[1]}")
    monkeypatch.setattr(executor.settings, "bash_sandbox", sandbox)
    task = await claimed("Add hello.py", repo=str(repo), check_cmd="python3 hello.py")
    worktree = executor.settings.home_dir / "worktrees" / f"{task.id}-add-hello-py"
    api.push(
        m.write(str(worktree / "hello.py"), HELLO),
        m.bash("python3 hello.py", "run the check"),
        m.bash("git add hello.py && git commit -m 'Add hello'", "commit"),
        m.text("Added hello.py; the check passes.\nNIGHTSHIFT-TASK-COMPLETE"),
    )
    run = await executor.execute(task)

    assert run.outcome is Outcome.SUCCESS, run.summary
    assert (await cli_service.get(task.id)).state is TaskState.DONE
    results = tool_results(api)
    assert [r.get("is_error", False) for r in results] == [False, False, False]
    assert "hello" in result_text(results[1])  # the CLI really ran it in the worktree
    assert "Add hello" in result_text(results[2])
    assert git(worktree, "log", "--format=%s", "-1").strip() == "Add hello"
    assert git(worktree, "status", "--porcelain").strip() == ""
    assert "autocommit" not in run.extra  # Claude committed; nothing was left for nightshift
    assert run.extra["permissions"]["sandbox"] is (sandbox == "auto")
    assert "Bash(python3:*)" in run.extra["permissions"]["allowed_tools"]
    # The owner's checkout is untouched: the work is on the task branch only.
    assert not (repo / "hello.py").exists() and git(repo, "status", "--porcelain").strip() == ""
    assert [n.kind for n in told(notes)] == ["run_finished"]
    assert "the check passed" in told(notes)[0].text
    assert all(r.session_id == run.session_id for r in api.model_turns())


async def test_work_claude_left_uncommitted_is_committed_on_the_task_branch(
    executor: Executor, api: MessagesAPI, repo: Path, claimed: Any, notes: RecordingNotifier,
) -> None:
    task = await claimed("Write notes", repo=str(repo))
    worktree = executor.settings.home_dir / "worktrees" / f"{task.id}-write-notes"
    api.push(m.write(str(worktree / "notes.md"), "# Notes\n"),
             m.edit(str(worktree / "README.md"), "hello", "hello, world"),
             m.text("Wrote the notes.\nNIGHTSHIFT-TASK-COMPLETE"))
    run = await executor.execute(task)

    assert run.outcome is Outcome.SUCCESS
    assert git(worktree, "status", "--porcelain").strip() == ""
    subject = git(worktree, "log", "--format=%s", "-1").strip()
    assert subject == f"nightshift: task {task.id} run {run.id}: Write notes"
    assert set(git(worktree, "show", "--name-only", "--format=", "HEAD").split()) == {"notes.md",
                                                                                     "README.md"}
    assert run.extra["autocommit"]["files"] == 2
    assert run.extra["diffstat"]["commits"] == 1 and run.extra["diffstat"]["uncommitted"] == 0
    assert "nightshift committed 2 file(s)" in told(notes)[-1].text
    assert git(repo, "status", "--porcelain").strip() == "" and not (repo / "notes.md").exists()


async def test_a_refused_command_is_named_and_allowed_then_retried_in_the_same_session(
    executor: Executor, cli_service: Service, api: MessagesAPI, repo: Path, claimed: Any,
    notes: RecordingNotifier, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the sandbox only the allow-list runs unasked: the refusal is shown with a button,
    the owner allows it, and the task resumes its session and runs the command."""
    monkeypatch.setattr(executor.settings, "bash_sandbox", "off")
    mark = repo / "mark.sh"
    mark.write_text("#!/bin/sh\necho marked > marked.txt\n")
    mark.chmod(0o755)
    git(repo, "add", "mark.sh")
    git(repo, "commit", "-q", "-m", "mark script")
    task = await claimed("Mark it", repo=str(repo))
    api.push(m.bash("./mark.sh", "mark"), m.text("I could not run ./mark.sh.\nNIGHTSHIFT-TASK-COMPLETE"))
    first = await executor.execute(task)

    assert first.outcome is Outcome.PERMISSION_DENIED
    failed = await cli_service.get(task.id)
    assert failed.state is TaskState.FAILED
    note = told(notes)[-1]
    assert note.kind == "permission_denied" and "`./mark.sh`" in note.text
    assert first.extra["refused"] == [{"tool": "Bash", "detail": "./mark.sh", "rules": ["Bash(./mark.sh:*)"]}]
    assert note.buttons[0][0].data == f"al:{first.id}:0"
    assert all(len(b.data.encode()) <= 64 for row in note.buttons for b in row)
    worktree = worktree_of(first)
    assert not (worktree / "marked.txt").exists()

    again = await cli_service.allow_refused(first.id, 0)
    assert again.state is TaskState.READY
    assert await cli_service.allowed(task.id) == ["Bash(./mark.sh:*)"]
    claimed_again = await cli_service.store.tasks.claim_next(only_ids=[task.id])
    assert claimed_again is not None
    sent_before = len(api.model_turns())
    api.push(m.bash("./mark.sh", "mark"), m.text("Marked.\nNIGHTSHIFT-TASK-COMPLETE"))
    second = await executor.execute(claimed_again)

    assert second.outcome is Outcome.SUCCESS, second.summary
    assert (worktree / "marked.txt").exists() or "marked.txt" in git(worktree, "show", "--name-only", "HEAD")
    resumed = api.model_turns()[sent_before]
    assert resumed.session_id == first.session_id
    earlier = json.dumps(resumed.messages)
    assert "./mark.sh" in earlier and "requires approval" in earlier  # the conversation was resent
    assert "Bash(./mark.sh:*)" in second.extra["permissions"]["allowed_tools"]
