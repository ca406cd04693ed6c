"""The one API every front calls: CLI, Telegram bot, inbox, daemon.

Fronts parse their own syntax and render their own replies; what a command *means*
lives here, so `/cancel 4` and `nightshift cancel 4` cannot drift apart.
"""

from __future__ import annotations

import asyncio
import builtins
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from core.abc import Clock, Notification, Notifier, NullNotifier
from core.budgets import budget_wait
from core.capture import Capture
from core.errors import InvalidInput, InvalidTransition, NoPlan, StalePlan, UserError
from core.inbox import Inbox, InboxReport
from core.models import Event, Outcome, Plan, Priority, Run, Task, TaskState, utcnow
from core.scheduling.priming import prime_times
from core.scheduling.workhours import PlannedPrime, parse_work_hours, planned_primes
from core.settings import Settings
from core.store.events import record_event
from core.store.store import Store, open_store
from core.store.task_rows import NewTask

if TYPE_CHECKING:
    from core.metrics.report import MetricsReport
    from core.scheduling.pacing import WeeklyPace
    from core.usage.monitor import LimitState, UsageMonitor

CancelHook = Callable[[Task], Awaitable[None]]
"""Stops a task's live run (the executor provides it); the service only changes state."""
ChangeListener = Callable[[str, int | None], None]

QUEUE_PAUSED_KEY = "queue_paused"
"""The queue's pause: the owner's (`/pause`), or an API hold (`core.execution.holds`). One key,
so that the dispatcher's check stays one read."""
LOCAL_SOURCES = frozenset({"cli", "inbox", "meta", "demo"})
"""Fronts on the machine itself, whose user may name a repository by its path. Every other
source (the phone) may only name an alias from NIGHTSHIFT_REPOS: default deny."""


def _scope(value: str) -> Literal["task", "repo"]:
    if value not in ("task", "repo"):
        raise InvalidInput(f"allow it for the task or the repo, not {value!r}")
    return "repo" if value == "repo" else "task"


def plan_request_key(task_id: int) -> str:
    return f"plan_request:{task_id}"


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


