"""The usage window as the owner asks about it: limits, each account, weekly pace, primes.

Reads what the daemon's monitors last saw when the daemon runs (no log scan, no request to
the usage endpoint on a command); a CLI command without a daemon opens a monitor of its own
for the one answer and closes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, time
from typing import TYPE_CHECKING

from core.scheduling.priming import prime_times
from core.scheduling.workhours import PlannedPrime, parse_work_hours, planned_primes
from core.service.context import ServiceContext

if TYPE_CHECKING:
    from core.accounts import Account
    from core.scheduling.pacing import WeeklyPace
    from core.usage.monitor import LimitState, UsageMonitor


class UsageView:
    def __init__(
        self,
        ctx: ServiceContext,
        usage_monitor: UsageMonitor | None = None,
        account_monitors: Mapping[str, UsageMonitor] | None = None,
    ) -> None:
        """`usage_monitor`: the daemon's (of its first account); `account_monitors`: each
        account's by name, when NIGHTSHIFT_ACCOUNTS names several."""
        self.ctx = ctx
        self.usage_monitor = usage_monitor
        self.account_monitors = dict(account_monitors or {})

    async def planned_primes(self, now: datetime | None = None) -> list[PlannedPrime]:
        """The primes planned for the next day and a half: NIGHTSHIFT_PRIME_AT's times and one
        five hours before each start of work (NIGHTSHIFT_WORK_HOURS, else the start of the
        owner's day learned from their own use), as `usage` shows them."""
        settings = self.ctx.settings
        now = now or self.ctx.now()
        work = parse_work_hours(settings.work_hours)
        learned = None if work is not None else await self._learned_start(now)
        return planned_primes(now, prime_at=prime_times(settings.prime_at), work=work,
                              learned_start=learned, tz=settings.local_tz)

    @asynccontextmanager
    async def _monitor(self, account: Account | None = None) -> AsyncIterator[UsageMonitor]:
        """The daemon's monitor of the first account when it runs, else one opened for this
        answer (of `account`, by default the first) and closed after it."""
        from core.accounts import accounts, usage_monitor

        settings = self.ctx.settings
        if account is None and self.usage_monitor is not None:
            yield self.usage_monitor
            return
        monitor = usage_monitor(settings, self.ctx.store, account or accounts(settings)[0])
        try:
            yield monitor
        finally:
            await monitor.close()

    async def _learned_start(self, now: datetime) -> time | None:
        """The owner's learned day start, from what the usage index holds (no scan)."""
        from core.daemon.owner import OwnerUseSource, day_start

        async with self._monitor() as monitor:
            return await day_start(OwnerUseSource(monitor, self.ctx.store, self.ctx.settings.local_tz), now)

    async def usage(self) -> LimitState:
        """The usage window and limit state from what is known (no log scan, no fetch)."""
        async with self._monitor() as monitor:
            return await monitor.state(self.ctx.now())

    async def usage_by_account(self) -> list[tuple[str, LimitState]]:
        """Each account's window and limit state (one entry without NIGHTSHIFT_ACCOUNTS)."""
        if self.account_monitors:
            return [(name, await m.state(self.ctx.now())) for name, m in self.account_monitors.items()]
        from core.accounts import accounts

        settings = self.ctx.settings
        if self.usage_monitor is not None:  # one monitor given without accounts: the one account
            return [(accounts(settings)[0].name, await self.usage())]
        out = []
        for account in accounts(settings):
            async with self._monitor(account) as monitor:
                out.append((account.name, await monitor.state(self.ctx.now())))
        return out

    async def weekly_paces(self) -> dict[str, WeeklyPace | None]:
        """Each account's weekly pace as the daemon's monitors last saw the week (by name)."""
        if not self.account_monitors:
            return {}
        from core.accounts import accounts
        from core.pace import account_pace

        settings = self.ctx.settings
        found = {a.name: a for a in accounts(settings)}
        out: dict[str, WeeklyPace | None] = {}
        for name, monitor in self.account_monitors.items():
            if name in found:
                out[name] = await account_pace(settings, self.ctx.store, found[name], monitor,
                                               monitor.last_state, self.ctx.now(), record=False)
        return out
