"""`nightshift run [--burst]` (the daemon, `core.daemon`) and `clean`.

`run_queue` is the first, minimal burst loop (one task at a time, no timed jobs); the
command now runs `core.daemon.Daemon` in both modes so that burst and daemon keep the same
rules: one instance per home, the queue pause persisted across restarts, backoff without
counting attempts, `NIGHTSHIFT_MAX_PARALLEL` and one run per repository.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import sys
from datetime import timedelta
from typing import Annotated

import typer

from core.abc import Notification
from core.cli.app import app as cli_app
from core.cli.app import console, print_json, with_service
from core.daemon import Daemon, FrontFactory, JsonLines
from core.errors import ConfigError, InvalidTransition
from core.execution.executor import Executor
from core.execution.tmux import TmuxRunner
from core.execution.workspace import CleanReport, clean_worktrees
from core.models import Run, Task, TaskState
from core.service import Service
from core.usage.monitor import UsageMonitor

IDLE_POLL_S = 5.0


def _describe(task: Task, run: Run) -> str:
    outcome = run.outcome.value if run.outcome else "running"
    parts = [f"task {task.id} → {task.state.value} ({outcome})", f"{run.tokens.total:,} tokens",
             f"${run.cost_usd:.2f}"]
    if run.duration_s is not None:
        parts.append(f"{run.duration_s / 60:.1f} min")
    if run.branch:
        parts.append(f"branch {run.branch}")
    return " · ".join(parts)


async def run_queue(service: Service, executor: Executor, *, max_wait_s: float, forever: bool,
                    say: bool = True) -> list[Run]:
    """Execute runnable tasks one at a time; wait for a reset at most `max_wait_s` seconds."""
    store, settings = service.store, service.settings
    margin = timedelta(seconds=settings.reset_margin_s)
    finished: list[Run] = []

    def report(text: str) -> None:
        if say:
            console.print(text, markup=False, soft_wrap=True)

    for run in await executor.reconcile():
        report(f"reconciled run {run.id} of task {run.task_id}: "
               f"{run.outcome.value if run.outcome else 'still running, following it'}")
    finished += await executor.wait_adopted()
    resume_first: list[int] = []
    while True:
        now = service.now()
        paused = await store.tasks.query([TaskState.PAUSED_LIMIT])
        waiting = [t for t in paused if t.resume_after and t.resume_after + margin > now]
        if waiting:
            # One limit pauses the whole queue: claim nothing until the reset.
            wake = min(t.resume_after for t in waiting if t.resume_after) + margin
            wait_s = (wake - now).total_seconds()
            if not forever and wait_s > max_wait_s:
                report(f"limited until {wake.astimezone().isoformat(timespec='seconds')}; "
                       f"that is beyond --max-wait {max_wait_s:g}s, stopping")
                return finished
            report(f"limited: waiting {wait_s:.0f}s for the reset")
            await asyncio.sleep(max(0.0, wait_s))
            continue
        for limited in paused:
            with contextlib.suppress(InvalidTransition):
                await store.tasks.transition(limited.id, TaskState.READY, reason="the limit has reset",
                                             expect=(TaskState.PAUSED_LIMIT,), now=now)
                resume_first.append(limited.id)
        if await service.queue_paused():
            report("the queue is paused (nightshift resume to continue); stopping")
            return finished
        task: Task | None = None
        if resume_first:
            task = await store.tasks.claim_next(now, only_ids=resume_first, reason="resuming after reset")
            resume_first = [i for i in resume_first if task is None or i != task.id]
        if task is None:
            resume_first = []
            task = await store.tasks.claim_next(now)
        if task is None:
            if forever:
                await asyncio.sleep(IDLE_POLL_S)
                continue
            return finished
        report(f"task {task.id}: {task.title}")
        run = await executor.execute(task)
        finished.append(run)
        report(_describe(await store.tasks.get(task.id), run))


class _ServiceNotifier:
    """Delivers through whatever notifier the service has at the time of the call.

    The Telegram front installs its outbox notifier on the service when it starts, which is
    after the executor is built; reading `service.notifier` late keeps run reports flowing.
    """

    def __init__(self, service: Service) -> None:
        self.service = service

    async def notify(self, note: Notification) -> None:
        await self.service.notifier.notify(note)


def configure_logging() -> None:
    """Structured log lines (one JSON object each) on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # APScheduler logs every job execution at INFO: one line a minute per job, noise.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _fronts(service: Service) -> list[FrontFactory]:
    """The Telegram bot, when configured; loaded here, at the edge, so core never imports it.

    `importlib` with a string keeps `bot` out of core's import graph: the engine works
    without the bot package, and this is the one place that knows the front exists.
    """
    settings = service.settings
    if not settings.telegram_enabled:
        return []
    try:
        runtime = importlib.import_module("bot.runtime")
    except ImportError as exc:
        raise ConfigError("TELEGRAM_BOT_TOKEN", f"is set but the Telegram front cannot load: {exc}"
                          ) from None
    return [lambda: runtime.running_bot(settings, service)]


@cli_app.command()
def run(
    burst: Annotated[bool, typer.Option(
        "--burst", help="Run what is runnable now, then exit 0 (no timed jobs, no bot).")] = False,
    max_wait: Annotated[float, typer.Option(
        "--max-wait", help="With --burst: wait at most this many seconds for a limit to reset.")] = 0.0,
) -> None:
    """The daemon: start queued work the moment the usage window resets.

    One per NIGHTSHIFT_HOME. SIGTERM or Ctrl-C stops claiming and exits; runs in progress
    stay alive in tmux and the next start follows them again.
    """
    configure_logging()

    async def work(service: Service) -> int:
        executor = Executor(service.settings, service.store,
                            TmuxRunner(service.settings.tmux_socket), _ServiceNotifier(service),
                            clock=service.clock)
        service.cancel_hooks.append(executor.cancel)

        def finished(task: Task, run: Run | None) -> None:
            if burst and run is not None:
                console.print(_describe(task, run), markup=False, soft_wrap=True)

        monitor = None if burst else UsageMonitor(service.settings, service.store)
        daemon = Daemon(service, executor, monitor=monitor,
                        fronts=[] if burst else _fronts(service), burst=burst,
                        max_wait_s=max_wait, on_finished=finished)
        return await daemon.run()

    code = with_service(work)
    if code:
        raise typer.Exit(code)


def _print_clean(report: CleanReport) -> None:
    for path in report.removed:
        console.print(f"removed {path}", markup=False, soft_wrap=True)
    for path in report.kept_dirty:
        console.print(f"kept {path}: it has uncommitted changes", markup=False, soft_wrap=True)
    for problem in report.errors:
        console.print(f"could not clean: {problem}", markup=False, soft_wrap=True)
    if not (report.removed or report.kept_dirty or report.errors):
        console.print("nothing to clean", markup=False)


@cli_app.command()
def clean(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Remove worktrees of finished tasks that have nothing uncommitted (branches stay)."""
    report = with_service(lambda s: clean_worktrees(s.settings, s.store))
    if as_json:
        print_json(report.as_json())
    else:
        _print_clean(report)
