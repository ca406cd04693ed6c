"""Handlers fed one `Update.de_json` at a time (no polling), replies read from the fake Bot API."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from telegram import Update
from telegram.ext import Application

from bot.access import PRIVATE_ONLY, REFUSAL
from bot.app import build_application, register
from bot.deps import BotDeps, RefusalLimiter
from bot.handlers import GENERIC_FAILURE
from core.models import TaskState
from core.service import Service
from core.settings import Settings
from core.store.outbox import OutboxStore
from tests.bot.conftest import FAST, OWNER, STRANGER
from tests.fakes.telegram_api import FakeTelegram

_ids = itertools.count(1)


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic() -> Monotonic:
    return Monotonic()


@asynccontextmanager
async def handling(
    settings: Settings, service: Service, monotonic: Monotonic
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """The bot's handlers over `service`, not polling: fed one update at a time."""
    application = build_application(settings, FAST)
    deps = BotDeps(
        settings,
        service,
        OutboxStore(service.store.db),
        RefusalLimiter(interval_s=600),
        monotonic=monotonic,
    )
    register(application, deps)
    async with application:
        yield application


@pytest.fixture
async def app(
    bot_settings: Settings, bot_service: Service, monotonic: Monotonic
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    async with handling(bot_settings, bot_service, monotonic) as application:
        yield application


def feeder(app: Application) -> Callable[..., Any]:  # type: ignore[type-arg]
    async def feed(body: dict[str, Any]) -> None:
        update = Update.de_json({"update_id": next(_ids), **body}, app.bot)
        await app.process_update(update)

    return feed


@pytest.fixture
def feed(app: Application, fake_telegram: FakeTelegram) -> Callable[..., Any]:  # type: ignore[type-arg]
    return feeder(app)


def texts(fake: FakeTelegram, chat_id: int = OWNER) -> list[str]:
    return [s.text for s in fake.sent(chat_id)]


async def test_unknown_commands_get_a_pointer_and_plain_text_becomes_a_draft(
    feed: Callable[..., Any], fake_telegram: FakeTelegram, bot_service: Service
) -> None:
    await feed({"message": fake_telegram.message(OWNER, "/frobnicate 3")})
    await feed({"message": fake_telegram.message(OWNER, "just chatting")})
    other = fake_telegram.message(OWNER, "Revise plan v1 of task #1: reply to this message")
    await feed({"message": fake_telegram.message(OWNER, "a reply", reply_to=other)})
    unknown, first, second = texts(fake_telegram)
    assert unknown == "I do not know that command; /help lists the ones I do."
    assert first.startswith("📝 <b>Draft d1</b>: just chatting")
    # Not a prompt from the bot (the owner's own message): a draft, not a revision.
    assert second.startswith("📝 <b>Draft d2</b>: a reply")
    assert await bot_service.list() == []  # nothing is queued until the owner says so


async def test_a_revision_comment_for_a_replaced_plan_is_refused(
    feed: Callable[..., Any], fake_telegram: FakeTelegram, bot_service: Service
) -> None:
    task = await bot_service.add("plan me", plan=True)
    await bot_service.store.tasks.transition(task.id, TaskState.PLANNING)
    await bot_service.store.plans.add(task.id, "one")
    await bot_service.store.plans.add(task.id, "two")
    await bot_service.store.tasks.transition(task.id, TaskState.AWAITING_APPROVAL)
    prompt = fake_telegram.bot_message(OWNER, f"Revise plan v1 of task #{task.id}: reply to this")
    await feed({"message": fake_telegram.message(OWNER, "shorter", reply_to=prompt)})
    [reply] = texts(fake_telegram)
    assert "was replaced by v2" in reply
    assert (await bot_service.get(task.id)).state is TaskState.AWAITING_APPROVAL


async def test_an_unexpected_error_gets_a_generic_reply_and_a_log_line(
    feed: Callable[..., Any],
    fake_telegram: FakeTelegram,
    bot_service: Service,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(task_id: int) -> None:
        raise RuntimeError("database exploded")

    monkeypatch.setattr(bot_service, "show", broken)
    await feed({"message": fake_telegram.message(OWNER, "/task 1")})
    assert texts(fake_telegram) == [GENERIC_FAILURE]
    [failed] = [r for r in caplog.records if r.getMessage() == "handler failed"]
    assert failed.levelno == logging.ERROR and failed.name == "nightshift.bot"
    assert failed.fields == {"handler": "task"}  # type: ignore[attr-defined]
    assert failed.exc_info is not None and str(failed.exc_info[1]) == "database exploded"


async def test_a_plan_is_requested_when_the_task_has_none(
    feed: Callable[..., Any],
    fake_telegram: FakeTelegram,
    bot_service: Service,
) -> None:
    task = await bot_service.add("no plan yet", plan=False)
    assert task.state is TaskState.READY
    await feed({"message": fake_telegram.message(OWNER, f"/plan {task.id}")})
    assert texts(fake_telegram)[-1] == f"Asked for a plan for <code>#{task.id}</code>; it comes here."
    planned = await bot_service.get(task.id)
    assert planned.state is TaskState.PLANNING and planned.needs_plan
    done = await bot_service.add("finished", plan=False)
    await bot_service.store.tasks.transition(done.id, TaskState.RUNNING)
    await bot_service.store.tasks.transition(done.id, TaskState.DONE)
    await feed({"message": fake_telegram.message(OWNER, f"/plan {done.id}")})
    assert texts(fake_telegram)[-1].startswith(f"task {done.id} is done; cannot plan it")


async def test_bad_button_data_is_answered_not_ignored(
    feed: Callable[..., Any], fake_telegram: FakeTelegram
) -> None:
    await feed(
        {
            "callback_query": {
                "id": "9",
                "from": fake_telegram.user(OWNER),
                "chat_instance": "c",
                "data": "zz:1",
                "message": fake_telegram.bot_message(OWNER, "old"),
            }
        }
    )
    [answer] = [c.params for c in fake_telegram.calls("answerCallbackQuery")]
    assert answer["text"] == "this button is not one nightshift knows"
    assert answer["show_alert"] in ("true", "True")


async def test_refusals_are_rate_limited_per_stranger_and_audited(
    feed: Callable[..., Any],
    fake_telegram: FakeTelegram,
    bot_service: Service,
    monotonic: Monotonic,
) -> None:
    await feed({"message": fake_telegram.message(STRANGER, "/queue")})
    monotonic.now += 10
    await feed({"message": fake_telegram.message(STRANGER, "/queue")})
    await feed({"message": fake_telegram.message(STRANGER + 1, "hello")})
    monotonic.now += 600
    await feed({"message": fake_telegram.message(STRANGER, "/queue")})
    assert texts(fake_telegram, STRANGER) == [REFUSAL, REFUSAL]
    assert texts(fake_telegram, STRANGER + 1) == [REFUSAL]
    refused = [e for e in await bot_service.store.tasks.events() if e.kind == "telegram_refused"]
    assert [(e.data["user_id"], e.data["suppressed_since_last"]) for e in refused] == [
        (STRANGER, 0),
        (STRANGER + 1, 0),
        (STRANGER, 1),
    ]


async def test_a_strangers_button_press_is_always_answered_with_the_refusal(
    feed: Callable[..., Any], fake_telegram: FakeTelegram
) -> None:
    for _ in range(3):
        await feed(
            {
                "callback_query": {
                    "id": "7",
                    "from": fake_telegram.user(STRANGER),
                    "chat_instance": "c",
                    "data": "ap:1:1",
                    "message": fake_telegram.bot_message(STRANGER, "x"),
                }
            }
        )
    assert [c.params["text"] for c in fake_telegram.calls("answerCallbackQuery")] == [REFUSAL] * 3
    assert fake_telegram.sent() == []


async def test_updates_without_a_user_and_channel_posts_are_dropped(
    feed: Callable[..., Any], fake_telegram: FakeTelegram
) -> None:
    post = fake_telegram.message(OWNER, "/queue", chat_id=-1001, chat_type="channel")
    post.pop("from")
    await feed({"channel_post": post})
    await feed(
        {
            "poll": {
                "id": "p",
                "question": "?",
                "options": [],
                "total_voter_count": 0,
                "is_closed": False,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
                "allows_revoting": False,
                "members_only": False,
            }
        }
    )
    assert fake_telegram.sent() == []


async def test_usage_shows_a_limit_and_its_reset_in_the_owners_zone(
    fake_telegram: FakeTelegram, bot_settings: Settings, bot_service: Service, monotonic: Monotonic
) -> None:
    from core.usage.limits import LimitHit
    from core.usage.monitor import UsageMonitor

    now = bot_service.now()
    resets = datetime(now.year + 1, 7, 14, 1, 5, tzinfo=UTC)  # 03:05 in Berlin (summer time)
    monitor = UsageMonitor(bot_service.settings, bot_service.store)
    await monitor.note_limit(LimitHit("session", resets, "You've hit your <limit> & more"), "stream", now)
    # The service as the daemon builds it: its usage monitor given at construction.
    service = Service(bot_settings, bot_service.store, notifier=bot_service.notifier, usage_monitor=monitor)
    try:
        async with handling(bot_settings, service, monotonic) as application:
            await feeder(application)({"message": fake_telegram.message(OWNER, "/usage")})
    finally:
        await monitor.close()
    [reply] = texts(fake_telegram)
    assert reply.startswith("<b>Usage</b>\n🔴 <b>limited</b> (session window) until ")
    assert "14 Jul 03:05 CEST" in reply
    assert "You've hit your &lt;limit&gt; &amp; more" in reply
    assert "<i>source: stream</i>" in reply


def test_when_is_in_the_given_zone() -> None:
    from zoneinfo import ZoneInfo

    from bot.render import when

    moment = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)
    assert when(moment, ZoneInfo("Asia/Tokyo")) == "Tue 06 Jan 08:30 JST"
    assert when(None, UTC) == "-"


async def test_a_reply_telegram_cannot_take_now_waits_in_the_outbox(
    feed: Callable[..., Any],
    fake_telegram: FakeTelegram,
    bot_service: Service,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    fake_telegram.fail("502", method="sendMessage")
    await feed({"message": fake_telegram.message(OWNER, "/help")})
    [item] = await OutboxStore(bot_service.store.db).pending()
    assert item.kind == "reply" and item.payload["to"] == [OWNER]
    assert "/add" in item.payload["messages"][0]["html"]
    [deferred] = [r for r in caplog.records if r.getMessage() == "reply deferred to the outbox"]
    assert deferred.levelno == logging.WARNING
    assert deferred.fields == {"error": "NetworkError",  # type: ignore[attr-defined]
                               "messages": len(item.payload["messages"])}


async def test_a_button_in_a_group_is_answered_but_not_obeyed(
    feed: Callable[..., Any], fake_telegram: FakeTelegram, bot_service: Service
) -> None:
    task = await bot_service.add("stay", plan=False)
    message = fake_telegram.bot_message(OWNER, "x")
    message["chat"] = fake_telegram.chat(-1005, "group")
    await feed(
        {
            "callback_query": {
                "id": "8",
                "from": fake_telegram.user(OWNER),
                "chat_instance": "c",
                "data": f"cn:{task.id}",
                "message": message,
            }
        }
    )
    assert [c.params["text"] for c in fake_telegram.calls("answerCallbackQuery")] == [PRIVATE_ONLY]
    assert (await bot_service.get(task.id)).state is TaskState.READY
