"""What a finished run changed: the branch's diffstat and commits against its base, and the final text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from core.errors import WorktreeError
from core.execution.git import git
from core.execution.workspace import Workspace

MAX_COMMITS_SHOWN = 10
MAX_STAT_LINES = 20
MAX_FINAL_CHARS = 1500


@dataclass(frozen=True, slots=True)
class Diffstat:
    files: int = 0
    insertions: int = 0
    deletions: int = 0
    commits: int = 0
    uncommitted: int = 0
    stat: str = ""
    log: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "insertions": self.insertions,
            "deletions": self.deletions,
            "commits": self.commits,
            "uncommitted": self.uncommitted,
        }

    @property
    def line(self) -> str:
        return (
            f"{self.commits} commit{'s' if self.commits != 1 else ''}, "
            f"{self.files} file{'s' if self.files != 1 else ''} changed, "
            f"+{self.insertions} -{self.deletions}"
            + (f", {self.uncommitted} uncommitted" if self.uncommitted else "")
        )


_SHORTSTAT = re.compile(r"(\d+) files? changed(?:, (\d+) insertions?\(\+\))?(?:, (\d+) deletions?\(-\))?")


async def diffstat(ws: Workspace) -> Diffstat | None:
    """None when the workspace has no branch to compare (scratch, in place, no base)."""
    if ws.kind != "worktree" or not ws.base:
        return None
    try:
        short = await git(ws.path, "diff", "--shortstat", ws.base, "HEAD")
        stat = await git(ws.path, "diff", "--stat=100", ws.base, "HEAD")
        log = await git(ws.path, "log", "--oneline", "--no-decorate", f"{ws.base}..HEAD")
        status = await git(ws.path, "status", "--porcelain")
    except WorktreeError:
        return None
    match = _SHORTSTAT.search(short)
    files, ins, dels = (int(g or 0) for g in match.groups()) if match else (0, 0, 0)
    commits = [ln for ln in log.splitlines() if ln.strip()]
    stat_lines = stat.rstrip("\n").splitlines()
    if len(stat_lines) > MAX_STAT_LINES:
        stat_lines = [*stat_lines[: MAX_STAT_LINES - 1], " …", stat_lines[-1]]
    return Diffstat(
        files=files, insertions=ins, deletions=dels, commits=len(commits),
        uncommitted=len([ln for ln in status.splitlines() if ln.strip()]),
        stat="\n".join(stat_lines), log=tuple(commits),
    )


def summary_text(
    outcome: str, reason: str, ws: Workspace | None, stat: Diffstat | None, final_text: str | None
) -> str:
    lines = [f"{outcome}: {reason}"]
    if ws is not None:
        where = f"branch {ws.branch}" if ws.branch else f"in {ws.path}"
        lines.append(where + (f" ({stat.line})" if stat else ""))
    if stat and stat.log:
        lines.append("commits:")
        lines += [f"  {c}" for c in stat.log[:MAX_COMMITS_SHOWN]]
        if len(stat.log) > MAX_COMMITS_SHOWN:
            lines.append(f"  … and {len(stat.log) - MAX_COMMITS_SHOWN} more")
    if stat and stat.stat:
        lines.append(stat.stat)
    if final_text and final_text.strip():
        text = final_text.strip()
        if len(text) > MAX_FINAL_CHARS:
            text = text[:MAX_FINAL_CHARS].rstrip() + " …"
        lines.append("final message:")
        lines += ["  " + ln for ln in text.splitlines()]
    return "\n".join(lines)
