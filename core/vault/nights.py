"""The morning digest's picture in the vault: each day's note shows the night before it.

A night is what that morning's digest covers: from the wake time the day before to the
day's wake time (NIGHTSHIFT_WAKE_TIME, owner's zone). Without a wake time there is no
digest and no night chart. The picture is the digest's own (`core.metrics.digest`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, tzinfo
from functools import cached_property

from core.metrics.digest import DigestData, build_digest_data
from core.metrics.history import History

DIGEST_CHART = "digest"
"""The chart kind of a day's night picture: `YYYY-MM-DD-digest.png`."""


class Nights:
    def __init__(
        self,
        history: History,
        *,
        tz: tzinfo,
        wake: time | None,
        capacity: int | None,
        reserve_by_hour: Mapping[int, float],
    ) -> None:
        self.h = history
        self.tz = tz
        self.wake = wake
        self.capacity = capacity
        self.reserve_by_hour = reserve_by_hour

    def night_of(self, moment: datetime) -> str | None:
        """The day whose wake-up digest covers `moment`: that day if before the wake time."""
        if self.wake is None:
            return None
        local = moment.astimezone(self.tz)
        day = local.date() if local.time() < self.wake else local.date() + timedelta(days=1)
        return day.isoformat()

    @cached_property
    def days(self) -> set[str]:
        """Days whose digest had a window: a run started in the night before them."""
        return {night for r in self.h.runs
                if r.task_id in self.h.tasks and r.started_at is not None
                and (night := self.night_of(r.started_at))}

    def bounds(self, day: str) -> tuple[datetime, datetime]:
        """[the wake time the day before, the day's wake time)."""
        if self.wake is None:
            raise ValueError("no wake time: no nights")
        until = datetime.combine(date.fromisoformat(day), self.wake, tzinfo=self.tz)
        since = datetime.combine(date.fromisoformat(day) - timedelta(days=1), self.wake,
                                 tzinfo=self.tz)
        return since, until

    def digest(self, day: str, now: datetime) -> DigestData:
        since, until = self.bounds(day)
        return build_digest_data(self.h, since=since, now=min(now, until), tz=self.tz,
                                 capacity_tokens=self.capacity,
                                 reserve_by_hour=self.reserve_by_hour)
