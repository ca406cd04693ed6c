"""Self-improvement commands: lessons, styles, retro, simulate."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from core.abc import Notifier
from core.cli.app import app, console, fail, print_json, with_service
from core.errors import InvalidInput
from core.improve.learning import decide_lesson, learn, prompts_dir, set_pin, write_lessons_file
from core.improve.lessons import Lesson, LessonStatus
from core.improve.reports import StyleReport, experiment_report
from core.improve.retro import IsoWeek, Retro, write_retro
from core.improve.sim import POLICIES, SHAPES, SimResult, Sweep, seeds_for, simulate, sweep
from core.improve.storage import ImproveStore
from core.improve.styles import load_styles
from core.outbox_notifier import OutboxNotifier
from core.service import Service
from core.store.outbox import OutboxStore

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]

lessons_app = typer.Typer(help="Lessons learned from recurring failures.", no_args_is_help=False)
styles_app = typer.Typer(help="Prompt styles and their experiment.", no_args_is_help=False)
app.add_typer(lessons_app, name="lessons")
app.add_typer(styles_app, name="styles")


# --- lessons ----------------------------------------------------------------------------------


def _print_lessons(lessons: list[Lesson]) -> None:
    if not lessons:
        console.print("no lessons yet: they appear when a failure repeats "
                      "(3 runs of one tag or repo within 7 days)", markup=False)
        return
    for lesson in lessons:
        console.print(
            f"L{lesson.id} [{lesson.status.value}] {lesson.pattern.label} · {lesson.scope} · "
            f"{len(lesson.evidence)} runs ({', '.join(f'run-{r}' for r in lesson.evidence)})",
            markup=False,
        )
        console.print(f"    {lesson.text}", markup=False)


@lessons_app.callback(invoke_without_command=True)
def lessons(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List lessons (after learning from new runs); `accept ID` / `dismiss ID` decide one."""
    if ctx.invoked_subcommand is not None:
        return

    async def work(service: Service) -> list[Lesson]:
        await learn(service.store, service.settings, service.now())
        return await ImproveStore(service.store.db).lessons()

    found = with_service(work)
    if as_json:
        print_json([lesson.as_json() for lesson in found])
    else:
        _print_lessons(found)


def _decide(lesson_id: int, status: LessonStatus, as_json: bool) -> None:
    async def work(service: Service) -> Lesson:
        return await decide_lesson(service.store, service.settings, lesson_id, status,
                                   service.now())

    lesson = with_service(work)
    if as_json:
        print_json(lesson.as_json())
    else:
        effect = ("it will be added to prompts of tasks with " + str(lesson.scope)
                  if status is LessonStatus.ACCEPTED else "it will not be used")
        console.print(f"lesson L{lesson.id} {status.value}: {effect}", markup=False)


@lessons_app.command("accept")
def lessons_accept(
    lesson_id: Annotated[int, typer.Argument(help="Lesson id (L3 is 3).")], as_json: JsonFlag = False
) -> None:
    """Accept a lesson: later prompts of matching tasks include it."""
    _decide(lesson_id, LessonStatus.ACCEPTED, as_json)


@lessons_app.command("dismiss")
def lessons_dismiss(
    lesson_id: Annotated[int, typer.Argument(help="Lesson id (L3 is 3).")], as_json: JsonFlag = False
) -> None:
    """Dismiss a lesson: it is not used and the same pattern does not ask again."""
    _decide(lesson_id, LessonStatus.DISMISSED, as_json)


@lessons_app.command("write")
def lessons_write() -> None:
    """Rewrite brain/lessons.md from the database (after taking in your edits)."""

    async def work(service: Service) -> str:
        await learn(service.store, service.settings, service.now())
        return str(await write_lessons_file(service.store, service.settings, service.now()))

    console.print(f"wrote {with_service(work)}", markup=False)


# --- styles -----------------------------------------------------------------------------------


