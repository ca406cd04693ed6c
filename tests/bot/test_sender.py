"""The outbox sender against the fake Bot API: order, 429, 5xx, stalls, refusals, resuming."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.delivery import OutMessage
from bot.notifications import reply_payload
from bot.sender import OutboxSender, RetryPolicy
from bot.text import visible_text
from core.abc import Notification
from core.outbox_notifier import notification_payload
from core.store.outbox import OutboxStore
from core.store.store import Store
from tests.bot.conftest import FakeClock
from tests.fakes.telegram_api import TOKEN, FakeTelegram

A, B = 101, 202
POLICY = RetryPolicy(base_s=10.0, factor=2.0, max_s=100.0, idle_poll_s=0.5)


@pytest.fixture
async def ptb_bot(fake_telegram: FakeTelegram) -> AsyncIterator[Bot]:
    request = HTTPXRequest(connection_pool_size=4, read_timeout=0.5, write_timeout=2,
                           connect_timeout=2)
    async with Bot(TOKEN, base_url=fake_telegram.base_url, request=request) as bot:
        yield bot


sender_tasks: dict[OutboxSender, asyncio.Task[None]] = {}


@pytest.fixture
def outbox(store: Store) -> OutboxStore:
    return OutboxStore(store.db)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def run_sender(
    outbox: OutboxStore, ptb_bot: Bot, clock: FakeClock
) -> AsyncIterator[Callable[[], Awaitable[OutboxSender]]]:
    senders = sender_tasks

    async def start() -> OutboxSender:
        sender = OutboxSender(outbox, ptb_bot, policy=POLICY, clock=clock, sleep=clock.sleep,
                              redact=lambda t: t.replace(TOKEN, "[REDACTED]"))
        senders[sender] = asyncio.create_task(sender.run())
        return sender

    yield start
    for sender, task in senders.items():
        sender.stop()
        await asyncio.wait_for(task, 10)
    senders.clear()


def note(text: str, to: tuple[int, ...] = (A,), **kwargs: object) -> dict[str, object]:
    return notification_payload(Notification("test", text, **kwargs), to)  # type: ignore[arg-type]


async def test_rows_and_their_parts_are_delivered_in_order(
    fake_telegram: FakeTelegram, outbox: OutboxStore, run_sender: Callable[[], Awaitable[OutboxSender]]
) -> None:
    long_text = "\n".join(f"{i:04d} " + "y" * 95 for i in range(100))  # 10,000 chars
    await outbox.enqueue("test", note(long_text))
    await outbox.enqueue("test", note("second <b>&"))
    await outbox.enqueue("reply", reply_payload(A, [OutMessage("<i>third</i>")]))
    sender = await run_sender()
    sent = await fake_telegram.wait_sent(A, 5)
    await asyncio.wait_for(sender.idle.wait(), 10)
    assert [len(s.text) <= 4096 for s in sent[:3]] == [True] * 3
    assert "\n".join(visible_text(s.text) for s in sent[:3]) == long_text
    assert sent[0].text.startswith("<b>0000 ")  # the first line is the headline
    assert [s.text for s in sent[3:]] == ["second &lt;b&gt;&amp;", "<i>third</i>"]
    assert {s.parse_mode for s in sent} == {"HTML"}
    assert await outbox.pending_count() == 0


async def test_429_waits_exactly_retry_after_and_holds_the_queue(
    fake_telegram: FakeTelegram, outbox: OutboxStore, clock: FakeClock,
    run_sender: Callable[[], Awaitable[OutboxSender]],
) -> None:
    fake_telegram.fail("429", method="sendMessage", retry_after=7)
    first = await outbox.enqueue("test", note("one"))
    await outbox.enqueue("test", note("two"))
    sender = await run_sender()
    sent = await fake_telegram.wait_sent(A, 2)
    await asyncio.wait_for(sender.idle.wait(), 10)
    assert [s.text for s in sent] == ["one", "two"]
    assert clock.slept[0] == pytest.approx(7.0)
    statuses = [c.status for c in fake_telegram.calls("sendMessage")]
    assert statuses == [429, 200, 200]
    row = await outbox.get(first.id)
    assert row.attempts == 1 and "retry after 7s" in (row.last_error or "")


async def test_5xx_backs_off_exponentially_then_delivers(
    fake_telegram: FakeTelegram, outbox: OutboxStore, clock: FakeClock,
    run_sender: Callable[[], Awaitable[OutboxSender]],
) -> None:
    fake_telegram.fail("502", method="sendMessage", times=3)
    item = await outbox.enqueue("test", note("after the outage"))
    sender = await run_sender()
    await fake_telegram.wait_sent(A, 1)
    await asyncio.wait_for(sender.idle.wait(), 10)
    assert clock.slept[:3] == pytest.approx([10.0, 20.0, 40.0])
    row = await outbox.get(item.id)
    assert row.attempts == 3 and row.sent_at is not None
    assert "Bad Gateway" in (row.last_error or "")


async def test_a_stalled_request_times_out_and_is_retried(
    fake_telegram: FakeTelegram, outbox: OutboxStore, run_sender: Callable[[], Awaitable[OutboxSender]]
) -> None:
    fake_telegram.fail("stall", method="sendMessage")
    item = await outbox.enqueue("test", note("patience"))
    sender = await run_sender()
    await fake_telegram.wait_sent(A, 1)
    await asyncio.wait_for(sender.idle.wait(), 10)
    assert [c.status for c in fake_telegram.calls("sendMessage")][-1] == 200
    assert fake_telegram.calls("sendMessage")[0].status == 0  # never answered
    assert "TimedOut" in ((await outbox.get(item.id)).last_error or "")


async def test_a_refusal_skips_that_message_only(
    fake_telegram: FakeTelegram, outbox: OutboxStore, run_sender: Callable[[], Awaitable[OutboxSender]]
) -> None:
    fake_telegram.fail("403", method="sendMessage", description="Forbidden: bot was blocked by the user")
    item = await outbox.enqueue("test", note("to both", to=(A, B)))
    await outbox.enqueue("test", note("next", to=(B,)))
    sender = await run_sender()
    sent = await fake_telegram.wait_sent(B, 2)
    await asyncio.wait_for(sender.idle.wait(), 10)
    assert [s.text for s in sent] == ["to both", "next"]
    assert fake_telegram.sent(A) == []
    row = await outbox.get(item.id)
    assert row.sent_at is not None and row.delivered == 2
    assert "Forbidden" in (row.last_error or "")


async def test_bad_html_is_resent_as_plain_text(
    fake_telegram: FakeTelegram, outbox: OutboxStore, run_sender: Callable[[], Awaitable[OutboxSender]]
) -> None:
    fake_telegram.fail("400", method="sendMessage",
                       description="Bad Request: can't parse entities: unexpected end tag")
    await outbox.enqueue("reply", reply_payload(A, [OutMessage("<b>broken</i> &amp; fine")]))
    await run_sender()
    [sent] = await fake_telegram.wait_sent(A, 1)
    assert sent.text == "broken & fine" and sent.parse_mode is None


async def test_a_restart_resumes_after_the_parts_already_accepted(
    fake_telegram: FakeTelegram, outbox: OutboxStore, run_sender: Callable[[], Awaitable[OutboxSender]]
) -> None:
    item = await outbox.enqueue("reply", reply_payload(A, [OutMessage(t) for t in ("1", "2", "3")]))
    await outbox.mark_progress(item.id, 2)  # as if the last run stopped after part 2
    sender = await run_sender()
    [sent] = await fake_telegram.wait_sent(A, 1)
    await asyncio.wait_for(sender.idle.wait(), 10)
    assert sent.text == "3"
    assert [s.text for s in fake_telegram.sent(A)] == ["3"]
    assert (await outbox.get(item.id)).delivered == 3


async def test_an_unreadable_row_is_dropped_and_the_queue_goes_on(
    fake_telegram: FakeTelegram, outbox: OutboxStore, run_sender: Callable[[], Awaitable[OutboxSender]]
) -> None:
    bad = await outbox.enqueue("test", {"to": [A], "note": {"text": "no kind"}})
    await outbox.enqueue("test", note("fine"))
    sender = await run_sender()
    [sent] = await fake_telegram.wait_sent(A, 1)
    await asyncio.wait_for(sender.idle.wait(), 10)
    assert sent.text == "fine"
    row = await outbox.get(bad.id)
    assert row.sent_at is not None and "unreadable" in (row.last_error or "")


async def test_photos_are_uploaded_and_a_missing_one_is_said(
    fake_telegram: FakeTelegram, outbox: OutboxStore, tmp_path: Path,
    run_sender: Callable[[], Awaitable[OutboxSender]],
) -> None:
    png = tmp_path / "chart.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    await outbox.enqueue("test", note("Daily summary\n3 done", photo=str(png)))
    await outbox.enqueue("test", note("gone", photo=str(tmp_path / "missing.png")))
    await run_sender()
    photo, missing = await fake_telegram.wait_sent(A, 2)
    assert photo.method == "sendPhoto" and photo.file == png.read_bytes()
    assert photo.text == "<b>Daily summary</b>\n3 done"
    assert missing.method == "sendMessage"
    assert missing.text == "gone\n(chart missing.png is no longer there)"


async def test_an_idle_sender_wakes_on_enqueue_and_stops_cleanly(
    fake_telegram: FakeTelegram, outbox: OutboxStore, run_sender: Callable[[], Awaitable[OutboxSender]]
) -> None:
    sender = await run_sender()
    await asyncio.sleep(0)  # let it find the queue empty and wait
    await outbox.enqueue("test", note("wake up"))
    [sent] = await fake_telegram.wait_sent(A, 1)
    assert sent.text == "wake up"
    sender.stop()
    await asyncio.wait_for(sender_tasks[sender], 10)
    assert sender.wake not in outbox.listeners


async def test_someone_taken_off_the_allowlist_gets_no_more_notifications(
    fake_telegram: FakeTelegram, outbox: OutboxStore, ptb_bot: Bot, clock: FakeClock
) -> None:
    await outbox.enqueue("test", note("written while both were allowed", to=(A, B)))
    await outbox.enqueue("reply", reply_payload(A, [OutMessage("a reply to A's own command")]))
    sender = OutboxSender(outbox, ptb_bot, policy=POLICY, clock=clock, sleep=clock.sleep,
                          allowed=frozenset({B}))
    task = asyncio.create_task(sender.run())
    try:
        await fake_telegram.wait_sent(A, 1)
        await asyncio.wait_for(sender.idle.wait(), 10)
    finally:
        sender.stop()
        await asyncio.wait_for(task, 10)
    assert [s.text for s in fake_telegram.sent(B)] == ["written while both were allowed"]
    assert [s.text for s in fake_telegram.sent(A)] == ["a reply to A's own command"]
