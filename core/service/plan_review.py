"""The owner's answer to a plan: approve, ask for a revision, reject; or ask for a plan.

Every answer names the plan version it was given for (the phone's buttons carry it), and
an answer to a version that has since been replaced is refused before anything changes, so
a late tap on an old message never approves a plan the owner has not read.
"""

from __future__ import annotations

from typing import Any

from core.abc import Notification, Notifier
from core.errors import InvalidInput, InvalidTransition, NoPlan, StalePlan
from core.models import Plan, Task, TaskState
from core.service.context import ServiceContext

MAX_COMMENT_CHARS = 4000


def plan_request_key(task_id: int) -> str:
    """KV: the owner's revision comment, waiting for the planner's next draft of the task."""
    return f"plan_request:{task_id}"


class PlanReview:
    def __init__(self, ctx: ServiceContext, notifier: Notifier) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.notifier = notifier

    async def latest_plan(self, task_id: int) -> Plan:
        await self.store.tasks.get(task_id)
        plan = await self.store.plans.latest(task_id)
        if plan is None:
            raise NoPlan(task_id)
        return plan

    async def request_plan(self, task_id: int) -> Task:
        """Ask for a plan for a task that has none: the daemon drafts it like any other."""
        task = await self.store.tasks.get(task_id)
        if task.state in (TaskState.QUEUED, TaskState.PLANNING):
            return task  # already in line for one
        task = await self.store.tasks.transition(
            task_id,
            TaskState.PLANNING,
            reason="plan requested by the owner",
            expect=(TaskState.READY,),
            action="plan it (only a task that has not started can get a plan)",
            fields={"needs_plan": 1},
            now=self.ctx.now(),
        )
        self.ctx.changed("plan_requested", task_id)
        return task

    async def _under_review(
        self, task_id: int, version: int | None, target: TaskState, verb: str
    ) -> tuple[Task, Plan | None]:
        """The task and its latest plan, if the owner may answer that plan now.

        Checked before anything changes, so a refused answer (wrong state, a button of a
        replaced version) leaves the task and its plans exactly as they were.
        """
        task = await self.store.tasks.get(task_id)
        if task.state is not TaskState.AWAITING_APPROVAL:
            raise InvalidTransition(
                task_id,
                task.state.value,
                target.value,
                f"{verb} it (only a plan awaiting approval can be {verb.removesuffix('e')}ed)",
            )
        plan = await self.store.plans.latest(task_id)
        if plan is not None and version is not None and version != plan.version:
            raise StalePlan(task_id, version, plan.version)
        return task, plan

    async def approve(self, task_id: int, version: int | None = None) -> Task:
        """Approve the latest plan (refusing a stale version) and make the task ready."""
        task, plan = await self._under_review(task_id, version, TaskState.READY, "approve")
        if plan is not None:
            await self.store.plans.set_status(plan.id, "approved")
            if plan.suggested_check and not task.check_cmd:
                await self.store.tasks.update_fields(task_id, check_cmd=plan.suggested_check)
        task = await self.store.tasks.transition(
            task_id,
            TaskState.READY,
            reason=f"plan v{plan.version} approved" if plan else "approved",
            expect=(TaskState.AWAITING_APPROVAL,),
            now=self.ctx.now(),
        )
        await self.notifier.notify(
            Notification("plan_approved", f"Task {task_id} approved: {task.title}", task_id=task_id)
        )
        self.ctx.changed("task_approved", task_id)
        return task

    async def revise(self, task_id: int, comment: str, version: int | None = None) -> Task:
        """Ask for a new plan version that takes the owner's comment into account."""
        comment = (comment or "").strip()
        if not comment:
            raise InvalidInput("say what should change in the plan (the comment is empty)")
        if len(comment) > MAX_COMMENT_CHARS:
            raise InvalidInput(f"the comment is longer than {MAX_COMMENT_CHARS:,} characters")
        task, plan = await self._under_review(task_id, version, TaskState.PLANNING, "revise")
        await self.store.kv.set(
            plan_request_key(task_id),
            {"comment": comment, "previous_version": plan.version if plan else None},
        )
        if plan is not None:
            await self.store.plans.set_status(plan.id, "revision_requested")
        task = await self.store.tasks.transition(
            task_id,
            TaskState.PLANNING,
            reason=f"revision requested: {comment[:200]}",
            expect=(TaskState.AWAITING_APPROVAL,),
            now=self.ctx.now(),
        )
        self.ctx.changed("plan_requested", task_id)
        return task

    async def plan_request(self, task_id: int) -> dict[str, Any] | None:
        """The owner's pending revision comment for the planner, if any."""
        value = await self.store.kv.get(plan_request_key(task_id))
        return dict(value) if value else None

    async def reject(self, task_id: int, reason: str | None = None, version: int | None = None) -> Task:
        """Reject the latest plan: the task ends (refusing a stale version)."""
        _, plan = await self._under_review(task_id, version, TaskState.REJECTED, "reject")
        task = await self.store.tasks.transition(
            task_id,
            TaskState.REJECTED,
            reason=reason or "rejected by the owner",
            expect=(TaskState.AWAITING_APPROVAL,),
            now=self.ctx.now(),
        )
        if plan is not None:
            await self.store.plans.set_status(plan.id, "rejected")
        await self.notifier.notify(
            Notification("plan_rejected", f"Task {task_id} rejected: {task.title}", task_id=task_id)
        )
        self.ctx.changed("task_rejected", task_id)
        return task