def _styles_table(reports: list[StyleReport]) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in ("style", "status", "runs", "success", "rate", "95% interval"):
        table.add_column(column, no_wrap=True)
    for r in reports:
        table.add_row(
            r.name, r.status, str(r.runs), f"{r.successes}/{r.successes + r.failures}",
            "-" if r.rate is None else f"{r.rate * 100:.0f}%",
            f"{r.low * 100:.0f}–{r.high * 100:.0f}%",
        )
    return table


@styles_app.callback(invoke_without_command=True)
def styles(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Prompt styles: runs, success rate (done with check passing) and credible interval."""
    if ctx.invoked_subcommand is not None:
        return

    async def work(service: Service) -> tuple[list[StyleReport], list[tuple[str, str]]]:
        await learn(service.store, service.settings, service.now())
        found = load_styles(prompts_dir(service.settings))
        return (await experiment_report(service.store, service.settings, service.now()),
                found.problems)

    reports, problems = with_service(work)
    if as_json:
        print_json({"styles": [r.as_json() for r in reports],
                    "problems": [{"file": f, "error": e} for f, e in problems]})
        return
    console.print(_styles_table(reports))
    for name, problem in problems:
        console.print(f"skipped {name}: {problem}", markup=False)


@styles_app.command("pin")
def styles_pin(
    name: Annotated[str, typer.Argument(help="Style name (see `nightshift styles`).")],
    hours: Annotated[float | None, typer.Option(help="Only for this many hours.")] = None,
) -> None:
    """Use one style for every run, instead of the experiment's choice."""

    async def work(service: Service) -> str:
        found = load_styles(prompts_dir(service.settings))
        style = found.by_name(name.strip().lower())
        if style is None or not style.enabled:
            known = ", ".join(s.name for s in found.styles if s.enabled) or "none"
            raise InvalidInput(f"no enabled prompt style {name!r} (known: {known})")
        until = service.now() + timedelta(hours=hours) if hours else None
        await set_pin(service.store, style.name, until)
        return style.name + (f" until {until.isoformat(timespec='minutes')}" if until else "")

    console.print(f"pinned {with_service(work)}", markup=False)


@styles_app.command("unpin")
def styles_unpin() -> None:
    """Let the experiment choose again."""

    async def work(service: Service) -> None:
        await set_pin(service.store, None)

    with_service(work)
    console.print("unpinned: the experiment chooses styles again", markup=False)


# --- retro ------------------------------------------------------------------------------------


@app.command()
def retro(
    week: Annotated[str | None, typer.Option(help="ISO week, e.g. 2026-W07 (default: last week).")]
    = None,
    send: Annotated[bool, typer.Option("--send/--no-send",
                                       help="Also send it to Telegram (once per week).")] = True,
    as_json: JsonFlag = False,
) -> None:
    """Write the weekly retrospective to brain/retros/YYYY-Www.md."""
    try:
        chosen = IsoWeek.parse(week) if week else None
    except InvalidInput as exc:
        fail(exc.message)

    async def work(service: Service) -> tuple[Retro, str, bool]:
        await learn(service.store, service.settings, service.now())
        notifier: Notifier | None = None
        if send and service.settings.telegram_enabled:
            notifier = OutboxNotifier(OutboxStore(service.store.db),
                                      service.settings.telegram_allowed_users,
                                      clock=service.clock)
        result, path, sent = await write_retro(service.store, service.settings, service.now(),
                                               week=chosen, notifier=notifier)
        return result, str(path), sent

    result, path, sent = with_service(work)
    if as_json:
        print_json({**result.as_json(), "path": path, "sent": sent})
    else:
        console.print(f"wrote {path}" + (" and queued it for Telegram" if sent else ""),
                      markup=False)


# --- simulate ---------------------------------------------------------------------------------


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}h"


