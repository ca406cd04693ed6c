"""Inline buttons: short callback data that names an action, a task and a plan version.

Callback data is at most 64 bytes and comes back from a phone that may show a message
from days ago, so plan buttons carry the plan's version: the service refuses a stale one
instead of approving a plan the owner never saw.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import InlineKeyboardButtonLimit

from core.abc import Button
from core.errors import InvalidInput

Keyboard = tuple[tuple[Button, ...], ...]
MAX_DATA_BYTES = InlineKeyboardButtonLimit.MAX_CALLBACK_DATA


class Act(enum.StrEnum):
    APPROVE = "ap"
    REVISE = "rv"
    REJECT = "rj"
    CANCEL = "cn"
    RETRY = "rt"
    LOGS = "lg"
    TASK = "tk"
    PLAN = "pl"
    QUEUE = "q"
    # a draft made from plain text (the number is the draft's id)
    DRAFT_QUEUE = "dq"
    DRAFT_NO_PLAN = "dn"
    DRAFT_REPOS = "dr"
    DRAFT_SET_REPO = "ds"
    """Second number: the alias's index in the sorted aliases."""
    DRAFT_DISCARD = "dd"
    # a finished task (the morning review) and a running one
    DIFF = "df"
    MERGE = "mg"
    """Second number: the run the owner saw, so an older message cannot merge newer work."""
    PULL_REQUEST = "pr"
    FOLLOW_UP = "fu"
    STOP = "st"
    # a run's refused command (the numbers: the run, the refusal's index in it)
    ALLOW = "al"
    """Allow what the refusal offers for the task, and retry in the same session."""
    ALLOW_REPO = "ar"
    """The same, for every task in the repository."""


PLAN_ACTS = frozenset({Act.APPROVE, Act.REVISE, Act.REJECT})
ALLOW_ACTS = frozenset({Act.ALLOW, Act.ALLOW_REPO})
TWO_NUMBERS = PLAN_ACTS | ALLOW_ACTS | {Act.DRAFT_SET_REPO, Act.MERGE, Act.PULL_REQUEST}
TASK_ACTS = frozenset(Act) - ALLOW_ACTS - {Act.QUEUE, Act.DRAFT_QUEUE, Act.DRAFT_NO_PLAN,
                                           Act.DRAFT_REPOS, Act.DRAFT_SET_REPO, Act.DRAFT_DISCARD}
"""Acts whose first number is a task id: a reply to their message is about that task."""
_NUMBER = re.compile(r"[0-9]+", re.ASCII)
"""Digits as the phone sent them when we made the button: no sign, space or other script."""


@dataclass(frozen=True, slots=True)
class Callback:
    act: Act
    number: int
    """The task id, the draft id, or the page for `Act.QUEUE`."""
    version: int | None = None
    """The plan version, the run id (merge, PR) or the alias index (a draft's repo)."""

    def encode(self) -> str:
        fields = [self.act.value, str(self.number)]
        if self.version is not None:
            fields.append(str(self.version))
        data = ":".join(fields)
        if len(data.encode()) > MAX_DATA_BYTES:  # unreachable for 64-bit ids; kept as a guard
            raise InvalidInput(f"callback data {data!r} is longer than {MAX_DATA_BYTES} bytes")
        return data

    @classmethod
    def decode(cls, data: str | None) -> Callback:
        """Parse strictly: `act:N` or `act:N:M` with ASCII digits, nothing else."""
        if data is None or len(data.encode("utf-8", "surrogatepass")) > MAX_DATA_BYTES:
            raise InvalidInput("this button is not one nightshift knows")
        fields = data.split(":")
        try:
            act = Act(fields[0])
        except ValueError:
            raise InvalidInput("this button is not one nightshift knows") from None
        numbers = fields[1:]
        if len(numbers) != (2 if act in TWO_NUMBERS else 1) or not all(
            _NUMBER.fullmatch(n) for n in numbers
        ):
            raise InvalidInput("this button is not one nightshift knows")
        values = [int(n) for n in numbers]
        return cls(act, values[0], values[1] if len(values) == 2 else None)


