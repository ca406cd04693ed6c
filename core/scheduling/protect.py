"""What the queue may spend now without taking what the owner will need.

The reserve used to be read at the current hour only: a window opened at 05:00 could be
drained by 08:20 and leave the owner nothing when work starts at 09:00, and a run that
went on past the reset ate into the owner's next window unchecked. Here the protection
covers the whole rest of the open window and the next one (where a run spills after the
reset), as the larger of the fixed reserve the owner set for any of those hours and what
the owner is learned to use in them. An owner using Claude outside the hours they named is
protected as in them (at the keyboard: their use in the last hour or so, not any use since
the window opened, which would keep a day's reserve into the evening after they left), and
no reserve is held beyond what the owner could use before the reset (their busiest hour, in
each reserved hour left). Everything is a function of `now`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

WINDOW = timedelta(hours=5)
CONSERVATIVE_CAPACITY_TOKENS = 2_000_000
"""A window size assumed while none is known (no limit seen, no usage endpoint, no setting):
small enough that a new user's first night cannot drain a real window they need."""
DEFAULT_BURN_TOKENS_PER_MIN = 30_000.0
"""How fast a run spends while nothing is learned; decides how much spills past a reset."""
SAFETY = 1.15
"""Estimates miss (a task's cost spreads ±40 %): protection is padded by this factor."""
ACTIVE_TOKENS = 50_000
"""Own use lately (`OwnerUseBook.use_lately`) past which the owner counts as at the keyboard
now (their use in the open window, where nothing tells when in it they used Claude)."""

OwnerNeed = Callable[[datetime, datetime], float]
"""Expected owner use between two moments (see `OwnerUseBook.expected`)."""


def window_of(now: datetime, window_start: datetime | None) -> tuple[datetime, datetime]:
    """The open window, or the one the next message opens (floored to the hour)."""
    if window_start is not None and window_start <= now < window_start + WINDOW:
        return window_start, window_start + WINDOW
    utc = now.astimezone(UTC)
    start = utc.replace(minute=0, second=0, microsecond=0)
    return start, start + WINDOW


def _reserved(by_hour: Mapping[int, float], start: datetime, end: datetime, tz: tzinfo,
              *, every_hour: bool = False) -> tuple[float, int]:
    """The largest reserve share of any local hour touched by [start, end), and how many of
    the hours touched have a reserve (all of them with `every_hour`)."""
    best, hours = 0.0, 0
    moment = start
    while moment < end:
        local = moment.astimezone(tz)
        share = by_hour.get(local.hour, 0.0)
        best = max(best, share)
        hours += 1 if share > 0 or every_hour else 0
        into = timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)
        moment = moment + timedelta(hours=1) - into
    if every_hour and by_hour:
        best = max(best, max(by_hour.values()))
    return best, hours


@dataclass(frozen=True, slots=True)
class Horizon:
    """The budget picture at `now`: what to keep free, and how much a run can spend before
    the reset (past it, the rest spills into the next window)."""

    window_end: datetime
    capacity_tokens: int
    capacity_known: bool
    keep_tokens: int
    """Left unused in the open window for the owner, from now to its reset."""
    next_keep_tokens: int
    """Kept in the next window, where work still running at the reset goes on."""
    run_tokens: int
    """What the queue's runs can burn before the reset, at the learned rate."""
    reason: str
    """Why the protection is what it is, in the owner's words ("" when nothing is kept)."""
    burn_tokens_per_min: float = 0.0
    """How fast the queue's runs spend together: `run_tokens` shrinks at this rate as the
    reset nears."""
    tz: tzinfo = UTC
    """The owner's zone, for the times a reason tells."""
    window_open: bool = True
    """False: no window is open, `window_end` is that of the one a message now would open
    (from its hour); one opened later ends later."""

    @property
    def spill_room(self) -> int:
        return max(0, self.capacity_tokens - self.next_keep_tokens)


