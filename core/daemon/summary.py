"""The window summary: after the runs a reset (or cron time) set off, how the window went."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from core.abc import Notification, Notifier
from core.daemon.seams import DaemonStats
from core.errors import NightshiftError
from core.log import event
from core.models import Run
from core.scheduling.summary import window_summary_text
from core.service import Service
from core.waits import WAITS_KEY, waits_view


@dataclass
class _Batch:
    trigger: str
    scheduled_for: datetime
    capacity_tokens: int | None
    tasks: dict[int, Run | None] = field(default_factory=dict)
    accounts: dict[int, str] = field(default_factory=dict)
    """The account each task ran on, when the daemon has several."""


def per_account_text(runs: dict[int, Run | None], accounts: dict[int, str]) -> str:
    """Lines per account and in total, when the batch ran on more than one account."""
    names = sorted(set(accounts.values()))
    if len(names) < 2:
        return ""
    lines = ["", "By account:"]
    for name in names:
        mine = [r for t, r in runs.items() if accounts.get(t) == name]
        tokens = sum(r.tokens.total for r in mine if r is not None)
        lines.append(f"  {name}: {len(mine)} task(s), {tokens:,} tokens")
    total = sum(r.tokens.total for r in runs.values() if r is not None)
    lines.append(f"  total: {len(runs)} task(s), {total:,} tokens")
    return "\n".join(lines)


class WindowSummary:
    def __init__(
        self, service: Service, notifier: Notifier, tz: tzinfo, stats: DaemonStats,
        footer: Callable[[], str] = lambda: "",
    ) -> None:
        self.service = service
        self.notifier = notifier
        self.tz = tz
        self.stats = stats
        self.footer = footer
        """Lines the daemon adds at the end (each account's weekly pace)."""
        self._batch: _Batch | None = None

    @property
    def open(self) -> bool:
        return self._batch is not None

    def begin(self, trigger: str, scheduled_for: datetime, capacity_tokens: int | None) -> None:
        """A window reset: the runs started from now on belong to its batch. Another account's
        reset while a batch is open joins it: the owner gets one summary of the night."""
        if self._batch is None or not self._batch.tasks:
            self._batch = _Batch(trigger, scheduled_for, capacity_tokens)

    def started(self, task_id: int, account: str | None = None) -> None:
        if self._batch is not None:
            self._batch.tasks.setdefault(task_id, None)
            if account is not None:
                self._batch.accounts[task_id] = account

    def ended(self, task_id: int, run: Run | None) -> None:
        if self._batch is not None and task_id in self._batch.tasks and run is not None:
            self._batch.tasks[task_id] = run

    async def close(self) -> None:
        """The batch has run its course: tell the owner how the window went."""
        batch, self._batch = self._batch, None
        if batch is None or not batch.tasks:
            return
        entries = [(await self.service.store.tasks.get(task_id), run) for task_id, run in batch.tasks.items()]
        photo: str | None = None
        twin = ""
        try:
            from core.metrics.pictures import render_window_timeline

            path, twin = await render_window_timeline(
                self.service, batch.tasks, batch.scheduled_for, batch.capacity_tokens, now=self.service.now()
            )
            photo = str(path)
        except Exception as exc:  # a chart is a nicety; the summary goes out without it
            event("window chart not drawn", logging.WARNING, error=repr(exc))
        waits = waits_view(await self.service.store.kv.get(WAITS_KEY))
        text = window_summary_text(
            batch.trigger, batch.scheduled_for, self.tz, entries, batch.capacity_tokens, twin,
            waits={k: v for k, v in waits.items() if k not in batch.tasks},
        ) + per_account_text(batch.tasks, batch.accounts) + self.footer()
        self.stats.summaries += 1
        event("window summary", tasks=sorted(batch.tasks), trigger=batch.trigger)
        try:
            await self.notifier.notify(
                Notification("window_summary", text, photo=photo, data={"tasks": sorted(batch.tasks)})
            )
        except NightshiftError as exc:
            event("window summary not delivered", logging.WARNING, error=str(exc))
