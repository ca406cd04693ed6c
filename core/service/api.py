"""`Service`: the one object the fronts hold, made of the service's parts.

Each part has one job and is given only what it needs; `Service` builds them once and lends
their methods under the names the fronts call (`service.approve(...)`), so a front never
needs to know which part answers, and a part can be read and tested alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from core.abc import Clock, Notifier, NullNotifier
from core.capture import Capture
from core.models import utcnow
from core.service.context import ChangeListener, ServiceContext
from core.service.permissions import Permissions
from core.service.plan_review import PlanReview
from core.service.queue import QueueControl
from core.service.reports import Reports
from core.service.tasks import CancelHook, TaskActions
from core.service.usage import UsageView
from core.settings import Settings
from core.store.store import Store, open_store

if TYPE_CHECKING:
    from core.usage.monitor import UsageMonitor


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
        self.account_monitors = dict(account_monitors or {})
        """The daemon's monitor of each account (NIGHTSHIFT_ACCOUNTS), by account name."""
        ctx = ServiceContext(settings, store, clock, self.listeners)
        self.now = ctx.now
        self.changed = ctx.changed
        """Tell the listeners about a change made outside the parts (`core.capture`, `core.followup`)."""
        self.audit = ctx.audit
        """Log an event that belongs to no task (a stranger refused by the bot)."""

        tasks = TaskActions(ctx, self.cancel_hooks)
        self.add = tasks.add
        self.get = tasks.get
        self.list = tasks.list
        self.show = tasks.show
        self.depend = tasks.depend
        self.cancel = tasks.cancel
        self.retry = tasks.retry
        self.import_inbox = tasks.import_inbox

        review = PlanReview(ctx, self.notifier)
        self.latest_plan = review.latest_plan
        self.request_plan = review.request_plan
        self.approve = review.approve
        self.revise = review.revise
        self.plan_request = review.plan_request
        self.reject = review.reject

        queue = QueueControl(ctx)
        self.pause_queue = queue.pause_queue
        self.resume_queue = queue.resume_queue
        self.queue_paused = queue.queue_paused

        permissions = Permissions(ctx, retry=tasks.retry)
        self.allow = permissions.allow
        self.allow_refused = permissions.allow_refused
        self.allowed = permissions.allowed

        usage = UsageView(ctx, usage_monitor, self.account_monitors)
        self.planned_primes = usage.planned_primes
        self.usage = usage.usage
        self.usage_by_account = usage.usage_by_account
        self.weekly_paces = usage.weekly_paces

        reports = Reports(ctx, usage_monitor)
        self.metrics = reports.metrics
        self.learning_summary = reports.learning_summary
        self.lessons = reports.lessons
        self.decide_lesson = reports.decide_lesson
        self.chart = reports.chart

        self.capture = Capture(self)
        """Drafts and attachments from the phone (`core.capture`)."""

    @classmethod
    async def open(cls, settings: Settings, **kwargs: Any) -> Service:
        store = await open_store(settings)
        return cls(settings, store, **kwargs)

    async def close(self) -> None:
        await self.store.close()
