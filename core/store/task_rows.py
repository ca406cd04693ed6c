"""What a task row holds: the checks a new task passes, and the one way a row is read.

Every query of the task store (and the claims) selects `task_columns` and maps the row with
`row_to_task`, so a task read by a claim on PostgreSQL is the same object as one read by
`show` on SQLite; a new column is added here once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.errors import InvalidInput, TaskNotFound
from core.models import Priority, Task, TaskState, parse_iso
from core.store.port import Dialect, Row, Tx

MAX_PROMPT_CHARS = 100_000
MAX_TITLE_CHARS = 200

DEPS_DONE = """
    NOT EXISTS (SELECT 1 FROM task_deps d JOIN tasks u ON u.id = d.depends_on
                WHERE d.task_id = t.id AND u.state != 'done')
"""
"""A WHERE condition on `tasks t`: every task it depends on is done."""


def task_columns(dialect: Dialect) -> str:
    """Every task column plus its dependencies and its failed ones, as comma-joined ids."""
    ids = dialect.id_list("d.depends_on")
    return f"""
    t.*,
    (SELECT {ids} FROM task_deps d WHERE d.task_id = t.id) AS deps,
    (SELECT {ids} FROM task_deps d JOIN tasks u ON u.id = d.depends_on
       WHERE d.task_id = t.id AND u.state IN ('failed', 'rejected', 'cancelled')) AS blockers
"""


@dataclass(frozen=True, slots=True)
class NewTask:
    prompt: str
    title: str | None = None
    repo: str | None = None
    priority: Priority = Priority.NORMAL
    depends_on: tuple[int, ...] = ()
    check_cmd: str | None = None
    needs_plan: bool = True
    tags: tuple[str, ...] = ()
    max_iterations: int | None = None
    max_minutes: float | None = None
    max_budget_usd: float | None = None
    source: str = "cli"
    source_ref: str | None = None
    resume_after: datetime | None = None
    """Held until then (`add --at`): nothing is planned or run for it earlier."""


def title_from_prompt(prompt: str) -> str:
    first = prompt.strip().splitlines()[0].strip()
    return first if len(first) <= 60 else first[:57].rstrip() + "…"


def validate_new_task(new: NewTask) -> NewTask:
    prompt = new.prompt.strip()
    if not prompt:
        raise InvalidInput("the prompt is empty: say what the task should do")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidInput(f"the prompt has {len(prompt):,} characters; the limit is {MAX_PROMPT_CHARS:,}")
    title = (new.title or "").strip() or title_from_prompt(prompt)
    if len(title) > MAX_TITLE_CHARS:
        raise InvalidInput(f"the title is longer than {MAX_TITLE_CHARS} characters")
    if "\x00" in prompt or "\x00" in title:
        raise InvalidInput("the prompt contains a NUL byte")
    if new.max_iterations is not None and new.max_iterations < 1:
        raise InvalidInput("max iterations must be at least 1")
    return NewTask(**{**_as_kwargs(new), "prompt": prompt, "title": title})


def _as_kwargs(new: NewTask) -> dict[str, Any]:
    return {name: getattr(new, name) for name in NewTask.__dataclass_fields__}


def row_to_task(row: Row) -> Task:
    deps = tuple(sorted(int(x) for x in row["deps"].split(","))) if row["deps"] else ()
    blockers = tuple(sorted(int(x) for x in row["blockers"].split(","))) if row["blockers"] else ()
    created = parse_iso(row["created_at"])
    updated = parse_iso(row["updated_at"])
    assert created is not None and updated is not None
    return Task(
        id=row["id"],
        title=row["title"],
        prompt=row["prompt"],
        state=TaskState(row["state"]),
        priority=Priority(row["priority"]),
        repo=row["repo"],
        depends_on=deps,
        created_at=created,
        updated_at=updated,
        needs_plan=bool(row["needs_plan"]),
        check_cmd=row["check_cmd"],
        max_iterations=row["max_iterations"],
        max_minutes=row["max_minutes"],
        max_budget_usd=row["max_budget_usd"],
        tags=tuple(json.loads(row["tags"])),
        attempts=row["attempts"],
        session_id=row["session_id"],
        source=row["source"],
        state_reason=row["state_reason"],
        resume_after=parse_iso(row["resume_after"]),
        blocked_by=blockers,
        node=row["node"],
        account=row["account"],
    )


async def read_task(conn: Tx, columns: str, task_id: int) -> Task:
    """The task as this transaction sees it (`columns` from `task_columns`)."""
    row = await conn.fetchone(f"SELECT {columns} FROM tasks t WHERE t.id = ?", (task_id,))
    if row is None:
        raise TaskNotFound(task_id)
    return row_to_task(row)
