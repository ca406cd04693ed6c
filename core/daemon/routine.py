"""The daemon's routine: the standing jobs that are about keeping house, not about the limit.

The safety tick, the inbox import, the daily backup, the daily summary and the morning
digest, and the learning loop's timed looks (retro, meta-task). `core.daemon.timers` says
when each runs; this part says what each does, so the daemon itself keeps only its life
cycle and the limit and dispatch parts keep only theirs. Each job logs its own failure and
returns: a full disk or a planted link never stops the queue.
"""

from __future__ import annotations

import logging

from core.cluster import NodeAgent
from core.daemon.seams import RunObserver
from core.daemon.wake import Doorbell
from core.errors import NightshiftError
from core.log import event
from core.service import Service


class Routine:
    def __init__(self, service: Service, *, node: NodeAgent, doorbell: Doorbell,
                 observer: RunObserver | None = None) -> None:
        self.service = service
        self.node = node
        self.doorbell = doorbell
        self.observer = observer
        self._backup_skipped = False
        """The "backup off" line for a shared queue was written (said once, not hourly)."""

    async def tick(self) -> None:
        """A safety round, for pauses that end without an event; the observer's event log."""
        self.doorbell.ring("tick")
        if self.observer is not None:
            await self.observer.tick(self.service.now())

    async def retro(self) -> None:
        if self.observer is not None:
            await self.observer.retro(self.service.now())

    async def meta_task(self) -> None:
        if self.observer is not None:
            await self.observer.meta_task(self.service.now())

    async def _speaks(self) -> bool:
        """On a shared queue the daily messages come from one machine: the sender lease's holder."""
        return not self.node.shared or await self.node.holds()

    async def daily_summary(self) -> None:
        from core.metrics.pictures import send_daily_summary  # matplotlib: loaded when due

        if not await self._speaks():
            return
        await send_daily_summary(self.service, self.service.now())
        event("daily summary sent")

    async def morning_digest(self) -> None:
        from core.metrics.pictures import send_morning_digest

        if not await self._speaks():
            return
        note = await send_morning_digest(self.service, self.service.now())
        event("morning digest", sent=note is not None)

    async def import_inbox(self) -> None:
        try:
            report = await self.service.import_inbox()
        except NightshiftError as exc:  # a link planted at inbox/rejected/, say: one line, next tick
            event("inbox import refused", logging.WARNING, error=str(exc))
            return
        if report.imported or report.rejected:
            event("inbox imported", imported=report.imported, rejected=report.rejected)

    async def backup(self) -> None:
        """Today's copy of the database (`core.backup`), the newest week of them kept.

        Checked hourly and at start; a no-op once today's copy exists. A failure (a full
        disk) is logged and tried again the next hour: it never stops the queue.
        """
        from core.backup import daily_backup

        if self.node.shared:
            if not self._backup_skipped:
                self._backup_skipped = True
                event("daily backup off", reason="the queue is in PostgreSQL: back it up with pg_dump",
                      database=self.service.store.db.location)
            return
        try:
            made = await daily_backup(self.service.settings, self.service.store, self.service.now())
        except NightshiftError as exc:
            event("daily backup failed", logging.WARNING, error=str(exc))
            return
        if made is not None:
            event("daily backup", path=str(made))
