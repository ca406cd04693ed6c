"""A clock the simulator moves by hand: `now` jumps to the next event, nothing sleeps."""

from __future__ import annotations

from datetime import datetime


class VirtualClock:
    """Callable like `core.abc.Clock`; time only moves forward, and only when told."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the virtual clock needs an aware start time")
        self._now = start

    def __call__(self) -> datetime:
        return self._now

    def advance_to(self, moment: datetime) -> None:
        if moment < self._now:
            raise ValueError(f"time cannot go back from {self._now} to {moment}")
        self._now = moment