@app.command("simulate")
def simulate_command(
    days: Annotated[int, typer.Option(min=1, max=365, help="Simulated days.")] = 14,
    seed: Annotated[int, typer.Option(help="Workload seed: the same seed gives the same numbers.")]
    = 1,
    seeds: Annotated[int, typer.Option(min=1, max=40, metavar="N",
                                       help="Run N seeds (3, 5, 8, 13, …) and show mean and worst case.")]
    = 1,
    shape: Annotated[str, typer.Option(metavar="SHAPE", help=f"Workload: {', '.join(SHAPES)}.")]
    = "normal",
    parallel: Annotated[int, typer.Option(min=1, max=16, help="Runs at once on each account.")] = 1,
    accounts: Annotated[int, typer.Option(min=1, max=8, metavar="N",
                                          help="Claude accounts (the owner uses the first).")] = 1,
    history_days: Annotated[int, typer.Option(min=0, max=30, help=(
        "Days of the owner's own use already in Claude's logs (0: a new Claude user)."))] = 14,
    as_json: JsonFlag = False,
) -> None:
    """Compare start policies on a virtual clock: midnight cron, reset-aware, with budgeting."""
    if shape not in SHAPES:
        fail(f"unknown workload shape {shape!r} (known: {', '.join(SHAPES)})")
    if seeds > 1:
        _print_sweep(sweep(seeds_for(seeds), days=days, shape=shape, max_parallel=parallel,
                           accounts=accounts, history_days=history_days), as_json)
        return
    results: dict[str, SimResult] = simulate(days, seed, max_parallel=parallel, shape=shape,
                                             accounts=accounts, history_days=history_days)
    if as_json:
        print_json({"days": days, "seed": seed, "shape": shape, "max_parallel": parallel,
                    "accounts": accounts, "history_days": history_days,
                    "policies": {k: v.as_json() for k, v in results.items()}})
        return
    console.print(f"{days} simulated days, seed {seed}, {shape} workload, {accounts} account(s), "
                  f"{parallel} run(s) at once on each", markup=False)
    header = (f"{'policy':<20} {'done':>7} {'compl.':>6} {'util.':>6} {'/window':>7} "
              f"{'limits':>6} {'owner blocked':>13} {'latency mean':>12} {'median':>7}")
    console.print(header, markup=False, soft_wrap=True)
    for name in POLICIES:
        r = results[name]
        per_window = "-" if r.window_utilization is None else f"{r.window_utilization * 100:.0f}%"
        console.print(
            f"{name:<20} {f'{r.completed}/{r.submitted}':>7} {r.completion_rate * 100:>5.0f}% "
            f"{r.utilization * 100:>5.1f}% {per_window:>7} {r.limit_hits:>6} "
            f"{r.owner_blocked_tokens / 1e6:>12.1f}M {_hours(r.start_latency_mean_h):>12} "
            f"{_hours(r.start_latency_median_h):>7}",
            markup=False, soft_wrap=True,
        )
    console.print("utilization: tokens used (owner and nightshift) / what back-to-back 5-hour "
                  "windows could hold; latency: from when a task could run to its start",
                  markup=False)


def _print_sweep(result: Sweep, as_json: bool) -> None:
    if as_json:
        print_json(result.as_json())
        return
    seeds = ", ".join(str(r.seed) for r in result.rows)
    console.print(f"{result.days} simulated days, {result.shape} workload, seeds {seeds}", markup=False)
    console.print(f"{'policy':<20} {'done mean':>9} {'worst':>6} {'blocked mean':>12} {'worst':>6} "
                  f"{'limits mean':>11} {'worst':>6} {'latency mean':>12}", markup=False, soft_wrap=True)
    for name in POLICIES:
        console.print(
            f"{name:<20} {result.mean(name, 'completed'):>9.1f} {result.worst(name, 'completed'):>6.0f} "
            f"{result.mean(name, 'blocked_share'):>12.2%} {result.worst(name, 'blocked_share'):>6.2%} "
            f"{result.mean(name, 'limit_hits'):>11.1f} {result.worst(name, 'limit_hits'):>6.0f} "
            f"{_hours(result.mean(name, 'start_latency_mean_h')):>12}",
            markup=False, soft_wrap=True,
        )
    for target, met in result.targets().items():
        console.print(f"{'met' if met else 'MISSED':>6}  {target}", markup=False, soft_wrap=True)
