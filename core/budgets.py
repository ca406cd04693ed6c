"""Money and reserve limits the owner sets (from the phone or the environment), and spend.

Three knobs, each with an environment default and an override the owner sets with
`/budget` (kept in `kv`, so it outlives restarts and beats the environment):

- `task`: the cost cap of a task that has none of its own (`--max-usd`); new tasks get it,
  and Claude gets it as `--max-budget-usd` (NIGHTSHIFT_MAX_BUDGET_USD);
- `night`: the cap across all runs of one night (NIGHTSHIFT_NIGHTLY_BUDGET_USD);
- `reserve`: the share of every window kept for the owner's own use, all day; without it
  the hour ranges of NIGHTSHIFT_RESERVE apply.

This module stores and reports them; the budget planner decides with them. A night runs
from noon to noon in the owner's zone, so one night's work is never split at midnight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

from core.errors import InvalidInput
from core.models import iso
from core.settings import Settings
from core.store.store import Store
from core.waits import WAITS_KEY as WAITS_KEY  # why ready tasks wait, per account (written by the daemon)
from core.waits import waits_view

BUDGETS_KEY = "budgets"
NIGHT_STARTS = time(12, 0)
MAX_RESERVE = 0.9
KNOBS = ("task", "night", "reserve")


def night_start(now: datetime, tz: tzinfo) -> datetime:
    """The latest noon (owner's zone) at or before `now`, in UTC."""
    local = now.astimezone(tz)
    day = local.date() if local.time() >= NIGHT_STARTS else local.date() - timedelta(days=1)
    start = datetime.combine(day, NIGHT_STARTS, tzinfo=tz).astimezone(UTC)
    if start > now:  # noon fell in a skipped hour that maps past `now`: the day before
        start = datetime.combine(day - timedelta(days=1), NIGHT_STARTS, tzinfo=tz).astimezone(UTC)
    return start


@dataclass(frozen=True, slots=True)
class Budgets:
    task_usd: float | None
    nightly_usd: float | None
    reserve_share: float | None
    """A flat share of every window; None: NIGHTSHIFT_RESERVE's hour ranges."""
    set_on_phone: frozenset[str] = frozenset()
    """Which knobs are overrides (from `/budget`) rather than the environment's."""

    def reserve_by_hour(self, settings: Settings) -> dict[int, float]:
        if self.reserve_share is None:
            return settings.reserve_by_hour
        return dict.fromkeys(range(24), self.reserve_share)

    def as_json(self) -> dict[str, Any]:
        return {"task_usd": self.task_usd, "nightly_usd": self.nightly_usd,
                "reserve_share": self.reserve_share, "set_on_phone": sorted(self.set_on_phone)}


@dataclass(frozen=True, slots=True)
class Spend:
    night_started_at: datetime
    night_usd: float
    runs: int

    def as_json(self) -> dict[str, Any]:
        return {"night_started_at": iso(self.night_started_at), "night_usd": self.night_usd,
                "runs": self.runs}


def parse_knob(knob: str, value: str) -> float | None:
    """`/budget task 2.50`, `night $10`, `reserve 20%` (or `off`): the number to store."""
    knob = knob.strip().lower()
    if knob not in KNOBS:
        raise InvalidInput(f"say which budget: {', '.join(KNOBS)} (not {knob!r})")
    raw = value.strip().lower()
    if raw in ("off", "none", "-") or (knob != "reserve" and raw in ("0", "$0")):
        return None
    text = raw.removeprefix("$").removesuffix("%")
    if not (text and text.replace(".", "", 1).isascii() and text.replace(".", "", 1).isdigit()):
        unit = "percent" if knob == "reserve" else "dollars"
        raise InvalidInput(f"{value!r} is not a number of {unit}")
    number = float(text)
    if knob == "reserve":
        share = number / 100 if raw.endswith("%") or number > 1 else number
        if not 0 <= share <= MAX_RESERVE:
            raise InvalidInput(f"the reserve is a share from 0% to {MAX_RESERVE:.0%}")
        return share
    if not (math.isfinite(number) and 0 < number <= 100_000):
        raise InvalidInput("a cap is a positive number of dollars")
    return number


async def load_budgets(store: Store, settings: Settings) -> Budgets:
    stored: dict[str, float | None] = dict(await store.kv.get(BUDGETS_KEY) or {})
    values: dict[str, float | None] = {
        "task": settings.max_budget_usd or None,
        "night": settings.nightly_budget_usd or None,
        "reserve": None,
    }
    for knob in KNOBS:
        if knob in stored:
            values[knob] = stored[knob]
    return Budgets(values["task"], values["night"], values["reserve"], frozenset(stored))


async def set_budget(store: Store, settings: Settings, knob: str, value: str) -> Budgets:
    """Override one knob from the phone (`off` turns it off, whatever the environment says)."""
    number = parse_knob(knob, value)
    stored = dict(await store.kv.get(BUDGETS_KEY) or {})
    stored[knob.strip().lower()] = number
    await store.kv.set(BUDGETS_KEY, stored)
    return await load_budgets(store, settings)


async def reset_budget(store: Store, settings: Settings, knob: str) -> Budgets:
    """Back to the environment's value for `knob`."""
    stored = dict(await store.kv.get(BUDGETS_KEY) or {})
    stored.pop(knob.strip().lower(), None)
    await store.kv.set(BUDGETS_KEY, stored)
    return await load_budgets(store, settings)


async def night_spend(store: Store, now: datetime, tz: tzinfo) -> Spend:
    """What every run started this night has cost (work, plans and priming alike)."""
    start = night_start(now, tz)
    row = await store.db.fetchone(
        "SELECT COALESCE(SUM(cost_usd), 0), COUNT(*) FROM runs WHERE started_at >= ? AND started_at <= ?",
        (iso(start), iso(now)),
    )
    total, count = (float(row[0]), int(row[1])) if row else (0.0, 0)
    return Spend(start, total, count)


def budget_lines(budgets: Budgets, spend: Spend, settings: Settings) -> list[str]:
    """Spend against the caps, in plain words (for /budget and the daily summary)."""
    def origin(knob: str) -> str:
        return " (set on the phone)" if knob in budgets.set_on_phone else ""

    night = f"${spend.night_usd:.2f} spent tonight by {spend.runs} run{'s' if spend.runs != 1 else ''}"
    if budgets.nightly_usd:
        share = spend.night_usd / budgets.nightly_usd * 100
        night += f", of the ${budgets.nightly_usd:.2f} nightly cap ({share:.0f}%){origin('night')}"
    else:
        night += ", no nightly cap"
    task = (f"per-task cap ${budgets.task_usd:.2f}{origin('task')}" if budgets.task_usd
            else "no per-task cap")
    if budgets.reserve_share is not None:
        reserve = f"{budgets.reserve_share:.0%} of every window kept for you{origin('reserve')}"
    elif settings.reserve:
        reserve = f"reserve by hour: {settings.reserve} (NIGHTSHIFT_RESERVE)"
    else:
        reserve = "no reserve: the whole window may be used"
    return [night, task, reserve]


async def budget_wait(store: Store, task_id: int) -> str | None:
    """Why the budget or a model limit held this task back at the daemon's last look at each
    account, if one did (a record of any shape: a daemon upgraded mid-night wrote the old one)."""
    return waits_view(await store.kv.get(WAITS_KEY)).get(task_id)
