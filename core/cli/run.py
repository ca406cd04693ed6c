"""`nightshift run [--burst]` (the daemon, `core.daemon`) and `clean`."""

from __future__ import annotations

from typing import Annotated

import typer

from core.assembly import build_daemon, telegram_fronts
from core.cli.app import app as cli_app
from core.cli.app import console, print_json, with_service
from core.execution.workspace import CleanReport, clean_worktrees
from core.log import configure_logging
from core.models import Run, Task
from core.service import Service
from core.store.db import Database as SqliteDatabase


def _describe(task: Task, run: Run) -> str:
    outcome = run.outcome.value if run.outcome else "running"
    parts = [
        f"task {task.id} → {task.state.value} ({outcome})",
        f"{run.tokens.total:,} tokens",
        f"${run.cost_usd:.2f}",
    ]
    if run.duration_s is not None:
        parts.append(f"{run.duration_s / 60:.1f} min")
    if run.branch:
        parts.append(f"branch {run.branch}")
    return " · ".join(parts)


@cli_app.command()
def run(
    burst: Annotated[
        bool, typer.Option("--burst", help="Run what is runnable now, then exit 0 (no timed jobs, no bot).")
    ] = False,
    max_wait: Annotated[
        float,
        typer.Option("--max-wait", help="With --burst: wait at most this many seconds for a limit to reset."),
    ] = 0.0,
) -> None:
    """The daemon: start queued work the moment the usage window resets.

    One per NIGHTSHIFT_HOME. SIGTERM or Ctrl-C stops claiming and exits; runs in progress
    stay alive in tmux and the next start follows them again.
    """
    configure_logging()

    async def work(service: Service) -> int:
        # Nothing is claimed or run on top of damaged pages: a damaged file stops here with
        # one line naming it and the backup to restore (a shared PostgreSQL queue is its
        # server's to check).
        if isinstance(service.store.db, SqliteDatabase):
            await service.store.db.ensure_sound()

        def finished(task: Task, run: Run | None) -> None:
            if burst and run is not None:
                console.print(_describe(task, run), markup=False, soft_wrap=True)

        daemon = build_daemon(
            service.settings,
            service.store,
            burst=burst,
            max_wait_s=max_wait,
            usage_monitor=not burst,
            fronts=None if burst else telegram_fronts,
            on_finished=finished,
        )
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