def _keep(capacity: int, reserved: tuple[float, int], learned: float, owner_used: float = 0.0,
          peak_per_hour: float | None = None, label: str = "your reserve") -> tuple[int, str]:
    """What stays free for the owner: their reserve share, less what they already took of
    it in this window (their own use comes out of their share, not out of the queue's), or
    what they are expected to use from now on, whichever is more.

    The share is kept no longer than it can be used: never more than the owner's busiest
    hour in each reserved hour still ahead, so that the last hour of a window is not held
    idle for three hours of use nobody can make in it."""
    share, hours = reserved
    fixed = max(0.0, capacity * share - owner_used)
    if peak_per_hour is not None:
        fixed = min(fixed, peak_per_hour * hours)
    need = learned * SAFETY
    if need <= 0 and fixed <= 0:
        return 0, ""
    if need > fixed:
        return min(capacity, math.ceil(need)), f"~{round(need):,} tokens of your own use expected"
    return min(capacity, math.ceil(fixed)), f"{label} of {share:.0%}"


def horizon(
    now: datetime,
    *,
    window_start: datetime | None,
    capacity_tokens: int | None,
    capacity_exact: bool = True,
    reserve: Mapping[int, float],
    owner_need: OwnerNeed | None,
    tz: tzinfo,
    owner_used_tokens: float = 0.0,
    owner_peak_tokens_per_hour: float | None = None,
    burn_tokens_per_min: float | None = None,
    parallel: int = 1,
    owner_recent_tokens: float | None = None,
) -> Horizon:
    """The protection for the open window (or the one a start now would open) and the next.

    `owner_used_tokens` is the owner's own use in the open window so far (the window's use
    less nightshift's runs); past `ACTIVE_TOKENS` the owner is at the keyboard and their
    reserve holds for every hour left, named or not. `owner_recent_tokens`, their use in the
    last hour or so (`OwnerUseBook.use_lately`), says so better when known: use at 10:00 says
    nothing about 19:00, while the window's total would keep a 15-20 window's reserve after
    the owner's day has ended. `owner_peak_tokens_per_hour` (their
    busiest hour, None while unknown) bounds how much of the reserve they can still use.
    `capacity_tokens` with `capacity_exact` false is a lower bound
    (the largest window seen while no limit has shown the real size): the conservative
    default holds until it is exceeded.
    """
    start, end = window_of(now, window_start)
    known = bool(capacity_tokens and capacity_tokens > 0 and capacity_exact)
    capacity = int(capacity_tokens or 0) if known else max(CONSERVATIVE_CAPACITY_TOKENS,
                                                            int(capacity_tokens or 0))
    need = owner_need or (lambda a, b: 0.0)
    # An owner using Claude now, outside the hours they named (an evening, a weekend), is
    # protected as in those hours: what they do beats what they wrote down.
    named = _reserved(reserve, now, end, tz)
    active = _reserved(reserve, now, end, tz, every_hour=True)
    lately = owner_used_tokens if owner_recent_tokens is None else owner_recent_tokens
    at_keyboard = lately >= ACTIVE_TOKENS and active != named
    peak = owner_peak_tokens_per_hour
    keep, why = _keep(capacity, active if at_keyboard else named, need(now, end), owner_used_tokens,
                      peak, "you are using Claude now: your reserve" if at_keyboard else "your reserve")
    next_keep, next_why = _keep(capacity, _reserved(reserve, end, end + WINDOW, tz),
                                need(end, end + WINDOW), 0.0, peak)
    burn = burn_tokens_per_min if burn_tokens_per_min and burn_tokens_per_min > 0 \
        else DEFAULT_BURN_TOKENS_PER_MIN
    minutes_left = max(0.0, (end - now).total_seconds() / 60)
    reason = why and f"{why} until {end.astimezone(tz):%H:%M}"
    if not reason and next_why:
        reason = f"{next_why} after the reset at {end.astimezone(tz):%H:%M}"
    if not known:
        reason = (f"window size unknown: assuming {capacity:,} tokens until a limit teaches it"
                  + (f"; {reason}" if reason else ""))
    rate = burn * max(1, parallel)
    return Horizon(end, capacity, known, keep, next_keep, math.floor(rate * minutes_left), reason,
                   rate, tz, start == window_start)


def stop_line(picture: Horizon) -> int | None:
    """The open window's use at which runs must pause for the owner; None when nothing is
    kept (then only the real limit stops them). Estimates can be off tenfold: admission
    alone cannot keep a promise that a run in flight breaks."""
    if picture.keep_tokens <= 0:
        return None
    return max(0, picture.capacity_tokens - picture.keep_tokens)
