"""The owner's own Claude use, learned per day type and local hour.

A fixed reserve share protects the hours the owner named; owners also work late evenings
and weekends, and use more on some days than others. This book keeps hourly totals of
the owner's own use (what the logs show beyond nightshift's runs) and predicts what an
hour will need as a high quantile of the same hour on recent days of the same type, with
the hours they did not use Claude counted as zeros: a budget that keeps that much free is
rarely short, and costs nothing in the hours the owner never works.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

DAYS_KEPT = 10
"""Same-type days a prediction looks back on: two working weeks."""
MIN_DAYS = 2
"""Fewer observed days of a type than this predict nothing (the fixed reserve still holds)."""
QUANTILE = 0.9
_HOUR = timedelta(hours=1)


def _weekend(day: date) -> bool:
    return day.weekday() >= 5


def _high(values: list[float]) -> float:
    """The nearest-rank `QUANTILE` of `values` (the second largest of ten)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(QUANTILE * len(ordered)) - 1)]


@dataclass
class OwnerUseBook:
    """Hourly totals of the owner's use by local day, from the first day it saw on.

    `observe` takes one use at a time (the simulator, the daemon's log scan); `need`
    and `expected` are functions of `now`: only days before `now`'s local date count,
    so a prediction never peeks at the hour it predicts.
    """

    tz: tzinfo = UTC
    first_day: date | None = None
    totals: dict[date, list[float]] = field(default_factory=dict)

    def observe(self, at: datetime, tokens: float) -> None:
        local = at.astimezone(self.tz)
        day = local.date()
        if self.first_day is None or day < self.first_day:
            self.first_day = day
        self.totals.setdefault(day, [0.0] * 24)[local.hour] += max(0.0, tokens)
        if len(self.totals) > 4 * DAYS_KEPT:
            for old in sorted(self.totals)[: len(self.totals) - 4 * DAYS_KEPT]:
                del self.totals[old]

    def forget_from(self, at: datetime) -> None:
        """Drop what was recorded from `at`'s local hour on, to be read again (the last hours
        of the logs grow between rebuilds). `at` is a whole UTC hour: each UTC hour the logs
        give goes into the local hour it starts in, so none before `at` is dropped with it,
        save in the hour a daylight-saving fold repeats (read again at the next rebuild)."""
        local = at.astimezone(self.tz)
        for day, hours in self.totals.items():
            if day > local.date():
                hours[:] = [0.0] * 24
            elif day == local.date():
                hours[local.hour:] = [0.0] * (24 - local.hour)

    def observe_all(self, uses: Iterable[tuple[datetime, float]]) -> OwnerUseBook:
        for at, tokens in uses:
            self.observe(at, tokens)
        return self

    def _days_like(self, day: date, today: date) -> list[date]:
        if self.first_day is None:
            return []
        out: list[date] = []
        probe = today - timedelta(days=1)
        while probe >= self.first_day and len(out) < DAYS_KEPT:
            if _weekend(probe) == _weekend(day):
                out.append(probe)
            probe -= timedelta(days=1)
        return out

    def need(self, day: date, hour: int, now: datetime) -> float:
        """Tokens the owner is expected to use in local `hour` of `day` (0 while unknown)."""
        start = datetime(day.year, day.month, day.day, hour, tzinfo=self.tz)
        return self.expected(start, start + _HOUR, now)

    def _span_sums(self, start: datetime, end: datetime, now: datetime) -> list[float] | None:
        """What the owner used between the local times of `start` and `end` on each recent
        day of the same type (None while fewer than `MIN_DAYS` such days are known)."""
        first = start.astimezone(self.tz).date()
        days = self._days_like(first, now.astimezone(self.tz).date())
        if len(days) < MIN_DAYS:
            return None
        pieces: list[tuple[int, int, float]] = []  # (days after `first`, local hour, share)
        moment = start
        while moment < end:
            local = moment.astimezone(self.tz)
            # Absolute arithmetic: a local hour ends where its minutes run out, whatever the
            # offset or a daylight-saving jump does to the wall clock.
            into = timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)
            stop = min(end, moment + _HOUR - into)
            pieces.append(((local.date() - first).days, local.hour, (stop - moment) / _HOUR))
            moment = stop
        empty = [0.0] * 24
        return [
            sum(share * self.totals.get(d + timedelta(days=offset), empty)[hour]
                for offset, hour, share in pieces)
            for d in days
        ]

    def expected(self, start: datetime, end: datetime, now: datetime) -> float:
        """The owner's use between `start` and `end` on a day like this one: the high quantile,
        over recent days of the same type, of what they used in the same local hours then
        (partial hours pro rata). A quantile of the totals, not a sum of hourly quantiles,
        which would expect every busy hour of two weeks on one day."""
        sums = self._span_sums(start, end, now) if end > start else None
        if not sums:
            return 0.0
        # A day unlike the others still comes: where the owner worked on any of these days,
        # one busy hour of theirs is kept even when the quantile says less.
        peak = self.peak_per_hour(now) or 0.0
        return max(_high(sums), min(max(sums), peak))

    def use_lately(self, now: datetime) -> float:
        """What the owner used in `now`'s local hour and the one before: whether they are at
        the keyboard now. Hourly totals are what the logs give, so "lately" reaches back one
        to two hours; only uses recorded up to `now` count (the book holds no later ones)."""
        total = 0.0
        for moment in (now - _HOUR, now):
            local = moment.astimezone(self.tz)
            hours = self.totals.get(local.date())
            total += hours[local.hour] if hours is not None else 0.0
        return total

    def peak_per_hour(self, now: datetime) -> float | None:
        """The most the owner used in one local hour on a day of `now`'s type (a weekday or a
        weekend day) before `now`'s day: how fast they can take a reserve on a day like this
        one. A busy Saturday says nothing about how fast a Tuesday's reserve goes. None while
        fewer than `MIN_DAYS` such days are known."""
        today = now.astimezone(self.tz).date()
        past = [max(hours) for day, hours in self.totals.items()
                if day < today and _weekend(day) == _weekend(today)]
        return max(past) if len(past) >= MIN_DAYS else None
