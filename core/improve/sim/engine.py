"""The simulated world: usage windows, runs that burn tokens, limits, and the owner's own use.

A discrete-event simulation. From each moment the engine computes the next one anything
can change (an arrival, the owner's use, a run finishing, the window filling up, a window
resetting, a policy's wake-up), moves the virtual clock there, applies what happened and
asks the policy what to start. Windows follow the subscription's rules as DESIGN.md
states them: a 5-hour window opens with the first use (at the full hour), holds a fixed
number of tokens, and a run that hits the limit pauses and later resumes its session,
paying a resume overhead to re-read its context. With several accounts each has its own
windows; the owner uses the first, and a task resumes on the account holding its session.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.improve.sim.clock import VirtualClock
from core.improve.sim.config import SimConfig, SimResult
from core.improve.sim.policies import (
    MidnightCron,
    Policy,
    QueuedTask,
    ResetAware,
    ResetAwarePacking,
    RunningTask,
    View,
)
from core.improve.sim.workload import TaskSpec, Workload, make_workload
from core.scheduling.budget import ANYTIME_TAG as ANYTIME
from core.scheduling.hours import parse_hour_ranges

WINDOW = timedelta(hours=5)
WARNING_SHARE = 0.9
"""Where the CLI starts reporting utilization (`allowed_warning`, reference section 7)."""
EPSILON_TOKENS = 1e-3


def _after(seconds: float) -> timedelta:
    """A delay rounded *up* to a whole microsecond, so time always moves past `now`."""
    return timedelta(microseconds=max(1, math.ceil(seconds * 1_000_000)))


@dataclass
class _Task:
    spec: TaskSpec
    remaining: float
    spent: float = 0.0
    state: str = "future"  # future | queued | running | paused | done
    account: int | None = None
    """The account that holds the task's Claude session once it started: it resumes there."""
    ready_at: datetime | None = None
    started_first: datetime | None = None
    run_started: datetime | None = None
    minutes: float = 0.0
    done_at: datetime | None = None


@dataclass
class _Window:
    account: int
    start: datetime
    end: datetime
    used: float = 0.0
    owner: float = 0.0


@dataclass
class _Account:
    index: int
    window: _Window | None = None
    capacity_seen: bool = False


