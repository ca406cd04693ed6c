"""The seams of nightshift, in one place (as APScheduler 4's `abc.py`).

Adapters live beside the code that uses them; tests swap in real local parts (a temp-dir
database, a private tmux socket, a fake `claude` executable, a local Bot API server)
through these interfaces rather than mocking internals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

Clock = Callable[[], datetime]
"""Returns an aware 'now'. Time math takes `now` as an argument; only the edges call a clock."""


@dataclass(frozen=True, slots=True)
class Button:
    text: str
    data: str  # callback data, at most 64 bytes (Telegram's limit)


@dataclass(frozen=True, slots=True)
class Notification:
    """Something the owner should hear about, independent of how it is delivered.

    `text` is plain text; the delivering front escapes and formats it. `photo` is a path
    to a PNG chart. `buttons` are rows of inline buttons.
    """

    kind: str
    text: str
    task_id: int | None = None
    run_id: int | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    photo: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Notifier(Protocol):
    """The core's outbound port: the bot implements delivery, the core only enqueues."""

    async def notify(self, note: Notification) -> None: ...


class NullNotifier:
    """Drops notifications: for fronts that have nobody to tell (one-off CLI commands)."""

    async def notify(self, note: Notification) -> None:
        return None


class RecordingNotifier:
    """Keeps notifications in memory, in order: the demo prints them, tests read them."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    async def notify(self, note: Notification) -> None:
        self.sent.append(note)
