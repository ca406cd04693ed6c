"""Where a task runs: its own git worktree and branch, a scratch directory, or (if allowed) in place.

A worktree keeps the owner's checkout untouched while Claude works, and a branch per task
makes the result reviewable. Later iterations and resumes reuse the same worktree, so work
is never started over. A dirty worktree is never removed automatically.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from core.errors import TaskNotFound, WorktreeError
from core.execution.git import GitFailed, git, is_git_repo
from core.models import Task, TaskState
from core.settings import Settings
from core.store.db import ensure_private_dir
from core.store.store import Store

FINISHED = frozenset({TaskState.DONE, TaskState.FAILED, TaskState.CANCELLED, TaskState.REJECTED})


def slugify(text: str, max_len: int = 40) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_len].rstrip("-") or "task"


def task_dir_name(task: Task) -> str:
    return f"{task.id}-{slugify(task.title)}"


@dataclass(frozen=True, slots=True)
class Workspace:
    path: Path
    kind: Literal["worktree", "scratch", "in_place"]
    branch: str | None = None
    base: str | None = None
    """The commit the branch started from: diffstats and commit lists are taken against it."""
    repo: Path | None = None


def worktrees_dir(settings: Settings) -> Path:
    return settings.home_dir / "worktrees"


async def prepare_workspace(settings: Settings, task: Task, *, base: str | None = None) -> Workspace:
    """The task's workspace, created on first use and reused afterwards.

    `base` is the commit recorded by an earlier run of this task, if any.
    """
    name = task_dir_name(task)
    if not task.repo:
        path = ensure_private_dir(settings.home_dir / "scratch" / name)
        return Workspace(path, "scratch")
    repo = Path(task.repo).expanduser()  # noqa: ASYNC240 - a stat, not I/O worth a thread
    if not repo.is_dir():
        raise WorktreeError(f"task {task.id}: repo {repo} is not a directory")
    if not await is_git_repo(repo):
        if settings.allow_in_place:
            return Workspace(repo, "in_place", repo=repo)
        raise WorktreeError(
            f"task {task.id}: {repo} is not a git repository; run `git init` there, or set "
            "NIGHTSHIFT_ALLOW_IN_PLACE=true to let Claude work in it directly"
        )
    top = Path((await git(repo, "rev-parse", "--show-toplevel")).strip())
    path = worktrees_dir(settings) / name
    branch = f"nightshift/{name}"
    if (path / ".git").exists():
        if base is None:
            base = await _fork_point(top, settings.base_branch or "HEAD", branch)
        return Workspace(path, "worktree", branch, base, top)
    ensure_private_dir(worktrees_dir(settings))
    if path.exists() and any(path.iterdir()):
        raise WorktreeError(
            f"task {task.id}: {path} exists but is not a git worktree; move it away and retry"
        )
    await git(top, "worktree", "prune")
    ref = settings.base_branch or "HEAD"
    try:
        start = (await git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")).strip()
    except GitFailed:
        what = f"branch {ref!r} (NIGHTSHIFT_BASE_BRANCH)" if settings.base_branch else "commit yet"
        raise WorktreeError(f"task {task.id}: {top} has no {what} to start a worktree from") from None
    if await _branch_exists(top, branch):
        await git(top, "worktree", "add", str(path), branch)
        if base is None:
            base = await _fork_point(top, ref, branch)
    else:
        await git(top, "worktree", "add", "-b", branch, str(path), start)
        base = base or start
    return Workspace(path, "worktree", branch, base, top)


async def _branch_exists(repo: Path, branch: str) -> bool:
    out = await git(repo, "branch", "--list", branch)
    return bool(out.strip())


async def _fork_point(repo: Path, ref: str, branch: str) -> str | None:
    try:
        return (await git(repo, "merge-base", ref, branch)).strip() or None
    except GitFailed:
        return None


async def is_dirty(path: Path) -> bool:
    return bool((await git(path, "status", "--porcelain")).strip())


@dataclass
class CleanReport:
    removed: list[Path] = field(default_factory=list)
    kept_dirty: list[Path] = field(default_factory=list)
    kept_active: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, list[str]]:
        return {
            "removed": [str(p) for p in self.removed],
            "kept_dirty": [str(p) for p in self.kept_dirty],
            "kept_active": [str(p) for p in self.kept_active],
            "errors": self.errors,
        }


async def clean_worktrees(settings: Settings, store: Store) -> CleanReport:
    """Remove the worktrees of finished tasks that have nothing uncommitted; keep the branches."""
    report = CleanReport()
    root = worktrees_dir(settings)
    if not root.is_dir():
        return report
    for path in sorted(p for p in root.iterdir() if p.is_dir()):
        task_id_text = path.name.split("-", 1)[0]
        state: TaskState | None = None
        if task_id_text.isdigit():
            try:
                state = (await store.tasks.get(int(task_id_text))).state
            except TaskNotFound:  # a worktree nobody owns is finished
                state = None
        if state is not None and state not in FINISHED:
            report.kept_active.append(path)
            continue
        try:
            if not (path / ".git").exists():
                continue
            if await is_dirty(path):
                report.kept_dirty.append(path)
                continue
            common = Path((await git(path, "rev-parse", "--path-format=absolute",
                                     "--git-common-dir")).strip())
            repo = common.parent if common.name == ".git" else common
            await git(repo, "worktree", "remove", str(path))
            report.removed.append(path)
        except WorktreeError as exc:
            report.errors.append(str(exc))
    return report
