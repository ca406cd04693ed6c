"""The one error tree of nightshift.

Messages are built inside the exception so every front (CLI, bot, daemon log) says the same
thing; the fronts only translate the class into an exit code or a friendly reply.
"""

from __future__ import annotations

import errno
import shlex
from pathlib import Path


class NightshiftError(Exception):
    """Base of every error nightshift raises on purpose.

    `exit_code` is what the CLI exits with; 1 means "the user asked for something that
    cannot be done", which is reported as one line without a traceback.
    """

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- user errors: bad input, unknown ids, refused actions ---------------------------------


class UserError(NightshiftError):
    """Something the caller asked for is invalid; nothing was changed."""


class TaskNotFound(UserError):
    def __init__(self, task_id: object) -> None:
        super().__init__(f"no task with id {task_id!s}")
        self.task_id = task_id


class RunNotFound(UserError):
    def __init__(self, run_id: object) -> None:
        super().__init__(f"no run with id {run_id!s}")
        self.run_id = run_id


class InvalidInput(UserError):
    """A value given by the user (prompt, priority, path…) is unusable."""


class InvalidTransition(UserError):
    def __init__(self, task_id: int, current: str, target: str, action: str | None = None) -> None:
        verb = action or f"move to {target}"
        super().__init__(f"task {task_id} is {current}; cannot {verb}")
        self.task_id = task_id
        self.current = current
        self.target = target


class DependencyError(UserError):
    """An `--after` id is unknown, or the dependencies would form a cycle."""


class StalePlan(UserError):
    def __init__(self, task_id: int, version: int, latest: int) -> None:
        super().__init__(
            f"plan v{version} of task {task_id} was replaced by v{latest}; review v{latest} first"
        )
        self.task_id = task_id
        self.version = version
        self.latest = latest


class NoPlan(UserError):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"task {task_id} has no plan yet")
        self.task_id = task_id


class DraftGone(UserError):
    def __init__(self, draft_id: int) -> None:
        super().__init__(f"draft d{draft_id} is gone (queued or discarded already)")
        self.draft_id = draft_id


class ReviewRefused(UserError):
    """A merge, pull request or follow-up that cannot be done as asked; nothing was changed."""


# --- configuration and environment ---------------------------------------------------------


class ConfigError(NightshiftError):
    """A setting is invalid; the message names the variable."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class AlreadyRunning(NightshiftError):
    def __init__(self, home: str, pid: int | None) -> None:
        who = f" (pid {pid})" if pid else ""
        super().__init__(f"nightshift is already running for {home}{who}")
        self.pid = pid


class ToolMissing(NightshiftError):
    """An external program (claude, tmux, git) is not installed or not runnable."""

    def __init__(self, tool: str, hint: str) -> None:
        super().__init__(f"{tool} not found: {hint}")
        self.tool = tool
        self.hint = hint


class ExecutionError(NightshiftError):
    """tmux, git or the Claude CLI failed in a way that ends a run."""


class WorktreeError(ExecutionError):
    pass


class TmuxError(ExecutionError):
    pass


class StoreError(NightshiftError):
    """The database could not be read or written (busy, disk full, corrupt)."""


class SchemaTooNew(StoreError):
    def __init__(self, found: int, known: int) -> None:
        super().__init__(
            f"the database has schema version {found} but this nightshift knows only {known}; "
            "upgrade nightshift"
        )


class DatabaseCorrupt(StoreError):
    """SQLite found the database file damaged; the message names the file and the way out."""

    DETAIL_MAX_CHARS = 200

    def __init__(self, path: Path, detail: str, newest_backup: Path | None, backups: Path) -> None:
        detail = " ".join(detail.split())  # quick_check reports one problem per line: one line here
        if len(detail) > self.DETAIL_MAX_CHARS:
            detail = detail[: self.DETAIL_MAX_CHARS - 1] + "…"
        if newest_backup is not None:
            way_out = (f"stop nightshift, then restore the newest backup: "
                       f"nightshift restore {shlex.quote(str(newest_backup))}")
        else:
            way_out = (f"there is no backup in {backups}; stop nightshift and move {path} aside "
                       "to start with an empty database (sqlite3's .recover saves what is readable)")
        super().__init__(f"the database {path} is damaged ({detail}): {way_out}")
        self.path = path
        self.detail = detail
        self.way_out = way_out
        self.newest_backup = newest_backup


class DiskWriteError(NightshiftError):
    """A file could not be written (disk full, a size limit, no permission).

    Writers leave nothing half-done behind (a note is replaced whole or not at all), so the
    next attempt starts clean once there is room again.
    """

    def __init__(self, path: object, exc: OSError) -> None:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        hint = "; free some space and it is written on the next run" if full else ""
        super().__init__(f"could not write {path}: {exc.strerror or exc}{hint}")
        self.path = path
        self.errno = exc.errno


class UnsafeFile(NightshiftError):
    """A file in a folder others can write to is not what nightshift reads or writes there
    (a symlink, FIFO, device, hard link, or too large); it is refused, never followed."""

    def __init__(self, path: object, reason: str, *, too_large: bool = False) -> None:
        super().__init__(f"{path} {reason}")
        self.path = path
        self.reason = reason
        self.too_large = too_large


class DeliveryError(NightshiftError):
    """A notification could not be delivered yet; it stays in the outbox."""
