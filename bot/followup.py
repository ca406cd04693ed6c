"""Follow up a task from the phone: a reply to its message, or the `Follow up` button.

The button asks for the text with a forced reply whose prompt names the task, so the answer
finds its task after a restart too (the bot keeps no conversation state).
"""

from __future__ import annotations

import re

from telegram import Update
from telegram.ext import ContextTypes

from bot.deps import deps
from bot.reply import reply
from bot.text import esc
from core.followup import request_follow_up

FOLLOW_UP_PROMPT = "Follow up task #{task_id}: reply to this message with what Claude should do next."
FOLLOW_UP_PROMPT_RE = re.compile(r"Follow up task #(?P<task>[0-9]{1,19}):")


async def ask_for_follow_up(update: Update, context: ContextTypes.DEFAULT_TYPE, task_id: int) -> None:
    await reply(update, context, esc(FOLLOW_UP_PROMPT.format(task_id=task_id)),
                force_reply="what should Claude do next?")


async def follow_up(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    task_id: int,
    text: str,
    *,
    attachment: tuple[str, bytes] | None = None,
) -> None:
    task = await request_follow_up(deps(context).service, task_id, text, attachment=attachment)
    await reply(
        update,
        context,
        f"↪️ Follow-up queued for <code>#{task.id}</code> {esc(task.title)}: it continues the same"
        " Claude session in the same worktree when it runs.",
    )
