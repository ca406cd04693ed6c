"""/budget from the phone: set the caps and the reserve, see tonight's spend against them."""

from __future__ import annotations

from bot.runtime import BotRuntime
from core.budgets import load_budgets
from core.service import Service
from tests.bot.conftest import command
from tests.fakes.telegram_api import FakeTelegram


async def test_budget_is_set_and_shown_from_the_phone(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    [shown] = await command(fake_telegram, "/budget")
    assert "$0.00 spent tonight by 0 runs, no nightly cap" in shown.text
    [night] = await command(fake_telegram, "/budget night 12")
    assert "of the $12.00 nightly cap (0%) (set on the phone)" in night.text
    [task] = await command(fake_telegram, "/budget task 2.50")
    assert "per-task cap $2.50 (set on the phone)" in task.text
    [reserve] = await command(fake_telegram, "/budget reserve 20%")
    assert "20% of every window kept for you" in reserve.text
    [bad] = await command(fake_telegram, "/budget reserve 99%")
    assert "from 0% to 90%" in bad.text
    [usage] = await command(fake_telegram, "/budget weekly")
    assert usage.text.startswith("usage: /budget")
    budgets = await load_budgets(bot_service.store, bot_service.settings)
    assert (budgets.task_usd, budgets.nightly_usd, budgets.reserve_share) == (2.5, 12.0, 0.2)
    added = await bot_service.add("capped from the phone", plan=False, source="telegram")
    assert added.max_budget_usd == 2.5
