"""The window summary: after the runs a reset (or cron time) set off, how the window went."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from core.abc import Notification, Notifier
from core.budgets import WAITS_KEY
from core.daemon.seams import DaemonStats
from core.errors import NightshiftError
from core.log import event
from core.models import Run
from core.scheduling.summary import window_summary_text
from core.service import Service


@dataclass
class _Batch:
    trigger: str
    scheduled_for: datetime
    capacity_tokens: int | None
    tasks: dict[int, Run | None] = field(default_factory=dict)


class WindowSummary:
    def __init__(self, service: Service, notifier: Notifier, tz: tzinfo, stats: DaemonStats) -> None:
        self.service = service
        self.notifier = notifier
        self.tz = tz
        self.stats = stats
        self._batch: _Batch | None = None

    @property
    def open(self) -> bool:
        return self._batch is not None

    def begin(self, trigger: str, scheduled_for: datetime, capacity_tokens: int | None) -> None:
        """A window reset: the runs started from now on belong to its batch."""
        self._batch = _Batch(trigger, scheduled_for, capacity_tokens)

    def started(self, task_id: int) -> None:
        if self._batch is not None:
            self._batch.tasks.setdefault(task_id, None)

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
        record = await self.service.store.kv.get(WAITS_KEY) or {}
        waits = {int(k): str(v) for k, v in (record.get("waits") or {}).items()}
        text = window_summary_text(
            batch.trigger, batch.scheduled_for, self.tz, entries, batch.capacity_tokens, twin,
            waits={k: v for k, v in waits.items() if k not in batch.tasks},
        )
        self.stats.summaries += 1
        event("window summary", tasks=sorted(batch.tasks), trigger=batch.trigger)
        try:
            await self.notifier.notify(
                Notification("window_summary", text, photo=photo, data={"tasks": sorted(batch.tasks)})
            )
        except NightshiftError as exc:
            event("window summary not delivered", logging.WARNING, error=str(exc))
