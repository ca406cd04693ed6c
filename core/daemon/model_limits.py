"""An Opus or Sonnet weekly limit holds only the work that needs that model.

Claude's 7-day limits come per model family besides the all-model one: with the Opus week
spent, Sonnet still answers. So such a limit does not pause the account; it holds the tasks
that need the limited family until its reset (their `resume_after` says when, so `show` and
the phone tell the owner), and a task that allows another model (its `fallback:MODEL` tag or
NIGHTSHIFT_FALLBACK_MODEL) goes on with it, resuming its session on the other model.

A task's model is its `model:MODEL` tag, else NIGHTSHIFT_MODEL, else Claude's default; the
default's family is not known before a run, so a task on it counts as needing the limited
family (the run that met the limit was on it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from core.abc import Notification, Notifier
from core.daemon.timers import Job, Once, Timers
from core.daemon.wake import Doorbell
from core.errors import NightshiftError
from core.log import event
from core.models import Task, TaskState, iso, parse_iso
from core.scheduling.resets import reset_fire_time
from core.settings import Settings
from core.store.store import Store

MODEL_KINDS = ("opus", "sonnet")
"""Limit kinds (`LimitHit.kind`) that bind one model family only."""
HOLDS_KEY = "model_holds"


def family(model: str) -> str | None:
    """`claude-opus-4-1` and `opus` -> "opus"; None for the default or an unknown name."""
    name = model.lower()
    return next((f for f in (*MODEL_KINDS, "haiku") if f in name), None)


def _tag(task: Task, key: str) -> str | None:
    return next((t.split(":", 1)[1].strip() for t in task.tags if t.startswith(f"{key}:")), None) or None


def task_models(task: Task, settings: Settings) -> tuple[str, str]:
    """(the model the task asks for, its fallback); '' for Claude's default / none."""
    return (_tag(task, "model") or settings.model, _tag(task, "fallback") or settings.fallback_model)


def choose_model(task: Task, settings: Settings, held: set[str]) -> tuple[bool, str | None]:
    """May `task` run while the families in `held` are limited, and on which model (None: the
    configured one, NIGHTSHIFT_MODEL or Claude's default; else its `model:` tag or fallback).

    (False, None): it needs a held family and has no fallback outside them: it waits."""
    model, fallback = task_models(task, settings)
    own = _tag(task, "model")
    mine = family(model)
    if not held or (mine is not None and mine not in held):
        return True, own
    other = family(fallback) if fallback else None
    if fallback and (other is None or other not in held) and fallback != model:
        return True, fallback
    return False, None


class ModelHolds:
    """The model families limited on one account, each until its reset (kept in the store)."""

    def __init__(
        self, settings: Settings, store: Store, *, key_scope: str, timers: Timers, doorbell: Doorbell,
        clock: Callable[[], datetime], mine: Callable[[Task], bool], job_suffix: str = "",
        notifier: Notifier | None = None, account: str = "",
    ) -> None:
        self.settings = settings
        self.store = store
        self.key = HOLDS_KEY + key_scope
        self.timers = timers
        self.doorbell = doorbell
        self.clock = clock
        self.mine = mine
        self.job_suffix = job_suffix
        self.notifier = notifier
        self.account = account

    async def active(self, now: datetime) -> dict[str, datetime]:
        raw = await self.store.kv.get(self.key, {})
        found: dict[str, datetime] = {}
        for kind, value in (raw.items() if isinstance(raw, dict) else ()):
            until = parse_iso(value) if isinstance(value, str) else None
            if kind in MODEL_KINDS and until is not None and until > now:
                found[kind] = until
        return found

    async def restore(self) -> None:
        """At start: the holds the store has get their release jobs again."""
        for kind, until in (await self.active(self.clock())).items():
            self._schedule(kind, until)

    async def hold(self, kind: str, resets_at: datetime, task: Task | None = None) -> None:
        """The `kind` family is limited until `resets_at` (plus the margin).

        The task whose run met the limit (paused by the executor) goes on at once if it has a
        fallback model; ready tasks that need the family are not claimed on this account until
        the reset (another account may take them)."""
        now = self.clock()
        until = reset_fire_time(resets_at, self.settings.reset_margin_s)
        holds = await self.active(now)
        if holds.get(kind) != until:
            holds[kind] = max(until, holds.get(kind, until))
            await self.store.kv.set(self.key, {k: iso(v) for k, v in holds.items()})
            self._schedule(kind, holds[kind])
            event("model limit: holding the work that needs it", kind=kind, until=iso(holds[kind]))
            await self._tell(kind, holds[kind], set(holds))
        if task is not None and task.state is TaskState.PAUSED_LIMIT:
            runs, _ = choose_model(task, self.settings, set(holds))
            if runs:
                await self._move(task, TaskState.PAUSED_LIMIT, None,
                                 f"{kind} limit: going on with the fallback model")

    async def _tell(self, kind: str, until: datetime, held: set[str]) -> None:
        """The owner hears once per hold: until when, what waits, what goes on on another model."""
        if self.notifier is None:
            return
        waiting: list[int] = []
        going: list[int] = []
        for task in await self.store.tasks.query([TaskState.READY, TaskState.PAUSED_LIMIT]):
            if family(task_models(task, self.settings)[0]) not in (kind, None):
                continue  # does not need the limited family
            (going if choose_model(task, self.settings, held)[0] else waiting).append(task.id)
        local = until.astimezone(self.settings.local_tz)
        where = f" on account {self.account}" if self.account else ""
        lines = [f"{kind.capitalize()} weekly limit{where} until {local:%a %d %b %H:%M %Z}:"
                 " only work that needs it waits."]
        if waiting:
            lines.append("waiting: " + ", ".join(f"#{i}" for i in waiting))
        if going:
            lines.append("going on with their fallback model: " + ", ".join(f"#{i}" for i in going))
        try:
            await self.notifier.notify(Notification("model_limit", "\n".join(lines),
                                                    data={"kind": kind, "until": iso(until)}))
        except NightshiftError as exc:
            event("model limit not told", logging.WARNING, error=str(exc))

    async def _move(self, task: Task, source: TaskState, resume_after: datetime | None, reason: str) -> None:
        try:
            await self.store.tasks.transition(task.id, TaskState.READY, reason=reason, expect=(source,),
                                              now=self.clock(), fields={"resume_after": resume_after})
        except NightshiftError as exc:  # cancelled meanwhile
            event("not moved", task=task.id, reason=str(exc))

    async def lift(self, kind: str) -> None:
        """The family's reset: its hold ends, the tasks it paused go back to the queue."""
        now = self.clock()
        holds = await self.active(now)
        holds.pop(kind, None)
        await self.store.kv.set(self.key, {k: iso(v) for k, v in holds.items()})
        for task in await self.store.tasks.query([TaskState.PAUSED_LIMIT]):
            if self.mine(task) and task.resume_after is not None and task.resume_after <= now:
                await self._move(task, TaskState.PAUSED_LIMIT, None, f"{kind} limit reset")
        event("model limit over", kind=kind)
        self.doorbell.ring(f"{kind} limit reset")

    def _schedule(self, kind: str, until: datetime) -> None:
        async def fire() -> None:
            await self.lift(kind)

        self.timers.place(Job(f"model-reset-{kind}{self.job_suffix}", Once(until), fire))

