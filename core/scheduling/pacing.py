"""Weekly pacing: what is left of an account's 7-day limit, spread over the days to its reset.

A heavy queue can spend a week's limit in two nights and leave the owner limited until the
weekly reset. So each calendar day (the owner's zone) from today to the reset day gets an
equal part of what was left when today began; on the owner's work days a share of that part
is kept for the owner. Night work counts against the day it runs in: work at 02:00 on a
Tuesday spends Tuesday's part and leaves the owner's share of it for Tuesday's working hours.
Nightshift holds new work on the account once the week's use since the day began reaches its
part; the next day (or the weekly reset) opens it again.

Pure functions of `now`; the day's starting utilization is kept by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from core.models import iso

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_days(spec: str) -> frozenset[int]:
    """`"mon-fri"`, `"mon,wed,fri"`, `"sat-mon"` (wraps) -> weekday numbers (Monday = 0); empty: none."""
    days: set[int] = set()
    for part in (p.strip().lower() for p in spec.split(",")):
        if not part:
            continue
        first, sep, last = part.partition("-")
        if first not in DAY_NAMES or (sep and last not in DAY_NAMES):
            raise ValueError(f"{part!r} is not a day or a range of days (mon … sun)")
        start = DAY_NAMES.index(first)
        end = DAY_NAMES.index(last) if sep else start
        day = start
        while True:
            days.add(day)
            if day == end:
                break
            day = (day + 1) % 7
    return frozenset(days)


def days_to_reset(now: datetime, resets_at: datetime, tz: tzinfo) -> list[date]:
    """The calendar days (owner's zone) from today to the reset's day, both included."""
    today = now.astimezone(tz).date()
    last = resets_at.astimezone(tz).date()
    return [today + timedelta(days=i) for i in range(max(0, (last - today).days) + 1)]


@dataclass(frozen=True, slots=True)
class WeeklyPace:
    utilization: float
    """Of the week's limit, used now (0..1, every user of the account together)."""
    resets_at: datetime
    day: date
    days_left: int
    """Calendar days from today to the reset's day, both included."""
    owner_day: bool
    """Today is one of the owner's work days: a share of today's part is the owner's."""
    day_part: float
    """Today's equal part of what was left of the week when today began."""
    budget_today: float
    """Nightshift's part of today: `day_part` less the owner's share on a work day."""
    used_today: float
    """The week's use since today began (the owner's and nightshift's)."""

    @property
    def left_today(self) -> float:
        return max(0.0, self.budget_today - self.used_today)

    @property
    def hold(self) -> bool:
        """Nightshift has had its part of today: new work waits for tomorrow (or the reset)."""
        return self.used_today >= self.budget_today

    def as_json(self) -> dict[str, Any]:
        return {
            "utilization": self.utilization,
            "resets_at": iso(self.resets_at),
            "day": self.day.isoformat(),
            "days_left": self.days_left,
            "owner_day": self.owner_day,
            "day_part": self.day_part,
            "budget_today": self.budget_today,
            "used_today": self.used_today,
            "left_today": self.left_today,
            "hold": self.hold,
        }

    def text(self) -> str:
        """One line for `usage` and `/usage`."""
        owner = " (the owner's share kept)" if self.owner_day else ""
        verdict = "holding new work until tomorrow" if self.hold else f"{self.left_today:.0%} left today"
        return (f"week {self.utilization:.0%} used, {self.days_left} day(s) to its reset;"
                f" today's part for nightshift {self.budget_today:.1%}{owner}, used today"
                f" {self.used_today:.1%}: {verdict}")


def weekly_pace(
    now: datetime,
    *,
    utilization: float,
    resets_at: datetime,
    day_start_utilization: float,
    owner_days: Iterable[int],
    owner_share: float,
    tz: tzinfo,
) -> WeeklyPace | None:
    """Today's pace on an account whose week is `utilization` used and resets at `resets_at`.

    None once the reset has passed (the week is new: nothing to pace until a source says so).
    """
    if resets_at <= now:
        return None
    days = days_to_reset(now, resets_at, tz)
    today = days[0]
    start = min(max(day_start_utilization, 0.0), 1.0)
    used = min(max(utilization, 0.0), 1.0)
    part = (1.0 - start) / len(days)
    owner_day = today.weekday() in set(owner_days)
    share = min(max(owner_share, 0.0), 1.0)
    return WeeklyPace(
        utilization=used,
        resets_at=resets_at,
        day=today,
        days_left=len(days),
        owner_day=owner_day,
        day_part=part,
        budget_today=part * (1.0 - share) if owner_day else part,
        used_today=max(0.0, used - start),
    )
