"""The dispatcher's doorbell, and the background jobs the daemon keeps an eye on.

Every part that changes what may start rings the doorbell (the service after every change,
a finished run, a reset); the dispatcher runs one round per ring. A ring for a reset or a
cron time carries its scheduled time, which marks the runs that round starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.log import event


@dataclass(frozen=True, slots=True)
class Round:
    """Why the next dispatch round runs: a reset or cron time makes it 'scheduled'."""

    reason: str
    scheduled_for: datetime | None = None
    fresh_window: bool = False


class Doorbell:
    """Rings for a dispatch round, or once for the end (`stop`).

    Built before the service, whose change listener it is: the wiring is made once.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._round: Round | None = None
        self.stopping = False

    def ring(self, reason: str, *, scheduled_for: datetime | None = None, fresh_window: bool = False) -> None:
        """Ask for a round; a scheduled ring is not replaced by a plain one before it runs."""
        if scheduled_for is not None or fresh_window or self._round is None:
            self._round = Round(reason, scheduled_for, fresh_window)
        self._event.set()

    def on_change(self, kind: str, task_id: int | None) -> None:
        """The service's listener: every change may make something startable."""
        self.ring(kind)

    def stop(self) -> None:
        self.stopping = True
        self._event.set()

    async def wait(self) -> Round | None:
        """The next round to run; None once stopping."""
        await self._event.wait()
        self._event.clear()
        if self.stopping:
            return None
        round_, self._round = self._round, None
        return round_ or Round("wake")


class Background:
    """Short jobs the daemon starts on its own (a usage scan after a reset); cancelled at stop."""

    def __init__(self) -> None:
        self._jobs: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        job: asyncio.Task[Any] = asyncio.ensure_future(coro)

        def done(j: asyncio.Task[Any]) -> None:
            self._jobs.discard(j)
            if not j.cancelled() and j.exception() is not None:
                event("background job failed", logging.ERROR, what=what, error=repr(j.exception()))

        self._jobs.add(job)
        job.add_done_callback(done)

    async def cancel(self) -> None:
        jobs = list(self._jobs)
        for job in jobs:
            job.cancel()
        for job in jobs:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await job
