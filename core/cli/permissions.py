"""`nightshift allow`: let Claude use what it was refused, and retry in the same session."""

from __future__ import annotations

from typing import Annotated

import typer

from core.cli.app import app, console, print_json, with_service
from core.models import Task
from core.service import Service


@app.command()
def allow(
    task_id: Annotated[int, typer.Argument(help="Task id.")],
    rule: Annotated[
        str | None,
        typer.Argument(help="A command ('pytest -q' allows commands starting with it) or a rule "
                       "as Claude Code takes it ('Bash(npm test:*)'). Without it: list the rules."),
    ] = None,
    repo: Annotated[bool, typer.Option("--repo", help="Allow it for every task of the repository.")] = False,
    no_retry: Annotated[bool, typer.Option("--no-retry", help="Only record it; do not retry.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Allow a refused command for a task (or its repo); a task that failed on it runs again,
    resuming its session."""

    async def work(service: Service) -> tuple[Task, list[str]]:
        if rule is not None:
            task = await service.allow(task_id, rule, scope="repo" if repo else "task", retry=not no_retry)
        else:
            task = await service.get(task_id)
        return task, await service.allowed(task_id)

    task, rules = with_service(work)
    if as_json:
        print_json({"task": task.as_json(), "allowed": rules})
        return
    console.print(f"task {task.id} ({task.state.value}) may use without asking:", markup=False)
    for item in rules or ["(nothing beyond the defaults)"]:
        console.print(f"  {item}", markup=False)
