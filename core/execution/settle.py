"""The task's next state after its run, and who hears of it.

Only failures of the work spend an attempt. A usage limit pauses the task until the reset
(`resume_after`); the limit itself is already kept on the run (`extra["limit"]`, `judge`),
which is how the rest of the system hears of it: the daemon's follower hands the finished
run to the limit gate, and the gate pauses the queue. A restart, a refused login or an
overloaded API put it back to ready with the queue held (`core.execution.holds`); a check
failure with iterations left continues later. A task someone else moved meanwhile (a
cancel, another machine) is left as they set it.
"""

from __future__ import annotations

from typing import Any

from core.agent.stream import StreamState
from core.errors import InvalidTransition
from core.execution.context import ExecContext, merge
from core.execution.holds import clear_overload, hold_for_login, hold_for_overload, login_fingerprint
from core.execution.outcome import Verdict
from core.execution.report import finished_note
from core.models import Outcome, Run, Task, TaskState
from core.review import review_facts


async def settle(
    ctx: ExecContext, task: Task, run: Run, verdict: Verdict, max_iter: int, *, no_retry: bool = False
) -> Run:
    """Move the task on from its finished run; return the run (marked if it ended the attempt)."""
    fresh = await ctx.store.tasks.get(task.id)
    outcome = verdict.outcome
    if fresh.state is not TaskState.RUNNING or outcome is Outcome.CANCELLED or not ctx.owns(fresh):
        # Cancelled (or moved) by someone else: the state is theirs to set. Not ours any
        # more: another machine took the task over while this one was away (suspended).
        return run
    fields: dict[str, Any] = {}
    ends_attempt = False
    reason = verdict.reason
    max_attempts = ctx.settings.max_attempts
    if outcome is Outcome.SUCCESS:
        target = TaskState.DONE
        fields = {"attempts": fresh.attempts + 1, "resume_after": None}
        ends_attempt = True
    elif outcome is Outcome.LIMIT:
        assert verdict.limit is not None
        target = TaskState.PAUSED_LIMIT
        fields = {"resume_after": verdict.limit.resets_at}
    elif outcome is Outcome.INTERRUPTED:
        target = TaskState.READY
    elif outcome is Outcome.LOGGED_OUT:
        target = TaskState.READY  # no attempt: the queue holds until the login changes
    elif outcome is Outcome.OVERLOADED:
        target = TaskState.READY  # no attempt: it waits out the back-off with the queue
        hold = await hold_for_overload(ctx.store, verdict.reason, ctx.clock())
        fields = {"resume_after": hold.until}
    elif verdict.continuable and run.iteration < max_iter:
        target = TaskState.READY
        reason = f"{reason}; iteration {run.iteration + 1} continues when it runs again"
    elif (outcome in (Outcome.CRASHED, Outcome.ERROR) and not no_retry and verdict.retryable
          and fresh.attempts + 1 < max_attempts):
        target = TaskState.READY
        fields = {"attempts": fresh.attempts + 1}
        reason = f"{reason}; retrying (attempt {fresh.attempts + 2} of {max_attempts})"
    else:
        target = TaskState.FAILED
        fields = {"attempts": fresh.attempts + 1}
        ends_attempt = True
        if verdict.continuable:
            reason = f"{reason} after {run.iteration} iteration(s)"
    try:
        fresh = await ctx.store.tasks.transition(
            task.id, target, reason=reason, expect=(TaskState.RUNNING,), fields=fields,
            run_id=run.id, now=ctx.clock(),
        )
    except InvalidTransition:
        return run  # cancelled between our read and our write
    if ends_attempt:
        run = await ctx.store.runs.update(run.id, extra=merge(run.extra, attempt_end=True))
    new_hold = await hold_queue(ctx, verdict, None, run)
    if outcome is not Outcome.LOGGED_OUT or new_hold:  # one message per logged-out spell
        await ctx.send(finished_note(fresh, run, verdict, now=ctx.clock(), tz=ctx.settings.local_tz,
                                     attach=ctx.attach_command(run),
                                     data=await review_facts(ctx.settings, fresh, run)))
    return run


async def hold_queue(ctx: ExecContext, verdict: Verdict, state: StreamState | None, run: Run | None = None
                     ) -> bool:
    """Hold the whole queue for a login the API refused; forget the overload back-off once
    a run got through. True when this started a login hold (the owner must hear of it)."""
    now = ctx.clock()
    if verdict.outcome is Outcome.LOGGED_OUT:
        fingerprint = login_fingerprint(ctx.settings, now)
        return await hold_for_login(ctx.store, fingerprint, verdict.reason, now)
    served = (state is not None and state.result is not None and not state.result.is_error) or (
        run is not None and run.tokens.total > 0)
    if verdict.outcome is not Outcome.OVERLOADED and served:
        await clear_overload(ctx.store)
    return False

