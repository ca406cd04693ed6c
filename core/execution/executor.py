"""One task attempt, end to end: workspace, CLI run in tmux, live parsing, check, continuation.

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
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from core import safefs
from core.abc import (
    Notification,
    Notifier,
    NullNotifier,
    ProcessExit,
    ProcessHandle,
    ProcessRunner,
    ProcessSpec,
)
from core.accounts import accounts, find
from core.agent.argv import ClaudeCall, build_command
from core.agent.prompts import continuation_prompt, resume_prompt, tail, work_prompt
from core.agent.stream import StreamState
from core.agent.tail import LogTail
from core.attachments import attachment_dirs
from core.childenv import child_env
from core.errors import ExecutionError, InvalidTransition, NightshiftError, ToolMissing, UnsafeFile
from core.execution.check import CheckResult, run_check
from core.execution.commit import commit_leftovers, commit_message
from core.execution.holds import clear_overload, hold_for_login, hold_for_overload, login_fingerprint
from core.execution.outcome import BUDGET_STOP_REASON, CONTINUABLE, Verdict, agent_verdict, work_verdict
from core.execution.permissions import allowed_rules, rules_for_denial, run_setup, sandbox_support
from core.execution.report import finished_note
from core.execution.summary import diffstat, summary_text
from core.execution.workspace import Workspace, prepare_workspace
from core.followup import follow_up_started, fresh_follow_up_prompt, pending_follow_up
from core.models import Outcome, Run, RunKind, Task, TaskState, utcnow
from core.progress import LiveProgress
from core.review import review_facts
from core.settings import HARD_MAX_ITERATIONS, Settings
from core.store.db import ensure_private_dir
from core.store.store import Store
from core.usage.limits import LimitHit
from core.usage.monitor import record_rate_info

log = logging.getLogger(__name__)

STDERR_TAIL_BYTES = 4096
KILL_ATTEMPTS = 3
AUTH_RETRY_STOP = 2
"""The CLI retries a refused login up to 10 times over minutes (API keys); after this many
`authentication_failed` retries the run is stopped: the login will not fix itself."""


@dataclass(frozen=True, slots=True)
class LimitNotice:
    """A usage limit ended a run: the caller pauses the whole queue until `resets_at`."""

    task_id: int
    run_id: int
    resets_at: datetime
    kind: str
    text: str
    exact: bool
    """True when the reset time came from the stream's `rate_limit_event` (second precision)."""
    estimated: bool
    """True when no source named a reset time (a pessimistic guess of now + 5 h)."""


LimitCallback = Callable[[LimitNotice], Awaitable[None]]
AccountFor = Callable[[str | None], tuple[str | None, dict[str, str]]]


@dataclass(frozen=True, slots=True)
class ExecOptions:
    scheduled_for: datetime | None = None
    """When the scheduler meant this run to start (reset-to-start latency)."""
    window_id: str | None = None
    prompt_variant: str | None = None
    prompt: str | None = None
    """Replaces the task's prompt for a fresh start (a prompt style with lessons, say)."""
    account: str | None = None
    """The account (key) to run on; None: the one holding the task's session, else the first."""
    model: str | None = None
    """Replaces the configured model (a fallback while the task's model family is limited)."""


@dataclass(frozen=True, slots=True)
class _Step:
    iteration: int
    prompt: str
    resume: str | None
    kind: str  # initial | continuation | resume | retry | follow_up


@dataclass
class _Live:
    stop: str | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    handle: ProcessHandle | None = None
    run_id: int | None = None
    view: LiveProgress | None = None
    """The run's live progress message (`core.progress`)."""


_RESUME_REASONS = {
    Outcome.LIMIT: "the usage limit was reached; it has reset now",
    Outcome.INTERRUPTED: "nightshift was restarted",
    Outcome.CRASHED: "the Claude CLI crashed",
    Outcome.ERROR: "the Claude CLI reported an error",
    Outcome.TIMEOUT: "the run hit its time limit",
    Outcome.LOGGED_OUT: "Claude Code was not logged in; it is again now",
    Outcome.OVERLOADED: "the API was overloaded",
}


