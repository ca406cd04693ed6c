"""The morning review: see a task's change, merge it, or open a pull request.

Merging touches the owner's own checkout, so it is refused (with the reason) unless all of
this holds: the task is done and the button is for its latest run; the checkout is on the
base branch and has no uncommitted changes; the task branch started from that branch; and
`git merge-tree` says the merge is clean. Nothing is ever forced: no `--force`, no reset, and
a merge git itself refuses is aborted. Work Claude left uncommitted in the task's worktree
(nightshift's own folder) is committed on the task branch first, so what is merged is what
the Diff showed.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import safefs
from core.errors import ReviewRefused, WorktreeError
from core.execution.git import GitFailed, git
from core.models import Run, RunKind, Task, TaskState
from core.store.db import ensure_private_dir
from core.store.events import record_event

if TYPE_CHECKING:
    from core.service import Service
    from core.settings import Settings

INLINE_PATCH_LINES = 30
GH_TIMEOUT_S = 60.0
IDENTITY = ("-c", "user.name=nightshift", "-c", "user.email=nightshift@localhost")
"""Used only when the repository has no committer identity of its own."""


@dataclass(frozen=True, slots=True)
class Change:
    """Where a task's work is: its branch, the commit it started from, its worktree."""

    task: Task
    run: Run
    repo: Path
    branch: str
    base: str
    worktree: Path | None


@dataclass(frozen=True, slots=True)
class Patch:
    path: Path
    head: str
    """The first lines, for the message itself."""
    lines: int
    untracked: tuple[str, ...]


async def _change(service: Service, task_id: int) -> Change:
    task = await service.get(task_id)
    runs = [r for r in await service.store.runs.for_task(task_id) if r.kind is RunKind.WORK]
    run = runs[-1] if runs else None
    if run is None or not run.branch or not task.repo:
        raise ReviewRefused(f"task #{task_id} has no branch to review (it ran without a git repo)")
    base = next((str(r.extra["base"]) for r in runs if r.extra.get("base")), None)
    if base is None:
        raise ReviewRefused(f"task #{task_id}: the commit its branch started from is not recorded")
    worktree = Path(run.worktree) if run.worktree and (Path(run.worktree) / ".git").exists() else None
    return Change(task, run, Path(task.repo), run.branch, base, worktree)


async def _lines(cwd: Path, *args: str) -> list[str]:
    return [line for line in (await git(cwd, *args)).splitlines() if line.strip()]


# --- diff --------------------------------------------------------------------------------


def _write_private(path: Path, data: bytes) -> Path:
    """A new private file in a private folder (temp + rename: never through a link)."""
    ensure_private_dir(path.parent)
    safefs.write_atomic(path, data)
    return path


async def patch(service: Service, task_id: int) -> Patch:
    """The task's whole change against the commit it started from, as a `.patch` file."""
    change = await _change(service, task_id)
    untracked: list[str] = []
    if change.worktree is not None:
        text = await git(change.worktree, "diff", "--binary", change.base)
        untracked = await _lines(change.worktree, "ls-files", "--others", "--exclude-standard")
    else:
        text = await git(change.repo, "diff", "--binary", change.base, change.branch)
    if not text.strip() and not untracked:
        raise ReviewRefused(f"task #{task_id} changed nothing on {change.branch}")
    out = service.settings.home_dir / "review" / f"task-{task_id}.patch"
    await asyncio.to_thread(_write_private, out, text.encode("utf-8", "surrogateescape"))
    all_lines = text.splitlines()
    return Patch(out, "\n".join(all_lines[:INLINE_PATCH_LINES]), len(all_lines), tuple(untracked))


# --- merge -------------------------------------------------------------------------------


async def _identity(repo: Path) -> tuple[str, ...]:
    found = (await git(repo, "config", "user.email", check=False)).strip()
    return () if found else IDENTITY


async def _commit_leftovers(change: Change) -> int:
    """Commit what Claude left uncommitted in the task's worktree; return how many files."""
    if change.worktree is None:
        return 0
    status = await _lines(change.worktree, "status", "--porcelain")
    if not status:
        return 0
    await git(change.worktree, "add", "-A")
    message = f"nightshift: uncommitted work of task #{change.task.id}: {change.task.title}"
    await git(change.worktree, *await _identity(change.worktree), "commit", "-q", "--no-verify",
              "-m", message)
    return len(status)


async def _reviewable(service: Service, task_id: int, run_id: int | None, verb: str) -> Change:
    change = await _change(service, task_id)
    if change.task.state is not TaskState.DONE:
        raise ReviewRefused(
            f"task #{task_id} is {change.task.state.value}; only a done task can be {verb}"
        )
    if run_id is not None and run_id != change.run.id:
        raise ReviewRefused(
            f"this button is for run {run_id}; task #{task_id} has run {change.run.id} since."
            " Use the buttons of its latest message"
        )
    return change


async def _checkout_branch(service: Service, change: Change) -> str:
    """The branch the owner's checkout is on, if it is one the task may be merged into."""
    try:
        current = (await git(change.repo, "symbolic-ref", "--quiet", "--short", "HEAD")).strip()
    except GitFailed:
        raise ReviewRefused(f"your checkout at {change.repo} is not on a branch (detached HEAD)") from None
    wanted = service.settings.base_branch
    if wanted and current != wanted:
        raise ReviewRefused(
            f"your checkout at {change.repo} is on {current}, not the base branch {wanted};"
            " switch to it and press Merge again"
        )
    if not await _is_ancestor(change.repo, change.base, "HEAD"):
        raise ReviewRefused(
            f"{change.branch} started from a commit that is not on {current}; merge it by hand"
        )
    return current


