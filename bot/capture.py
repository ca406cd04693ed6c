"""Everything the owner sends that is not a command: nothing is dropped, nothing is silent.

- text (typed or forwarded): a draft with Queue / Queue without plan / Repo… / Discard; a
  reply to the Revise prompt revises the plan; a reply to a task's message follows it up;
- a photo or document: joins the task its message answers, or becomes a draft with the file;
- a voice note: a clear answer (no transcription yet);
- anything else (a sticker, a location…): one line saying what nightshift takes.
"""

from __future__ import annotations

import re

from telegram import Document, Message, PhotoSize, Update
from telegram.ext import ContextTypes

from bot import render
from bot.buttons import TASK_ACTS, Callback
from bot.deps import deps
from bot.drafts import send_draft
from bot.followup import follow_up
from bot.handlers import REVISE_PROMPT_RE
from bot.reply import reply
from bot.text import esc
from core.attachments import check_size, safe_name
from core.capture import ATTACHMENT_ONLY_TEXT, NOT_STARTED
from core.errors import InvalidInput
from core.settings import Settings

_HEADLINE_TASK_RE = re.compile(r"\b(?:Task|task|Queued|Draft of)\s+#?(?P<task>[0-9]{1,19})\b")

VOICE_ANSWER = (
    "🎙 Voice notes are not transcribed yet (transcription may come later). "
    "Please send the task as text, or as a photo or document with a caption."
)
EDIT_ANSWER = "I do not act on edited messages: send the corrected text as a new message."
_KIND_NAMES = {
    "Sticker": "a sticker", "Video": "a video", "VideoNote": "a video note", "Audio": "an audio file",
    "Animation": "a GIF", "Location": "a location", "Venue": "a venue", "Contact": "a contact",
    "Poll": "a poll", "Dice": "a dice roll", "Game": "a game", "Story": "a story",
}


def _from_bot(message: Message | None, bot_id: int) -> bool:
    return message is not None and message.from_user is not None and message.from_user.id == bot_id


def replied_task(message: Message, bot_id: int) -> int | None:
    """The task a reply is about: from the buttons of the bot's message, else its headline."""
    replied = message.reply_to_message
    if replied is None or not _from_bot(replied, bot_id):
        return None
    keyboard = replied.reply_markup.inline_keyboard if replied.reply_markup else ()
    for row in keyboard:
        for button in row:
            data = button.callback_data if isinstance(button.callback_data, str) else None
            try:
                press = Callback.decode(data)
            except InvalidInput:
                continue
            if press.act in TASK_ACTS:
                return press.number
    headline = (replied.text or replied.caption or "").strip().split("\n", 1)[0]
    match = _HEADLINE_TASK_RE.search(headline)
    return int(match["task"]) if match else None


async def text_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Revise a plan, follow a task up, or make a draft: never "send /add"."""
    message = update.effective_message
    if message is None or not message.text:
        return
    d = deps(context)
    replied = message.reply_to_message
    if _from_bot(replied, context.bot.id):
        assert replied is not None
        match = REVISE_PROMPT_RE.search(replied.text or "")
        if match is not None:
            task_id, version = int(match["task"]), int(match["version"])
            revised = await d.service.revise(task_id, message.text, version=version)
            await reply(update, context, render.task_changed(revised, "Asked for a new plan for"))
            return
        about = replied_task(message, context.bot.id)
        if about is not None:
            await follow_up(update, context, about, message.text)
            return
    await send_draft(update, context, await d.service.capture.create(message.text))


async def forwarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Someone else's words: always a draft (a forwarded "/cancel 3" is text, not a command)."""
    message = update.effective_message
    if message is None:
        return
    if message.photo or message.document:
        await file_message(update, context, as_reply=False)
        return
    text = message.text or message.caption
    if not text:
        await other_message(update, context)
        return
    await send_draft(update, context, await deps(context).service.capture.create(text))


def _incoming_file(message: Message) -> tuple[str, int | None, str]:
    """(file id, size Telegram states, a safe name) of the message's photo or document."""
    if message.photo:
        photo: PhotoSize = message.photo[-1]  # the largest size
        return photo.file_id, photo.file_size, safe_name(f"photo-{photo.file_unique_id}.jpg", "photo.jpg")
    document = message.document
    assert isinstance(document, Document)
    return document.file_id, document.file_size, safe_name(document.file_name, "document")


async def _download(context: ContextTypes.DEFAULT_TYPE, file_id: str, size: int | None,
                    settings: Settings) -> bytes:
    check_size(size, settings)  # before a byte is downloaded
    tg_file = await context.bot.get_file(file_id)
    check_size(tg_file.file_size, settings)
    data = bytes(await tg_file.download_as_bytearray())
    check_size(len(data), settings)
    return data


async def file_message(update: Update, context: ContextTypes.DEFAULT_TYPE, *, as_reply: bool = True
                       ) -> None:
    """A photo or document: into the task it answers, or a new draft that carries it."""
    message = update.effective_message
    if message is None:
        return
    d = deps(context)
    capture = d.service.capture
    file_id, size, name = _incoming_file(message)
    data = await _download(context, file_id, size, d.settings)
    caption = message.caption or ""
    task_id = replied_task(message, context.bot.id) if as_reply else None
    if task_id is not None:
        task = await d.service.get(task_id)
        if task.state in NOT_STARTED or not caption.strip():
            task, path = await capture.attach_to_task(task_id, name, data)
            await reply(update, context,
                        f"📎 Attached <code>{esc(path.name)}</code> to <code>#{task.id}</code> "
                        f"{esc(task.title)}; its prompt names the file.")
            return
        await follow_up(update, context, task_id, caption, attachment=(name, data))
        return
    group = message.media_group_id
    draft = await capture.for_media_group(group) if group else None
    if draft is not None:
        draft = await capture.attach_to_draft(draft.id, name, data)
        await reply(update, context, f"📎 Added <code>{esc(name)}</code> to draft d{draft.id}.")
        return
    draft = await capture.create(caption if caption.strip() else ATTACHMENT_ONLY_TEXT, media_group=group)
    await send_draft(update, context, await capture.attach_to_draft(draft.id, name, data))


async def voice_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply(update, context, esc(VOICE_ANSWER))


async def other_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """One line for anything nightshift cannot use, naming what it can."""
    message = update.effective_message
    attachment = message.effective_attachment if message is not None else None
    kind = _KIND_NAMES.get(type(attachment).__name__, "this kind of message")
    await reply(update, context,
                f"I cannot make a task of {kind}; send text, a photo or a document (or /help).")


async def edited_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply(update, context, esc(EDIT_ANSWER))
