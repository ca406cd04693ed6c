"""The real PTB Application wired as the daemon wires it, fed `Update.de_json` one at a time.

Replies go to the local fake Bot API (tests/fakes/telegram_api.py). `refused` records every
`NightshiftError` a command handler raised before the bot's own `guarded` wrapper turned it
into a reply: that is how a test knows an input was refused (and must have changed nothing).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from telegram import Update
from telegram.ext import Application

from bot import handlers
from bot.app import build_application, register
from bot.deps import BotDeps, RefusalLimiter
from core.errors import NightshiftError
from core.models import TaskState
from core.service import Service
from core.store.outbox import OutboxStore
from tests.bot.conftest import FAST
from tests.fakes.telegram_api import FakeTelegram

_update_ids = itertools.count(1)


class Monotonic:
    """The limiter's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class BotUnderTest:
    app: Application  # type: ignore[type-arg]
    fake: FakeTelegram
    service: Service
    monotonic: Monotonic
    refused: list[NightshiftError] = field(default_factory=list)

    async def feed(self, body: dict[str, Any]) -> None:
        update = Update.de_json({"update_id": next(_update_ids), **body}, self.app.bot)
        await self.app.process_update(update)


@asynccontextmanager
async def bot_under_test(fake: FakeTelegram, service: Service, monkeypatch: pytest.MonkeyPatch,
                         *, refusal_interval_s: float = 600.0) -> AsyncIterator[BotUnderTest]:
    refused: list[NightshiftError] = []
    original = handlers.guarded

    def recording(handler: handlers.Handler) -> handlers.Handler:
        @functools.wraps(handler)
        async def noted(update: Update, context: Any) -> None:
            try:
                await handler(update, context)
            except NightshiftError as exc:
                refused.append(exc)
                raise

        return original(noted)

    # `register` looks `guarded` up on the module when it wires the handlers.
    monkeypatch.setattr(handlers, "guarded", recording)
    monotonic = Monotonic()
    application = build_application(service.settings, FAST)
    register(application, BotDeps(service.settings, service, OutboxStore(service.store.db),
                                  RefusalLimiter(interval_s=refusal_interval_s), monotonic=monotonic))
    async with application:
        yield BotUnderTest(application, fake, service, monotonic, refused)


async def seed(service: Service) -> dict[str, int]:
    """One task in each interesting state, a plan awaiting approval with two versions."""
    store = service.store
    ids: dict[str, int] = {}
    ids["ready"] = (await service.add("ready task", plan=False)).id
    ids["queued"] = (await service.add("needs a plan", plan=True)).id
    waiting = await service.add("awaiting approval", plan=True)
    await store.tasks.transition(waiting.id, TaskState.PLANNING)
    await store.plans.add(waiting.id, "v1: the first plan", size="S")
    await store.plans.add(waiting.id, "v2: <b>the</b> second & last plan", size="S")
    await store.tasks.transition(waiting.id, TaskState.AWAITING_APPROVAL)
    ids["awaiting"] = waiting.id
    for state in (TaskState.FAILED, TaskState.DONE):
        task = await service.add(f"{state.value} task", plan=False)
        await store.tasks.transition(task.id, TaskState.RUNNING)
        await store.tasks.transition(task.id, state)
        ids[state.value] = task.id
    cancelled = await service.add("cancelled task", plan=False)
    await service.cancel(cancelled.id)
    ids["cancelled"] = cancelled.id
    return ids
