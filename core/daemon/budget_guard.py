"""What the queue may spend, per account, without taking the owner's share: the daemon's budget.

The owner's nightly cap (`/budget night`); each account's window (its size, what nightshift
and the owner used of it, the reserve and the owner's learned use kept for them, the burn
rate of a run spilling past the reset: `core.scheduling.protect.horizon`, the same code the
simulator runs); what of the dispatcher's candidates fits (`plan_protected`); the stop line
that pauses runs in flight once the window reaches the owner's share; and why a ready task
waits, kept per account for `show` and the phone (the one writer of the waits record,
`core.waits`: each account's look replaces only that account's reasons).

The dispatcher says which tasks could start on an account and the follower which runs are in
flight; this decides what the budget allows. Built once by the assembly.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime

from core.accounts import accounts
from core.budgets import load_budgets, night_spend
from core.daemon.lanes import Lane
from core.log import event
from core.models import Task
from core.scheduling.budget import ANYTIME_TAG, Candidate, WindowCapacity, WindowPlan, plan_protected
from core.scheduling.estimates import choose_capacity, window_capacity
from core.scheduling.estimator import Estimator
from core.scheduling.priming import WINDOW_LENGTH
from core.scheduling.protect import Horizon, horizon, stop_line
from core.settings import Settings
from core.store.store import Store
from core.waits import BUDGET, MODELS, WAITS_KEY, Waits, same_record

MEASURED_UTILIZATION = ("endpoint", "stream")
EXACT_CAPACITY_SOURCES = ("usage endpoint", "NIGHTSHIFT_WINDOW_CAPACITY_TOKENS")
"""Where a window's size is known for sure; the largest block seen is only a lower bound."""


