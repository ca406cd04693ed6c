"""Task commands: add, list, show, edit, cancel, retry, approve, reject, inbox."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from core.cli.app import app, console, print_json, with_service
from core.models import Task, TaskState
from core.scheduling.hold import parse_hold_time
from core.service import Service, TaskDetail


class PriorityChoice(enum.StrEnum):
    urgent = "urgent"
    high = "high"
    normal = "normal"
    low = "low"


StateChoice = enum.StrEnum("StateChoice", {s.value: s.value for s in TaskState})  # type: ignore[misc]

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
TaskId = Annotated[int, typer.Argument(help="Task id.")]


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment else "-"


def task_table(tasks: list[Task]) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in ("id", "state", "priority", "title", "repo", "after", "created"):
        table.add_column(column)
    for task in tasks:
        table.add_row(
            str(task.id),
            task.state.value,
            task.priority.label,
            task.title,
            task.repo or "-",
            ",".join(map(str, task.depends_on)) or "-",
            _when(task.created_at),
        )
    return table


def print_detail(detail: TaskDetail, socket: str) -> None:
    task = detail.task
    console.print(f"[bold]#{task.id} {task.title}[/bold]", markup=True, highlight=False)
    rows = [
        ("state", task.state.value + (f" ({task.state_reason})" if task.state_reason else "")),
        ("priority", task.priority.label),
        ("repo", task.repo or "-"),
        ("after", ", ".join(map(str, task.depends_on)) or "-"),
        ("check", task.check_cmd or "-"),
        ("plan", "needed" if task.needs_plan else "not needed"),
        ("attempts", str(task.attempts)),
        ("created", _when(task.created_at)),
    ]
    if task.resume_after:
        rows.append(("resumes after", _when(task.resume_after)))
    if detail.why_not_running:
        rows.append(("note", detail.why_not_running))
    for key, value in rows:
        console.print(f"  {key:<13} {value}", markup=False)
    console.print("\nprompt:", markup=False)
    console.print("  " + task.prompt.replace("\n", "\n  "), markup=False)
    for plan in detail.plans:
        console.print(f"\nplan v{plan.version} ({plan.status}):", markup=False)
        console.print("  " + plan.body.strip().replace("\n", "\n  "), markup=False)
    for run in detail.runs:
        tokens = run.tokens.total
        latency = f", started {run.latency_s:.1f}s after schedule" if run.latency_s is not None else ""
        console.print(
            f"\nrun {run.id} ({run.kind.value}, iteration {run.iteration}): "
            f"{run.outcome.value if run.outcome else 'running'}, {tokens:,} tokens, "
            f"${run.cost_usd:.2f}, {run.num_turns} turns{latency}",
            markup=False,
        )
        if run.branch:
            console.print(f"  branch {run.branch}", markup=False)
        if run.tmux_session:
            console.print(f"  attach: tmux -L {socket} attach -t {run.tmux_session}", markup=False)
        if run.outcome is None and run.extra.get("progress"):
            console.print(f"  now: {run.extra['progress']}", markup=False)
        if run.summary:
            console.print("  " + run.summary.strip().replace("\n", "\n  "), markup=False)


@app.command()
def add(
    prompt: Annotated[str, typer.Argument(help="What Claude should do.")],
    title: Annotated[str | None, typer.Option(help="Short title; default: the prompt's first line.")] = None,
    repo: Annotated[str | None, typer.Option(help="Repository path or alias from NIGHTSHIFT_REPOS.")] = None,
    priority: Annotated[PriorityChoice, typer.Option(help="Queue priority.")] = PriorityChoice.normal,
    after: Annotated[
        list[int] | None, typer.Option("--after", help="Run only after this task is done.")
    ] = None,
    check: Annotated[str | None, typer.Option(help="Command that must pass, e.g. 'make test'.")] = None,
    plan: Annotated[
        bool | None, typer.Option("--plan/--no-plan", help="Draft a plan for approval first.")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag for metrics and lessons.")] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", metavar="TIME", help="Hold it until then: 07:30, 'tomorrow 07:30', +2h."),
    ] = None,
    max_usd: Annotated[
        float | None, typer.Option("--max-usd", metavar="USD", help="Cost cap for this task.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Queue a task."""

    async def work(service: Service) -> Task:
        hold = (
            parse_hold_time(at, service.now(), service.settings.local_tz) if at is not None else None
        )
        return await service.add(
            prompt,
            title=title,
            repo=repo,
            priority=priority.value,
            after=after or (),
            check=check,
            plan=plan,
            tags=tag or (),
            hold_until=hold,
            max_usd=max_usd,
        )

    task = with_service(work)
    if as_json:
        print_json(task.as_json())
    else:
        console.print(f"queued task {task.id}: {task.title} ({task.state.value})", markup=False)


