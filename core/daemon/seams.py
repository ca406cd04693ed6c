"""What the daemon drives, as Protocols, and what it reports.

Production implementations: `core.execution.executor.Executor` (TaskExecutor),
`core.plans.planner.Planner` (TaskPlanner), `core.upkeep.Upkeep` through the assembly
(RunObserver), `core.assembly.LearnedCache` (the prompt chooser and learned numbers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from core.models import Plan, Run, Task


class TaskExecutor(Protocol):
    """Runs one claimed task to its end."""

    adopted: dict[int, asyncio.Task[Run]]
    """Runs `reconcile` found alive in tmux and follows in the background."""

    async def execute(
        self,
        task: Task,
        *,
        scheduled_for: datetime | None = None,
        window_id: str | None = None,
        prompt_variant: str | None = None,
        prompt: str | None = None,
        account: str | None = None,
        model: str | None = None,
    ) -> Run: ...

    async def reconcile(self) -> list[Run]: ...

    def pause_for_budget(self, task_id: int) -> bool:
        """Stop a live run to keep the owner's share; it resumes its session later."""
        ...


class TaskPlanner(Protocol):
    """Drafts the plan of a task in `planning`."""

    async def plan(self, task: Task) -> Plan | None: ...

    async def reconcile(self) -> list[Run]: ...


class RunObserver(Protocol):
    """Hears of every finished run, and lends the daemon's timers its upkeep (the vault, the
    logs, learning); when each runs is declared in `core.daemon.timers`."""

    async def run_finished(self, task: Task, run: Run | None, now: datetime) -> None: ...

    async def tick(self, now: datetime) -> None:
        """Every minute: small upkeep (the event log)."""

    async def retro(self, now: datetime) -> None:
        """Now and then: the weekly retrospective, once it is due."""

    async def meta_task(self, now: datetime) -> None:
        """Every minute: near a window's end with budget left, this week's meta-task."""


class PromptChooser(Protocol):
    """Picks the prompt style of a fresh run: (variant name, prompt) or None."""

    async def __call__(self, task: Task, now: datetime) -> tuple[str, str] | None: ...


class ParallelLimit(Protocol):
    """Runs allowed at once, given the open window's end (the learning loop lowers it near the end)."""

    async def __call__(self, now: datetime, window_end: datetime | None) -> int: ...


FinishedHook = Callable[[Task, Run | None], None]
"""Told of every finished run (`run --burst` prints a line, the demo shows it)."""

FrontFactory = Callable[[], AbstractAsyncContextManager[Any]]
"""A front that lives as long as the daemon (the Telegram bot); entered at start."""


@dataclass
class DaemonStats:
    """What happened, for `--burst`'s exit and for tests."""

    started: list[int] = field(default_factory=list)
    finished: list[tuple[int, str]] = field(default_factory=list)
    resets: int = 0
    primes: int = 0
    summaries: int = 0
