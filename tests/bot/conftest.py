"""The bot against a local fake Bot API: real python-telegram-bot, real HTTP, real SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from bot.app import BotOptions
from bot.runtime import BotRuntime, running_bot
from bot.sender import RetryPolicy
from core.assembly import owner_notifier
from core.models import utcnow
from core.service import Service
from core.settings import Settings, load_settings
from core.store.store import Store
from tests.fakes.telegram_api import TOKEN, FakeTelegram, Sent

OWNER = 4242
STRANGER = 666

FAST_RETRY = RetryPolicy(base_s=0.01, factor=2.0, max_s=0.05, idle_poll_s=0.5)
FAST = BotOptions(
    poll_timeout_s=5,
    connect_timeout_s=2,
    read_timeout_s=2,
    write_timeout_s=2,
    retry=FAST_RETRY,
    connect_retry=RetryPolicy(base_s=0.01, max_s=0.05),
    stop_timeout_s=10,
)


@dataclass
class FakeClock:
    """A clock for the outbox sender whose sleep advances time instead of waiting for it."""

    now: datetime = field(default_factory=utcnow)
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        import asyncio

        self.slept.append(seconds)
        self.now += timedelta(seconds=max(seconds, 0.0))
        await asyncio.sleep(0)


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


def bot_settings_for(fake: FakeTelegram, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "telegram_bot_token": TOKEN,
        "telegram_allowed_users": frozenset({OWNER}),
        "telegram_api_base_url": fake.base_url,
        "tz": "Europe/Berlin",
    }
    values.update(overrides)
    return load_settings(env_file=None, **values)


@pytest.fixture
def bot_settings(settings: Settings, fake_telegram: FakeTelegram) -> Settings:
    return bot_settings_for(fake_telegram)


@pytest.fixture
async def bot_service(bot_settings: Settings, store: Store) -> Service:
    """The service as the daemon builds it: notifying through the outbox the bot delivers."""
    return Service(bot_settings, store, notifier=owner_notifier(bot_settings, store))


@pytest.fixture
async def bot(bot_settings: Settings, bot_service: Service) -> AsyncIterator[BotRuntime]:
    async with running_bot(bot_settings, bot_service, FAST) as runtime:
        yield runtime


async def command(fake: FakeTelegram, text: str, *, user: int = OWNER, count: int = 1,
                  **kwargs: object) -> list[Sent]:
    """Send `text` as the owner and return the next `count` messages the bot sends back."""
    before = len(fake.sent(user))
    fake.push_message(user, text, **kwargs)
    return await fake.wait_sent(user, count, after=before)
