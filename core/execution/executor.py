"""The executor: the one object the daemon and the planner hold to run tasks.

The caller claims a task (moves it to `running`) and awaits `execute(task)`; the executor
returns the last run of the attempt and leaves the task in its next state:

- `done` when the check passed (or, without a check, the completion marker arrived);
- `paused_limit` with `resume_after` = the reset time when the usage limit ended the run
  (no attempt counted; the daemon reads the limit off the run and pauses the queue);
- `ready` when it should simply run again: interrupted by a restart, a crash or error with
  attempts left, or a check failure whose next iteration was not started here;
- `failed` otherwise; a cancelled task is left to the canceller (the service moves it).

Every step is recorded before it is taken, so a process killed at any point can be
reconciled on start: a live tmux session is followed again, a dead one is finished from its
log, and a run that left nothing is marked interrupted and its task resumes its session.

This module keeps what outlives one attempt (which tasks run here, the runs adopted after a
restart) and the ways in from outside (cancel, budget stop); one attempt is
`core.execution.attempt`, and its parts are `steps`, `start`, `follow`, `judge`, `settle`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from core import safefs
from core.abc import Notifier, NullNotifier, ProcessHandle, ProcessRunner
from core.errors import ExecutionError, InvalidTransition, NightshiftError
from core.execution.attempt import run_attempt
from core.execution.context import AccountFor, ExecContext, ExecOptions, Live, merge
from core.execution.outcome import Verdict
from core.execution.plan_run import finish_plan, follow_plan
from core.log import event
from core.models import Outcome, Run, RunKind, Task, TaskState, utcnow
from core.settings import Settings
from core.store.store import Store


class Executor:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        runner: ProcessRunner,
        notifier: Notifier | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        time_limit_minutes: Callable[[Task], float] | None = None,
        poll_interval_s: float = 0.1,
        progress_interval_s: float = 1.0,
        kill_grace_s: float = 3.0,
        owns: Callable[[Task], bool] | None = None,
        account_for: AccountFor | None = None,
    ) -> None:
        self.ctx = ExecContext(
            settings=settings, store=store, runner=runner, notifier=notifier or NullNotifier(),
            clock=clock, owns=owns or (lambda task: True), account_for=account_for or (lambda key: (key, {})),
            time_limit_minutes=time_limit_minutes, poll_interval_s=poll_interval_s,
            progress_interval_s=progress_interval_s, kill_grace_s=kill_grace_s,
        )
        self.adopted: dict[int, asyncio.Task[Run]] = {}
        """Runs found alive by `reconcile`, followed in the background (task id -> asyncio task)."""
        self._live: dict[int, Live] = {}

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    def owns(self, task: Task) -> bool:
        """Is a task this machine's to recover? Another machine's runs live in its own tmux."""
        return self.ctx.owns(task)

    @property
    def executing(self) -> frozenset[int]:
        """Ids of the tasks this executor is running right now (including adopted ones)."""
        return frozenset(self._live)

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
    ) -> Run:
        """Run a claimed (`running`) task through its continuation loop; return its last run.

        A run of this task that is still alive (after a restart) is followed, not started
        again. Raises `ExecutionError` if the task is not running or already executing here,
        and `ToolMissing` if the CLI or tmux cannot be started (the task goes back to ready).
        """
        options = ExecOptions(scheduled_for, window_id, prompt_variant, prompt, account, model)
        return await self._execute(task, options, continue_loop=True)

    async def reconcile(self) -> list[Run]:
        """Crash recovery at start-up: every run still marked running gets settled.

        A run whose process is gone is finished from its log now (returned finished); one
        whose tmux session still lives is followed in the background (returned as found;
        see `adopted` / `wait_adopted`). A running task with no run at all goes back to
        ready. Nothing is started from scratch.
        """
        ctx = self.ctx
        out: list[Run] = []
        seen: set[int] = set()
        for run in await ctx.store.runs.unfinished():
            if run.kind is not RunKind.WORK or run.task_id in self._live:
                continue
            task = await ctx.store.tasks.get(run.task_id)
            if task.state is TaskState.RUNNING and not ctx.owns(task):
                continue  # another machine follows it; a run nobody follows is settled below
            handle = await ctx.runner.attach(ctx.spec(run))
            alive = await handle.poll() is None
            if task.state is not TaskState.RUNNING or task.id in seen:
                if alive:
                    await handle.kill(ctx.kill_grace_s)
                outcome = Outcome.CANCELLED if task.state is TaskState.CANCELLED else Outcome.INTERRUPTED
                out.append(await ctx.store.runs.finish(
                    run.id, outcome, now=ctx.clock(),
                    extra=merge(run.extra, reason=f"found unfinished while the task was {task.state}"),
                ))
                continue
            seen.add(task.id)
            if alive:
                event("run adopted", logger="execution", task=task.id, run=run.id)
                self.adopted[task.id] = asyncio.create_task(
                    self._run_live(task, self._register(task.id), ExecOptions(), continue_loop=True),
                    name=f"nightshift-adopt-{task.id}",
                )
                out.append(run)
            else:
                try:
                    out.append(await self._execute(task, ExecOptions(), continue_loop=False))
                except NightshiftError as exc:  # one bad run must not stop the others' recovery
                    event("run not reconciled", logging.ERROR, logger="execution", task=task.id, run=run.id,
                          error=str(exc))
        for task in await ctx.store.tasks.query([TaskState.RUNNING]):
            if task.id in seen or task.id in self._live or not ctx.owns(task):
                continue
            with contextlib.suppress(InvalidTransition):
                await ctx.store.tasks.transition(
                    task.id, TaskState.READY, reason="interrupted before its run started",
                    expect=(TaskState.RUNNING,), now=ctx.clock(),
                )
        return out

    async def wait_adopted(self) -> list[Run]:
        """Wait for the runs `reconcile` adopted to finish."""
        tasks = list(self.adopted.values())
        results = await asyncio.gather(*tasks) if tasks else []
        self.adopted = {k: v for k, v in self.adopted.items() if not v.done()}
        return list(results)

    async def cancel(self, task: Task) -> None:
        """Stop the task's live run, from this process or any other (register in `cancel_hooks`).

        Kills the run's whole process group and leaves a marker so the process following the
        run records it as cancelled. The task's state is the caller's to change.
        """
        ctx = self.ctx
        live = self._live.get(task.id)
        if live is not None:
            live.request_stop("cancel")
        for run in await ctx.store.runs.for_task(task.id):
            if run.finished_at is not None:
                continue
            run_dir = ctx.run_dir(run.id)
            if run_dir.is_dir():
                safefs.write_atomic(run_dir / "cancel", b"")
            handle: ProcessHandle
            if live is not None and live.run_id == run.id and live.handle is not None:
                handle = live.handle
            else:
                handle = await ctx.runner.attach(ctx.spec(run))
            if await handle.poll() is None:
                await handle.kill(ctx.kill_grace_s)

    def pause_for_budget(self, task_id: int) -> bool:
        """Stop the task's live run in this process to keep the owner's share of the window.

        The run ends `interrupted` (no attempt spent) and the task is ready again with its
        session, which the next run resumes. False when no run of it is live here."""
        live = self._live.get(task_id)
        if live is None or live.stop is not None:
            return False
        live.request_stop("budget")
        return True

    async def draft_plan(self, task: Task, prompt: str, *, resume: str | None = None) -> tuple[Run, Verdict]:
        """One read-only plan run (`--permission-mode plan`) in the task's workspace.

        The caller owns the task's state (it is `planning`); this only runs Claude, records
        the run (kind `plan`) with its limit in `extra["limit"]` like any run; the daemon's
        follower hands that run to the limit gate, so planning is paused and resumed with
        the rest of the queue.
        """
        live = self._register(task.id)
        try:
            run, state, status = await follow_plan(self.ctx, task, prompt, resume, live)
        finally:
            self._live.pop(task.id, None)
        return await finish_plan(self.ctx, task, run, state, status, live)

    async def stop(self, run: Run) -> None:
        """Kill a run's process group if it is still alive (used for runs nobody follows)."""
        handle = await self.ctx.runner.attach(self.ctx.spec(run))
        if await handle.poll() is None:
            await handle.kill(self.ctx.kill_grace_s)

    def run_dir(self, run_id: int) -> Path:
        return self.ctx.run_dir(run_id)

    def attach_command(self, run: Run) -> str | None:
        return self.ctx.attach_command(run)

    async def _execute(self, task: Task, options: ExecOptions, *, continue_loop: bool) -> Run:
        fresh = await self.ctx.store.tasks.get(task.id)
        if fresh.state is not TaskState.RUNNING:
            raise ExecutionError(
                f"task {task.id} is {fresh.state}; claim it (move it to running) before executing"
            )
        return await self._run_live(fresh, self._register(task.id), options, continue_loop)

    def _register(self, task_id: int) -> Live:
        """Mark the task as executing here, synchronously, so nobody starts it twice."""
        if task_id in self._live:
            raise ExecutionError(f"task {task_id} is already executing in this process")
        live = self._live[task_id] = Live()
        return live

    async def _run_live(self, task: Task, live: Live, options: ExecOptions, continue_loop: bool) -> Run:
        try:
            return await run_attempt(self.ctx, task, live, options, continue_loop=continue_loop)
        finally:
            self._live.pop(task.id, None)
