"""Drafts on the phone: what plain text becomes, and its four buttons.

The labels `Queue`, `Queue without plan`, `Repo…` and `Discard` are part of the phone
contract (DESIGN.md). A press edits the draft's own message in place, so the chat keeps one
message per draft whatever the owner taps.
"""

from __future__ import annotations

import contextlib

from telegram import Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot import render
from bot.buttons import Act, Callback, Keyboard, task_buttons
from bot.deps import deps
from bot.reply import edit_in_place, reply
from bot.text import esc, truncate
from core.abc import Button
from core.capture import Draft
from core.errors import InvalidInput
from core.settings import Settings

PREVIEW_CHARS = 1500
NO_REPO = "No repo"


def draft_buttons(draft_id: int) -> Keyboard:
    return (
        (
            Button("Queue", Callback(Act.DRAFT_QUEUE, draft_id).encode()),
            Button("Queue without plan", Callback(Act.DRAFT_NO_PLAN, draft_id).encode()),
        ),
        (
            Button("Repo…", Callback(Act.DRAFT_REPOS, draft_id).encode()),
            Button("Discard", Callback(Act.DRAFT_DISCARD, draft_id).encode()),
        ),
    )


def repo_choices(settings: Settings) -> list[str]:
    """The aliases in the order their buttons carry (index + 1; 0 is "no repo")."""
    return sorted(settings.repos)


def repo_buttons(draft_id: int, settings: Settings) -> Keyboard:
    rows = [
        (Button(truncate(alias, 40), Callback(Act.DRAFT_SET_REPO, draft_id, index + 1).encode()),)
        for index, alias in enumerate(repo_choices(settings))
    ]
    rows.append((Button(NO_REPO, Callback(Act.DRAFT_SET_REPO, draft_id, 0).encode()),))
    return tuple(rows)


def draft_text(draft: Draft, settings: Settings) -> str:
    plan = "a plan comes first" if settings.plan_by_default else "no plan unless asked"
    if draft.repo:
        repo = f"repo <code>{esc(draft.repo)}</code>"
    elif settings.repos:
        repo = "no repo yet (Repo… to pick one)"
    else:
        repo = "no repo (none configured in NIGHTSHIFT_REPOS)"
    lines = [
        f"📝 <b>Draft d{draft.id}</b>: {esc(truncate(draft.text.strip().splitlines()[0], 80))}",
        f"<i>{repo}; Queue: {plan}</i>",
    ]
    if draft.files:
        lines.append("attached: " + ", ".join(f"<code>{esc(name)}</code>" for name in draft.files))
    lines += ["", esc(truncate(draft.text, PREVIEW_CHARS))]
    return "\n".join(lines)


async def send_draft(update: Update, context: ContextTypes.DEFAULT_TYPE, draft: Draft) -> None:
    await reply(update, context, draft_text(draft, deps(context).settings), draft_buttons(draft.id))


async def on_draft_button(update: Update, context: ContextTypes.DEFAULT_TYPE, press: Callback) -> str:
    """Queue, queue without plan, pick a repo, or discard; the toast text is returned."""
    d = deps(context)
    capture = d.service.capture
    if press.act in (Act.DRAFT_QUEUE, Act.DRAFT_NO_PLAN):
        plan = False if press.act is Act.DRAFT_NO_PLAN else None
        task = await capture.queue(press.number, plan=plan)
        await edit_in_place(update, render.task_added(task, d.settings.local_tz), task_buttons(task.id))
        return f"Queued #{task.id}"
    if press.act is Act.DRAFT_REPOS:
        draft = await capture.get(press.number)
        if not d.settings.repos:
            return "No repo aliases are configured (NIGHTSHIFT_REPOS on the machine)"
        await edit_in_place(update, draft_text(draft, d.settings) + "\n\n<b>Pick a repo:</b>",
                    repo_buttons(draft.id, d.settings))
        return ""
    if press.act is Act.DRAFT_SET_REPO:
        choices = repo_choices(d.settings)
        index = press.version or 0
        if index > len(choices):
            raise InvalidInput("that repo alias is no longer configured; /repos lists them")
        draft = await capture.set_repo(press.number, choices[index - 1] if index else None)
        await edit_in_place(update, draft_text(draft, d.settings), draft_buttons(draft.id))
        return f"Repo: {draft.repo}" if draft.repo else "No repo"
    draft = await capture.discard(press.number)
    with contextlib.suppress(BadRequest):
        await edit_in_place(update, f"Discarded draft d{draft.id}.", ())
    return "Discarded"
