"""The core's side of notifications: enqueue them in the outbox, split long texts.

The core decides *what* the owner should hear and writes it to the outbox in order; a
front (the Telegram bot) delivers it. Nothing here knows about Telegram beyond the size
of a message, which the splitting function takes as an argument.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from core.abc import Button, Clock, Notification
from core.models import utcnow
from core.store.outbox import OutboxStore

TELEGRAM_TEXT_LIMIT = 4096
PAYLOAD_VERSION = 1


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Cut `text` into parts of at most `limit` UTF-16 units, on line boundaries.

    Lossless: `"".join(parts) == text`. Lines are packed greedily; a single line longer
    than `limit` is cut at its last space past the half-way point, or hard if it has none.
    An empty text gives no parts.
    """
    if limit < 2:
        raise ValueError("limit must be at least 2 (one character may take two UTF-16 units)")
    if utf16_len(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        length = utf16_len(line)
        if size + length <= limit:
            current.append(line)
            size += length
            continue
        if current:
            parts.append("".join(current))
            current, size = [], 0
        if length <= limit:
            current, size = [line], length
            continue
        pieces = _cut_long_line(line, limit)
        parts.extend(pieces[:-1])
        current, size = [pieces[-1]], utf16_len(pieces[-1])
    if current:
        parts.append("".join(current))
    return parts


def _cut_long_line(line: str, limit: int) -> list[str]:
    pieces: list[str] = []
    start = 0
    while utf16_len(line[start:]) > limit:
        end, units, last_space = start, 0, -1
        while end < len(line):
            width = 2 if ord(line[end]) > 0xFFFF else 1
            if units + width > limit:
                break
            if line[end] == " ":
                last_space = end
            units += width
            end += 1
        if last_space > start and (last_space - start) * 2 >= end - start:
            end = last_space + 1
        pieces.append(line[start:end])
        start = end
    pieces.append(line[start:])
    return pieces


# --- the outbox payload ---------------------------------------------------------------------


def note_to_json(note: Notification) -> dict[str, Any]:
    # `data` is free-form; a value JSON cannot hold (a datetime) is stored as its text
    # rather than failing the notification.
    data = json.loads(json.dumps(note.data, default=str))
    return {
        "kind": note.kind,
        "text": note.text,
        "task_id": note.task_id,
        "run_id": note.run_id,
        "buttons": [[{"text": b.text, "data": b.data} for b in row] for row in note.buttons],
        "photo": note.photo,
        "data": data,
        **({"key": note.key} if note.key is not None else {}),
    }


def note_from_json(value: dict[str, Any]) -> Notification:
    return Notification(
        kind=str(value["kind"]),
        text=str(value.get("text") or ""),
        task_id=value.get("task_id"),
        run_id=value.get("run_id"),
        buttons=tuple(
            tuple(Button(str(b["text"]), str(b["data"])) for b in row)
            for row in value.get("buttons") or ()
        ),
        photo=value.get("photo"),
        data=dict(value.get("data") or {}),
        key=value.get("key"),
    )


def notification_payload(note: Notification, recipients: Iterable[int]) -> dict[str, Any]:
    """Recipients are fixed when the notification is written, so a restart sends the same set."""
    return {"v": PAYLOAD_VERSION, "to": sorted(set(recipients)), "note": note_to_json(note)}


class OutboxNotifier:
    """`Notifier` that writes each notification to the outbox for the bot's sender."""

    def __init__(
        self, outbox: OutboxStore, recipients: Iterable[int], *, clock: Clock = utcnow
    ) -> None:
        self.outbox = outbox
        self.recipients = frozenset(recipients)
        self.clock = clock

    async def notify(self, note: Notification) -> None:
        if not self.recipients:
            return  # nobody is allowed to hear anything: keep nothing either
        await self.outbox.enqueue(
            note.kind, notification_payload(note, self.recipients), now=self.clock(), key=note.key
        )
