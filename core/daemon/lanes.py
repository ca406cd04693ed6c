"""One lane per Claude account: its window picture (usage watch) and its limit gate.

An account's limit pauses only its lane; the dispatcher offers work to the open lanes, the
least used first, and a task whose session lives in an account goes back to that account's
lane (a run's `--resume` only finds the session there). Without NIGHTSHIFT_ACCOUNTS there is
one lane, and the daemon behaves as before accounts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from core.accounts import Account
from core.daemon.gate import LimitGate
from core.daemon.model_limits import ModelHolds
from core.daemon.priming import Primer
from core.daemon.usage import UsageWatch
from core.models import Task
from core.pace import account_pace
from core.scheduling.owner import OwnerUseBook
from core.scheduling.pacing import WeeklyPace
from core.scheduling.priming import WINDOW_LENGTH
from core.settings import Settings
from core.store.store import Store

OwnerUse = Callable[[datetime], Awaitable[OwnerUseBook | None]]
"""The owner's own use per hour, learned from an account's logs less nightshift's runs."""


@dataclass(eq=False)
class Lane:
    account: Account
    usage: UsageWatch
    gate: LimitGate
    models: ModelHolds
    """The model families (Opus, Sonnet) whose weekly limit holds the work that needs them."""
    primer: Primer
    """Opens this account's window early (NIGHTSHIFT_PRIME_AT, work hours) on its own."""
    pace: WeeklyPace | None = None
    """Today's weekly pace, as of the last usage scan (None: the week is not known)."""
    held_on: date | None = None
    """The day the pace last held this account (said once a day)."""
    owner_use: OwnerUse | None = None
    """The owner's own use of this account per hour (its logs less nightshift's sessions)."""
    first: bool = False
    """The first account named: runs and tasks from before accounts (none recorded) are its."""

    async def owner_expected(self, now: datetime) -> float:
        """Tokens the owner is expected to use on this account over the next five hours."""
        book = await self.owner_use(now) if self.owner_use is not None else None
        return book.expected(now, now + WINDOW_LENGTH, now) if book is not None else 0.0

    @property
    def key(self) -> str:
        return self.account.key

    def used(self, now: datetime) -> float:
        """How much of this account's open window is spent, 0..1 (0 when nothing is known)."""
        state = self.usage.last
        if state is None or self.usage.window_end(now) is None:
            return 0.0
        percent = state.percent_used
        return 0.0 if percent is None else percent / 100


class Lanes:
    def __init__(self, lanes: Sequence[Lane]) -> None:
        if not lanes:
            raise ValueError("a daemon needs at least one account")
        self._lanes = tuple(lanes)

    def __iter__(self) -> Iterator[Lane]:
        return iter(self._lanes)

    def __len__(self) -> int:
        return len(self._lanes)

    @property
    def first(self) -> Lane:
        """The first account named: plan runs, priming and tasks of unknown accounts use it."""
        return self._lanes[0]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(lane.key for lane in self._lanes)

    def get(self, key: str | None) -> Lane:
        """The lane of account `key`; the first for None or an account this machine lacks."""
        return next((lane for lane in self._lanes if lane.key == key), self.first)

    def for_task(self, task: Task) -> Lane:
        """Where a task's session lives (a task without one belongs to the first lane)."""
        return self.get(task.account)

    def by_use(self, now: datetime) -> list[Lane]:
        """The accounts to offer work to, least used first (ties in the order they are named)."""
        order = {lane.key: i for i, lane in enumerate(self._lanes)}
        return sorted(self._lanes, key=lambda lane: (lane.used(now), order[lane.key]))

    async def by_owner_use(self, now: datetime) -> list[Lane]:
        """The accounts the owner is expected to use least in the hours ahead first, then the
        least used now: work goes where it takes least from the owner."""
        if len(self._lanes) == 1:
            return list(self._lanes)
        expected = {lane.key: await lane.owner_expected(now) for lane in self._lanes}
        order = {lane.key: i for i, lane in enumerate(self.by_use(now))}
        return sorted(self._lanes, key=lambda lane: (expected[lane.key], order[lane.key]))

    @property
    def monitored(self) -> bool:
        return any(lane.usage.monitor is not None for lane in self._lanes)

    async def refresh_usage(self, settings: Settings, store: Store, clock: Callable[[], datetime]) -> None:
        """Every account's window, each limit pausing its own lane, and each account's weekly
        pace (the first reading of a day is kept as the day's start)."""
        for lane in self._lanes:
            await lane.gate.refresh_usage()
            monitor = lane.usage.monitor
            if monitor is not None:
                lane.pace = await account_pace(settings, store, lane.account, monitor, lane.usage.last,
                                               clock(), record=True)

    async def prime(self) -> None:
        """The `prime-HHMM` job: every account's window."""
        for lane in self._lanes:
            await lane.primer.prime()

    async def prime_for_work(self) -> None:
        """The `work-prime` job: every account's window opens as the owner starts work."""
        for lane in self._lanes:
            await lane.primer.prime_for_work()

    async def on_cron(self) -> None:
        """An owner's fixed reset time: every account's window (the owner's times are the owner's)."""
        for lane in self._lanes:
            await lane.gate.on_cron()

    def pace_text(self) -> str:
        """Each account's weekly pace as last seen, for the end of the window summary."""
        several = len(self._lanes) > 1
        lines = [f"{lane.account.name + ': ' if several else ''}{lane.pace.text()}"
                 for lane in self._lanes if lane.pace is not None]
        return "\n\nWeekly pace:\n" + "\n".join(lines) if lines else ""
