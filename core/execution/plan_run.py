"""A plan run: Claude drafts a plan read-only (`--permission-mode plan`) in the task's workspace.

It is started and followed like any run, so it is paused by a limit and held by a refused
login or an overloaded API with the rest of the queue; but the task's state is the planner's
(`core.plans.planner`), so nothing here moves the task or runs a check.
"""

from __future__ import annotations

from core.abc import ProcessExit
from core.agent.stream import StreamState
from core.execution.context import ExecContext, ExecOptions, Live, merge
from core.execution.follow import follow
from core.execution.holds import hold_for_overload
from core.execution.judge import stream_verdict, with_limit
from core.execution.outcome import Verdict
from core.execution.report import finished_note
from core.execution.settle import hold_queue
from core.execution.start import start_run
from core.execution.steps import Step
from core.execution.workspace import prepare_workspace
from core.models import Outcome, Run, RunKind, Task


async def follow_plan(ctx: ExecContext, task: Task, prompt: str, resume: str | None, live: Live
                      ) -> tuple[Run, StreamState, ProcessExit]:
    """Start the plan run and follow it to its end."""
    ws = await prepare_workspace(ctx.settings, task)
    run, handle = await start_run(ctx, task, ws, Step(1, prompt, resume, "plan"), ExecOptions(),
                                  kind=RunKind.PLAN)
    live.run_id, live.handle = run.id, handle
    return await follow(ctx, task, run, handle, live)


async def finish_plan(ctx: ExecContext, task: Task, run: Run, state: StreamState, status: ProcessExit,
                      live: Live) -> tuple[Run, Verdict]:
    """Record how the plan run ended (a limit kept on the run, where the daemon's gate reads
    it); hold the queue for the API's failures."""
    verdict = stream_verdict(ctx, run, state, status, live)
    if verdict is None:
        verdict = Verdict(Outcome.SUCCESS, "plan drafted")
    extra = merge(run.extra, phase="done", reason=verdict.reason,
                  session_started=bool(state.started), bad_lines=state.bad_lines)
    run = await ctx.store.runs.finish(
        run.id, verdict.outcome, now=ctx.clock(), session_id=state.session_id or run.session_id,
        tokens=state.tokens, cost_usd=state.cost_usd, num_turns=state.turns,
        final_text=state.final_text or None, exit_code=status.code,
        summary=f"plan run: {verdict.outcome.value} ({verdict.reason})",
        extra=with_limit(extra, verdict, state),
    )
    if verdict.outcome is Outcome.OVERLOADED:
        await hold_for_overload(ctx.store, verdict.reason, ctx.clock())
    if await hold_queue(ctx, verdict, state) and verdict.outcome is Outcome.LOGGED_OUT:
        await ctx.send(finished_note(task, run, verdict, now=ctx.clock(), tz=ctx.settings.local_tz,
                                     attach=None))
    return run, verdict
