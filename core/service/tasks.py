"""The owner's actions on tasks: add, look, make wait, cancel, retry, import the inbox.

What a command means is decided here once, so `/cancel 4` and `nightshift cancel 4` cannot
drift apart; a repository named from the phone is checked against the configured aliases
only (default deny: the phone learns nothing about the machine's folders).
"""

from __future__ import annotations

import asyncio
import builtins
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from core.budgets import budget_wait, load_budgets
from core.errors import InvalidInput, UserError
from core.inbox import Inbox, InboxReport
from core.models import Event, Plan, Priority, Run, Task, TaskState
from core.service.context import ServiceContext
from core.settings import Settings
from core.store.task_rows import NewTask

CancelHook = Callable[[Task], Awaitable[None]]
"""Stops a task's live run (the executor provides it); the service only changes state."""
LOCAL_SOURCES = frozenset({"cli", "inbox", "meta", "demo"})
"""Fronts on the machine itself, whose user may name a repository by its path. Every other
source (the phone) may only name an alias from NIGHTSHIFT_REPOS: default deny."""


@dataclass(frozen=True)
class TaskDetail:
    task: Task
    plans: list[Plan]
    runs: list[Run]
    events: list[Event]
    waiting_for: list[int] = field(default_factory=list)
    budget_wait: str | None = None
    """Why the window's budget held it back at the daemon's last look."""

    @property
    def why_not_running(self) -> str | None:
        """A sentence for `show`: why this task is not moving, if it is stuck."""
        if self.task.blocked_by:
            ids = ", ".join(str(i) for i in self.task.blocked_by)
            return f"will not run: it depends on task {ids}, which ended without finishing"
        if self.waiting_for and not self.task.state.terminal:
            ids = ", ".join(str(i) for i in self.waiting_for)
            return f"waiting for task {ids} to finish"
        if self.budget_wait and self.task.state is TaskState.READY:
            return f"task {self.task.id} waits: {self.budget_wait}"
        return None

    def as_json(self) -> dict[str, Any]:
        out = self.task.as_json()
        out["plans"] = [p.as_json() for p in self.plans]
        out["runs"] = [r.as_json() for r in self.runs]
        out["events"] = [e.as_json() for e in self.events]
        out["waiting_for"] = self.waiting_for
        out["why_not_running"] = self.why_not_running
        return out


def resolve_repo(settings: Settings, repo: str | None, *, paths_allowed: bool = True) -> str | None:
    """Aliases become absolute paths; a path that does not exist is refused now, not at 3am.

    Without `paths_allowed` only a configured alias is taken, and the refusal is the same
    whatever was asked for, so it says nothing about the machine's folders.
    """
    if repo is None or not repo.strip():
        return None
    name = repo.strip()
    known = ", ".join(sorted(settings.repos)) or "none set in NIGHTSHIFT_REPOS"
    if not paths_allowed and name not in settings.repos:
        raise InvalidInput(f"that is not a repo alias; the aliases are: {known}")
    path = settings.repo_path(name)
    if not path.is_dir():
        if name in settings.repos:
            raise InvalidInput(f"repo alias {name!r} points to a folder that is not there")
        raise InvalidInput(f"repo {repo!r} is not a directory or a known alias ({known})")
    return str(path.resolve())


