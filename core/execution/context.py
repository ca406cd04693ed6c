"""What every step of an attempt works with, and the handle a live run is stopped through.

The executor's parts (starting, following, judging, settling) are plain functions of one
`ExecContext` rather than methods of one class, so each can be read and tested alone; the
context is the only state they share, and `Live` is the only state that changes under them
(a cancel or a budget stop arrives from outside while a run is followed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from core.abc import Notification, Notifier, ProcessHandle, ProcessRunner, ProcessSpec
from core.log import event
from core.models import Run, Task, TaskState
from core.progress import LiveProgress
from core.settings import Settings
from core.store.store import Store

AccountFor = Callable[[str | None], tuple[str | None, dict[str, str]]]
"""An account key (None: the default) -> the key a run records and its environment."""


@dataclass(frozen=True, slots=True)
class ExecOptions:
    scheduled_for: datetime | None = None
    """When the scheduler meant this run to start (reset-to-start latency)."""
    window_id: str | None = None
    prompt_variant: str | None = None
    prompt: str | None = None
    """Replaces the task's prompt for a fresh start (a prompt style with lessons, say)."""
    account: str | None = None
    """The account (key) to run on; None: the one holding the task's session, else the first."""
    model: str | None = None
    """Replaces the configured model (a fallback while the task's model family is limited)."""


@dataclass
class Live:
    """A run followed in this process: `stop` names why it must end (cancel, timeout, budget,
    logged_out) and `wake` cuts the follower's poll short so it ends now, not a poll later."""

    stop: str | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    handle: ProcessHandle | None = None
    run_id: int | None = None
    view: LiveProgress | None = None
    """The run's live progress message (`core.progress`)."""

    def request_stop(self, reason: str) -> None:
        self.stop = reason
        self.wake.set()


@dataclass(frozen=True, slots=True)
class ExecContext:
    settings: Settings
    store: Store
    runner: ProcessRunner
    notifier: Notifier
    clock: Callable[[], datetime]
    owns: Callable[[Task], bool]
    """Is a task this machine's to recover? Another machine's runs live in its own tmux."""
    account_for: AccountFor
    time_limit_minutes: Callable[[Task], float] | None
    """The learning loop's time limit for a task (longer for tags that timed out)."""
    poll_interval_s: float
    progress_interval_s: float
    kill_grace_s: float

    def run_dir(self, run_id: int) -> Path:
        return self.settings.home_dir / "runs" / str(run_id)

    def spec(
        self, run: Run, argv: tuple[str, ...] = (), cwd: Path | None = None,
        env: dict[str, str] | None = None, stdin_path: Path | None = None,
    ) -> ProcessSpec:
        """A run's process, named by ids alone so a later process can find it again."""
        run_dir = self.run_dir(run.id)
        return ProcessSpec(
            name=f"ns-{run.task_id}-{run.id}",
            argv=argv,
            cwd=cwd or Path(run.worktree or "."),
            env=env or {},
            log_path=run_dir / "stream.jsonl",
            run_dir=run_dir,
            stdin_path=stdin_path,
        )

    def attach_command(self, run: Run) -> str | None:
        if not run.tmux_session:
            return None
        return f"tmux -L {self.settings.tmux_socket} attach -t {run.tmux_session}"

    async def send(self, note: Notification) -> None:
        try:
            await self.notifier.notify(note)
        except Exception as exc:  # delivery problems never undo a run
            event("notification not delivered", logging.WARNING, logger="execution",
                  kind=note.kind, task=note.task_id, run=note.run_id, error=str(exc))

    async def cancelled_elsewhere(self, task_id: int) -> bool:
        """The task was cancelled by a process that could not reach this run (no hook there)."""
        return (await self.store.tasks.get(task_id)).state is TaskState.CANCELLED


def merge(extra: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {**extra, **more}
