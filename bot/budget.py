"""`/budget`: the caps and the reserve, set from the phone, and tonight's spend against them."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.deps import deps
from bot.parse import command_args
from bot.reply import reply
from bot.text import esc
from core.budgets import KNOBS, budget_lines, load_budgets, night_spend, reset_budget, set_budget
from core.errors import InvalidInput

BUDGET_USAGE = ("usage: /budget · /budget task 2.50 · /budget night 10 · /budget reserve 20%"
                " · off turns one off · default goes back to the setting")


async def budget(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show or set the per-task cap, the nightly cap and the reserve: /budget [KNOB VALUE]."""
    d = deps(context)
    message = update.effective_message
    words = command_args(message.text if message else "").split()
    store, settings = d.service.store, d.settings
    if not words:
        budgets = await load_budgets(store, settings)
    elif len(words) == 2 and words[0].lower() in KNOBS:
        if words[1].lower() == "default":
            budgets = await reset_budget(store, settings, words[0])
        else:
            budgets = await set_budget(store, settings, words[0], words[1])
    else:
        raise InvalidInput(BUDGET_USAGE)
    spend = await night_spend(store, d.service.now(), settings.local_tz)
    lines = budget_lines(budgets, spend, settings)
    await reply(update, context, "<b>Budget</b>\n" + "\n".join(esc(line) for line in lines)
                + f"\n<i>{esc(BUDGET_USAGE)}</i>")
