"""What a finished work run amounted to, written on the run before anything acts on it.

The stream's end (and the process's exit) decides first: a limit, a crash, a refused login
or a stop needs no check. A run that finished its work is judged by the task's check, run
in the worktree while a cancel can still cut it short. Whatever the verdict, what the run
left uncommitted is committed on the task branch, so the review finds one branch.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

from core import safefs
from core.abc import ProcessExit
from core.agent.prompts import tail
from core.agent.stream import StreamState
from core.childenv import child_env
from core.errors import UnsafeFile
from core.execution.check import CheckResult, run_check
from core.execution.commit import commit_leftovers, commit_message
from core.execution.context import ExecContext, Live, merge
from core.execution.outcome import Verdict, agent_verdict, work_verdict
from core.execution.permissions import rules_for_denial
from core.execution.summary import diffstat, summary_text
from core.execution.workspace import Workspace
from core.log import event
from core.models import Outcome, Run, Task
from core.usage.limits import LimitHit

STDERR_TAIL_BYTES = 4096


def read_tail(path: Path, limit: int = STDERR_TAIL_BYTES) -> str:
    """The end of a run file, never through a link planted in the run's folder."""
    try:
        with os.fdopen(safefs.open_regular(path), "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""
    except UnsafeFile as exc:
        return f"[nightshift: not read: {exc.reason}]"


def stream_verdict(ctx: ExecContext, run: Run, state: StreamState, status: ProcessExit, live: Live
                   ) -> Verdict | None:
    """The verdict the stream and the exit give on their own; None: the work needs judging."""
    stderr = read_tail(ctx.run_dir(run.id) / "stderr.log")
    return agent_verdict(state, status, stopped=live.stop, stderr=stderr,
                         now=ctx.clock(), local_tz=ctx.settings.local_tz)


def limit_json(hit: LimitHit, *, exact: bool) -> dict[str, Any]:
    return {"kind": hit.kind, "resets_at": hit.resets_at.isoformat(), "text": hit.text,
            "estimated": hit.estimated, "exact": exact}


def with_limit(extra: dict[str, Any], verdict: Verdict, state: StreamState) -> dict[str, Any]:
    """The limit that ended a run, kept on it: the daemon pauses the queue from it."""
    if verdict.limit is None:
        return extra
    exact = state.rejected is not None
    return merge(extra, limit=limit_json(verdict.limit, exact=exact), limit_kind=verdict.limit.kind)


async def judge_run(
    ctx: ExecContext, task: Task, ws: Workspace, run: Run, state: StreamState, status: ProcessExit,
    live: Live,
) -> tuple[Run, Verdict]:
    """The verdict of a followed work run; the run is finished (recorded) when this returns."""
    run_dir = ctx.run_dir(run.id)
    verdict = stream_verdict(ctx, run, state, status, live)
    extra = merge(
        run.extra,
        phase="judging",
        session_started=bool(state.started or run.extra.get("session_started")),
        bad_lines=state.bad_lines,
        permission_denials=list(state.result.permission_denials) if state.result else [],
        refused=[{**d.as_json(), "rules": rules_for_denial(d)}
                 for d in (state.result.denials if state.result else ())],
    )
    run = await ctx.store.runs.update(
        run.id, session_id=state.session_id or run.session_id, tokens=state.tokens,
        cost_usd=state.cost_usd, num_turns=state.turns, final_text=state.final_text or None,
        exit_code=status.code, extra=extra,
    )
    check: CheckResult | None = None
    if verdict is None:
        assert state.result is not None
        if task.check_cmd:
            await _show_check(live, "running")
            check = await _check(ctx, task.id, task.check_cmd, ws, live, run_dir)
            await _show_check(live, None if check is None else "passed" if check.passed else "failed")
            if check is None:
                verdict = Verdict(Outcome.CANCELLED, "cancelled during the check")
        if verdict is None:
            verdict = work_verdict(state.result, task.check_cmd, check)
    if verdict.outcome is not Outcome.CANCELLED:
        committed = await commit_leftovers(ws, commit_message(
            task.id, task.title, run.id, run.iteration, verdict.outcome.value))
        if committed.sha or committed.error:
            extra["autocommit"] = committed.as_json()
    stat = await diffstat(ws)
    extra = merge(
        extra,
        phase="done",
        reason=verdict.reason,
        diffstat=stat.as_json() if stat else None,
        check_exit=check.exit_code if check else None,
    )
    run = await ctx.store.runs.finish(
        run.id, verdict.outcome, now=ctx.clock(),
        summary=summary_text(verdict.outcome.value, verdict.reason, ws, stat, state.final_text),
        check_output=tail(check.output) if check else None,
        extra=with_limit(extra, verdict, state),
    )
    event("run ended", logger="execution", task=task.id, run=run.id, outcome=verdict.outcome.value,
          reason=verdict.reason)
    if live.view is not None:
        await live.view.finish(verdict.outcome.value, run.finished_at, state)
    return run, verdict


async def _show_check(live: Live, check_state: str | None) -> None:
    if live.view is not None and check_state is not None:
        await live.view.check(check_state)


async def _check(
    ctx: ExecContext, task_id: int, command: str, ws: Workspace, live: Live, run_dir: Path
) -> CheckResult | None:
    """The check, or None if the task was cancelled meanwhile."""
    job = asyncio.create_task(run_check(command, ws.path, ctx.settings.check_timeout_s,
                                        env=child_env(ctx.settings.pass_env),
                                        output_path=run_dir / "check.log"))
    while not job.done():
        await asyncio.wait({job}, timeout=ctx.poll_interval_s)
        if live.stop is None and ((run_dir / "cancel").exists()
                                  or await ctx.cancelled_elsewhere(task_id)):
            live.stop = "cancel"
        if live.stop == "cancel" and not job.done():
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await job
            return None
    return job.result()
