"""The branch holds the work: leftovers are committed on the task branch, nowhere else."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from core.execution.commit import commit_leftovers, commit_message
from core.execution.workspace import Workspace, prepare_workspace
from core.models import Priority, Task, TaskState, utcnow
from core.settings import Settings
from tests.execution.conftest import logged
from tests.support import git, make_repo


def task(repo: Path, title: str = "Fix the login") -> Task:
    now = utcnow()
    return Task(id=7, title=title, prompt="x", state=TaskState.RUNNING, priority=Priority.NORMAL,
                repo=str(repo), depends_on=(), created_at=now, updated_at=now)


async def worktree(settings: Settings, tmp_path: Path) -> tuple[Path, Workspace]:
    repo = make_repo(tmp_path / "repo")
    return repo, await prepare_workspace(settings, task(repo))


async def test_leftovers_are_committed_on_the_task_branch_only(settings: Settings, tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="nightshift.execution")
    repo, ws = await worktree(settings, tmp_path)
    (ws.path / "new.py").write_text("x = 1\n")
    (ws.path / "README.md").write_text("changed\n")
    message = commit_message(7, "Fix the login", 12, 2, "limit")
    done = await commit_leftovers(ws, message)

    assert done.sha is not None and done.files == 2 and done.error is None
    assert git(ws.path, "status", "--porcelain") == ""
    subject = git(ws.path, "log", "-1", "--format=%s").strip()
    assert subject == "nightshift: task 7 run 12: Fix the login"
    assert "iteration 2, limit" in git(ws.path, "log", "-1", "--format=%b")
    assert git(ws.path, "rev-parse", "--abbrev-ref", "HEAD").strip() == ws.branch
    # The owner's checkout and branch did not move.
    assert git(repo, "status", "--porcelain") == "" and (repo / "README.md").read_text() == "hello\n"
    assert git(repo, "log", "--format=%s", "main") == "initial\n"
    assert logged(caplog, "leftovers committed") == [{"worktree": str(ws.path), "sha": done.sha, "files": 2}]


async def test_nothing_to_commit_is_no_commit(settings: Settings, tmp_path: Path) -> None:
    _, ws = await worktree(settings, tmp_path)
    before = git(ws.path, "rev-parse", "HEAD")
    assert (await commit_leftovers(ws, "m")).sha is None
    assert git(ws.path, "rev-parse", "HEAD") == before


async def test_a_worktree_moved_off_its_branch_is_left_as_it_is(settings: Settings, tmp_path: Path) -> None:
    _, ws = await worktree(settings, tmp_path)
    git(ws.path, "checkout", "-q", "-b", "elsewhere")
    (ws.path / "new.py").write_text("x\n")
    done = await commit_leftovers(ws, "m")
    assert done.sha is None and done.error is not None and "elsewhere" in done.error
    assert git(ws.path, "status", "--porcelain").strip() == "?? new.py"


async def test_a_repository_without_a_committer_still_gets_the_commit(settings: Settings,
                                                                        tmp_path: Path) -> None:
    _, ws = await worktree(settings, tmp_path)
    git(ws.path, "config", "--unset", "user.email")
    git(ws.path, "config", "--unset", "user.name")
    (ws.path / "new.py").write_text("x\n")
    done = await commit_leftovers(ws, "m")
    assert done.sha is not None
    assert git(ws.path, "log", "-1", "--format=%an <%ae>").strip() == "nightshift <nightshift@localhost>"


async def test_scratch_and_in_place_workspaces_are_never_committed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "dirty.txt").write_text("owner's work in progress\n")
    in_place = Workspace(repo, "in_place", repo=repo)
    assert (await commit_leftovers(in_place, "m")).sha is None
    same = Workspace(repo, "worktree", branch="main", base="HEAD", repo=repo)
    assert (await commit_leftovers(same, "m")).sha is None
    assert "dirty.txt" in git(repo, "status", "--porcelain")
