"""What the handlers share, kept in `application.bot_data` (PTB's place for app-wide state)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from telegram.ext import Application, ContextTypes

from core.service import Service
from core.settings import Settings
from core.store.outbox import OutboxStore

KEY = "nightshift"


@dataclass
class BotDeps:
    settings: Settings
    service: Service
    outbox: OutboxStore
    limiter: RefusalLimiter
    monotonic: Callable[[], float] = time.monotonic


@dataclass
class RefusalLimiter:
    """At most one refusal per stranger per `interval_s`, so a flood gets no flood back.

    Remembers at most `max_tracked` strangers (oldest forgotten first) so a flood of new
    ids cannot grow memory without bound.
    """

    interval_s: float = 600.0
    max_tracked: int = 10_000
    _last: dict[int, float] = field(default_factory=dict)
    _suppressed: dict[int, int] = field(default_factory=dict)

    def allow(self, user_id: int, now: float) -> tuple[bool, int]:
        """(answer this one?, how many were suppressed since the last answer)."""
        last = self._last.get(user_id)
        if last is not None and now - last < self.interval_s:
            self._suppressed[user_id] = self._suppressed.get(user_id, 0) + 1
            return False, 0
        self._last.pop(user_id, None)
        self._last[user_id] = now
        while len(self._last) > self.max_tracked:
            oldest = next(iter(self._last))
            del self._last[oldest]
            self._suppressed.pop(oldest, None)
        return True, self._suppressed.pop(user_id, 0)


def install(application: Application, deps: BotDeps) -> None:  # type: ignore[type-arg]
    application.bot_data[KEY] = deps


def deps(context: ContextTypes.DEFAULT_TYPE) -> BotDeps:
    found = context.application.bot_data[KEY]
    assert isinstance(found, BotDeps)
    return found
