"""The morning review buttons: Diff, Merge, PR, Follow up (labels are the phone contract)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.buttons import Act, Callback
from bot.deps import deps
from bot.followup import ask_for_follow_up
from bot.reply import reply
from bot.text import esc
from core import review


async def send_diff(update: Update, context: ContextTypes.DEFAULT_TYPE, task_id: int) -> None:
    """The change as a `.patch` document, its first lines inline."""
    found = await review.patch(deps(context).service, task_id)
    more = f"\n… {found.lines - found.head.count(chr(10)) - 1} more lines in the file" \
        if found.lines > found.head.count("\n") + 1 else ""
    untracked = ""
    if found.untracked:
        names = ", ".join(found.untracked[:10]) + (" …" if len(found.untracked) > 10 else "")
        untracked = f"\n<i>new files not in the patch (not added to git): {esc(names)}</i>"
    text = f"<b>Diff of #{task_id}</b>\n<pre>{esc(found.head)}</pre>{esc(more)}{untracked}"
    await reply(update, context, text)
    await reply(update, context, f"<code>{esc(found.path.name)}</code>", document=str(found.path),
                filename=found.path.name)


async def on_review_button(update: Update, context: ContextTypes.DEFAULT_TYPE, press: Callback) -> str:
    service = deps(context).service
    task_id = press.number
    if press.act is Act.DIFF:
        await send_diff(update, context, task_id)
        return ""
    if press.act is Act.MERGE:
        done = await review.merge(service, task_id, press.version)
        await reply(update, context, f"🔀 {esc(done)}")
        return "Merged"
    if press.act is Act.PULL_REQUEST:
        link = await review.open_pr(service, task_id, press.version)
        await reply(update, context, f"Pull request for <code>#{task_id}</code>: {esc(link)}")
        return "Pull request opened"
    await ask_for_follow_up(update, context, task_id)
    return ""
