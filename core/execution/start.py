"""Starting one run: record it first, then build its command and hand it to the process runner.

The run row, its tmux session name and its log path are written before the process exists,
so a process killed right after the start still finds (and settles) the run on restart. A
run that cannot start puts its task back to ready: nothing was spent on it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import uuid

from core import safefs
from core.abc import Notification, ProcessHandle
from core.agent.argv import ClaudeCall, build_command
from core.attachments import attachment_dirs
from core.childenv import child_env
from core.errors import InvalidTransition, NightshiftError, ToolMissing
from core.execution.context import ExecContext, ExecOptions, merge
from core.execution.permissions import allowed_rules, run_setup, sandbox_support
from core.execution.steps import Step
from core.execution.workspace import Workspace
from core.log import event
from core.models import Outcome, Run, RunKind, Task, TaskState
from core.settings import Settings
from core.store.db import ensure_private_dir


def claude_bin(settings: Settings) -> str:
    found = shutil.which(settings.claude_bin)
    if found is None:
        raise ToolMissing(
            settings.claude_bin,
            "install Claude Code (npm install -g @anthropic-ai/claude-code) or set "
            "NIGHTSHIFT_CLAUDE_BIN to its path",
        )
    return found


async def back_to_ready(ctx: ExecContext, task: Task, reason: str) -> None:
    with contextlib.suppress(InvalidTransition):
        await ctx.store.tasks.transition(task.id, TaskState.READY, reason=reason,
                                         expect=(TaskState.RUNNING,), now=ctx.clock())


async def start_run(
    ctx: ExecContext, task: Task, ws: Workspace, step: Step, options: ExecOptions,
    *, kind: RunKind = RunKind.WORK,
) -> tuple[Run, ProcessHandle]:
    settings, store = ctx.settings, ctx.store
    try:
        executable = claude_bin(settings)
    except ToolMissing:
        await back_to_ready(ctx, task, f"{settings.claude_bin} not found")
        raise
    new_session = None if step.resume else str(uuid.uuid4())
    session = step.resume or new_session
    account, account_env = ctx.account_for(options.account or task.account)
    now = ctx.clock()
    run = await store.runs.create(
        task.id, kind=kind, iteration=step.iteration, now=now, session_id=session, branch=ws.branch,
        worktree=str(ws.path), scheduled_for=options.scheduled_for, started_at=now,
        window_id=options.window_id, prompt_variant=options.prompt_variant, account=account,
        extra={"base": ws.base, "workspace": ws.kind, "step": step.kind,
               "resumed": step.resume is not None},
    )
    run_dir = ensure_private_dir(ctx.run_dir(run.id))
    spec_base = ctx.spec(run)
    run = await store.runs.update(run.id, tmux_session=spec_base.name, log_path=str(spec_base.log_path))
    planning = kind is RunKind.PLAN
    if not planning:  # the task's session is its work session; plan sessions stay on their runs
        await store.tasks.update_fields(task.id, session_id=session, account=account)
    call = ClaudeCall(step.prompt, session_id=new_session, resume=step.resume,
                      max_budget_usd=task.max_budget_usd, model=options.model,
                      permission_mode="plan" if planning else None,
                      add_dirs=attachment_dirs(settings, task.id))
    if not planning:  # a plan run is read-only: it needs no Bash
        setup = run_setup(settings, task.check_cmd, await allowed_rules(store, task),
                          sandbox_ok=sandbox_support()[0])
        call = dataclasses.replace(call, allowed_tools=setup.allowed_tools,
                                   settings_json=setup.settings_json, system_note=setup.system_note)
        run = await store.runs.update(run.id, extra=merge(run.extra, permissions=setup.as_json()))
    command = build_command(settings, call, executable=executable)
    stdin_path = None
    if command.stdin_text is not None:
        stdin_path = run_dir / "prompt.txt"
        safefs.write_atomic(stdin_path, command.stdin_text.encode("utf-8", "surrogateescape"))
    env = {**child_env(settings.pass_env), **account_env}
    spec = ctx.spec(run, command.argv, ws.path, env, stdin_path)
    try:
        handle = await ctx.runner.run(spec)
    except NightshiftError as exc:
        await store.runs.finish(run.id, Outcome.ERROR, now=ctx.clock(), final_text=exc.message,
                                extra=merge(run.extra, reason=exc.message))
        await back_to_ready(ctx, task, f"could not start the run: {exc.message}")
        raise
    if handle.pid is not None:
        run = await store.runs.update(run.id, extra=merge(run.extra, pid=handle.pid))
    event("run started", logger="execution", task=task.id, run=run.id, step=step.kind,
          iteration=step.iteration, tmux_session=spec.name)
    if settings.notify_run_started and step.kind not in ("continuation", "plan"):
        await ctx.send(Notification(
            "run_started",
            f"Task {task.id} started: {task.title}\n"
            + (f"branch {ws.branch}\n" if ws.branch else "")
            + f"attach: {ctx.attach_command(run)}",
            task_id=task.id, run_id=run.id, data={"step": step.kind, "run": run.as_json()},
        ))
    return run, handle
