"""The learning loop's snapshot as the daemon reads it: prompt styles, estimates, knobs.

Estimates are asked for every ready task on every dispatch round, and the snapshot changes
only when a run finishes; so it is loaded once and reused for `LEARNED_TTL_S`.
"""

from __future__ import annotations

import random
import time
from datetime import datetime

from core.improve.learning import Learned, load_learned
from core.improve.styles import render_prompt
from core.models import Task
from core.settings import Settings
from core.store.store import Store

LEARNED_TTL_S = 30.0


class LearnedCache:
    """The prompt-style choice, learned estimates and limits, from one snapshot."""

    def __init__(self, settings: Settings, store: Store, *, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.store = store
        self.rng = rng or random.Random()
        self._snapshot: Learned | None = None
        self._loaded_at = 0.0

    def invalidate(self) -> None:
        self._snapshot = None

    async def get(self) -> Learned:
        if self._snapshot is None or time.monotonic() - self._loaded_at > LEARNED_TTL_S:
            self._snapshot = await load_learned(self.store, self.settings)
            self._loaded_at = time.monotonic()
        return self._snapshot

    def time_limit_minutes(self, task: Task) -> float:
        """From the snapshot already loaded (choosing the prompt loads it just before a run)."""
        default = self.settings.max_minutes
        return self._snapshot.time_limit_minutes(task, default) if self._snapshot else default

    async def max_parallel(self, now: datetime, window_end: datetime | None) -> int:
        return (await self.get()).max_parallel(now, window_end, self.settings.max_parallel)

    async def estimate(self, task: Task) -> int | None:
        return (await self.get()).estimate_tokens(task)

    async def choose_prompt(self, task: Task, now: datetime) -> tuple[str, str] | None:
        """A style for a fresh start; the approved plan is added by the executor, not here."""
        learned = await self.get()
        if not learned.styles.styles:
            return None
        style = learned.choose_style(task, now, self.rng)
        return style.name, render_prompt(style, task, None, learned.lessons_for(task))
