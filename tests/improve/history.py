"""Building run histories through the real Store API, with run logs on disk."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from core.models import Outcome, Task, TaskState, Tokens
from core.store.store import Store
from core.store.task_rows import NewTask


async def add_task(store: Store, at: datetime, *, tags: Sequence[str] = (), repo: str | None = None,
                   check: str | None = None, prompt: str = "do the thing") -> Task:
    return await store.tasks.add(
        NewTask(prompt=prompt, repo=repo, tags=tuple(tags), check_cmd=check, needs_plan=False), now=at
    )


async def add_run(store: Store, task_id: int, start: datetime, *, minutes: float, outcome: Outcome,
                  tokens: int = 0, variant: str | None = None, log_dir: Path | None = None,
                  log_lines: Sequence[str] = (), check_output: str | None = None,
                  window: str | None = None, scheduled: datetime | None = None) -> int:
    run = await store.runs.create(task_id, now=start, started_at=start, prompt_variant=variant,
                                  window_id=window, scheduled_for=scheduled)
    log_path = None
    if log_dir is not None:
        log = log_dir / f"run-{run.id}.jsonl"
        log.write_text("".join(line + "\n" for line in log_lines))
        log_path = str(log)
    await store.runs.finish(run.id, outcome, now=start + timedelta(minutes=minutes),
                            tokens=Tokens(input=tokens), log_path=log_path, check_output=check_output)
    return run.id


async def end_task(store: Store, task_id: int, state: TaskState, at: datetime) -> None:
    task = await store.tasks.get(task_id)
    if task.state is TaskState.READY:
        await store.tasks.transition(task_id, TaskState.RUNNING, reason="claimed", now=at)
    await store.tasks.transition(task_id, state, reason="finished", now=at)