@dataclass
class World:
    workload: Workload
    config: SimConfig
    policy: Policy
    clock: VirtualClock = field(init=False)
    tasks: dict[int, _Task] = field(default_factory=dict)
    accounts: list[_Account] = field(default_factory=list)
    windows: list[_Window] = field(default_factory=list)
    next_owner: int = 0
    limit_hits: int = 0
    owner_tokens: float = 0.0
    owner_blocked: float = 0.0
    overhead_tokens: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    reserve: dict[int, float] = field(default_factory=dict)
    budget_stops: int = 0

    def __post_init__(self) -> None:
        self.clock = VirtualClock(self.workload.start)
        self.tasks = {t.id: _Task(t, float(t.tokens)) for t in self.workload.tasks}
        self.accounts = [_Account(i) for i in range(max(1, self.config.accounts))]
        self.reserve = parse_hour_ranges(self.config.reserve)
        for use in self.workload.history:
            self.policy.on_owner_use(use.at, use.tokens)

    @property
    def now(self) -> datetime:
        return self.clock()

    @property
    def window(self) -> _Window | None:
        """The owner's account's open window (the only one with a single account)."""
        return self.accounts[0].window

    # --- the world's rules ----------------------------------------------------------------

    def running(self, account: int | None = None) -> list[_Task]:
        return [t for t in self.tasks.values()
                if t.state == "running" and (account is None or t.account == account)]

    def _open_window(self, account: int) -> _Window:
        acct = self.accounts[account]
        if acct.window is None:
            start = self.now.replace(minute=0, second=0, microsecond=0)
            acct.window = _Window(account, start, start + WINDOW)
            self.windows.append(acct.window)
        return acct.window

    def _burn_rate_per_s(self, account: int) -> float:
        return sum(t.spec.burn_per_min / 60.0 for t in self.running(account))

    def advance(self, moment: datetime) -> None:
        seconds = (moment - self.now).total_seconds()
        for acct in self.accounts:
            if seconds <= 0 or acct.window is None:
                continue
            running = self.running(acct.index)
            wants = [min(t.remaining, t.spec.burn_per_min / 60.0 * seconds) for t in running]
            left = max(0.0, self.config.capacity_tokens - acct.window.used)
            # Moments are whole microseconds, so the last one can overshoot the window by a
            # hair; share what is left instead, so a window never holds more than it can.
            scale = min(1.0, left / sum(wants)) if sum(wants) > 0 else 1.0
            for task, want in zip(running, wants, strict=True):
                spend = want * scale
                task.remaining -= spend
                task.spent += spend
                acct.window.used += spend
        self.clock.advance_to(moment)

    def next_moment(self) -> datetime | None:
        now = self.now
        moments: list[datetime] = []
        future = [t.spec.arrival for t in self.tasks.values() if t.state == "future"]
        if future:
            moments.append(min(future))
        if self.next_owner < len(self.workload.owner):
            moments.append(self.workload.owner[self.next_owner].at)
        for acct in self.accounts:
            window = acct.window
            if window is None:
                continue
            moments.append(window.end)
            rate = self._burn_rate_per_s(acct.index)
            if rate > 0:
                left = max(0.0, self.config.capacity_tokens - window.used)
                moments.append(now + _after(left / rate))
                line = self._line(acct.index)
                if line is not None and line > window.used:
                    moments.append(now + _after((line - window.used) / rate))
        for task in self.running():
            moments.append(now + _after(task.remaining / (task.spec.burn_per_min / 60)))
        for acct in self.accounts:
            wake = self.policy.wake_at(self.view(acct.index))
            if wake is not None and wake > now:
                moments.append(wake)
        later = [m for m in moments if m >= now]
        return min(later) if later else None

    def _exhausted(self, account: int) -> bool:
        window = self.accounts[account].window
        return window is not None and window.used >= self.config.capacity_tokens - EPSILON_TOKENS

    def _line(self, account: int) -> float | None:
        if self.accounts[account].window is None or not any(
            ANYTIME not in t.spec.tags for t in self.running(account)
        ):
            return None
        return self.policy.stop_line(self.view(account))

    def _pause(self, tasks: list[_Task], until: datetime) -> None:
        """Runs stop and will resume their sessions, paying to re-read their context."""
        for task in tasks:
            task.state = "paused"
            task.minutes += (self.now - (task.run_started or self.now)).total_seconds() / 60
            overhead = task.spec.tokens * self.config.resume_overhead
            task.remaining += overhead
            self.overhead_tokens += overhead
            task.ready_at = until

    def _limit(self, account: int) -> None:
        """The account's window is empty: its runs pause, to resume their sessions there
        after its reset."""
        acct = self.accounts[account]
        assert acct.window is not None
        self.limit_hits += 1
        acct.capacity_seen = True
        self._pause(self.running(account), acct.window.end)
        self.policy.on_limit(self.now, acct.window.end, account)

    def _owner_uses(self, now: datetime) -> None:
        while (self.next_owner < len(self.workload.owner)
               and self.workload.owner[self.next_owner].at <= now):
            use = self.workload.owner[self.next_owner].tokens
            self.next_owner += 1
            window = self._open_window(0)
            take = min(float(use), max(0.0, self.config.capacity_tokens - window.used))
            window.used += take
            window.owner += take
            self.owner_tokens += take
            self.owner_blocked += use - take
            if take > 0:
                self.policy.on_owner_use(now, take)

    def step(self) -> None:
        now = self.now
        for acct in self.accounts:
            if acct.window is not None and now >= acct.window.end:
                acct.window = None
                if self.running(acct.index):
                    self._open_window(acct.index)  # runs go on: their next call opens the next
        self._owner_uses(now)
        for task in self.tasks.values():
            if task.state == "future" and task.spec.arrival <= now:
                task.state = "queued"
                task.ready_at = task.spec.arrival
        for task in self.running():
            if task.remaining <= EPSILON_TOKENS:
                task.state = "done"
                task.done_at = now
                task.minutes += (now - (task.run_started or now)).total_seconds() / 60
                self.policy.on_finish(task.spec.tags, task.spent, task.minutes)
        for acct in self.accounts:
            if self.running(acct.index) and self._exhausted(acct.index):
                self._limit(acct.index)
            window = acct.window
            if window is not None and window.used >= WARNING_SHARE * self.config.capacity_tokens:
                # The CLI's rate_limit_event says `allowed_warning` with the utilization: the
                # daemon knows the window's size from then on, as it would from a limit.
                acct.capacity_seen = True
            line = self._line(acct.index)
            if line is not None and window is not None and window.used >= line - EPSILON_TOKENS:
                self.budget_stops += 1
                self._pause([t for t in self.running(acct.index) if ANYTIME not in t.spec.tags], now)
        # Accounts the owner does not use first: theirs is offered work last.
        for acct in sorted(self.accounts, key=lambda a: a.index == 0):
            self._start(self.policy.starts(self.view(acct.index)), acct.index)

    def _start(self, ids: list[int], account: int) -> None:
        for task_id in ids:
            task = self.tasks[task_id]
            if task.state not in ("queued", "paused") or task.account not in (None, account):
                continue
            if len(self.running(account)) >= self.config.max_parallel:
                continue
            window = self._open_window(account)
            ready = max([task.ready_at or task.spec.arrival]
                        + [self.tasks[d].done_at or self.now for d in task.spec.depends_on])
            self.latencies_s.append(max(0.0, (self.now - ready).total_seconds()))
            task.started_first = task.started_first or self.now
            task.run_started = self.now
            task.state = "running"
            task.account = account
            if window.used >= self.config.capacity_tokens - EPSILON_TOKENS:
                self._limit(account)  # refused at once: the window is already spent
                break

    def view(self, account: int = 0) -> View:
        """What the daemon sees of one account: its window, its runs, the shared queue, and
        the paused tasks whose sessions it holds."""
        queue = []
        for task in self.tasks.values():
            if task.state not in ("queued", "paused") or task.account not in (None, account):
                continue
            waiting = tuple(d for d in task.spec.depends_on if self.tasks[d].state != "done")
            queue.append(QueuedTask(task.spec.id, task.spec.priority, task.spec.tags,
                                    task.spec.arrival, waiting, task.state == "paused", task.spent))
        running = [RunningTask(t.spec.id, t.spec.tags, t.spent) for t in self.running(account)]
        acct = self.accounts[account]
        window = acct.window
        exact = self.config.capacity_known or acct.capacity_seen
        done = [w.used for w in self.windows if w.account == account and w is not window]
        seen = round(max(done)) if done else None
        owners = account == 0
        return View(
            now=self.now, queue=queue, running=running,
            window_used=window.used if window else None,
            owner_used=window.owner if window else 0.0,
            window_start=window.start if window else None,
            window_end=window.end if window else None,
            capacity_tokens=self.config.capacity_tokens if exact else seen, capacity_exact=exact,
            max_parallel=self.config.max_parallel,
            reserve=self.reserve if owners else {}, tz=self.config.tz,
            account=account, owners=owners,
        )

    def run(self) -> SimResult:
        end = self.workload.end
        self.step()
        for _ in range(1_000_000):  # a bound, so a policy bug cannot loop forever
            moment = self.next_moment()
            if moment is None or moment >= end:
                self.advance(end)
                break
            self.advance(moment)
            self.step()
        else:
            raise RuntimeError("simulation did not reach its end: a policy never lets time move")
        return self.result()

    def result(self) -> SimResult:
        submitted = sum(1 for t in self.tasks.values() if t.spec.arrival < self.workload.end)
        completed = sum(1 for t in self.tasks.values() if t.state == "done")
        nightshift = sum(t.spent for t in self.tasks.values())
        used = sum(w.used for w in self.windows)
        possible = ((self.workload.end - self.workload.start) / WINDOW * self.config.capacity_tokens
                    * len(self.accounts))
        per_window = [w.used / self.config.capacity_tokens for w in self.windows]
        hours = [s / 3600 for s in self.latencies_s]
        return SimResult(
            policy=self.policy.name,
            submitted=submitted,
            completed=completed,
            completion_rate=completed / submitted if submitted else 0.0,
            utilization=used / possible,
            window_utilization=statistics.fmean(per_window) if per_window else None,
            windows=len(self.windows),
            limit_hits=self.limit_hits,
            budget_stops=self.budget_stops,
            nightshift_tokens=round(nightshift),
            owner_tokens=round(self.owner_tokens),
            owner_blocked_tokens=round(self.owner_blocked),
            resume_overhead_tokens=round(self.overhead_tokens),
            start_latency_mean_h=statistics.fmean(hours) if hours else None,
            start_latency_median_h=statistics.median(hours) if hours else None,
            accounts=len(self.accounts),
        )


PolicyFactory = Callable[[SimConfig], Policy]

POLICIES: dict[str, PolicyFactory] = {
    "midnight-cron": lambda c: MidnightCron(c.margin_s),
    "reset-aware": lambda c: ResetAware(c.margin_s),
    "reset-aware+packing": lambda c: ResetAwarePacking(c.margin_s,
                                                        default_tokens=c.default_task_tokens),
}


def simulate_policy(name: str, config: SimConfig, workload: Workload | None = None) -> SimResult:
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r} (known: {', '.join(POLICIES)})")
    load = workload or make_workload(config.days, config.seed, shape=config.shape,
                                     history_days=config.history_days)
    return World(load, config, POLICIES[name](config)).run()


def simulate(days: int = 14, seed: int = 1, **overrides: Any) -> dict[str, SimResult]:
    """Every policy on the same workload; same seed, same numbers."""
    config = SimConfig(days=days, seed=seed, **overrides)
    workload = make_workload(days, seed, shape=config.shape, history_days=config.history_days)
    return {name: simulate_policy(name, config, workload) for name in POLICIES}
