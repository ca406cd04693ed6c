"""Inline button presses. Every press is answered (or the phone keeps spinning)."""

from __future__ import annotations

import contextlib
import logging

from telegram import Update
from telegram.constants import CallbackQueryLimit
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot import render
from bot.buttons import ALLOW_ACTS, Act, Callback
from bot.deps import deps
from bot.drafts import on_draft_button
from bot.handlers import (
    GENERIC_FAILURE,
    ask_for_revision,
    plan_view,
    queue_view,
    send_logs,
    task_view,
)
from bot.reply import edit_in_place, reply
from bot.review import on_review_button
from bot.text import truncate
from core.errors import NightshiftError, StalePlan
from core.log import event

ANSWER_LIMIT = CallbackQueryLimit.ANSWER_CALLBACK_QUERY_TEXT_LENGTH
DRAFT_ACTS = frozenset({Act.DRAFT_QUEUE, Act.DRAFT_NO_PLAN, Act.DRAFT_REPOS, Act.DRAFT_SET_REPO,
                        Act.DRAFT_DISCARD})
REVIEW_ACTS = frozenset({Act.DIFF, Act.MERGE, Act.PULL_REQUEST, Act.FOLLOW_UP})


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Act on a button press; a button for an older plan version is refused, not obeyed."""
    query = update.callback_query
    if query is None:
        return
    answer, alert = "", False
    try:
        answer = await _act(update, context, Callback.decode(query.data))
    except StalePlan as exc:
        answer, alert = exc.message, True
        # Show the plan that replaced it, with its own buttons, right under the old one.
        text, keyboard = await plan_view(context, exc.task_id)
        await reply(update, context, text, keyboard)
    except NightshiftError as exc:
        answer, alert = exc.message, True
    except Exception:
        event("button handler failed", logging.ERROR, logger="bot", exc_info=True)
        answer, alert = GENERIC_FAILURE, True
    finally:
        try:
            await query.answer(truncate(answer, ANSWER_LIMIT) or None, show_alert=alert)
        except TelegramError as exc:
            event("button press not answered", logger="bot", error=type(exc).__name__)


async def _drop_buttons(update: Update) -> None:
    query = update.callback_query
    if query is None:
        return
    with contextlib.suppress(BadRequest):  # too old to edit, or its buttons are already gone
        await query.edit_message_reply_markup(reply_markup=None)


async def _act(update: Update, context: ContextTypes.DEFAULT_TYPE, press: Callback) -> str:
    """Do what the button says; return the short text the phone shows as a toast."""
    service = deps(context).service
    task_id = press.number
    if press.act in DRAFT_ACTS:
        return await on_draft_button(update, context, press)
    if press.act in REVIEW_ACTS:
        return await on_review_button(update, context, press)
    if press.act in ALLOW_ACTS:
        assert press.version is not None
        scope = "repo" if press.act is Act.ALLOW_REPO else "task"
        retried = await service.allow_refused(press.number, press.version, scope=scope)
        await _drop_buttons(update)
        await reply(update, context, render.task_changed(retried, "Allowed; retrying in the same session"))
        return "Allowed"
    if press.act is Act.STOP:
        stopped = await service.cancel(task_id, "stopped from Telegram")
        await _drop_buttons(update)
        await reply(update, context, render.task_changed(stopped, "Stopped"))
        return "Stopped"
    if press.act is Act.APPROVE:
        # The service's own "approved" notification is the confirmation message.
        await service.approve(task_id, press.version)
        await _drop_buttons(update)
        return f"Approved plan v{press.version}"
    if press.act is Act.REJECT:
        await service.reject(task_id, None, press.version)
        await _drop_buttons(update)
        return f"Rejected plan v{press.version}"
    if press.act is Act.REVISE:
        assert press.version is not None
        latest = await service.latest_plan(task_id)
        if latest.version != press.version:
            raise StalePlan(task_id, press.version, latest.version)
        await ask_for_revision(update, context, task_id, press.version)
        return ""
    if press.act is Act.CANCEL:
        cancelled = await service.cancel(task_id, "cancelled from Telegram")
        await reply(update, context, render.task_changed(cancelled, "Cancelled"))
        return "Cancelled"
    if press.act is Act.RETRY:
        retried = await service.retry(task_id)
        await reply(update, context, render.task_changed(retried, "Retrying"))
        return "Retrying"
    if press.act is Act.LOGS:
        await send_logs(update, context, task_id)
        return ""
    if press.act is Act.TASK:
        text, keyboard = await task_view(context, task_id)
        await reply(update, context, text, keyboard)
        return ""
    if press.act is Act.PLAN:
        text, keyboard = await plan_view(context, task_id)
        await reply(update, context, text, keyboard)
        return ""
    text, keyboard = await queue_view(context, press.number)
    await edit_in_place(update, text, keyboard)  # turn the page: no new message per page
    return ""