@app.command("list")
def list_(
    state: Annotated[StateChoice | None, typer.Option(help="Only tasks in this state.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List tasks in queue order."""
    tasks = with_service(lambda s: s.list(state.value if state else None))
    if as_json:
        print_json([t.as_json() for t in tasks])
    elif not tasks:
        console.print("no tasks", markup=False)
    else:
        console.print(task_table(tasks))


@app.command()
def show(task_id: TaskId, as_json: JsonFlag = False) -> None:
    """Show a task with its plans, runs and history."""

    async def work(service: Service) -> tuple[TaskDetail, str]:
        return await service.show(task_id), service.settings.tmux_socket

    detail, socket = with_service(work)
    if as_json:
        print_json(detail.as_json())
    else:
        print_detail(detail, socket)


@app.command()
def edit(
    task_id: TaskId,
    after: Annotated[list[int] | None, typer.Option("--after", help="Also wait for this task.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a queued task (add dependencies); refuses cycles."""
    task = with_service(lambda s: s.depend(task_id, after or ()))
    if as_json:
        print_json(task.as_json())
    else:
        deps = ", ".join(map(str, task.depends_on)) or "nothing"
        console.print(f"task {task.id} now waits for {deps}", markup=False)


def _state_command(verb: str, task: Task, as_json: bool) -> None:
    if as_json:
        print_json(task.as_json())
    else:
        console.print(f"task {task.id} {verb}: now {task.state.value}", markup=False)


@app.command()
def cancel(task_id: TaskId, as_json: JsonFlag = False) -> None:
    """Cancel a task (stops its run if one is live)."""
    _state_command("cancelled", with_service(lambda s: s.cancel(task_id)), as_json)


@app.command()
def retry(task_id: TaskId, as_json: JsonFlag = False) -> None:
    """Queue a failed or cancelled task again."""
    _state_command("queued again", with_service(lambda s: s.retry(task_id)), as_json)


@app.command()
def approve(
    task_id: TaskId,
    version: Annotated[
        int | None, typer.Option(help="Refuse unless this is the latest plan version.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Approve a task's latest plan."""
    _state_command("approved", with_service(lambda s: s.approve(task_id, version)), as_json)


@app.command()
def reject(
    task_id: TaskId,
    reason: Annotated[str | None, typer.Argument(help="Why (kept in the history).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Reject a task's plan; the task ends."""
    _state_command("rejected", with_service(lambda s: s.reject(task_id, reason)), as_json)


@app.command()
def inbox(as_json: JsonFlag = False) -> None:
    """Import brain/inbox/*.md as tasks now."""
    report = with_service(lambda s: s.import_inbox())
    if as_json:
        print_json(report.as_json())
        return
    for name, task_id in report.imported:
        console.print(f"imported {name} as task {task_id}", markup=False)
    for name, problem in report.rejected:
        console.print(f"rejected {name}: {problem}", markup=False)
    if not report.imported and not report.rejected:
        console.print("inbox is empty", markup=False)


@app.command()
def plan(task_id: TaskId, as_json: JsonFlag = False) -> None:
    """Show a task's latest plan."""
    latest = with_service(lambda s: s.latest_plan(task_id))
    if as_json:
        print_json(latest.as_json())
        return
    console.print(f"plan v{latest.version} of task {task_id} ({latest.status})", markup=False)
    if latest.comment:
        console.print(f"revised for: {latest.comment}", markup=False)
    console.print(latest.body, markup=False)
    if latest.status == "draft":
        console.print(
            f"\napprove: nightshift approve {task_id} --version {latest.version}\n"
            f"revise:  nightshift revise {task_id} 'what to change'\n"
            f"reject:  nightshift reject {task_id}",
            markup=False,
        )


@app.command()
def revise(
    task_id: TaskId,
    comment: Annotated[str, typer.Argument(help="What should change in the plan.")],
    version: Annotated[
        int | None, typer.Option(help="Refuse unless this is the latest plan version.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Ask for a new plan version with your comment."""
    _state_command(
        "sent back for a new plan", with_service(lambda s: s.revise(task_id, comment, version)), as_json
    )
