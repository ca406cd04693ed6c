"""Default deny: only the numeric ids in TELEGRAM_ALLOWED_USERS reach a handler.

The gate runs before every other handler (group -1) and stops the update for anyone
else. A stranger gets one fixed sentence, at most once per interval, that says nothing
about the owner, the tasks or the bot's users; each refusal is an audit event.
"""

from __future__ import annotations

import contextlib
import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot import capture, handlers
from bot.deps import deps
from core.log import event

REFUSAL = "Sorry, this is a private bot."
PRIVATE_ONLY = "nightshift answers in a private chat only."


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Let only allowlisted users, in private chats unless groups are allowed, go further."""
    # Channel posts have no user at all.
    if update.edited_channel_post or update.channel_post:
        raise ApplicationHandlerStop
    user = update.effective_user
    if user is None:
        raise ApplicationHandlerStop
    d = deps(context)
    if user.id not in d.settings.telegram_allowed_users:
        await _refuse(update, context)
        raise ApplicationHandlerStop
    chat = update.effective_chat
    if chat is not None and chat.type != ChatType.PRIVATE and not d.settings.telegram_allow_groups:
        if update.callback_query is not None:  # answered, or the phone keeps spinning
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer(PRIVATE_ONLY)
        raise ApplicationHandlerStop
    if update.edited_message is not None:
        # An edit re-delivers an old command ("/cancel 3" edited to "/cancel 4" would run
        # both): it is answered, never obeyed.
        await handlers.guarded(capture.edited_message)(update, context)
        raise ApplicationHandlerStop
    message = update.message
    if message is not None and (message.forward_origin is not None or message.is_automatic_forward):
        # A forwarded "/cancel 3" is someone else's words, not the owner's command: a draft.
        await handlers.guarded(capture.forwarded)(update, context)
        raise ApplicationHandlerStop


async def _refuse(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    d = deps(context)
    user = update.effective_user
    assert user is not None
    answer, suppressed = d.limiter.allow(user.id, d.monotonic())
    query = update.callback_query
    if query is not None:
        # Every button press must be answered or the phone shows a spinner; the answer is
        # the same fixed sentence and costs the stranger nothing to trigger.
        try:
            await query.answer(REFUSAL)
        except TelegramError as exc:
            event("stranger's press not answered", logger="bot", error=type(exc).__name__)
    if not answer:
        return
    chat = update.effective_chat
    kind = "callback_query" if query is not None else "message"
    try:
        await d.service.audit(
            "telegram_refused",
            reason="not in TELEGRAM_ALLOWED_USERS",
            data={"user_id": user.id, "chat_type": chat.type if chat else None, "update": kind,
                  "suppressed_since_last": suppressed},
        )
    except Exception:
        event("refusal not audited", logging.ERROR, logger="bot", exc_info=True)
    if query is None and chat is not None and chat.type == ChatType.PRIVATE:
        try:
            await context.bot.send_message(chat.id, REFUSAL)
        except TelegramError as exc:
            event("refusal not sent", logger="bot", error=type(exc).__name__)
