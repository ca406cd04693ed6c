"""What every part of the service shares, given once by `Service`.

The parts (`tasks`, `plan_review`, `queue`, `permissions`, `usage`, `reports`) each hold
this one object rather than the `Service` itself, so each names what it needs and none can
reach into another's state; the two ways of saying "something changed" live here so that
every part says it the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.abc import Clock
from core.settings import Settings
from core.store.events import record_event
from core.store.store import Store

ChangeListener = Callable[[str, int | None], None]
"""Told (event kind, task id) after every change: the daemon's doorbell rings its dispatcher."""


@dataclass(frozen=True, slots=True)
class ServiceContext:
    settings: Settings
    store: Store
    clock: Clock
    listeners: tuple[ChangeListener, ...] = ()

    def now(self) -> datetime:
        return self.clock()

    def changed(self, kind: str, task_id: int | None = None) -> None:
        """Tell the listeners; called after the change is committed, never before."""
        for listener in self.listeners:
            listener(kind, task_id)

    async def audit(
        self, kind: str, *, reason: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        """Append an event that belongs to no task (a stranger refused by the bot, a pause),
        so the event log and `brain/logs` have it."""
        async with self.store.db.transaction() as conn:
            await record_event(conn, kind, reason=reason, data=data, at=self.clock())