def _merge(extra: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {**extra, **more}


def _read_tail(path: Path, limit: int = STDERR_TAIL_BYTES) -> str:
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


class Executor:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        runner: ProcessRunner,
        notifier: Notifier | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        on_limit: LimitCallback | None = None,
        time_limit_minutes: Callable[[Task], float] | None = None,
        poll_interval_s: float = 0.1,
        progress_interval_s: float = 1.0,
        kill_grace_s: float = 3.0,
        owns: Callable[[Task], bool] | None = None,
        account_for: AccountFor | None = None,
    ) -> None:
        self.settings = settings
        self.owns: Callable[[Task], bool] = owns or (lambda task: True)
        """Is a task this machine's to recover? Another machine's runs live in its own tmux."""
        self.account_for: AccountFor = account_for or (lambda key: (key, {}))
        """An account key (None: the default) -> the key a run records and its environment."""
        self.store = store
        self.runner = runner
        self.notifier: Notifier = notifier or NullNotifier()
        self.clock = clock
        self.on_limit = on_limit
        self.time_limit_minutes = time_limit_minutes
        """The learning loop's time limit for a task (longer for tags that timed out)."""
        self.poll_interval_s = poll_interval_s
        self.progress_interval_s = progress_interval_s
        self.kill_grace_s = kill_grace_s
        self.adopted: dict[int, asyncio.Task[Run]] = {}
        """Runs found alive by `reconcile`, followed in the background (task id -> asyncio task)."""
        self._live: dict[int, _Live] = {}

    # --- public API -----------------------------------------------------------------------

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
        out: list[Run] = []
        seen: set[int] = set()
        for run in await self.store.runs.unfinished():
            if run.kind is not RunKind.WORK or run.task_id in self._live:
                continue
            task = await self.store.tasks.get(run.task_id)
            if task.state is TaskState.RUNNING and not self.owns(task):
                continue  # another machine follows it; a run nobody follows is settled below
            handle = await self.runner.attach(self._spec(run))
            alive = await handle.poll() is None
            if task.state is not TaskState.RUNNING or task.id in seen:
                if alive:
                    await handle.kill(self.kill_grace_s)
                outcome = Outcome.CANCELLED if task.state is TaskState.CANCELLED else Outcome.INTERRUPTED
                out.append(await self.store.runs.finish(
                    run.id, outcome, now=self.clock(),
                    extra=_merge(run.extra, reason=f"found unfinished while the task was {task.state}"),
                ))
                continue
            seen.add(task.id)
            if alive:
                log.info("run %s of task %s is still alive: following it again", run.id, task.id)
                self.adopted[task.id] = asyncio.create_task(
                    self._run_live(task, self._register(task.id), ExecOptions(), continue_loop=True),
                    name=f"nightshift-adopt-{task.id}",
                )
                out.append(run)
            else:
                try:
                    out.append(await self._execute(task, ExecOptions(), continue_loop=False))
                except NightshiftError as exc:  # one bad run must not stop the others' recovery
                    log.error("could not reconcile run %s of task %s: %s", run.id, task.id, exc)
        for task in await self.store.tasks.query([TaskState.RUNNING]):
            if task.id in seen or task.id in self._live or not self.owns(task):
                continue
            with contextlib.suppress(InvalidTransition):
                await self.store.tasks.transition(
                    task.id, TaskState.READY, reason="interrupted before its run started",
                    expect=(TaskState.RUNNING,), now=self.clock(),
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
        live = self._live.get(task.id)
        if live is not None:
            live.stop = "cancel"
            live.wake.set()
        for run in await self.store.runs.for_task(task.id):
            if run.finished_at is not None:
                continue
            run_dir = self.run_dir(run.id)
            if run_dir.is_dir():
                safefs.write_atomic(run_dir / "cancel", b"")
            handle: ProcessHandle
            if live is not None and live.run_id == run.id and live.handle is not None:
                handle = live.handle
            else:
                handle = await self.runner.attach(self._spec(run))
            if await handle.poll() is None:
                await handle.kill(self.kill_grace_s)

    def pause_for_budget(self, task_id: int) -> bool:
        """Stop the task's live run in this process to keep the owner's share of the window.

        The run ends `interrupted` (no attempt spent) and the task is ready again with its
        session, which the next run resumes. False when no run of it is live here."""
        live = self._live.get(task_id)
        if live is None or live.stop is not None:
            return False
        live.stop = "budget"
        live.wake.set()
        return True

    async def draft_plan(self, task: Task, prompt: str, *, resume: str | None = None) -> tuple[Run, Verdict]:
        """One read-only plan run (`--permission-mode plan`) in the task's workspace.

        The caller owns the task's state (it is `planning`); this only runs Claude, records
        the run (kind `plan`) and reports a limit through `on_limit` like any run, so
        planning is paused and resumed with the rest of the queue.
        """
        live = self._register(task.id)
        try:
            ws = await prepare_workspace(self.settings, task)
            step = _Step(1, prompt, resume, "plan")
            run, handle = await self._launch(task, ws, step, ExecOptions(), kind=RunKind.PLAN)
            live.run_id, live.handle = run.id, handle
            run, state, status = await self._follow(task, run, handle, live)
        finally:
            self._live.pop(task.id, None)
        stderr = _read_tail(self.run_dir(run.id) / "stderr.log")
        verdict = agent_verdict(state, status, stopped=live.stop, stderr=stderr,
                                now=self.clock(), local_tz=self.settings.local_tz)
        if verdict is None:
            verdict = Verdict(Outcome.SUCCESS, "plan drafted")
        extra = _merge(run.extra, phase="done", reason=verdict.reason,
                       session_started=bool(state.started), bad_lines=state.bad_lines)
        if verdict.limit is not None:
            extra["limit"] = self._limit_json(verdict.limit, exact=state.rejected is not None)
            extra["limit_kind"] = verdict.limit.kind
        run = await self.store.runs.finish(
            run.id, verdict.outcome, now=self.clock(), session_id=state.session_id or run.session_id,
            tokens=state.tokens, cost_usd=state.cost_usd, num_turns=state.turns,
            final_text=state.final_text or None, exit_code=status.code,
            summary=f"plan run: {verdict.outcome.value} ({verdict.reason})", extra=extra,
        )
        if verdict.limit is not None and self.on_limit is not None:
            hit = verdict.limit
            try:
                await self.on_limit(LimitNotice(
                    task_id=task.id, run_id=run.id, resets_at=hit.resets_at, kind=hit.kind,
                    text=hit.text, exact=state.rejected is not None, estimated=hit.estimated,
                ))
            except Exception:
                log.exception("the on_limit hook failed for plan run %s", run.id)
        if verdict.outcome is Outcome.OVERLOADED:
            await hold_for_overload(self.store, verdict.reason, self.clock())
        if await self._hold_queue(verdict, state) and verdict.outcome is Outcome.LOGGED_OUT:
            await self._send(finished_note(task, run, verdict, now=self.clock(), tz=self.settings.local_tz,
                                           attach=None))
        return run, verdict

    async def stop(self, run: Run) -> None:
        """Kill a run's process group if it is still alive (used for runs nobody follows)."""
        handle = await self.runner.attach(self._spec(run))
        if await handle.poll() is None:
            await handle.kill(self.kill_grace_s)

    def run_dir(self, run_id: int) -> Path:
        return self.settings.home_dir / "runs" / str(run_id)

    def attach_command(self, run: Run) -> str | None:
        if not run.tmux_session:
            return None
        return f"tmux -L {self.settings.tmux_socket} attach -t {run.tmux_session}"

    # --- the loop -------------------------------------------------------------------------

    async def _execute(self, task: Task, options: ExecOptions, *, continue_loop: bool) -> Run:
        fresh = await self.store.tasks.get(task.id)
        if fresh.state is not TaskState.RUNNING:
            raise ExecutionError(
                f"task {task.id} is {fresh.state}; claim it (move it to running) before executing"
            )
        return await self._run_live(fresh, self._register(task.id), options, continue_loop)

    def _register(self, task_id: int) -> _Live:
        """Mark the task as executing here, synchronously, so nobody starts it twice."""
        if task_id in self._live:
            raise ExecutionError(f"task {task_id} is already executing in this process")
        live = self._live[task_id] = _Live()
        return live

    async def _run_live(self, task: Task, live: _Live, options: ExecOptions, continue_loop: bool) -> Run:
        try:
            return await self._loop(task, live, options, continue_loop)
        finally:
            self._live.pop(task.id, None)

    def _max_iterations(self, task: Task) -> int:
        wanted = task.max_iterations or self.settings.max_iterations
        return max(1, min(wanted, HARD_MAX_ITERATIONS))

    async def _loop(self, task: Task, live: _Live, options: ExecOptions, continue_loop: bool) -> Run:
        runs = [r for r in await self.store.runs.for_task(task.id) if r.kind is RunKind.WORK]
        open_run = next((r for r in reversed(runs) if r.finished_at is None), None)
        base = next((str(r.extra["base"]) for r in runs if r.extra.get("base")), None)
        max_iter = self._max_iterations(task)
        try:
            ws = await prepare_workspace(self.settings, task, base=base)
        except ToolMissing:
            await self._back_to_ready(task, "git is missing")
            raise
        except NightshiftError as exc:
            run = open_run or await self.store.runs.create(
                task.id, iteration=1, now=self.clock(), scheduled_for=options.scheduled_for,
                started_at=self.clock(),
            )
            verdict = Verdict(Outcome.ERROR, exc.message)
            run = await self.store.runs.finish(
                run.id, Outcome.ERROR, now=self.clock(), final_text=exc.message,
                summary=f"error: {exc.message}", extra=_merge(run.extra, reason=exc.message),
            )
            return await self._settle(task, run, verdict, max_iter, no_retry=True)

        if open_run is not None:
            run = open_run
            handle = await self.runner.attach(self._spec(run))
        else:
            step = await self._next_step(task, runs, options, max_iter)
            run, handle = await self._launch(task, ws, step, options)
            if step.kind == "follow_up":
                await follow_up_started(self.store, task.id)
        while True:
            live.run_id, live.handle = run.id, handle
            run, verdict = await self._follow_and_judge(task, ws, run, handle, live)
            if (
                continue_loop
                and verdict.continuable
                and run.iteration < max_iter
                and live.stop is None
                and self._session_usable(run)
                and (await self.store.tasks.get(task.id)).state is TaskState.RUNNING
            ):
                assert run.session_id is not None
                step = _Step(
                    run.iteration + 1,
                    continuation_prompt(task.check_cmd, run.extra.get("check_exit"),
                                        run.check_output or "", run.iteration + 1, max_iter),
                    run.session_id,
                    "continuation",
                )
                run, handle = await self._launch(task, ws, step, options)
                continue
            return await self._settle(task, run, verdict, max_iter)

    @staticmethod
    def _session_usable(run: Run) -> bool:
        return bool(run.session_id and run.extra.get("session_started"))

    async def _next_step(self, task: Task, runs: list[Run], options: ExecOptions, max_iter: int) -> _Step:
        """Where this attempt starts, from the task's history (so restarts never start over)."""
        plan = await self.store.plans.approved(task.id)
        fresh_prompt = work_prompt(options.prompt or task.prompt, plan.body if plan else None)
        last = runs[-1] if runs else None
        session: str | None = None
        if task.session_id and self._in_session_account(task, options):
            using = [r for r in runs if r.session_id == task.session_id]
            if using and using[-1].extra.get("session_started"):
                session = task.session_id
        if last is None:
            return _Step(1, fresh_prompt, None, "initial")
        follow_up = await pending_follow_up(self.store, task.id)
        if follow_up is not None:  # the owner's next instruction, in the same session if it lives
            prompt = follow_up if session else fresh_follow_up_prompt(fresh_prompt, follow_up)
            return _Step(last.iteration + 1, prompt, session, "follow_up")
        if last.extra.get("attempt_end"):
            if session:
                why = f"the previous attempt ended ({last.outcome}) and the owner asked to try again"
                if last.outcome is Outcome.PERMISSION_DENIED:
                    rules = await allowed_rules(self.store, task)
                    if rules:
                        why += "; you may now also use " + ", ".join(rules)
                return _Step(1, resume_prompt(why), session, "retry")
            return _Step(1, fresh_prompt, None, "initial")
        if session and last.outcome in CONTINUABLE and last.iteration < max_iter:
            return _Step(
                last.iteration + 1,
                continuation_prompt(task.check_cmd, last.extra.get("check_exit"),
                                    last.check_output or "", last.iteration + 1, max_iter),
                session,
                "continuation",
            )
        if session:
            if last.extra.get("reason") == BUDGET_STOP_REASON:
                reason = "nightshift paused it to leave the owner their share of the usage window"
            else:
                reason = _RESUME_REASONS.get(last.outcome or Outcome.INTERRUPTED, "it stopped early")
            return _Step(last.iteration, resume_prompt(reason), session, "resume")
        return _Step(last.iteration, fresh_prompt, None, "initial")

    def _in_session_account(self, task: Task, options: ExecOptions) -> bool:
        """Can this run resume the task's session? Only on the account that holds it."""
        key, _ = self.account_for(options.account or task.account)
        return task.account is None or task.account == key

    def _claude_bin(self) -> str:
        found = shutil.which(self.settings.claude_bin)
        if found is None:
            raise ToolMissing(
                self.settings.claude_bin,
                "install Claude Code (npm install -g @anthropic-ai/claude-code) or set "
                "NIGHTSHIFT_CLAUDE_BIN to its path",
            )
        return found

    def _spec(
        self, run: Run, argv: tuple[str, ...] = (), cwd: Path | None = None,
        env: dict[str, str] | None = None, stdin_path: Path | None = None,
    ) -> ProcessSpec:
        """A run's process, named by ids alone so a later process can find it again."""
        run_dir = self.run_dir(run.id)
        return ProcessSpec(
            name=f"ns-{run.task_id}-{run.id}",
            argv=argv,
            cwd=cwd or Path(run.worktree or "."),
            env=env or {},
            log_path=run_dir / "stream.jsonl",
            run_dir=run_dir,
            stdin_path=stdin_path,
        )

    async def _launch(
        self, task: Task, ws: Workspace, step: _Step, options: ExecOptions,
        *, kind: RunKind = RunKind.WORK,
    ) -> tuple[Run, ProcessHandle]:
        try:
            executable = self._claude_bin()
        except ToolMissing:
            await self._back_to_ready(task, f"{self.settings.claude_bin} not found")
            raise
        new_session = None if step.resume else str(uuid.uuid4())
        session = step.resume or new_session
        account, account_env = self.account_for(options.account or task.account)
        now = self.clock()
        run = await self.store.runs.create(
            task.id, kind=kind, iteration=step.iteration, now=now, session_id=session, branch=ws.branch,
            worktree=str(ws.path), scheduled_for=options.scheduled_for, started_at=now,
            window_id=options.window_id, prompt_variant=options.prompt_variant, account=account,
            extra={"base": ws.base, "workspace": ws.kind, "step": step.kind,
                   "resumed": step.resume is not None},
        )
        run_dir = ensure_private_dir(self.run_dir(run.id))
        spec_base = self._spec(run)
        run = await self.store.runs.update(
            run.id, tmux_session=spec_base.name, log_path=str(spec_base.log_path)
        )
        planning = kind is RunKind.PLAN
        if not planning:  # the task's session is its work session; plan sessions stay on their runs
            await self.store.tasks.update_fields(task.id, session_id=session, account=account)
        call = ClaudeCall(step.prompt, session_id=new_session, resume=step.resume,
                          max_budget_usd=task.max_budget_usd, model=options.model,
                          permission_mode="plan" if planning else None,
                          add_dirs=attachment_dirs(self.settings, task.id))
        if not planning:  # a plan run is read-only: it needs no Bash
            setup = run_setup(self.settings, task.check_cmd, await allowed_rules(self.store, task),
                              sandbox_ok=sandbox_support()[0])
            call = dataclasses.replace(call, allowed_tools=setup.allowed_tools,
                                       settings_json=setup.settings_json, system_note=setup.system_note)
            run = await self.store.runs.update(run.id, extra=_merge(run.extra, permissions=setup.as_json()))
        command = build_command(self.settings, call, executable=executable)
        stdin_path = None
        if command.stdin_text is not None:
            stdin_path = run_dir / "prompt.txt"
            safefs.write_atomic(stdin_path, command.stdin_text.encode("utf-8", "surrogateescape"))
        env = {**child_env(self.settings.pass_env), **account_env}
        spec = self._spec(run, command.argv, ws.path, env, stdin_path)
        try:
            handle = await self.runner.run(spec)
        except NightshiftError as exc:
            await self.store.runs.finish(run.id, Outcome.ERROR, now=self.clock(), final_text=exc.message,
                                         extra=_merge(run.extra, reason=exc.message))
            await self._back_to_ready(task, f"could not start the run: {exc.message}")
            raise
        if handle.pid is not None:
            run = await self.store.runs.update(run.id, extra=_merge(run.extra, pid=handle.pid))
        log.info("task %s: run %s started (%s, iteration %s) in tmux session %s",
                 task.id, run.id, step.kind, step.iteration, spec.name)
        if self.settings.notify_run_started and step.kind not in ("continuation", "plan"):
            await self._send(Notification(
                "run_started",
                f"Task {task.id} started: {task.title}\n"
                + (f"branch {ws.branch}\n" if ws.branch else "")
                + f"attach: {self.attach_command(run)}",
                task_id=task.id, run_id=run.id, data={"step": step.kind, "run": run.as_json()},
            ))
        return run, handle

    async def _back_to_ready(self, task: Task, reason: str) -> None:
        with contextlib.suppress(InvalidTransition):
            await self.store.tasks.transition(task.id, TaskState.READY, reason=reason,
                                              expect=(TaskState.RUNNING,), now=self.clock())

    # --- following a run --------------------------------------------------------------------

    async def _follow(self, task: Task, run: Run, handle: ProcessHandle, live: _Live
                      ) -> tuple[Run, StreamState, ProcessExit]:
        loop = asyncio.get_running_loop()
        run_dir = self.run_dir(run.id)
        state = StreamState()
        log_tail = LogTail(run_dir / "stream.jsonl")
        live.view = view = LiveProgress(self.settings, self.notifier, task, run, clock=self.clock)
        await view.update(state)
        if task.max_minutes:
            limit_min = task.max_minutes
        elif self.time_limit_minutes is not None:
            limit_min = self.time_limit_minutes(task)
        else:
            limit_min = self.settings.max_minutes
        limit_s = 60.0 * limit_min
        elapsed = (self.clock() - run.started_at).total_seconds() if run.started_at else 0.0
        deadline = loop.time() + max(0.0, limit_s - elapsed)
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
                run = await self.store.runs.update(
                    run.id, session_id=state.session_id,
                    extra=_merge(run.extra, session_started=True, model=state.model),
                )
                if run.kind is RunKind.WORK and state.session_id and state.session_id != task.session_id:
                    await self.store.tasks.update_fields(task.id, session_id=state.session_id)
            if state.retries != retries_seen or state.rate_limit is not rate_seen:
                run = await self._api_progress(task, run, state, live, retries_seen)
                retries_seen, rate_seen = state.retries, state.rate_limit
            now_m = loop.time()
            if now_m - last_progress >= self.progress_interval_s:
                last_progress = now_m
                progress = (state.turns, state.tokens.total)
                if progress != reported:
                    run = await self.store.runs.update(run.id, num_turns=state.turns,
                                                       tokens=state.tokens)
                    reported = progress
                await view.update(state)
                if live.stop is None and await self._cancelled_elsewhere(task.id):
                    live.stop = "cancel"
            status = await handle.poll()
            if status is not None:
                break
            if live.stop is None and (run_dir / "cancel").exists():
                live.stop = "cancel"
            if live.stop is None and now_m >= deadline:
                live.stop = "timeout"
                log.info("task %s: run %s hit its time limit; stopping it", task.id, run.id)
            if live.stop is not None:
                if kills >= KILL_ATTEMPTS:
                    status = ProcessExit(None)
                    break
                kills += 1
                await handle.kill(self.kill_grace_s)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(live.wake.wait(), self.poll_interval_s)
        for line in log_tail.read_lines():
            state.feed(line)
        rest = log_tail.rest()
        if rest.strip():
            state.feed(rest)
        return run, state, status

    def _kv_scope(self, run: Run) -> str:
        """The run's account's own keys: its rate-limit events belong to its windows."""
        account = find(accounts(self.settings), run.account)
        return account.kv_scope(self.settings) if account is not None else ""

    async def _api_progress(self, task: Task, run: Run, state: StreamState, live: _Live,
                            retries_seen: int) -> Run:
        """The CLI's own retries and rate-limit events, as they happen: recorded on the run (`show`
        prints them; the live progress message counts them), never a silent hang."""
        if state.rate_limit is not None:
            try:
                await record_rate_info(self.store, state.rate_limit, self.clock(), self._kv_scope(run))
            except NightshiftError as exc:  # the picture of the window is not worth a run
                log.warning("rate-limit event of run %s not recorded: %s", run.id, exc)
        retry = state.last_retry
        if retry is None or state.retries == retries_seen:
            return run
        log.info("task %s: run %s: %s", task.id, run.id, retry.text)
        run = await self.store.runs.update(run.id, extra=_merge(
            run.extra, progress=retry.text, api_retry=retry.as_json(), api_retries=state.retries))
        if retry.error == "authentication_failed" and retry.attempt >= AUTH_RETRY_STOP and live.stop is None:
            live.stop = "logged_out"
        return run

    async def _follow_and_judge(
        self, task: Task, ws: Workspace, run: Run, handle: ProcessHandle, live: _Live
    ) -> tuple[Run, Verdict]:
        run, state, status = await self._follow(task, run, handle, live)
        run_dir = self.run_dir(run.id)
        stderr = _read_tail(run_dir / "stderr.log")
        verdict = agent_verdict(state, status, stopped=live.stop, stderr=stderr,
                                now=self.clock(), local_tz=self.settings.local_tz)
        extra = _merge(
            run.extra,
            phase="judging",
            session_started=bool(state.started or run.extra.get("session_started")),
            bad_lines=state.bad_lines,
            permission_denials=list(state.result.permission_denials) if state.result else [],
            refused=[{**d.as_json(), "rules": rules_for_denial(d)}
                     for d in (state.result.denials if state.result else ())],
        )
        run = await self.store.runs.update(
            run.id, session_id=state.session_id or run.session_id, tokens=state.tokens,
            cost_usd=state.cost_usd, num_turns=state.turns, final_text=state.final_text or None,
            exit_code=status.code, extra=extra,
        )
        check: CheckResult | None = None
        if verdict is None:
            assert state.result is not None
            if task.check_cmd:
                await self._view(live, "running")
                check = await self._check(task.id, task.check_cmd, ws, live, run_dir)
                await self._view(live, None if check is None else "passed" if check.passed else "failed")
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
        extra = _merge(
            extra,
            phase="done",
            reason=verdict.reason,
            diffstat=stat.as_json() if stat else None,
            check_exit=check.exit_code if check else None,
        )
        if verdict.limit is not None:
            extra["limit"] = self._limit_json(verdict.limit, exact=state.rejected is not None)
            extra["limit_kind"] = verdict.limit.kind
        run = await self.store.runs.finish(
            run.id, verdict.outcome, now=self.clock(),
            summary=summary_text(verdict.outcome.value, verdict.reason, ws, stat, state.final_text),
            check_output=tail(check.output) if check else None,
            extra=extra,
        )
        log.info("task %s: run %s ended: %s (%s)", task.id, run.id, verdict.outcome, verdict.reason)
        if live.view is not None:
            await live.view.finish(verdict.outcome.value, run.finished_at, state)
        return run, verdict

    @staticmethod
    async def _view(live: _Live, check_state: str | None) -> None:
        if live.view is not None and check_state is not None:
            await live.view.check(check_state)

    async def _check(
        self, task_id: int, command: str, ws: Workspace, live: _Live, run_dir: Path
    ) -> CheckResult | None:
        """The check, or None if the task was cancelled meanwhile."""
        job = asyncio.create_task(run_check(command, ws.path, self.settings.check_timeout_s,
                                            env=child_env(self.settings.pass_env),
                                            output_path=run_dir / "check.log"))
        while not job.done():
            await asyncio.wait({job}, timeout=self.poll_interval_s)
            if live.stop is None and ((run_dir / "cancel").exists()
                                      or await self._cancelled_elsewhere(task_id)):
                live.stop = "cancel"
            if live.stop == "cancel" and not job.done():
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job
                return None
        return job.result()

    async def _cancelled_elsewhere(self, task_id: int) -> bool:
        """The task was cancelled by a process that could not reach this run (no hook there)."""
        return (await self.store.tasks.get(task_id)).state is TaskState.CANCELLED

    @staticmethod
    def _limit_json(hit: LimitHit, *, exact: bool) -> dict[str, Any]:
        return {"kind": hit.kind, "resets_at": hit.resets_at.isoformat(), "text": hit.text,
                "estimated": hit.estimated, "exact": exact}

    # --- the task's next state --------------------------------------------------------------

    async def _settle(
        self, task: Task, run: Run, verdict: Verdict, max_iter: int, *, no_retry: bool = False
    ) -> Run:
        fresh = await self.store.tasks.get(task.id)
        outcome = verdict.outcome
        if fresh.state is not TaskState.RUNNING or outcome is Outcome.CANCELLED or not self.owns(fresh):
            # Cancelled (or moved) by someone else: the state is theirs to set. Not ours any
            # more: another machine took the task over while this one was away (suspended).
            return run
        fields: dict[str, Any] = {}
        ends_attempt = False
        reason = verdict.reason
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
            hold = await hold_for_overload(self.store, verdict.reason, self.clock())
            fields = {"resume_after": hold.until}
        elif verdict.continuable and run.iteration < max_iter:
            target = TaskState.READY
            reason = f"{reason}; iteration {run.iteration + 1} continues when it runs again"
        elif (outcome in (Outcome.CRASHED, Outcome.ERROR) and not no_retry and verdict.retryable
              and fresh.attempts + 1 < self.settings.max_attempts):
            target = TaskState.READY
            fields = {"attempts": fresh.attempts + 1}
            reason = f"{reason}; retrying (attempt {fresh.attempts + 2} of {self.settings.max_attempts})"
        else:
            target = TaskState.FAILED
            fields = {"attempts": fresh.attempts + 1}
            ends_attempt = True
            if verdict.continuable:
                reason = f"{reason} after {run.iteration} iteration(s)"
        try:
            fresh = await self.store.tasks.transition(
                task.id, target, reason=reason, expect=(TaskState.RUNNING,), fields=fields,
                run_id=run.id, now=self.clock(),
            )
        except InvalidTransition:
            return run  # cancelled between our read and our write
        if ends_attempt:
            run = await self.store.runs.update(run.id, extra=_merge(run.extra, attempt_end=True))
        new_hold = await self._hold_queue(verdict, None, run)
        if outcome is not Outcome.LOGGED_OUT or new_hold:  # one message per logged-out spell
            await self._notify(fresh, run, verdict)
        if outcome is Outcome.LIMIT and verdict.limit is not None and self.on_limit is not None:
            hit = verdict.limit
            try:
                await self.on_limit(LimitNotice(
                    task_id=task.id, run_id=run.id, resets_at=hit.resets_at, kind=hit.kind,
                    text=hit.text, exact=bool(run.extra.get("limit", {}).get("exact")),
                    estimated=hit.estimated,
                ))
            except Exception:  # the task is paused either way; the caller's hook is its own
                log.exception("the on_limit hook failed for run %s", run.id)
        return run

    async def _hold_queue(self, verdict: Verdict, state: StreamState | None, run: Run | None = None) -> bool:
        """Hold the whole queue for a login the API refused; forget the overload back-off once
        a run got through. True when this started a login hold (the owner must hear of it)."""
        now = self.clock()
        if verdict.outcome is Outcome.LOGGED_OUT:
            fingerprint = login_fingerprint(self.settings, now)
            return await hold_for_login(self.store, fingerprint, verdict.reason, now)
        served = (state is not None and state.result is not None and not state.result.is_error) or (
            run is not None and run.tokens.total > 0)
        if verdict.outcome is not Outcome.OVERLOADED and served:
            await clear_overload(self.store)
        return False

    async def _notify(self, task: Task, run: Run, verdict: Verdict) -> None:
        await self._send(finished_note(task, run, verdict, now=self.clock(), tz=self.settings.local_tz,
                                       attach=self.attach_command(run),
                                       data=await review_facts(self.settings, task, run)))

    async def _send(self, note: Notification) -> None:
        try:
            await self.notifier.notify(note)
        except Exception as exc:  # delivery problems never undo a run
            log.warning("notification %s for run %s not delivered: %s", note.kind, note.run_id, exc)
