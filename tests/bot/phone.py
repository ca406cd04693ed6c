"""Helpers for phone tests: press a button by its label, wait for the answer and the edits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.runtime import BotRuntime, running_bot
from core.assembly import owner_notifier
from core.execution.executor import Executor
from core.execution.tmux import TmuxRunner
from core.service import Service
from core.settings import Settings
from core.store.store import Store
from tests.bot.conftest import FAST, OWNER, bot_settings_for
from tests.fakes.telegram_api import FakeTelegram, Sent
from tests.support import FAKE, git


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


@dataclass
class Phone:
    fake: FakeTelegram
    service: Service
    executor: Executor
    repo: Path
    bot: BotRuntime

    async def finish(self, prompt: str = "write the changelog") -> tuple[int, Sent]:
        """Queue a task in the repo, run it to the end, return its finished message."""
        task = await self.service.add(prompt, repo="shop", plan=False)
        return task.id, await self.run(task.id)

    async def run(self, task_id: int) -> Sent:
        before = len(self.fake.sent(OWNER))
        claimed = await self.service.store.tasks.claim_next(only_ids=[task_id])
        assert claimed is not None
        await self.executor.execute(claimed)

        def finished(fake: FakeTelegram) -> Sent | None:
            return next((s for s in fake.sent(OWNER)[before:] if "Follow up" in flat_labels(s)), None)

        return await self.fake.wait_for(finished, 20, "the finished message")

    async def reply(self, text: str, to: Sent) -> Sent:
        before = len(self.fake.sent(OWNER))
        self.fake.push_message(OWNER, text, reply_to=self.fake.sent_message(to))
        [answer] = await self.fake.wait_sent(OWNER, 1, after=before)
        return answer


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


async def open_phone(fake: FakeTelegram, store: Store, repo: Path, **overrides: Any
                     ) -> AsyncIterator[Phone]:
    settings: Settings = bot_settings_for(fake, repos={"shop": repo}, claude_bin=FAKE,
                                          reset_margin_s=0, **overrides)
    runner = TmuxRunner(settings.tmux_socket)
    notifier = owner_notifier(settings, store)  # as core.assembly wires the daemon
    executor = Executor(settings, store, runner, notifier, poll_interval_s=0.05,
                        progress_interval_s=0.2, kill_grace_s=1.0)
    service = Service(settings, store, notifier=notifier, cancel_hooks=[executor.cancel])
    try:
        async with running_bot(settings, service, FAST) as bot:
            yield Phone(fake, service, executor, repo, bot)
    finally:
        await runner.kill_server()


