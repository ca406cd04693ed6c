"""Answering the owner: send now, or hand the rest to the outbox if Telegram is not taking it."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter
from telegram.ext import ContextTypes

from bot.buttons import Keyboard, markup
from bot.delivery import compose, send_with_fallback
from bot.deps import deps
from bot.notifications import reply_payload
from core.log import event


async def reply(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    html_text: str,
    buttons: Keyboard = (),
    *,
    photo: str | None = None,
    document: str | None = None,
    filename: str | None = None,
    force_reply: str | None = None,
) -> None:
    """Send a reply in as many messages as it takes; what cannot go now waits in the outbox."""
    chat = update.effective_chat
    if chat is None:
        return
    messages = compose(html_text, buttons, photo=photo, document=document, filename=filename,
                       force_reply=force_reply)
    for index, message in enumerate(messages):
        try:
            await send_with_fallback(context.bot, chat.id, message)
        except (BadRequest, Forbidden, ChatMigrated):
            raise
        except (RetryAfter, NetworkError) as exc:
            # Flood control or an outage: the outbox sender delivers the rest, in order, later.
            event("reply deferred to the outbox", logging.WARNING, logger="bot", error=type(exc).__name__,
                  messages=len(messages) - index)
            await deps(context).outbox.enqueue("reply", reply_payload(chat.id, messages[index:]))
            return


async def edit_in_place(update: Update, html_text: str, buttons: Keyboard) -> None:
    """Replace the pressed message's text and buttons; an edit that changes nothing is fine."""
    query = update.callback_query
    assert query is not None
    try:
        await query.edit_message_text(html_text, parse_mode=ParseMode.HTML, reply_markup=markup(buttons))
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise
