"""The branch holds the work: what a run left uncommitted is committed on the task branch.

Claude may stop before committing (a limit, a refused `git commit`, a forgotten step); the
morning review should still find one reviewable branch, not a worktree to dig through. Only
the task's own worktree is touched, never the owner's checkout, and only while it is on the
task branch. Hooks are skipped (`--no-verify`): this is a safety net, not a release.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.execution.git import GitFailed, git
from core.execution.workspace import Workspace
from core.log import event

FALLBACK_NAME = "nightshift"
FALLBACK_EMAIL = "nightshift@localhost"
SUBJECT_CHARS = 60


@dataclass(frozen=True, slots=True)
class AutoCommit:
    sha: str | None
    """The commit made, or None when there was nothing to commit or it could not be made."""
    files: int = 0
    error: str | None = None

    def as_json(self) -> dict[str, object]:
        return {"sha": self.sha, "files": self.files, "error": self.error}


def commit_message(task_id: int, title: str, run_id: int, iteration: int, outcome: str) -> str:
    subject = title.strip().splitlines()[0] if title.strip() else "work"
    if len(subject) > SUBJECT_CHARS:
        subject = subject[: SUBJECT_CHARS - 1].rstrip() + "…"
    return (
        f"nightshift: task {task_id} run {run_id}: {subject}\n\n"
        f"Changes left uncommitted by run {run_id} (iteration {iteration}, {outcome}) of task "
        f"{task_id}, committed by nightshift so that the branch holds all of the work.\n"
    )


async def _identity(ws: Workspace) -> list[str]:
    """`-c user.*` for a repository with no committer configured (git would refuse to commit)."""
    found = []
    for key in ("user.name", "user.email"):
        found.append((await git(ws.path, "config", "--get", key, check=False)).strip())
    if all(found):
        return []
    return ["-c", f"user.name={found[0] or FALLBACK_NAME}", "-c", f"user.email={found[1] or FALLBACK_EMAIL}"]


async def commit_leftovers(ws: Workspace, message: str) -> AutoCommit:
    """Commit everything uncommitted in the task's worktree, if it is one and on its branch."""
    if ws.kind != "worktree" or ws.branch is None or ws.repo is None:
        return AutoCommit(None)
    if ws.path.resolve() == ws.repo.resolve():
        return AutoCommit(None, error="the workspace is the owner's checkout; left as it is")
    try:
        status = await git(ws.path, "status", "--porcelain")
        if not status.strip():
            return AutoCommit(None)
        head = (await git(ws.path, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)).strip()
        if head != ws.branch:
            return AutoCommit(None, error=f"the worktree is on {head or 'a detached HEAD'}, not "
                              f"{ws.branch}: its changes were left uncommitted")
        await git(ws.path, "add", "-A")
        files = len([ln for ln in (await git(ws.path, "diff", "--cached", "--name-only")).splitlines()
                     if ln.strip()])
        if not files:
            return AutoCommit(None)
        await git(ws.path, *await _identity(ws), "commit", "--no-verify", "--quiet", "-m", message)
        sha = (await git(ws.path, "rev-parse", "HEAD")).strip()
    except GitFailed as exc:
        event("leftovers not committed", logging.WARNING, logger="execution", worktree=str(ws.path),
              error=exc.message)
        return AutoCommit(None, error=exc.message)
    event("leftovers committed", logger="execution", worktree=str(ws.path), sha=sha, files=files)
    return AutoCommit(sha, files)