def plan_buttons(task_id: int, version: int) -> Keyboard:
    return (
        (
            Button("✅ Approve", Callback(Act.APPROVE, task_id, version).encode()),
            Button("✏️ Revise", Callback(Act.REVISE, task_id, version).encode()),
            Button("🗑 Reject", Callback(Act.REJECT, task_id, version).encode()),
        ),
    )


def task_buttons(task_id: int, *, plan_version: int | None = None) -> Keyboard:
    rows: list[tuple[Button, ...]] = [
        (
            Button("✖ Cancel", Callback(Act.CANCEL, task_id).encode()),
            Button("↻ Retry", Callback(Act.RETRY, task_id).encode()),
            Button("📜 Logs", Callback(Act.LOGS, task_id).encode()),
        )
    ]
    if plan_version is not None:
        rows.append((Button(f"📝 Plan v{plan_version}", Callback(Act.PLAN, task_id).encode()),))
    return tuple(rows)


def review_buttons(task_id: int, run_id: int | None, *, branch: bool, pr: bool) -> Keyboard:
    """A finished task: Diff, Merge, PR (only when possible) and Follow up, then Logs."""
    rows: list[tuple[Button, ...]] = []
    if branch and run_id is not None:
        first = [Button("Diff", Callback(Act.DIFF, task_id).encode()),
                 Button("Merge", Callback(Act.MERGE, task_id, run_id).encode())]
        if pr:
            first.append(Button("PR", Callback(Act.PULL_REQUEST, task_id, run_id).encode()))
        rows.append(tuple(first))
    rows.append((Button("Follow up", Callback(Act.FOLLOW_UP, task_id).encode()),
                 Button("📜 Logs", Callback(Act.LOGS, task_id).encode())))
    return tuple(rows)


def ended_buttons(task_id: int, run_id: int | None, *, branch: bool) -> Keyboard:
    """A failed or cancelled task: Retry, Logs, Follow up, and Diff when there is a branch."""
    first = [Button("↻ Retry", Callback(Act.RETRY, task_id).encode()),
             Button("📜 Logs", Callback(Act.LOGS, task_id).encode())]
    if branch and run_id is not None:
        first.append(Button("Diff", Callback(Act.DIFF, task_id).encode()))
    return (tuple(first), (Button("Follow up", Callback(Act.FOLLOW_UP, task_id).encode()),))


def stop_buttons(task_id: int) -> Keyboard:
    """A running task's live message."""
    return ((Button("Stop", Callback(Act.STOP, task_id).encode()),
             Button("📜 Logs", Callback(Act.LOGS, task_id).encode())),)


def queue_buttons(shown: list[tuple[int, str]], page: int, pages: int) -> Keyboard:
    """One button per task on the page (opens it), then ◀ ▶ to turn pages."""
    rows: list[tuple[Button, ...]] = []
    for task_id, title in shown:
        label = f"#{task_id} {title}"
        label = label if len(label) <= 40 else label[:39] + "…"
        rows.append((Button(label, Callback(Act.TASK, task_id).encode()),))
    nav = []
    if page > 0:
        nav.append(Button("◀ Prev", Callback(Act.QUEUE, page - 1).encode()))
    if page < pages - 1:
        nav.append(Button("Next ▶", Callback(Act.QUEUE, page + 1).encode()))
    if nav:
        rows.append(tuple(nav))
    return tuple(rows)


def markup(buttons: Keyboard) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.text, callback_data=b.data) for b in row] for row in buttons]
    )


def buttons_to_json(buttons: Keyboard) -> list[list[dict[str, str]]]:
    return [[{"text": b.text, "data": b.data} for b in row] for row in buttons]


def buttons_from_json(value: object) -> Keyboard:
    if not isinstance(value, list):
        return ()
    return tuple(tuple(Button(str(b["text"]), str(b["data"])) for b in row) for row in value)
