"""Following a live run: its stream read as it grows, recorded as it goes, stopped when it must.

The process runs in tmux, not under this process, so it is watched rather than awaited: the
stream log is tailed, the session, turns, tokens, the CLI's own retries and rate-limit events
are written to the run while it runs (a restart resumes from them; `show` and the live
progress message read them), and a cancel, a time limit, a budget stop or a refused login
ends it by killing its process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from core.abc import ProcessExit, ProcessHandle
from core.accounts import accounts, find
from core.agent.stream import StreamState
from core.agent.tail import LogTail
from core.errors import NightshiftError
from core.execution.context import ExecContext, Live, merge
from core.log import event
from core.models import Run, RunKind, Task
from core.progress import LiveProgress
from core.usage.monitor import record_rate_info

KILL_ATTEMPTS = 3
AUTH_RETRY_STOP = 2
"""The CLI retries a refused login up to 10 times over minutes (API keys); after this many
`authentication_failed` retries the run is stopped: the login will not fix itself."""


def time_limit_minutes(ctx: ExecContext, task: Task) -> float:
    """The task's own limit, else the learning loop's for it, else the configured one."""
    if task.max_minutes:
        return task.max_minutes
    if ctx.time_limit_minutes is not None:
        return ctx.time_limit_minutes(task)
    return ctx.settings.max_minutes


async def follow(ctx: ExecContext, task: Task, run: Run, handle: ProcessHandle, live: Live
                 ) -> tuple[Run, StreamState, ProcessExit]:
    """Until the process ends (or will not die after `KILL_ATTEMPTS` kills); the whole stream read."""
    loop = asyncio.get_running_loop()
    run_dir = ctx.run_dir(run.id)
    state = StreamState()
    log_tail = LogTail(run_dir / "stream.jsonl")
    live.view = view = LiveProgress(ctx.settings, ctx.notifier, task, run, clock=ctx.clock)
    await view.update(state)
    limit_min = time_limit_minutes(ctx, task)
    elapsed = (ctx.clock() - run.started_at).total_seconds() if run.started_at else 0.0
    deadline = loop.time() + max(0.0, 60.0 * limit_min - elapsed)
    last_progress = loop.time()
    reported: tuple[int, int] = (run.num_turns, run.tokens.total)
    session_seen = bool(run.extra.get("session_started"))
    retries_seen, rate_seen = 0, None
    kills = 0
    status: ProcessExit | None = None
    while True:
        for line in log_tail.read_lines():
            state.feed(line)
        if state.started and not session_seen:
            session_seen = True
            run = await ctx.store.runs.update(
                run.id, session_id=state.session_id,
                extra=merge(run.extra, session_started=True, model=state.model),
            )
            if run.kind is RunKind.WORK and state.session_id and state.session_id != task.session_id:
                await ctx.store.tasks.update_fields(task.id, session_id=state.session_id)
        if state.retries != retries_seen or state.rate_limit is not rate_seen:
            run = await api_progress(ctx, task, run, state, live, retries_seen)
            retries_seen, rate_seen = state.retries, state.rate_limit
        now_m = loop.time()
        if now_m - last_progress >= ctx.progress_interval_s:
            last_progress = now_m
            progress = (state.turns, state.tokens.total)
            if progress != reported:
                run = await ctx.store.runs.update(run.id, num_turns=state.turns, tokens=state.tokens)
                reported = progress
            await view.update(state)
            if live.stop is None and await ctx.cancelled_elsewhere(task.id):
                live.stop = "cancel"
        status = await handle.poll()
        if status is not None:
            break
        if live.stop is None and (run_dir / "cancel").exists():
            live.stop = "cancel"
        if live.stop is None and now_m >= deadline:
            live.stop = "timeout"
            event("run over time", logger="execution", task=task.id, run=run.id, max_minutes=limit_min)
        if live.stop is not None:
            if kills >= KILL_ATTEMPTS:
                status = ProcessExit(None)
                break
            kills += 1
            await handle.kill(ctx.kill_grace_s)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(live.wake.wait(), ctx.poll_interval_s)
    for line in log_tail.read_lines():
        state.feed(line)
    rest = log_tail.rest()
    if rest.strip():
        state.feed(rest)
    return run, state, status


def kv_scope(ctx: ExecContext, run: Run) -> str:
    """The run's account's own keys: its rate-limit events belong to its windows."""
    account = find(accounts(ctx.settings), run.account)
    return account.kv_scope(ctx.settings) if account is not None else ""


async def api_progress(ctx: ExecContext, task: Task, run: Run, state: StreamState, live: Live,
                       retries_seen: int) -> Run:
    """The CLI's own retries and rate-limit events, as they happen: recorded on the run (`show`
    prints them; the live progress message counts them), never a silent hang."""
    if state.rate_limit is not None:
        try:
            await record_rate_info(ctx.store, state.rate_limit, ctx.clock(), kv_scope(ctx, run))
        except NightshiftError as exc:  # the picture of the window is not worth a run
            event("rate limit not recorded", logging.WARNING, logger="execution", task=task.id, run=run.id,
                  error=str(exc))
    retry = state.last_retry
    if retry is None or state.retries == retries_seen:
        return run
    event("api retry", logger="execution", task=task.id, run=run.id, attempt=retry.attempt,
          max_retries=retry.max_retries, error=retry.error, status=retry.status, text=retry.text)
    run = await ctx.store.runs.update(run.id, extra=merge(
        run.extra, progress=retry.text, api_retry=retry.as_json(), api_retries=state.retries))
    if retry.error == "authentication_failed" and retry.attempt >= AUTH_RETRY_STOP and live.stop is None:
        live.stop = "logged_out"
    return run
