"""Helpers for phone tests: press a button by its label, wait for the answer and the edits."""

from __future__ import annotations

from typing import Any

from tests.bot.conftest import OWNER
from tests.fakes.telegram_api import FakeTelegram, Sent


def labels(sent: Sent) -> list[list[str]]:
    markup = sent.reply_markup or {}
    return [[b["text"] for b in row] for row in markup.get("inline_keyboard", [])]


def flat_labels(sent: Sent) -> list[str]:
    return [label for row in labels(sent) for label in row]


def data_of(sent: Sent, label: str) -> str:
    markup = sent.reply_markup or {}
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if button["text"] == label:
                return str(button["callback_data"])
    raise AssertionError(f"no button {label!r} on the message; it has {labels(sent)}")


async def press(fake: FakeTelegram, sent: Sent, label: str, *, user: int = OWNER) -> dict[str, Any]:
    """Tap `label` on `sent` (as the phone shows it now) and return Telegram's toast for it."""
    now = fake.message_now(sent.chat_id, sent.message_id) or sent
    answered = len(fake.calls("answerCallbackQuery"))
    fake.push_callback(user, data_of(now, label), fake.sent_message(now))
    calls = await fake.wait_for(lambda f: f.calls("answerCallbackQuery")[answered:] or None,
                                what=f"the answer to {label!r}")
    return calls[0].params


def now(fake: FakeTelegram, sent: Sent) -> Sent:
    found = fake.message_now(sent.chat_id, sent.message_id)
    assert found is not None
    return found
