"""Telegram answering 502, 429 or not at all for a while: afterwards every notification arrives,
in the order it was written, once.

The real bot (python-telegram-bot, the outbox sender) against the local fake Bot API; in the
second test the real daemon and executor produce the notifications while Telegram is away.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from bot.runtime import running_bot
from bot.sender import RetryPolicy
from core.assembly import build_daemon
from core.execution.tmux import TmuxRunner
from core.models import TaskState
from core.service import Service
from core.settings import Settings
from core.store.outbox import OutboxStore
from core.store.store import Store
from tests.bot.conftest import FAST, OWNER, FakeClock, bot_settings_for
from tests.daemon.conftest import FAST_TIMINGS, wait_for_states
from tests.fakes.telegram_api import FakeTelegram

from .scenarios import outage_scenario

SEED = 7


def delivered_texts(fake: FakeTelegram) -> list[str]:
    """What the owner's phone shows, in order."""
    return [s.text for s in fake.sent(OWNER)]


@pytest.mark.timeout(120)
async def test_after_an_outage_of_every_kind_all_notifications_arrive_in_order(
    fake_telegram: FakeTelegram, bot_service: Service, bot_settings: Settings,
) -> None:
    clock = FakeClock()
    # The sender's waits (backoff, retry_after) pass on a fake clock; only a hanging request
    # costs real time (the client's read timeout, 1 s here).
    options = replace(FAST, read_timeout_s=1.0, write_timeout_s=1.0, clock=clock, sleep=clock.sleep,
                      retry=RetryPolicy(base_s=2.0, factor=2.0, max_s=60.0, idle_poll_s=0.2))
    async with running_bot(bot_settings, bot_service, options) as runtime:
        report = await outage_scenario(bot_service.notifier, fake_telegram, runtime, OWNER,
                                       count=40, seed=SEED)
        assert await runtime.outbox.pending_count() == 0
    assert set(report.failures) >= {"502", "429", "timed out", "400"}, report
    assert all(report.failures[k] > 0 for k in ("502", "429", "timed out", "400")), report
    # A 400 refuses that one message for good (whichever met it); every other one arrived,
    # once, in the order it was written.
    assert report.refused > 0 and report.delivered == report.written - report.refused, report
    assert (report.lost, report.duplicates, report.out_of_order) == (0, 0, 0), report
    waits = [s for s in clock.slept if s > 0]
    assert waits and max(waits) >= 1, "the sender waited what Telegram asked (429 retry_after)"


@pytest.mark.timeout(120)
async def test_notifications_from_runs_during_an_outage_arrive_in_order_afterwards(
    daemon_settings: Settings, dstore: Store, fake_telegram: FakeTelegram, runner: TmuxRunner,
) -> None:
    settings = bot_settings_for(fake_telegram)
    options = replace(FAST, read_timeout_s=1.0, write_timeout_s=1.0,
                      retry=RetryPolicy(base_s=0.05, factor=2.0, max_s=0.4, idle_poll_s=0.2))
    # Down before the daemon starts (getMe too: the bot cannot even start), then flooded, then
    # hanging, then back.
    fake_telegram.fail("502", method=None, times=None)
    # As `nightshift run` wires it: the service notifies through the outbox the bot delivers.
    daemon = build_daemon(settings, dstore, runner=runner, install_signal_handlers=False,
                          timings=FAST_TIMINGS,
                          fronts=lambda service: [lambda: running_bot(settings, service, options)])
    service = daemon.service
    tasks = [await service.add(f"outage run {i} [fake: turns=1]", plan=False) for i in range(4)]
    job = asyncio.create_task(daemon.run())
    try:
        await wait_for_states(dstore, [t.id for t in tasks], {TaskState.DONE})
        assert delivered_texts(fake_telegram) == []
        assert fake_telegram.calls("getMe")[-1].status == 502, "the bot could not even start"
        outbox = OutboxStore(dstore.db)
        # Per run: its live message, every version coalesced into one row, and its summary.
        for _ in range(500):  # the last run's notification follows its state change
            if await outbox.pending_count() == 2 * len(tasks):
                break
            await asyncio.sleep(0.01)
        assert await outbox.pending_count() == 2 * len(tasks), "kept for later, in the outbox"
        fake_telegram.heal()
        fake_telegram.fail("429", method="sendMessage", times=1, retry_after=1)
        fake_telegram.fail("stall", method="sendMessage", times=1)
        await fake_telegram.wait_for(lambda f: any(c.status == 0 for c in f.calls("sendMessage")), 30,
                                     "a stalled request")
        fake_telegram.heal()
        sent = await fake_telegram.wait_sent(OWNER, 2 * len(tasks), timeout_s=60)
    finally:
        daemon.request_stop("test over")
        await asyncio.wait_for(job, 30)
    heads = [s.text.splitlines()[0] for s in sent]
    assert heads[1::2] == [f"<b>Task {t.id} done: outage run {i} [fake: turns=1]</b>"
                           for i, t in enumerate(tasks)]
    # Each live message arrives once, in its final version only, before its summary.
    assert heads[::2] == [f"<b>Task {t.id} ■ ended: success: outage run {i} [fake: turns=1]</b>"
                          for i, t in enumerate(tasks)]
    assert len(fake_telegram.sent(OWNER)) == 2 * len(tasks), "each arrived once"
    assert fake_telegram.edits() == []

