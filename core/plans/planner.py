"""Turns a task in `planning` into a stored plan version awaiting the owner's answer.

Planning is a run like any other (it uses the window, is paused by limits and resumed
after the reset), but its task state moves differently: planning -> awaiting_approval,
or back to queued / paused_limit / failed. The executor runs Claude; this decides what
the answer means.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from core.abc import Button, Notification, Notifier, NullNotifier
from core.errors import InvalidTransition, NightshiftError
from core.execution.executor import Executor
from core.log import event
from core.models import Outcome, Plan, Run, RunKind, Task, TaskState, utcnow
from core.plans.draft import plan_prompt, read_plan
from core.service.plan_review import plan_request_key
from core.settings import Settings
from core.store.store import Store

MAX_PLAN_ATTEMPTS = 3
"""Plan runs that crash or error this many times in a row fail the task: the owner should look."""

PLAN_MESSAGE_CHARS = 3000


def plan_buttons(task_id: int, version: int) -> tuple[tuple[Button, ...], ...]:
    return (
        (
            Button("Approve", f"ap:{task_id}:{version}"),
            Button("Revise", f"rv:{task_id}:{version}"),
            Button("Reject", f"rj:{task_id}:{version}"),
        ),
    )


class Planner:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        executor: Executor,
        notifier: Notifier | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.store = store
        self.executor = executor
        self.notifier: Notifier = notifier or NullNotifier()
        self.clock = clock

    async def plan(self, task: Task) -> Plan | None:
        """Draft the next plan version for a task in `planning`; None when no plan came of it."""
        runs = [r for r in await self.store.runs.for_task(task.id) if r.kind is RunKind.PLAN]
        request = await self.store.kv.get(plan_request_key(task.id))
        previous = await self.store.plans.latest(task.id)
        comment = str(request["comment"]) if request else None
        prompt = plan_prompt(
            task.prompt,
            previous=previous.body if (previous and comment) else None,
            comment=comment,
        )
        resume = self._resumable_session(runs)
        try:
            run, verdict = await self.executor.draft_plan(task, prompt, resume=resume)
        except NightshiftError as exc:
            await self._move(task, TaskState.QUEUED, f"could not start the plan run: {exc.message}")
            raise
        if verdict.outcome is Outcome.LIMIT and verdict.limit is not None:
            await self._move(
                task,
                TaskState.PAUSED_LIMIT,
                f"plan run hit the limit: {verdict.limit.text}",
                resume_after=verdict.limit.resets_at,
                run=run,
            )
            return None
        if verdict.outcome in (Outcome.LOGGED_OUT, Outcome.OVERLOADED):
            # The API failed, not the plan: back in line, nothing counted; the queue holds.
            await self._move(task, TaskState.QUEUED, f"plan run not served: {verdict.reason}", run=run)
            return None
        if verdict.outcome is not Outcome.SUCCESS or not (run.final_text or "").strip():
            await self._failed(task, run, runs, verdict.reason, at_once=not verdict.retryable)
            return None
        return await self._store_plan(task, run, comment)

    @staticmethod
    def _resumable_session(runs: list[Run]) -> str | None:
        """A plan run cut short by a limit or a restart continues its session instead of starting over."""
        last = runs[-1] if runs else None
        if (
            last is not None
            and last.outcome in (Outcome.LIMIT, Outcome.INTERRUPTED, Outcome.LOGGED_OUT, Outcome.OVERLOADED)
            and last.session_id
            and last.extra.get("session_started")
        ):
            return last.session_id
        return None

    async def _store_plan(self, task: Task, run: Run, comment: str | None) -> Plan:
        draft = read_plan(run.final_text or "", self.settings.default_task_tokens)
        plan = await self.store.plans.add(
            task.id,
            draft.body,
            size=draft.size,
            estimate_tokens=draft.estimate_tokens,
            suggested_check=draft.check,
            comment=comment,
            run_id=run.id,
            now=self.clock(),
        )
        await self.store.kv.delete(plan_request_key(task.id))
        await self._move(task, TaskState.AWAITING_APPROVAL, f"plan v{plan.version} ready", run=run)
        if self.settings.auto_approve_small and draft.size == "small":
            await self.store.plans.set_status(plan.id, "approved")
            if draft.check and not task.check_cmd:
                await self.store.tasks.update_fields(task.id, check_cmd=draft.check)
            await self.store.tasks.transition(
                task.id,
                TaskState.READY,
                reason=f"plan v{plan.version} is small: approved automatically",
                now=self.clock(),
            )
            await self._send(
                Notification(
                    "plan_approved",
                    f"Task {task.id} plan v{plan.version} approved automatically (small):"
                    f" {task.title}\n\n{plan.body[:PLAN_MESSAGE_CHARS]}",
                    task_id=task.id,
                    data={"version": plan.version, "auto": True},
                )
            )
            return plan
        notes = "\n".join(f"(note: {p})" for p in draft.problems if p != "no nightshift-plan block")
        body = plan.body if len(plan.body) <= PLAN_MESSAGE_CHARS else plan.body[:PLAN_MESSAGE_CHARS] + "…"
        await self._send(
            Notification(
                "plan_ready",
                f"Plan v{plan.version} for task {task.id}: {task.title}\n\n{body}"
                + (f"\n\n{notes}" if notes else "")
                + (f"\n\nSize: {draft.size}" if draft.size and "Size:" not in body else ""),
                task_id=task.id,
                buttons=plan_buttons(task.id, plan.version),
                data={"version": plan.version, "size": draft.size},
            )
        )
        return plan

    async def _failed(self, task: Task, run: Run, runs: list[Run], reason: str, *,
                      at_once: bool = False) -> None:
        failures = MAX_PLAN_ATTEMPTS if at_once else 1  # at once: running it again cannot help
        for earlier in reversed(runs if not at_once else []):
            if earlier.outcome in (Outcome.SUCCESS, Outcome.LIMIT, Outcome.INTERRUPTED, Outcome.LOGGED_OUT,
                                   Outcome.OVERLOADED):
                break
            failures += 1
        if failures >= MAX_PLAN_ATTEMPTS:
            await self._move(task, TaskState.FAILED, f"planning failed {failures} times: {reason}", run=run)
            await self._send(
                Notification(
                    "task_failed",
                    f"Task {task.id} could not be planned: {reason}",
                    task_id=task.id,
                )
            )
        else:
            await self._move(task, TaskState.QUEUED, f"plan run failed ({reason}); trying again", run=run)

    async def _move(
        self,
        task: Task,
        target: TaskState,
        reason: str,
        *,
        run: Run | None = None,
        resume_after: datetime | None = None,
    ) -> None:
        fields = {"resume_after": resume_after} if resume_after else None
        with contextlib.suppress(InvalidTransition):  # cancelled meanwhile: the owner decided
            await self.store.tasks.transition(
                task.id,
                target,
                reason=reason,
                expect=(TaskState.PLANNING,),
                fields=fields,
                run_id=run.id if run else None,
                now=self.clock(),
            )

    async def reconcile(self) -> list[Run]:
        """After a restart: plan runs left unfinished are stopped and marked interrupted.

        Their tasks stay in `planning` and are planned again (resuming the session), which
        costs little and never leaves a half-read plan behind.
        """
        finished = []
        for run in await self.store.runs.unfinished():
            if run.kind is not RunKind.PLAN:
                continue
            task = await self.store.tasks.get(run.task_id)
            if task.state is TaskState.PLANNING and not self.executor.owns(task):
                continue  # another machine's plan run, still followed there
            await self.executor.stop(run)
            finished.append(
                await self.store.runs.finish(
                    run.id,
                    Outcome.INTERRUPTED,
                    now=self.clock(),
                    extra={**run.extra, "reason": "nightshift restarted during planning"},
                )
            )
        return finished

    async def _send(self, note: Notification) -> None:
        try:
            await self.notifier.notify(note)
        except Exception as exc:
            event("notification not delivered", logging.WARNING, logger="plans", kind=note.kind,
                  error=str(exc))
