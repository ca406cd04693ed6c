"""The limit pause as the store keeps it: the record and the tasks it holds.

A limit pause has to outlive the daemon (a restart must honour it), so it lives in the
store twice: the record under its KV key, and the tasks the limit interrupted, left in
`paused_limit`. This part only reads and writes those; what a limit, a reset or a run
that got through means is the gate's to decide (`core.daemon.gate`). Kept apart so the
gate's state machine reads without store detail, and so the rules for which tasks a reset
gives back (this machine's and account's, work to ready, planning to queued) sit in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from core.errors import NightshiftError
from core.log import event
from core.models import Outcome, RunKind, Task, TaskState
from core.scheduling.resets import LimitPause, reset_fire_time
from core.store.store import Store

LIMIT_PAUSE_KEY = "limit_pause"
"""KV: the queue pause after a limit (`LimitPause.as_json`); survives restarts."""


class StoredPause:
    def __init__(self, store: Store, *, key: str = LIMIT_PAUSE_KEY,
                 mine: Callable[[Task], bool] = lambda task: True) -> None:
        self.store = store
        self.key = key
        """Where the record is kept: each machine's (and account's) limit is its own."""
        self.mine = mine
        """Is a paused task this pause's to release (its session lives here)?"""

    async def load(self) -> LimitPause | None:
        """The record, or None; one that cannot be read is dropped (a logged warning), since
        keeping it would hold the queue for a reset nobody can name."""
        raw = await self.store.kv.get(self.key)
        if not raw:
            return None
        try:
            return LimitPause.from_json(raw)
        except (KeyError, TypeError, ValueError):
            event("unreadable limit pause dropped", logging.WARNING, value=raw)
            await self.store.kv.delete(self.key)
            return None

    async def save(self, pause: LimitPause | None) -> None:
        if pause is None:
            await self.store.kv.delete(self.key)
        else:
            await self.store.kv.set(self.key, pause.as_json())

    async def recover(self, now: datetime, margin_s: float) -> tuple[LimitPause | None, bool]:
        """The pause at start, and whether it was just rebuilt: tasks left `paused_limit`
        without a record (a crash between the two writes, an older version) still hold the
        queue, until the latest reset they name (or now, when none does)."""
        pause = await self.load()
        if pause is not None:
            return pause, False
        paused = [t for t in await self.store.tasks.query([TaskState.PAUSED_LIMIT]) if self.mine(t)]
        if not paused:
            return None, False
        latest = max((t.resume_after for t in paused if t.resume_after), default=None)
        reset = latest or now
        pause = LimitPause(reset, reset_fire_time(reset, margin_s), source="database", task_id=paused[0].id)
        await self.save(pause)
        return pause, True

    async def release(self, now: datetime, *, force: bool = False) -> list[int]:
        """Tasks a limit paused go back to the queue: work to ready, planning to queued.

        Their `resume_after` is cleared: the pause decides when work starts, and a guessed
        reset time must not keep a task back once the owner's cron time has ended the pause.
        """
        released: list[int] = []
        for task in await self.store.tasks.query([TaskState.PAUSED_LIMIT]):
            if not self.mine(task):
                continue
            if not force and task.resume_after is not None and task.resume_after > now:
                continue
            runs = await self.store.runs.for_task(task.id)
            target = TaskState.QUEUED if runs and runs[-1].kind is RunKind.PLAN else TaskState.READY
            try:
                await self.store.tasks.transition(
                    task.id,
                    target,
                    reason="window reset",
                    expect=(TaskState.PAUSED_LIMIT,),
                    now=now,
                    fields={"resume_after": None},
                )
            except NightshiftError as exc:  # cancelled meanwhile: nothing to resume
                event("not resumed", task=task.id, reason=str(exc))
                continue
            released.append(task.id)
        return released

    async def resuming(self) -> list[Task]:
        """Ready tasks whose last run ended on a limit: they resume before anything new."""
        out = []
        for task in await self.store.tasks.query([TaskState.READY]):
            runs = await self.store.runs.for_task(task.id)
            if runs and runs[-1].outcome is Outcome.LIMIT:
                out.append(task)
        return out
