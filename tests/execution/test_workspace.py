"""Worktrees: one branch per task, reused across iterations, never removed while dirty."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import WorktreeError
from core.execution.workspace import clean_worktrees, prepare_workspace, slugify
from core.models import Task, TaskState
from core.settings import Settings
from core.store.store import Store
from core.store.task_rows import NewTask
from tests.execution.conftest import git, make_repo


async def task_in(store: Store, repo: Path | None, title: str = "Fix the flaky login test") -> Task:
    return await store.tasks.add(NewTask(prompt="p", title=title, repo=str(repo) if repo else None,
                                         needs_plan=False))


def test_slugs() -> None:
    assert slugify("Fix the flaky login test!") == "fix-the-flaky-login-test"
    assert slugify("Ünïcode  ✨ tásk") == "unicode-task"
    assert slugify("✨✨") == "task"
    assert len(slugify("x" * 100)) == 40


async def test_a_worktree_on_its_own_branch_reused_later(
    settings: Settings, store: Store, tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo")
    head = git(repo, "rev-parse", "HEAD").strip()
    task = await task_in(store, repo)
    ws = await prepare_workspace(settings, task)
    assert ws.kind == "worktree" and ws.base == head and ws.repo == repo
    assert ws.path == settings.home_dir / "worktrees" / "1-fix-the-flaky-login-test"
    assert ws.branch == "nightshift/1-fix-the-flaky-login-test"
    assert git(ws.path, "rev-parse", "--abbrev-ref", "HEAD").strip() == ws.branch
    (ws.path / "work.txt").write_text("half done\n")
    again = await prepare_workspace(settings, task)
    assert again == ws and (again.path / "work.txt").read_text() == "half done\n"


async def test_the_branch_survives_a_removed_worktree(
    settings: Settings, store: Store, tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo")
    task = await task_in(store, repo)
    ws = await prepare_workspace(settings, task)
    (ws.path / "a.txt").write_text("a\n")
    git(ws.path, "add", "a.txt")
    git(ws.path, "commit", "-q", "-m", "work")
    git(repo, "worktree", "remove", str(ws.path))
    back = await prepare_workspace(settings, task, base=ws.base)
    assert (back.path / "a.txt").read_text() == "a\n" and back.base == ws.base


async def test_refusals(settings: Settings, store: Store, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(WorktreeError, match="not a git repository"):
        await prepare_workspace(settings, await task_in(store, plain))
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    with pytest.raises(WorktreeError, match="has no commit yet"):
        await prepare_workspace(settings, await task_in(store, empty, "empty"))
    repo = make_repo(tmp_path / "repo")
    based = settings.model_copy(update={"base_branch": "nope"})
    with pytest.raises(WorktreeError, match="NIGHTSHIFT_BASE_BRANCH"):
        await prepare_workspace(based, await task_in(store, repo, "based"))
    with pytest.raises(WorktreeError, match="is not a directory"):
        await prepare_workspace(settings, await task_in(store, tmp_path / "gone", "gone"))


async def test_scratch_and_in_place(settings: Settings, store: Store, tmp_path: Path) -> None:
    ws = await prepare_workspace(settings, await task_in(store, None, "notes"))
    assert ws.kind == "scratch" and ws.path.is_dir() and ws.path.stat().st_mode & 0o777 == 0o700
    plain = tmp_path / "plain"
    plain.mkdir()
    allowed = settings.model_copy(update={"allow_in_place": True})
    ws = await prepare_workspace(allowed, await task_in(store, plain, "in place"))
    assert ws.kind == "in_place" and ws.path == plain and ws.branch is None


async def test_clean_removes_only_clean_worktrees_of_finished_tasks(
    settings: Settings, store: Store, tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo")
    done, dirty, active = [await task_in(store, repo, t) for t in ("done", "dirty", "active")]
    spaces = [await prepare_workspace(settings, t) for t in (done, dirty, active)]
    (spaces[1].path / "uncommitted.txt").write_text("keep me\n")
    for task in (done, dirty):
        await store.tasks.transition(task.id, TaskState.CANCELLED, reason="test")
    report = await clean_worktrees(settings, store)
    assert report.removed == [spaces[0].path]
    assert report.kept_dirty == [spaces[1].path]
    assert report.kept_active == [spaces[2].path]
    assert not spaces[0].path.exists() and (spaces[1].path / "uncommitted.txt").exists()
    assert spaces[0].branch in git(repo, "branch", "--list", spaces[0].branch or "")
    assert str(spaces[0].path) not in git(repo, "worktree", "list")
