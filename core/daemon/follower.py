"""The runs in flight: starting them, following each to its end, and what happens after.

A run is followed by one asyncio task that awaits the executor (or the planner). When it
ends, the gate hears of a limit while the run still counts as active (so no round can slip
a claim in between), then the window summary, the observer (vault, logs, learning) and
the dispatcher's doorbell hear that it finished. Runs a previous daemon left alive in tmux
are adopted at start; a run whose watcher failed is followed again after the hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.daemon.lanes import Lane, Lanes
from core.daemon.seams import (
    DaemonStats,
    FinishedHook,
    PromptChooser,
    RunObserver,
    TaskExecutor,
    TaskPlanner,
)
from core.daemon.summary import WindowSummary
from core.daemon.wake import Doorbell
from core.log import event
from core.models import Run, RunKind, Task, TaskState, iso
from core.scheduling.estimator import Estimator
from core.store.store import Store

PLAN_ESTIMATE_TOKENS = 150_000
"""What a plan run is assumed to spend while it runs (reading code, no edits)."""
START_FAILURE_HOLD_S = 60.0
"""After a run could not even start (CLI or tmux missing), claim nothing for this long rather
than claim, fail and re-queue the same task in a tight loop."""


@dataclass
class Active:
    task: Task
    job: asyncio.Task[None]
    started_at: datetime
    estimate_tokens: int
    lane: Lane
    """The account the run uses: its limit pauses that lane."""


class Follower:
    def __init__(
        self,
        store: Store,
        executor: TaskExecutor,
        *,
        lanes: Lanes,
        summary: WindowSummary,
        estimator: Estimator,
        doorbell: Doorbell,
        stats: DaemonStats,
        clock: Callable[[], datetime],
        planner: TaskPlanner | None = None,
        observer: RunObserver | None = None,
        choose_prompt: PromptChooser | None = None,
        on_finished: FinishedHook | None = None,
        mine: Callable[[Task], bool] = lambda task: True,
    ) -> None:
        self.store = store
        self.mine = mine
        """Is a task this machine's? Another machine's running task is never followed here."""
        self.executor = executor
        self.lanes = lanes
        self.summary = summary
        self.estimator = estimator
        self.doorbell = doorbell
        self.stats = stats
        self.clock = clock
        self.planner = planner
        self.observer = observer
        self.choose_prompt = choose_prompt
        self.on_finished = on_finished
        self.active: dict[int, Active] = {}
        self.hold_until: datetime | None = None
        """Set when a run could not even start: nothing is claimed before then."""

    # --- what the dispatcher reads --------------------------------------------------------

    def holding(self, now: datetime) -> bool:
        return self.hold_until is not None and now < self.hold_until

    def busy_repos(self) -> set[str]:
        return {a.task.repo for a in self.active.values() if a.task.repo}

    def on(self, lane: Lane | None) -> list[Active]:
        """The runs in flight on `lane` (None: on every account)."""
        return [a for a in self.active.values() if lane is None or a.lane is lane]

    def in_flight_tokens(self, lane: Lane | None = None) -> int:
        return sum(a.estimate_tokens for a in self.on(lane))

    def run_starts(self, lane: Lane | None = None) -> list[datetime]:
        return [a.started_at for a in self.on(lane)]

    # --- starting -------------------------------------------------------------------------

    def start_work(
        self, task: Task, scheduled_for: datetime | None, now: datetime, estimate_tokens: int,
        budget_tokens: int | None, lane: Lane | None = None, model: str | None = None,
    ) -> None:
        """Start a work run on `lane`'s account; `model` replaces the task's own (its fallback
        while its model family's weekly limit holds)."""
        lane = lane or self.lanes.first
        self._follow(task, self._execute(task, scheduled_for, now, lane, model), now, estimate_tokens, lane)
        self.summary.started(task.id, lane.account.name)
        self.stats.started.append(task.id)
        event(
            "run starting",
            task=task.id,
            title=task.title,
            scheduled_for=iso(scheduled_for),
            resume=bool(task.session_id),
            budget=budget_tokens,
            account=lane.account.name,
            model=model,
        )

    def start_planning(self, task: Task, now: datetime) -> None:
        self._follow(task, self._draft_plan(task), now, PLAN_ESTIMATE_TOKENS, self.lanes.get(task.account))
        self.stats.started.append(task.id)
        event("planning", task=task.id, title=task.title)

    async def _execute(
        self, task: Task, scheduled_for: datetime | None, now: datetime, lane: Lane, model: str | None = None,
    ) -> Run:
        """One work attempt, in the prompt style the learning loop picks for a fresh start.

        A resumed session keeps the style it started with, so the attempt's outcome is
        credited to the style that shaped it.
        """
        variant: str | None = None
        prompt: str | None = None
        if task.session_id:
            runs = [r for r in await self.store.runs.for_task(task.id) if r.kind is RunKind.WORK]
            variant = next((r.prompt_variant for r in reversed(runs) if r.prompt_variant), None)
        elif self.choose_prompt is not None:
            try:
                chosen = await self.choose_prompt(task, now)
            except Exception as exc:  # a broken template must not stop the work: plain prompt
                event("prompt style not chosen", logging.WARNING, task=task.id, error=str(exc))
            else:
                variant, prompt = chosen if chosen is not None else (None, None)
        return await self.executor.execute(
            task,
            scheduled_for=scheduled_for,
            window_id=lane.usage.window_id(now),
            prompt_variant=variant,
            prompt=prompt,
            account=lane.key,
            model=model,
        )

    async def _draft_plan(self, task: Task) -> Run | None:
        """A plan run, followed like a work run (limits, hold on start failure, after-run)."""
        assert self.planner is not None
        await self.planner.plan(task)
        runs = [r for r in await self.store.runs.for_task(task.id) if r.kind is RunKind.PLAN]
        return runs[-1] if runs else None

    # --- following ------------------------------------------------------------------------

    def _follow(
        self, task: Task, execution: Awaitable[Run | None], started_at: datetime, estimate_tokens: int,
        lane: Lane,
    ) -> None:
        job = asyncio.create_task(self._watch(task, execution, lane), name=f"task-{task.id}")
        self.active[task.id] = Active(task, job, started_at, estimate_tokens, lane)

    async def _watch(self, task: Task, execution: Awaitable[Run | None], lane: Lane) -> None:
        run: Run | None = None
        try:
            run = await execution
            await lane.gate.run_ending(task.id, run)
        except asyncio.CancelledError:
            # The daemon is stopping: stop watching, leave the run alive in tmux.
            raise
        except Exception as exc:
            self.hold_until = self.clock() + timedelta(seconds=START_FAILURE_HOLD_S)
            event(
                "run failed to execute",
                logging.ERROR,
                task=task.id,
                error=str(exc),
                hold_s=START_FAILURE_HOLD_S,
            )
        finally:
            self.active.pop(task.id, None)
        await self._after_run(task.id, run, lane)

    async def _after_run(self, task_id: int, run: Run | None, lane: Lane) -> None:
        now = self.clock()
        task = await self.store.tasks.get(task_id)
        outcome = run.outcome.value if run is not None and run.outcome else None
        self.stats.finished.append((task_id, outcome or "unknown"))
        event(
            "run finished",
            task=task_id,
            run=run.id if run else None,
            outcome=outcome,
            state=task.state.value,
            latency_s=run.latency_s if run else None,
        )
        self.summary.ended(task_id, run)
        await lane.gate.run_ended(task, run)
        if self.on_finished is not None:
            self.on_finished(task, run)
        if self.observer is not None:
            await self.observer.run_finished(task, run, now)
        self.doorbell.ring("run finished")

    async def adopt(self) -> None:
        """Runs left by the previous daemon: followed again if alive, else finished from logs."""
        if self.planner is not None:
            await self.planner.reconcile()
        settled = await self.executor.reconcile()
        for task_id, following in list(self.executor.adopted.items()):
            task = await self.store.tasks.get(task_id)
            runs = await self.store.runs.for_task(task_id)
            started = next((r.started_at for r in reversed(runs) if r.started_at), None)
            self._follow(task, following, started or self.clock(), await self.estimator.estimate(task),
                         self.lanes.for_task(task))
        if settled:
            event(
                "reconciled",
                adopted=sorted(self.executor.adopted),
                finished=[
                    {"run": r.id, "task": r.task_id, "outcome": r.outcome.value if r.outcome else None}
                    for r in settled
                    if r.finished_at is not None
                ],
            )

    async def follow_orphans(self, now: datetime) -> None:
        """Running tasks nobody here follows: their watcher failed (the database was busy past
        its timeout, say) while the run went on in tmux. After the hold such a failure set, they
        are followed again: `execute` attaches to their run and never starts one twice."""
        if self.holding(now):
            return
        for task in await self.store.tasks.query([TaskState.RUNNING]):
            if task.id not in self.active and self.mine(task):
                event("following a run again", logging.WARNING, task=task.id)
                self._follow(task, self.executor.execute(task), now, await self.estimator.estimate(task),
                             self.lanes.for_task(task))

    async def stop(self) -> list[int]:
        """Stop watching; the runs themselves live on in tmux. Returns the ids left running."""
        live = sorted(self.active)
        watchers = [a.job for a in self.active.values()]
        for job in watchers:
            job.cancel()
        for job in watchers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await job
        return live
