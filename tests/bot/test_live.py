"""Live progress on the phone: one message per run, edited in place, with a Stop button.

Runs are real (tmux on a private socket, the fake `claude`); the messages go through the
outbox and the real PTB application to the fake Bot API, which refuses edits that change
nothing and answers 429 when asked to, as Telegram does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.runtime import BotRuntime, running_bot
from core.abc import Notification
from core.assembly import owner_notifier
from core.models import TaskState
from core.outbox_notifier import OutboxNotifier
from core.progress import PROGRESS_KIND
from core.service import Service
from core.store.outbox import OutboxStore
from core.store.store import Store
from tests.bot.conftest import FAST, OWNER, FakeClock, bot_settings_for
from tests.bot.phone import Phone, flat_labels, labels, now, open_phone, press
from tests.fakes.telegram_api import FakeTelegram, Sent
from tests.support import Record, make_repo


@pytest.fixture
async def phone(fake_telegram: FakeTelegram, store: Store, tmp_path: Path, record: Record
                ) -> AsyncIterator[Phone]:
    async for found in open_phone(fake_telegram, store, make_repo(tmp_path / "shop"),
                                  progress_edit_s=1):
        yield found


def live_messages(fake: FakeTelegram) -> list[Sent]:
    return [s for s in fake.sent(OWNER) if "⚙️ running" in s.text]


async def test_a_run_has_one_live_message_edited_in_place_then_the_summary_follows(
    phone: Phone,
) -> None:
    task = await phone.service.add("[fake: slow delay=0.25 turns=6]\nwrite the changelog",
                                   repo="shop", plan=False, check="true")
    finished = await phone.run(task.id)
    [live] = live_messages(phone.fake)
    assert labels(live) == [["Stop", "📜 Logs"]] and live.text.startswith(f"<b>Task {task.id} ⚙️ running")
    edits = [e for e in phone.fake.edits(OWNER) if e.message_id == live.message_id]
    assert len(edits) >= 2  # it moved while running, in the same message
    assert any("last: " in e.text for e in edits)
    final = now(phone.fake, live)
    assert "ended: success" in final.text and "check true: passed" in final.text
    assert final.reply_markup is None  # no Stop once it has ended
    # The summary is its own message, after the live one.
    assert finished.message_id > live.message_id and "Follow up" in flat_labels(finished)
    [run] = (await phone.service.show(task.id)).runs
    assert await phone.service.store.kv.get(f"live_message:run:{run.id}:{OWNER}") is None  # forgotten


async def test_stop_on_the_live_message_stops_the_run(phone: Phone) -> None:
    task = await phone.service.add("[fake: hang]\nnever ends", repo="shop", plan=False)
    claimed = await phone.service.store.tasks.claim_next(only_ids=[task.id])
    assert claimed is not None
    execution = asyncio.create_task(phone.executor.execute(claimed))
    live = await phone.fake.wait_for(lambda f: next(iter(live_messages(f)), None), 20, "the live message")
    toast = await press(phone.fake, live, "Stop")
    assert toast["text"] == "Stopped"
    await asyncio.wait_for(execution, 30)
    assert (await phone.service.get(task.id)).state is TaskState.CANCELLED
    assert "Stop" not in flat_labels(now(phone.fake, live))


async def test_the_setting_turns_the_live_message_off(
    fake_telegram: FakeTelegram, store: Store, tmp_path: Path, record: Record
) -> None:
    async for phone in open_phone(fake_telegram, store, make_repo(tmp_path / "shop"),
                                  live_progress=False):
        await phone.finish()
    assert live_messages(fake_telegram) == [] and fake_telegram.edits() == []


def progress(text: str, *, final: bool = False) -> Notification:
    return Notification(PROGRESS_KIND, text, task_id=9, run_id=90, data={"final": final}, key="run:90")


async def test_versions_waiting_in_the_outbox_are_coalesced_and_a_429_is_waited_out(
    fake_telegram: FakeTelegram, store: Store
) -> None:
    settings = bot_settings_for(fake_telegram)
    outbox = OutboxStore(store.db)
    notifier = OutboxNotifier(outbox, settings.telegram_allowed_users)
    for step in range(1, 6):  # Telegram away: five versions, one row
        await notifier.notify(progress(f"Task 9 ⚙️ running: step {step}"))
    assert [item.payload["note"]["text"] for item in await outbox.pending()] == ["Task 9 ⚙️ running: step 5"]
    clock = FakeClock()
    options = FAST.__class__(**{**FAST.__dict__, "clock": clock, "sleep": clock.sleep})
    service = Service(settings, store, notifier=notifier)
    async with running_bot(settings, service, options) as runtime:
        [first] = await fake_telegram.wait_sent(OWNER, 1)
        assert "step 5" in first.text and labels(first) == [["Stop", "📜 Logs"]]
        await settled(runtime)
        fake_telegram.fail("429", method="editMessageText", retry_after=7)
        await notifier.notify(progress("Task 9 ⚙️ running: step 6"))
        await fake_telegram.wait_for(lambda f: [e for e in f.edits() if "step 6" in e.text] or None)
        await notifier.notify(progress("Task 9 ■ ended: success", final=True))
        await fake_telegram.wait_for(lambda f: [e for e in f.edits() if "ended" in e.text] or None)
        await settled(runtime)
    assert [c.status for c in fake_telegram.calls("editMessageText")] == [429, 200, 200]
    assert clock.slept == [pytest.approx(7.0)]
    assert len(fake_telegram.sent(OWNER)) == 1  # one message, edited: never a second one
    assert now(fake_telegram, first).reply_markup is None


async def test_a_deleted_live_message_is_sent_again(
    fake_telegram: FakeTelegram, store: Store
) -> None:
    settings = bot_settings_for(fake_telegram)
    service = Service(settings, store, notifier=owner_notifier(settings, store))
    async with running_bot(settings, service, FAST) as runtime:
        await service.notifier.notify(progress("Task 9 ⚙️ running: one"))
        await fake_telegram.wait_sent(OWNER, 1)
        await settled(runtime)
        fake_telegram.fail("400", method="editMessageText",
                           description="Bad Request: message to edit not found")
        await service.notifier.notify(progress("Task 9 ⚙️ running: two"))
        [again] = await fake_telegram.wait_sent(OWNER, 1, after=1)
        assert "two" in again.text
        await settled(runtime)
        await service.notifier.notify(progress("Task 9 ⚙️ running: three"))
        await fake_telegram.wait_for(lambda f: [e for e in f.edits() if "three" in e.text] or None)
    assert [e.message_id for e in fake_telegram.edits() if "three" in e.text] == [again.message_id]


async def settled(runtime: BotRuntime) -> None:
    assert runtime.sender is not None
    await asyncio.wait_for(runtime.sender.idle.wait(), 10)
