"""A `Notifier` that keeps what it hears, in order, for tests to read."""

from __future__ import annotations

from core.abc import Notification


class RecordingNotifier:
    def __init__(self) -> None:
        self.sent: list[Notification] = []

    async def notify(self, note: Notification) -> None:
        self.sent.append(note)