async def _is_ancestor(repo: Path, older: str, newer: str) -> bool:
    proc = await asyncio.create_subprocess_exec(
        "git", "-C", str(repo), "merge-base", "--is-ancestor", older, newer,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await proc.wait() == 0


async def merge(service: Service, task_id: int, run_id: int | None = None) -> str:
    """Merge the task branch into the checkout's base branch, or refuse and say why."""
    change = await _reviewable(service, task_id, run_id, "merged")
    dirty = await _lines(change.repo, "status", "--porcelain", "--untracked-files=no")
    if dirty:
        raise ReviewRefused(
            f"your checkout at {change.repo} has uncommitted changes ({len(dirty)} file(s));"
            " commit or stash them, then press Merge again"
        )
    target = await _checkout_branch(service, change)
    committed = await _commit_leftovers(change)
    if await _is_ancestor(change.repo, change.branch, "HEAD"):
        return f"{change.branch} is already merged into {target}"
    conflicts = await _conflicts(change.repo, change.branch)
    if conflicts:
        shown = ", ".join(conflicts[:5]) + (" …" if len(conflicts) > 5 else "")
        raise ReviewRefused(
            f"{change.branch} does not merge cleanly into {target} (conflicts in {shown});"
            " your checkout was not touched. Follow up to have Claude rebase it, or merge by hand"
        )
    message = f"Merge nightshift task #{task_id}: {change.task.title}"
    try:
        await git(change.repo, *await _identity(change.repo), "merge", "--no-ff", "--no-edit",
                  "-m", message, change.branch)
    except GitFailed as exc:
        await git(change.repo, "merge", "--abort", check=False)
        raise ReviewRefused(f"git refused the merge, and it was undone: {exc.message}") from None
    head = (await git(change.repo, "rev-parse", "--short", "HEAD")).strip()
    await _record(service, task_id, change.run.id, "task_merged",
                  {"branch": change.branch, "into": target, "commit": head, "committed_leftovers": committed})
    return f"Merged {change.branch} into {target} ({head})"


async def _conflicts(repo: Path, branch: str) -> list[str]:
    """Files that would conflict, from `git merge-tree` (git 2.38+): the checkout is untouched."""
    proc = await asyncio.create_subprocess_exec(
        "git", "-C", str(repo), "merge-tree", "--write-tree", "--name-only", "--no-messages",
        "HEAD", branch,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode == 0:
        return []
    if proc.returncode == 1:
        return [line for line in out.decode("utf-8", "replace").splitlines()[1:] if line.strip()]
    raise WorktreeError(f"git merge-tree failed: {err.decode('utf-8', 'replace').strip()}"
                        " (git 2.38 or newer is needed to check a merge)")


async def _record(service: Service, task_id: int, run_id: int, kind: str, data: dict[str, Any]) -> None:
    async with service.store.db.transaction() as conn:
        await record_event(conn, kind, task_id=task_id, run_id=run_id, data=data, at=service.clock())


# --- pull request -------------------------------------------------------------------------


async def _run(argv: list[str], cwd: Path, timeout_s: float = GH_TIMEOUT_S) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=str(cwd), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -1, "", f"timed out after {timeout_s:.0f}s"
    code = proc.returncode if proc.returncode is not None else -1
    return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


async def _remote(repo: Path) -> str | None:
    try:
        remotes = await _lines(repo, "remote")
    except WorktreeError:
        return None
    if not remotes:
        return None
    return "origin" if "origin" in remotes else remotes[0]


async def pr_possible(settings: Settings, repo: str | None) -> bool:
    """The PR button is shown only when the repo has a remote and `gh` is logged in."""
    if not repo or shutil.which(settings.gh_bin) is None:
        return False
    if await _remote(Path(repo)) is None:
        return False
    code, _, _ = await _run([settings.gh_bin, "auth", "status"], Path(repo), timeout_s=15.0)
    return code == 0


async def review_facts(settings: Settings, task: Task, run: Run) -> dict[str, Any]:
    """What the finished message needs to show its review buttons."""
    if task.state is not TaskState.DONE or not run.branch:
        return {}
    return {"review": {"run": run.id, "branch": run.branch, "pr": await pr_possible(settings, task.repo)}}


async def open_pr(service: Service, task_id: int, run_id: int | None = None) -> str:
    """Push the task branch (never forced) and open a pull request; return its link."""
    change = await _reviewable(service, task_id, run_id, "proposed")
    remote = await _remote(change.repo)
    gh = shutil.which(service.settings.gh_bin)
    if remote is None or gh is None:
        raise ReviewRefused("a pull request needs a git remote and the GitHub CLI (gh) logged in")
    await _commit_leftovers(change)
    try:
        await git(change.repo, "push", "--set-upstream", remote, f"{change.branch}:{change.branch}")
    except GitFailed as exc:
        raise ReviewRefused(f"could not push {change.branch}: {exc.message}") from None
    body = (change.run.summary or change.task.prompt)[:4000]
    argv = [gh, "pr", "create", "--head", change.branch, "--title", change.task.title, "--body", body]
    if service.settings.base_branch:
        argv += ["--base", service.settings.base_branch]
    code, out, err = await _run(argv, change.repo)
    if code != 0:
        detail = (err.strip().splitlines() or [f"exit code {code}"])[-1]
        raise ReviewRefused(f"gh could not open the pull request: {detail}")
    link = next((w for w in reversed(out.split()) if w.startswith("https://")), out.strip())
    await _record(service, task_id, change.run.id, "task_pr_opened", {"branch": change.branch, "url": link})
    return link
