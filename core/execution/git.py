"""`git` as a subprocess, asynchronously: the CLI is git's stable interface, and worktrees,
diffstats and porcelain status are all one command each (no library needed).

git runs the repository's hooks (`worktree add` runs post-checkout), which are code anyone
with write access to the repo, Claude included, may have written: it gets the allow-listed
environment without credentials (`core.childenv`), never ours."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core.childenv import child_env
from core.errors import ToolMissing, WorktreeError

GIT_TIMEOUT_S = 120.0


class GitFailed(WorktreeError):
    def __init__(self, args: tuple[str, ...], cwd: Path, code: int | None, stderr: str) -> None:
        detail = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {code}"
        super().__init__(f"git {' '.join(args[:2])} in {cwd} failed: {detail}")
        self.code = code
        self.stderr = stderr


async def git(cwd: Path, *args: str, check: bool = True) -> str:
    """Run `git -C cwd ARGS` and return stdout; raise `GitFailed` on a non-zero exit."""
    try:
        proc = await asyncio.create_subprocess_exec(
            "git", "-C", str(cwd), *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=child_env(claude=False),
        )
    except FileNotFoundError as exc:
        raise ToolMissing("git", "install git (apt install git / brew install git)") from exc
    try:
        out, err = await asyncio.wait_for(proc.communicate(), GIT_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise GitFailed(args, cwd, None, f"timed out after {GIT_TIMEOUT_S:.0f}s") from None
    if check and proc.returncode != 0:
        raise GitFailed(args, cwd, proc.returncode, err.decode("utf-8", "replace"))
    return out.decode("utf-8", "replace")


async def is_git_repo(path: Path) -> bool:
    try:
        return (await git(path, "rev-parse", "--is-inside-work-tree")).strip() == "true"
    except GitFailed:
        return False