class Service:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        notifier: Notifier | None = None,
        clock: Clock = utcnow,
        cancel_hooks: Sequence[CancelHook] = (),
        listeners: Sequence[ChangeListener] = (),
        usage_monitor: UsageMonitor | None = None,
        account_monitors: Mapping[str, UsageMonitor] | None = None,
    ) -> None:
        """Every collaborator is given here, once (`core.assembly` wires the daemon's)."""
        self.settings = settings
        self.store = store
        self.notifier: Notifier = notifier or NullNotifier()
        self.clock = clock
        self.cancel_hooks: tuple[CancelHook, ...] = tuple(cancel_hooks)
        self.listeners: tuple[ChangeListener, ...] = tuple(listeners)
        """Called after every change with (event kind, task id): the daemon wakes its dispatcher."""
        self.usage_monitor = usage_monitor
        """The daemon's usage monitor, when one runs: `usage()` reads what it last saw."""
        self.capture = Capture(self)
        """Drafts and attachments from the phone (`core.capture`)."""
        self.account_monitors = dict(account_monitors or {})
        """The daemon's monitor of each account (NIGHTSHIFT_ACCOUNTS), by account name."""

    @classmethod
    async def open(cls, settings: Settings, **kwargs: Any) -> Service:
        store = await open_store(settings)
        return cls(settings, store, **kwargs)

    async def close(self) -> None:
        await self.store.close()

    def _changed(self, kind: str, task_id: int | None = None) -> None:
        for listener in self.listeners:
            listener(kind, task_id)

    # --- tasks ----------------------------------------------------------------------------

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
        if max_usd is not None and not (math.isfinite(max_usd) and max_usd > 0):
            raise InvalidInput("the cost cap must be a positive number of dollars")
        if max_usd is None:
            max_usd = await self._phone_task_cap()
        new = NewTask(
            prompt=prompt,
            title=title,
            repo=self._resolve_repo(repo, paths_allowed=source in LOCAL_SOURCES),
            priority=Priority.parse(priority),
            depends_on=tuple(dict.fromkeys(after)),
            check_cmd=(check or "").strip() or None,
            needs_plan=self.settings.plan_by_default if plan is None else plan,
            tags=tuple(tags),
            source=source,
            source_ref=source_ref,
            max_budget_usd=max_usd,
            resume_after=hold_until,
        )
        task = await self.store.tasks.add(new, now=self.clock())
        self._changed("task_added", task.id)
        return task

    async def _phone_task_cap(self) -> float | None:
        """A per-task cap set with `/budget task` (0: none, over the environment's default)."""
        from core.budgets import load_budgets

        budgets = await load_budgets(self.store, self.settings)
        if "task" not in budgets.set_on_phone:
            return None  # the executor applies NIGHTSHIFT_MAX_BUDGET_USD itself
        return budgets.task_usd or 0.0

    def _resolve_repo(self, repo: str | None, *, paths_allowed: bool = True) -> str | None:
        """Aliases become absolute paths; a path that does not exist is refused now, not at 3am.

        Without `paths_allowed` only a configured alias is taken, and the refusal is the same
        whatever was asked for, so it says nothing about the machine's folders.
        """
        if repo is None or not repo.strip():
            return None
        name = repo.strip()
        known = ", ".join(sorted(self.settings.repos)) or "none set in NIGHTSHIFT_REPOS"
        if not paths_allowed and name not in self.settings.repos:
            raise InvalidInput(f"that is not a repo alias; the aliases are: {known}")
        path = self.settings.repo_path(name)
        if not path.is_dir():
            if name in self.settings.repos:
                raise InvalidInput(f"repo alias {name!r} points to a folder that is not there")
            raise InvalidInput(f"repo {repo!r} is not a directory or a known alias ({known})")
        return str(path.resolve())

    async def get(self, task_id: int) -> Task:
        return await self.store.tasks.get(task_id)

    async def list(
        self, state: TaskState | str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[Task]:
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
        waiting: list[int] = []
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
        self._changed("task_changed", task_id)
        return task

    async def cancel(self, task_id: int, reason: str = "cancelled by the owner") -> Task:
        task = await self.store.tasks.get(task_id)
        if task.state is TaskState.RUNNING:
            for hook in self.cancel_hooks:
                await hook(task)
        task = await self.store.tasks.transition(
            task_id, TaskState.CANCELLED, reason=reason, action="cancel it", now=self.clock()
        )
        self._changed("task_cancelled", task_id)
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
            now=self.clock(),
        )
        self._changed("task_retried", task_id)
        return task

    # --- plans and approvals --------------------------------------------------------------

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
            now=self.clock(),
        )
        self._changed("plan_requested", task_id)
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
            now=self.clock(),
        )
        await self.notifier.notify(
            Notification("plan_approved", f"Task {task_id} approved: {task.title}", task_id=task_id)
        )
        self._changed("task_approved", task_id)
        return task

    async def revise(self, task_id: int, comment: str, version: int | None = None) -> Task:
        """Ask for a new plan version that takes the owner's comment into account."""
        comment = (comment or "").strip()
        if not comment:
            raise InvalidInput("say what should change in the plan (the comment is empty)")
        if len(comment) > 4000:
            raise InvalidInput("the comment is longer than 4,000 characters")
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
            now=self.clock(),
        )
        self._changed("plan_requested", task_id)
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
            now=self.clock(),
        )
        if plan is not None:
            await self.store.plans.set_status(plan.id, "rejected")
        await self.notifier.notify(
            Notification("plan_rejected", f"Task {task_id} rejected: {task.title}", task_id=task_id)
        )
        self._changed("task_rejected", task_id)
        return task

    # --- queue ----------------------------------------------------------------------------

    async def pause_queue(self, reason: str = "paused by the owner") -> None:
        await self.store.kv.set(QUEUE_PAUSED_KEY, {"reason": reason, "at": self.clock().isoformat()})
        await self.audit("queue_paused", reason=reason)  # so `brain/logs` has it too
        self._changed("queue_paused")

    async def resume_queue(self) -> None:
        """The owner says go: lifts their pause, or an API hold (not logged in, overloaded)."""
        await self.store.kv.delete(QUEUE_PAUSED_KEY)
        await self.audit("queue_resumed")
        self._changed("queue_resumed")

    async def queue_paused(self) -> str | None:
        """Why nothing new starts: the owner's pause, or an API hold (`core.execution.holds`)."""
        value = await self.store.kv.get(QUEUE_PAUSED_KEY)
        if not value:
            return None
        if not value.get("hold"):
            return str(value["reason"])
        from core.execution.holds import Hold, settle

        hold = await settle(self.store, self.settings, Hold.from_json(value), self.clock())
        if hold is None:
            return None
        if hold.kind == "login":
            return f"waiting for Claude Code's login: {hold.reason}"
        return f"the API is overloaded; backing off until {hold.until.isoformat() if hold.until else '?'}"

    # --- permissions ------------------------------------------------------------------------

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

    async def allowed(self, task_id: int) -> builtins.list[str]:
        """The rules the owner allowed for this task and its repo."""
        from core.execution.permissions import allowed_rules

        return await allowed_rules(self.store, await self.store.tasks.get(task_id))

    async def _retry_refused(self, task: Task) -> Task:
        runs = await self.store.runs.for_task(task.id)
        if task.state is TaskState.FAILED and runs and runs[-1].outcome is Outcome.PERMISSION_DENIED:
            return await self.retry(task.id)
        self._changed("task_changed", task.id)
        return task

    # --- inbox ----------------------------------------------------------------------------

    async def import_inbox(self, inbox: Path | None = None) -> InboxReport:
        """Import every inbox file; bad and hostile files go to `rejected/` with a note saying
        why. Files are read and parsed off the event loop (`Inbox.load_async`)."""
        report = InboxReport()
        with Inbox.open(inbox or self.settings.brain_dir / "inbox") as box:
            if box is None:
                return report
            for name in box.names():
                try:
                    new = await box.load_async(name, plan_default=self.settings.plan_by_default)
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

    # --- usage -----------------------------------------------------------------------------

    def planned_primes(self, now: datetime | None = None) -> builtins.list[PlannedPrime]:
        """The primes planned for the next day and a half: NIGHTSHIFT_PRIME_AT's times and one
        five hours before each start of work (NIGHTSHIFT_WORK_HOURS), as `usage` shows them."""
        return planned_primes(now or self.clock(), prime_at=prime_times(self.settings.prime_at),
                              work=parse_work_hours(self.settings.work_hours), learned_start=None,
                              tz=self.settings.local_tz)

    async def usage(self) -> LimitState:
        """The usage window and limit state from what is known (no log scan, no fetch)."""
        if self.usage_monitor is not None:
            return await self.usage_monitor.state(self.clock())
        from core.accounts import accounts, usage_monitor

        monitor = usage_monitor(self.settings, self.store, accounts(self.settings)[0])
        try:
            return await monitor.state(self.clock())
        finally:
            await monitor.close()

    async def usage_by_account(self) -> builtins.list[tuple[str, LimitState]]:
        """Each account's window and limit state (one entry without NIGHTSHIFT_ACCOUNTS)."""
        if self.account_monitors:
            return [(name, await m.state(self.clock())) for name, m in self.account_monitors.items()]
        from core.accounts import accounts, usage_monitor

        if self.usage_monitor is not None:  # one monitor given without accounts: the one account
            return [(accounts(self.settings)[0].name, await self.usage())]

        out = []
        for account in accounts(self.settings):
            monitor = usage_monitor(self.settings, self.store, account)
            try:
                out.append((account.name, await monitor.state(self.clock())))
            finally:
                await monitor.close()
        return out

    async def weekly_paces(self) -> dict[str, WeeklyPace | None]:
        """Each account's weekly pace as the daemon's monitors last saw the week (by name)."""
        if not self.account_monitors:
            return {}
        from core.accounts import accounts
        from core.pace import account_pace

        found = {a.name: a for a in accounts(self.settings)}
        out: dict[str, WeeklyPace | None] = {}
        for name, monitor in self.account_monitors.items():
            if name in found:
                out[name] = await account_pace(self.settings, self.store, found[name], monitor,
                                               monitor.last_state, self.clock(), record=False)
        return out

    # --- metrics ---------------------------------------------------------------------------

    async def metrics(self, since: datetime | None = None) -> MetricsReport:
        """Day-one metrics since `since` (all time without it), days cut in the owner's zone."""
        from core.metrics import compute_metrics

        return await compute_metrics(
            self.store,
            since=since,
            now=self.clock(),
            capacity_tokens=self.settings.window_capacity_tokens or None,
            tz=self.settings.local_tz,
        )

    async def learning_summary(self, since: datetime | None = None) -> dict[str, Any]:
        """The learning loop's numbers: each prompt style's record and the estimate error."""
        from core.improve.reports import estimate_error, experiment_report, experiments_text

        styles = await experiment_report(self.store, self.settings, self.clock())
        error = await estimate_error(self.store, since)
        return {
            "experiments": [r.as_json() for r in styles],
            "estimate_error": error.as_json(),
            "text": experiments_text(styles) + "\n" + error.as_text(),
        }

    async def lessons(self) -> builtins.list[dict[str, Any]]:
        """Lessons the loop proposed, with the owner's decisions, oldest first."""
        from core.improve.storage import ImproveStore

        return [lesson.as_json() for lesson in await ImproveStore(self.store.db).lessons()]

    async def decide_lesson(self, lesson_id: int, accept: bool) -> dict[str, Any]:
        """Accept a lesson (later prompts of matching tasks include it) or dismiss it for good."""
        from core.improve.learning import decide_lesson
        from core.improve.lessons import LessonStatus

        status = LessonStatus.ACCEPTED if accept else LessonStatus.DISMISSED
        lesson = await decide_lesson(self.store, self.settings, lesson_id, status, self.clock())
        return lesson.as_json()

    async def chart(self, kind: str, report: MetricsReport, *, name: str | None = None) -> Path:
        """Draw chart `kind` as `charts/<name or kind>.png` in the state directory.

        Drawn in a thread (matplotlib takes a while); one file per name, replaced each time.
        """
        import asyncio

        from core.metrics.charts import render_chart
        from core.store.db import ensure_private_dir

        out = ensure_private_dir(self.settings.home_dir / "charts") / f"{name or kind}.png"
        if kind == "weekly":
            from core.metrics.pictures import weekly_limit_used

            used = weekly_limit_used(self, self.clock())
            return await asyncio.to_thread(render_chart, kind, report, out, weekly_limit_used=used)
        return await asyncio.to_thread(render_chart, kind, report, out)

    # --- audit ---------------------------------------------------------------------------

    async def audit(
        self, kind: str, *, reason: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        """Append an event that belongs to no task (a stranger refused by the bot)."""
        async with self.store.db.transaction() as conn:
            await record_event(conn, kind, reason=reason, data=data, at=self.clock())

    # --- time ----------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()
