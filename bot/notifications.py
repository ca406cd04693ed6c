"""How a core `Notification` looks on the phone, and what an outbox row expands to.

Producers in the core write plain text and never Telegram markup; this module escapes
it, splits it with the core's `split_text`, and adds the buttons the kind calls for:

- `plan_ready` with `task_id` and `data["version"]`: Approve / Revise / Reject.
- `run_finished` of a done task: Diff / Merge / PR (when `data["review"]["pr"]`) / Follow up;
  of a failed or cancelled one: Retry / Logs / Diff / Follow up.
- `run_progress` (a run's live message): Stop / Logs until its final version.
- `run_started`, other `run_finished`, `limit_hit`, `task_*` with `task_id`: Cancel / Retry / Logs.
- explicit `Notification.buttons` win over both.
"""

from __future__ import annotations

from typing import Any

from bot.buttons import (
    Keyboard,
    ended_buttons,
    plan_buttons,
    review_buttons,
    stop_buttons,
    task_buttons,
)
from bot.delivery import OutMessage
from bot.text import CAPTION_LIMIT, esc
from core.abc import Notification
from core.outbox_notifier import note_from_json, split_text, utf16_len
from core.progress import PROGRESS_KIND

PLAN_KINDS = frozenset({"plan_ready"})
ENDED_STATES = frozenset({"done", "failed", "cancelled"})
"""A `run_finished` in one of these gets the morning-review buttons instead of Cancel/Retry."""
TASK_KINDS = frozenset(
    {"run_started", "run_finished", "limit_hit", "task_done", "task_failed", "task_paused"}
)


def default_buttons(note: Notification) -> Keyboard:
    if note.buttons:
        return note.buttons
    if note.task_id is None:
        return ()
    version = note.data.get("version", note.data.get("plan_version"))
    if note.kind in PLAN_KINDS and isinstance(version, int):
        return plan_buttons(note.task_id, version)
    if note.kind == PROGRESS_KIND:
        return () if note.data.get("final") else stop_buttons(note.task_id)
    state = note.data.get("state")
    if note.kind == "run_finished" and state in ENDED_STATES:
        run = note.data.get("run") if isinstance(note.data.get("run"), dict) else {}
        review = note.data.get("review") if isinstance(note.data.get("review"), dict) else {}
        branch = bool(run.get("branch")) if isinstance(run, dict) else False
        run_id = note.run_id
        if state == "done":
            return review_buttons(note.task_id, run_id, branch=branch,
                                  pr=bool(review.get("pr")) if isinstance(review, dict) else False)
        return ended_buttons(note.task_id, run_id, branch=branch)
    if note.kind in TASK_KINDS:
        return task_buttons(note.task_id)
    return ()


def _format(part: str, first: bool) -> str:
    # The first line of a multi-line notification is its headline: bold on the phone.
    if first and "\n" in part.strip():
        head, _, rest = part.lstrip().partition("\n")
        return f"<b>{esc(head)}</b>\n{esc(rest)}"
    return esc(part)


def render_note(note: Notification) -> list[OutMessage]:
    buttons = default_buttons(note)
    text = note.text.strip()
    if note.photo is not None and utf16_len(text) <= CAPTION_LIMIT:
        return [OutMessage(_format(text, True), buttons, photo=note.photo)]
    # Telegram trims each message anyway; trimming here keeps what we record equal to it.
    parts = [p.strip("\n") for p in split_text(text) if p.strip()]
    messages = [OutMessage(photo=note.photo)] if note.photo is not None else []
    messages += [OutMessage(_format(part, i == 0)) for i, part in enumerate(parts)]
    if not messages:
        return []
    messages[-1] = OutMessage(messages[-1].html, buttons, photo=messages[-1].photo)
    return messages


def expand(payload: dict[str, Any]) -> list[tuple[int, OutMessage]]:
    """Every Telegram message an outbox row stands for, in order, with its chat.

    Deterministic for a given payload, so a row's `delivered` count means the same
    thing after a restart.
    """
    if "note" in payload:
        messages = render_note(note_from_json(payload["note"]))
    else:
        messages = [OutMessage.from_json(m) for m in payload.get("messages") or ()]
    return [(int(chat), message) for chat in payload.get("to") or () for message in messages]


def reply_payload(chat_id: int, messages: list[OutMessage]) -> dict[str, Any]:
    """An outbox row for replies the bot could not send at once (Telegram down or flooded)."""
    return {"v": 1, "to": [chat_id], "messages": [m.as_json() for m in messages]}
