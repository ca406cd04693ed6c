"""What happens after every finished run: the vault, the logs and the learning loop.

The daemon calls `run_finished` for each run (work or plan); its timers call `tick` and
`retro` (`core.daemon.timers` says when). Each step is independent and none may stop the
queue: a full disk while writing a note is one logged error (`upkeep step failed`) and the
next call tries again (everything here is regenerated from the database, so nothing is
lost by a skipped write).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from core.abc import Notifier
from core.brain_logs import LogBook
from core.improve.learning import learn
from core.improve.retro import write_retro
from core.log import event
from core.models import Run, Task
from core.settings import Settings
from core.store.store import Store
from core.vault import VaultWriter


class Upkeep:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        notifier: Notifier,
        *,
        logbook: LogBook | None = None,
        capacity_tokens: Callable[[], int | None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.notifier = notifier
        self.capacity_tokens = capacity_tokens
        self.logbook = logbook or LogBook(settings.brain_dir)

    async def run_finished(self, task: Task, run: Run | None, now: datetime) -> None:
        """Learn from the run, write its notes, export the event log."""
        if run is not None:
            await self._step("learning", lambda: learn(self.store, self.settings, now, logbook=self.logbook))
            writer = VaultWriter(self.settings, self.store, capacity_tokens=self.capacity_tokens())
            await self._step("run note", lambda: writer.write_run(run.id))
        await self._step("event log", lambda: self.logbook.export_events(self.store))

    async def tick(self, now: datetime) -> None:
        """Periodic upkeep: the event log."""
        await self._step("event log", lambda: self.logbook.export_events(self.store))

    async def retro(self, now: datetime) -> None:
        """Last week's retrospective (rewritten each time; the owner is told once a week)."""
        await self._step(
            "weekly retrospective",
            lambda: write_retro(self.store, self.settings, now, notifier=self.notifier),
        )

    async def _step(self, what: str, work: Callable[[], Awaitable[object]]) -> bool:
        try:
            await work()
        except Exception as exc:  # one failing step must not stop the others or the queue
            event("upkeep step failed", logging.ERROR, logger="upkeep", step=what, error=str(exc))
            return False
        return True
