"""What the owner lets Claude do that it was refused: a command or a rule, for one task or
every task of its repository, and the retry in the same session that follows.

The rules themselves (their form, where they are kept, how a run is given them) are
`core.execution.permissions`; this part is the owner's side: which refusal, which scope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from core.errors import InvalidInput
from core.models import Outcome, Task, TaskState
from core.service.context import ServiceContext


def _scope(value: str) -> Literal["task", "repo"]:
    if value not in ("task", "repo"):
        raise InvalidInput(f"allow it for the task or the repo, not {value!r}")
    return "repo" if value == "repo" else "task"


class Permissions:
    def __init__(self, ctx: ServiceContext, retry: Callable[[int], Awaitable[Task]]) -> None:
        """`retry`: the task actions' retry, for a task that failed on the refusal just allowed."""
        self.ctx = ctx
        self.store = ctx.store
        self.retry = retry

    async def allow(self, task_id: int, rule: str, *, scope: str = "task", retry: bool = True) -> Task:
        """Let Claude use what it was refused (a command or a rule; see `core.execution.permissions`)
        for this task or every task of its repo; a task that failed on a refusal retries in its
        own session."""
        from core.execution.permissions import add_rules, normalize_rule

        task = await self.store.tasks.get(task_id)
        await add_rules(self.store, task, [normalize_rule(rule)], _scope(scope))
        return await self._retry_refused(task) if retry else task

    async def allow_refused(self, run_id: int, index: int, *, scope: str = "task") -> Task:
        """The phone's "Allow & retry": the rules offered for refusal `index` of run `run_id`."""
        from core.execution.permissions import add_rules

        run = await self.store.runs.get(run_id)
        refused = run.extra.get("refused")
        items = refused if isinstance(refused, list) else []
        if not 0 <= index < len(items) or not isinstance(items[index], dict) or not items[index].get("rules"):
            raise InvalidInput(f"run {run_id} has no refusal {index} with a rule to allow")
        task = await self.store.tasks.get(run.task_id)
        await add_rules(self.store, task, [str(r) for r in items[index]["rules"]], _scope(scope))
        return await self._retry_refused(task)

    async def allowed(self, task_id: int) -> list[str]:
        """The rules the owner allowed for this task and its repo."""
        from core.execution.permissions import allowed_rules

        return await allowed_rules(self.store, await self.store.tasks.get(task_id))

    async def _retry_refused(self, task: Task) -> Task:
        runs = await self.store.runs.for_task(task.id)
        if task.state is TaskState.FAILED and runs and runs[-1].outcome is Outcome.PERMISSION_DENIED:
            return await self.retry(task.id)
        self.ctx.changed("task_changed", task.id)
        return task
