"""One attempt of a claimed task: its runs, one after another, until the task's next state is set.

A run still open from before a restart is followed again rather than started twice; else the
task's history says where to start (`steps`). After each run is judged, the same session
continues right away while the check fails and iterations are left, as long as nobody stopped
it and the task is still running; then `settle` moves the task on.
"""

from __future__ import annotations

from core.errors import NightshiftError, ToolMissing
from core.execution.context import ExecContext, ExecOptions, Live, merge
from core.execution.follow import follow
from core.execution.judge import judge_run
from core.execution.outcome import Verdict
from core.execution.settle import settle
from core.execution.start import back_to_ready, start_run
from core.execution.steps import continuation, max_iterations, next_step, session_usable
from core.execution.workspace import prepare_workspace
from core.followup import follow_up_started
from core.models import Outcome, Run, RunKind, Task, TaskState


async def run_attempt(ctx: ExecContext, task: Task, live: Live, options: ExecOptions, *,
                      continue_loop: bool) -> Run:
    """Run (or resume following) the task; return its last run, the task in its next state.

    `continue_loop=False` finishes an open run from its log and settles it, without
    starting the next iteration (crash recovery decides nothing new on its own)."""
    runs = [r for r in await ctx.store.runs.for_task(task.id) if r.kind is RunKind.WORK]
    open_run = next((r for r in reversed(runs) if r.finished_at is None), None)
    base = next((str(r.extra["base"]) for r in runs if r.extra.get("base")), None)
    max_iter = max_iterations(ctx.settings, task)
    try:
        ws = await prepare_workspace(ctx.settings, task, base=base)
    except ToolMissing:
        await back_to_ready(ctx, task, "git is missing")
        raise
    except NightshiftError as exc:
        run = open_run or await ctx.store.runs.create(
            task.id, iteration=1, now=ctx.clock(), scheduled_for=options.scheduled_for,
            started_at=ctx.clock(),
        )
        run = await ctx.store.runs.finish(
            run.id, Outcome.ERROR, now=ctx.clock(), final_text=exc.message,
            summary=f"error: {exc.message}", extra=merge(run.extra, reason=exc.message),
        )
        return await settle(ctx, task, run, Verdict(Outcome.ERROR, exc.message), max_iter, no_retry=True)

    if open_run is not None:
        run = open_run
        handle = await ctx.runner.attach(ctx.spec(run))
    else:
        step = await next_step(ctx.store, task, runs, options, max_iter, ctx.account_for)
        run, handle = await start_run(ctx, task, ws, step, options)
        if step.kind == "follow_up":
            await follow_up_started(ctx.store, task.id)
    while True:
        live.run_id, live.handle = run.id, handle
        run, state, status = await follow(ctx, task, run, handle, live)
        run, verdict = await judge_run(ctx, task, ws, run, state, status, live)
        if (
            continue_loop
            and verdict.continuable
            and run.iteration < max_iter
            and live.stop is None
            and session_usable(run)
            and (await ctx.store.tasks.get(task.id)).state is TaskState.RUNNING
        ):
            assert run.session_id is not None
            run, handle = await start_run(ctx, task, ws, continuation(task, run, run.session_id, max_iter),
                                          options)
            continue
        return await settle(ctx, task, run, verdict, max_iter)
