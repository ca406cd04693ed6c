"""A task's expected cost from what the store knows: its approved plan, the learning loop,
recent history. The rule itself (`choose_estimate`) is pure; this reads its inputs."""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from core.models import Plan, Run, RunKind, Task
from core.scheduling.estimates import choose_estimate

HISTORY_TASKS = 20
"""How many recent finished tasks the history estimate looks at."""
BURN_LOOKBACK = timedelta(days=14)
MIN_RUN_S = 60.0
"""Shorter runs say little about a rate (start-up dominates)."""

LearnedEstimate = Callable[[Task], Awaitable[int | None]]


class _Plans(Protocol):
    async def approved(self, task_id: int) -> Plan | None: ...


class _Runs(Protocol):
    async def done_task_tokens(self, repo: str | None, limit: int) -> list[int]: ...

    async def between(self, since: datetime | None = None, until: datetime | None = None) -> list[Run]: ...


class EstimateSource(Protocol):
    """The part of the store an estimate reads."""

    @property
    def plans(self) -> _Plans: ...

    @property
    def runs(self) -> _Runs: ...


class Estimator:
    def __init__(
        self, store: EstimateSource, default_tokens: int, learned: LearnedEstimate | None = None
    ) -> None:
        self.store = store
        self.default_tokens = default_tokens
        self.learned = learned

    async def history(self, repo: str | None) -> list[int]:
        return await self.store.runs.done_task_tokens(repo, HISTORY_TASKS)

    async def estimate(self, task: Task, history: list[int] | None = None) -> int:
        """Plan estimate, else learned, else the median of recent finished tasks, else default."""
        plan = await self.store.plans.approved(task.id)
        if history is None:
            history = await self.history(task.repo)
        learned = await self.learned(task) if self.learned is not None else None
        choice = choose_estimate(
            plan.estimate_tokens if plan else None, history, self.default_tokens, learned
        )
        return int(choice.tokens or self.default_tokens)

    async def burn_tokens_per_min(self, now: datetime) -> float | None:
        """How fast work runs spend, from the last two weeks' finished runs (the median rate):
        what decides how much of a run spills past a window's reset."""
        rates = [
            run.tokens.total / (run.duration_s / 60)
            for run in await self.store.runs.between(now - BURN_LOOKBACK, now)
            if run.kind is RunKind.WORK and run.duration_s is not None and run.duration_s >= MIN_RUN_S
            and run.tokens.total > 0
        ]
        return statistics.median(rates) if rates else None
