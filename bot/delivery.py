"""Turning what the bot wants to say into Telegram calls: text, photo, document.

An `OutMessage` is one Telegram message in HTML parse mode. It serialises to JSON so a
reply that could not be sent right away can wait in the outbox with the notifications.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telegram import Bot, ForceReply, InputFile, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.buttons import Keyboard, buttons_from_json, buttons_to_json, markup
from bot.text import CAPTION_LIMIT, esc, split_html, visible_len, visible_text
from core.log import event

DOCUMENT_TAIL_BYTES = 5 << 20
"""A document is at most the last 5 MB of its file: Telegram takes 50 MB; a phone wants less."""

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


@dataclass(frozen=True, slots=True)
class OutMessage:
    html: str = ""
    buttons: Keyboard = ()
    photo: str | None = None
    """Path of a PNG to send as a photo, `html` its caption."""
    document: str | None = None
    """Path of a file to send (its tail) as a document, `html` its caption."""
    filename: str | None = None
    force_reply: str | None = None
    """Placeholder text: the phone opens a reply to this message (used to ask for a comment)."""

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"html": self.html}
        if self.buttons:
            out["buttons"] = buttons_to_json(self.buttons)
        for key in ("photo", "document", "filename", "force_reply"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> OutMessage:
        return cls(
            html=str(value.get("html") or ""),
            buttons=buttons_from_json(value.get("buttons")),
            photo=value.get("photo"),
            document=value.get("document"),
            filename=value.get("filename"),
            force_reply=value.get("force_reply"),
        )


def compose(
    markup_text: str,
    buttons: Keyboard = (),
    *,
    photo: str | None = None,
    document: str | None = None,
    filename: str | None = None,
    force_reply: str | None = None,
) -> list[OutMessage]:
    """Split a reply into messages; an attachment carries the text as its caption when it fits.

    Buttons (or a forced reply) go on the last message, where the phone shows them.
    """
    attachment = photo is not None or document is not None
    if attachment and visible_len(markup_text) <= CAPTION_LIMIT:
        return [OutMessage(markup_text, buttons, photo, document, filename, force_reply)]
    parts = split_html(markup_text)
    messages = [OutMessage(photo=photo, document=document, filename=filename)] if attachment else []
    messages += [OutMessage(part) for part in parts]
    if not messages:
        return []
    last = messages[-1]
    messages[-1] = OutMessage(last.html, buttons, last.photo, last.document, last.filename,
                              force_reply)
    return messages


def _read_tail(path: Path, max_bytes: int) -> bytes:
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(max(0, size - max_bytes))
        return handle.read()


async def send(bot: Bot, chat_id: int, message: OutMessage, *, plain: bool = False) -> Message:
    """One Telegram call for one message; `plain` drops the markup (a fallback for bad HTML)."""
    text = visible_text(message.html) if plain else message.html
    parse_mode = None if plain else ParseMode.HTML
    reply_markup: Any = markup(message.buttons)
    if message.force_reply is not None:
        reply_markup = ForceReply(selective=True, input_field_placeholder=message.force_reply[:64])
    attachment = message.photo or message.document
    if attachment is not None:
        path = Path(attachment)
        try:
            if message.photo is not None:
                data = await asyncio.to_thread(path.read_bytes)
            else:
                data = await asyncio.to_thread(_read_tail, path, DOCUMENT_TAIL_BYTES)
        except OSError:
            # The file went away (a temp chart cleaned up, a log rotated): say so, send the text.
            gone = f"({'chart' if message.photo else 'file'} {esc(path.name)} is no longer there)"
            text = f"{text}\n{gone}" if text else gone
            return await bot.send_message(chat_id, text, parse_mode=parse_mode,
                                          reply_markup=reply_markup, link_preview_options=NO_PREVIEW)
        upload = InputFile(data, filename=message.filename or path.name)
        if message.photo is not None:
            return await bot.send_photo(chat_id, upload, caption=text or None,
                                        parse_mode=parse_mode, reply_markup=reply_markup)
        return await bot.send_document(chat_id, upload, caption=text or None,
                                       parse_mode=parse_mode, reply_markup=reply_markup)
    return await bot.send_message(chat_id, text, parse_mode=parse_mode, reply_markup=reply_markup,
                                  link_preview_options=NO_PREVIEW)


async def edit_text(bot: Bot, chat_id: int, message_id: int, message: OutMessage, *,
                    plain: bool = False) -> None:
    """Replace a text message's text and buttons (no buttons: the keyboard goes away)."""
    text = visible_text(message.html) if plain else message.html
    await bot.edit_message_text(text, chat_id=chat_id, message_id=message_id,
                                parse_mode=None if plain else ParseMode.HTML,
                                reply_markup=markup(message.buttons),
                                link_preview_options=NO_PREVIEW)


async def edit_with_fallback(bot: Bot, chat_id: int, message_id: int, message: OutMessage) -> None:
    try:
        await edit_text(bot, chat_id, message_id, message)
    except BadRequest as exc:
        if "parse entities" not in str(exc).lower():
            raise
        await edit_text(bot, chat_id, message_id, message, plain=True)


async def send_with_fallback(bot: Bot, chat_id: int, message: OutMessage) -> Message:
    """Send; if Telegram cannot parse our HTML (a bug, never user input), send it plain."""
    try:
        return await send(bot, chat_id, message)
    except BadRequest as exc:
        if "parse entities" not in str(exc).lower():
            raise
        event("html refused, sending plain text", logging.WARNING, logger="bot", error=str(exc))
        return await send(bot, chat_id, message, plain=True)