class TaskActions:
    def __init__(self, ctx: ServiceContext, cancel_hooks: Sequence[CancelHook] = ()) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.cancel_hooks = tuple(cancel_hooks)

    async def add(
        self,
        prompt: str,
        *,
        title: str | None = None,
        repo: str | None = None,
        priority: str | Priority = Priority.NORMAL,
        after: Iterable[int] = (),
        check: str | None = None,
        plan: bool | None = None,
        tags: Iterable[str] = (),
        source: str = "cli",
        source_ref: str | None = None,
        hold_until: datetime | None = None,
        max_usd: float | None = None,
    ) -> Task:
        """Queue a task. `hold_until`: nothing is planned or run before then (`--at`);
        `max_usd`: the task's cost cap, passed to Claude as `--max-budget-usd`."""
        settings = self.ctx.settings
        if max_usd is not None and not (math.isfinite(max_usd) and max_usd > 0):
            raise InvalidInput("the cost cap must be a positive number of dollars")
        if max_usd is None:
            max_usd = await self._phone_task_cap()
        new = NewTask(
            prompt=prompt,
            title=title,
            repo=resolve_repo(settings, repo, paths_allowed=source in LOCAL_SOURCES),
            priority=Priority.parse(priority),
            depends_on=tuple(dict.fromkeys(after)),
            check_cmd=(check or "").strip() or None,
            needs_plan=settings.plan_by_default if plan is None else plan,
            tags=tuple(tags),
            source=source,
            source_ref=source_ref,
            max_budget_usd=max_usd,
            resume_after=hold_until,
        )
        task = await self.store.tasks.add(new, now=self.ctx.now())
        self.ctx.changed("task_added", task.id)
        return task

    async def _phone_task_cap(self) -> float | None:
        """A per-task cap set with `/budget task` (0: none, over the environment's default)."""
        budgets = await load_budgets(self.store, self.ctx.settings)
        if "task" not in budgets.set_on_phone:
            return None  # the executor applies NIGHTSHIFT_MAX_BUDGET_USD itself
        return budgets.task_usd or 0.0

    async def get(self, task_id: int) -> Task:
        return await self.store.tasks.get(task_id)

    async def list(
        self, state: TaskState | str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> builtins.list[Task]:
        states = None
        if state is not None:
            try:
                states = [TaskState(state)]
            except ValueError:
                names = ", ".join(s.value for s in TaskState)
                raise InvalidInput(f"state must be one of {names}, not {state!r}") from None
        return await self.store.tasks.query(states, limit=limit, offset=offset)

    async def show(self, task_id: int) -> TaskDetail:
        task = await self.store.tasks.get(task_id)
        waiting: builtins.list[int] = []
        for dep in task.depends_on:
            if (await self.store.tasks.get(dep)).state is not TaskState.DONE:
                waiting.append(dep)
        return TaskDetail(
            task=task,
            plans=await self.store.plans.for_task(task_id),
            runs=await self.store.runs.for_task(task_id),
            events=await self.store.tasks.events(task_id),
            waiting_for=waiting,
            budget_wait=await budget_wait(self.store, task_id),
        )

    async def depend(self, task_id: int, after: Iterable[int]) -> Task:
        task = await self.store.tasks.add_dependencies(task_id, after)
        self.ctx.changed("task_changed", task_id)
        return task

    async def cancel(self, task_id: int, reason: str = "cancelled by the owner") -> Task:
        task = await self.store.tasks.get(task_id)
        if task.state is TaskState.RUNNING:
            for hook in self.cancel_hooks:
                await hook(task)
        task = await self.store.tasks.transition(
            task_id, TaskState.CANCELLED, reason=reason, action="cancel it", now=self.ctx.now()
        )
        self.ctx.changed("task_cancelled", task_id)
        return task

    async def retry(self, task_id: int) -> Task:
        """Give a failed or cancelled task another go, from where its plan left it."""
        task = await self.store.tasks.get(task_id)
        approved = await self.store.plans.approved(task_id)
        target = TaskState.READY if (approved or not task.needs_plan) else TaskState.QUEUED
        task = await self.store.tasks.transition(
            task_id,
            target,
            reason="retry requested",
            expect=(TaskState.FAILED, TaskState.CANCELLED),
            action="retry it (only failed or cancelled tasks can be retried)",
            fields={"attempts": 0},
            now=self.ctx.now(),
        )
        self.ctx.changed("task_retried", task_id)
        return task

    async def import_inbox(self, inbox: Path | None = None) -> InboxReport:
        """Import every inbox file; bad and hostile files go to `rejected/` with a note saying
        why. Files are read and parsed off the event loop (`Inbox.load_async`)."""
        settings = self.ctx.settings
        report = InboxReport()
        with Inbox.open(inbox or settings.brain_dir / "inbox") as box:
            if box is None:
                return report
            for name in box.names():
                try:
                    new = await box.load_async(name, plan_default=settings.plan_by_default)
                    task = await self.add(
                        new.prompt,
                        title=new.title,
                        repo=new.repo,
                        priority=new.priority,
                        after=new.depends_on,
                        check=new.check_cmd,
                        plan=new.needs_plan,
                        tags=new.tags,
                        source="inbox",
                        source_ref=new.source_ref,
                    )
                except FileNotFoundError:
                    continue  # taken out of the inbox meanwhile: nothing to import
                except UserError as exc:
                    await asyncio.to_thread(box.reject, name, exc.message)  # it syncs the note
                    report.rejected.append((name, exc.message))
                    continue
                await asyncio.to_thread(box.move_aside, name, "imported")
                report.imported.append((name, task.id))
        return report