class BudgetGuard:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        estimator: Estimator,
        *,
        pause_run: Callable[[int], bool] | None = None,
        burst: bool = False,
    ) -> None:
        self.settings = settings
        self.store = store
        self.estimator = estimator
        """Its burn rate says how much of a run spills past the reset."""
        self.pause_run = pause_run
        """Stops a live run to keep the owner's share (the executor's `pause_for_budget`)."""
        self.burst = burst
        """A burst run (`run --burst`) holds nothing back: the owner asked for it now."""
        self.tz = settings.local_tz
        self.order = tuple(account.key for account in accounts(settings))
        """This machine's accounts as named: the order their reasons are told in."""

    async def night_spent(self, now: datetime) -> bool:
        """The owner's nightly cap (`/budget night`) is reached: nothing new starts tonight."""
        if self.burst:
            return False
        budgets = await load_budgets(self.store, self.settings)
        if budgets.nightly_usd is None:
            return False
        spend = await night_spend(self.store, now, self.tz)
        if spend.night_usd < budgets.nightly_usd:
            return False
        reason = (f"tonight's spend ${spend.night_usd:.2f} reached your nightly cap "
                  f"${budgets.nightly_usd:.2f}; work waits for tomorrow's night (noon)")
        ready = await self.store.tasks.runnable(now)
        await self._update(lambda _: Waits.everywhere({t.id: reason for t in ready}), now)
        return True

    async def plan(
        self, now: datetime, lane: Lane, candidates: Sequence[Candidate], *,
        committed_tokens: int, fresh_window: bool = False, ready: Collection[int] | None = None,
    ) -> WindowPlan:
        """What of `candidates` may start on `lane` now; why the rest waits is recorded for
        this account. `committed_tokens`: what the runs in flight there are expected to spend
        still; `ready`: every task ready at this look, on any account (the others' reasons for
        tasks no longer ready go)."""
        picture, used = await self.horizon(now, lane, fresh_window=fresh_window)
        plan = plan_protected(list(candidates), used_tokens=used, committed_tokens=committed_tokens,
                              horizon=picture)
        await self.record_waits(lane.key, plan.reasons, now, ready=ready)
        return plan

    async def horizon(self, now: datetime, lane: Lane, *, fresh_window: bool = False) -> tuple[Horizon, int]:
        """What is kept for the owner from now on, and what the open window has used.

        The same code the simulator runs (`core.scheduling.protect`): the reserve over the
        window's whole span net of the owner's own use in it, their learned use, and the
        next window where a run spills past the reset. Per account: its own window."""
        state = lane.usage.last
        # Only a measured utilization tells the window's size: the monitor also derives one
        # from the logs (used / largest block), which would call any window full.
        measured = state is not None and dict(state.sources).get("utilization") in MEASURED_UTILIZATION
        choice = choose_capacity(
            utilization=state.utilization if measured and not fresh_window and state else None,
            tokens_used=state.tokens_used if state is not None else None,
            largest_block_tokens=state.capacity_tokens if state is not None else None,
            setting_tokens=self.settings.window_capacity_tokens,
        )
        capacity, exact = choice.tokens, choice.source in EXACT_CAPACITY_SOURCES
        if not exact and self.settings.window_capacity_tokens > 0:
            # The owner's own figure beats a lower bound read off the largest block seen.
            capacity, exact = self.settings.window_capacity_tokens, True
        window_start = None if fresh_window or state is None else state.window_start
        used = 0 if window_start is None or state is None else int(state.tokens_used)
        ours = await self._our_tokens_in(now, lane) if used else 0
        book = await lane.owner_use(now) if lane.owner_use is not None else None
        picture = horizon(
            now, window_start=window_start, capacity_tokens=capacity, capacity_exact=exact,
            reserve=(await load_budgets(self.store, self.settings)).reserve_by_hour(self.settings),
            owner_need=(lambda a, b: book.expected(a, b, now)) if book is not None else None,
            tz=self.tz, burn_tokens_per_min=await self.estimator.burn_tokens_per_min(now),
            parallel=self.settings.max_parallel, owner_used_tokens=max(0, used - ours),
            owner_peak_tokens_per_hour=book.peak_per_hour(now) if book is not None else None,
            owner_recent_tokens=book.use_lately(now) if book is not None else None,
        )
        return picture, used

    async def _our_tokens_in(self, now: datetime, lane: Lane) -> int:
        """Tokens nightshift's own runs spent in the open window (the rest is the owner's).

        A run that overlaps the window counts whole: counting too much of it as ours only
        makes the owner's share look smaller, and so keeps more of the window for them."""
        end = lane.usage.window_end(now)
        if end is None:
            return 0
        start = end - WINDOW_LENGTH
        runs = await self.store.runs.between(start - WINDOW_LENGTH, end)
        return sum(r.tokens.total for r in runs if (r.finished_at is None or r.finished_at >= start)
                   and (r.account == lane.key or (lane.first and r.account is None)))

    async def enforce_stop_line(self, now: datetime, lane: Lane, running: Sequence[Task]) -> list[int]:
        """Pause `lane`'s runs in flight once its window's use reaches what is kept for the owner.

        Estimates can be off tenfold: a run admitted with room to spare can still eat into the
        owner's share, and admission alone cannot keep that promise. Runs of tasks tagged
        `anytime` go on; the others end `interrupted` and resume their sessions later.
        Returns the ids of the tasks paused."""
        if self.burst or self.pause_run is None or not running:
            return []
        picture, used = await self.horizon(now, lane)
        line = stop_line(picture)
        if line is None or used < line:
            return []
        stopped = [task.id for task in running if ANYTIME_TAG not in task.tags and self.pause_run(task.id)]
        if stopped:
            event("budget stop", tasks=stopped, used=used, line=line, reason=picture.reason,
                  account=lane.account.name)
        return stopped

    def capacity(self, lane: Lane, *, fresh_window: bool, in_flight_tokens: int) -> WindowCapacity | None:
        """An account's window: its size and spend (runs in flight count at their estimates)."""
        state = lane.usage.last
        return window_capacity(
            utilization=state.utilization if state is not None else None,
            tokens_used=state.tokens_used if state is not None else None,
            largest_block_tokens=state.capacity_tokens if state is not None else None,
            setting_tokens=self.settings.window_capacity_tokens,
            fresh_window=fresh_window,
            in_flight_tokens=in_flight_tokens,
        )

    async def record_waits(self, account: str, reasons: dict[int, str], now: datetime, *,
                           ready: Collection[int] | None = None) -> None:
        """Why each ready task waits on `account`'s budget, as of this look: replaces that
        account's last budget reasons only (another account's, and model limits', stay)."""
        await self._update(lambda waits: waits.with_account(account, BUDGET, reasons, ready=ready), now)

    async def record_model_waits(self, account: str, reasons: dict[int, str], now: datetime, *,
                                 ready: Collection[int] | None = None) -> None:
        """Which ready tasks wait for a model limit on `account`, as of this look (replacing
        that account's last ones; kept beside its budget's, which the model's reason beats)."""
        await self._update(lambda waits: waits.with_account(account, MODELS, reasons, ready=ready), now)

    async def _update(self, change: Callable[[Waits], Waits], now: datetime) -> None:
        """Apply `change` to the record as kept; written only when it says something new (no
        record and nothing to say: nothing written, as before any wait)."""
        raw = await self.store.kv.get(WAITS_KEY)
        waits = change(Waits.parse(raw))
        if raw is None and waits.empty:
            return
        record = waits.as_json(now, self.order)
        if not same_record(raw, record):
            await self.store.kv.set(WAITS_KEY, record)
