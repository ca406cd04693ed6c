"""One dispatch round: the gates in order, then the claim order.

Gates, each of which can stop the round: the owner's pause (`/pause`), the limit gate
(which may release a due reset first), quiet hours, the hold after a run could not start,
free slots, and the probe after a reset. Claim order: tasks a reset released (the
interrupted one first), then a task to plan, then the ready tasks the window's budget
plan picked, by priority. Never two runs in one repository.
"""

from __future__ import annotations

import logging
from datetime import datetime

from core.daemon.follower import Follower
from core.daemon.gate import LimitGate
from core.daemon.seams import ParallelLimit
from core.daemon.timers import Job, Once, Timers
from core.daemon.usage import UsageWatch
from core.daemon.wake import Doorbell, Round
from core.log import event
from core.models import Task, TaskState, iso
from core.scheduling.budget import Candidate, WindowCapacity, WindowPlan, plan_window
from core.scheduling.estimates import window_capacity
from core.scheduling.estimator import Estimator
from core.scheduling.hours import is_quiet, quiet_ends_at
from core.service import Service


class Dispatcher:
    def __init__(
        self,
        service: Service,
        *,
        follower: Follower,
        gate: LimitGate,
        timers: Timers,
        usage: UsageWatch,
        doorbell: Doorbell,
        estimator: Estimator,
        planning: bool,
        parallel_limit: ParallelLimit | None = None,
        burst: bool = False,
    ) -> None:
        self.service = service
        self.settings = service.settings
        self.store = service.store
        self.follower = follower
        self.gate = gate
        self.timers = timers
        self.usage = usage
        self.doorbell = doorbell
        self.estimator = estimator
        self.planning = planning
        """A planner is wired: queued tasks get a plan before they run."""
        self.parallel_limit = parallel_limit
        self.burst = burst
        self.tz = self.settings.local_tz

    async def round(self, round_: Round) -> list[int]:
        """One round: start what may start now. Returns the ids started."""
        now = self.service.now()
        if self.doorbell.stopping:
            return []
        await self.follower.follow_orphans(now)
        if await self.service.queue_paused():
            return []
        check = await self.gate.check(now)
        if check.closed:
            return []
        round_ = check.round or round_
        if not self.burst and is_quiet(self.settings.quiet_hour_set, now, self.tz):
            end = quiet_ends_at(self.settings.quiet_hour_set, now, self.tz)
            if end is not None:
                self.timers.place(Job("quiet-end", Once(end), self._ring_quiet_over))
            return []
        if self.follower.holding(now):
            return []
        free = await self._max_parallel(now) - len(self.follower.active)
        if free <= 0:
            return []
        if check.after_reset and self.gate.probing(now, self.follower.run_starts()):
            return []
        return await self._claim(now, round_, free, alone=check.after_reset)

    async def _claim(self, now: datetime, round_: Round, free: int, *, alone: bool) -> list[int]:
        """Claim and start up to `free` tasks; `alone`: after a reset one run goes first."""
        started: list[int] = []
        resuming = [i for i in self.gate.resume_first if i not in self.follower.active]
        plan = await self._plan(now, round_)
        for _ in range(free):
            busy = self.follower.busy_repos()
            task = None
            if resuming:
                task = await self.store.tasks.claim_next(
                    now, exclude_repos=busy, only_ids=resuming, reason="resumed after reset"
                )
            if task is None and not resuming:
                planning = await self._claim_planning(now)
                if planning is not None:
                    self.follower.start_planning(planning, now)
                    started.append(planning.id)
                    if alone:
                        break
                    continue
            if task is None:
                allowed = None if plan is None else list(plan.picked)
                task = await self.store.tasks.claim_next(
                    now, exclude_repos=busy, only_ids=allowed, reason=round_.reason
                )
            if task is None:
                break
            self.gate.resumed(task.id)
            estimate = await self.estimator.estimate(task)
            budget = plan.budget_tokens if plan else None
            self.follower.start_work(task, round_.scheduled_for, now, estimate, budget)
            started.append(task.id)
            if alone:
                break  # after a reset one run goes first; the rest follow once it gets through
        if plan is not None and plan.deferred:
            event(
                "deferred",
                level=logging.DEBUG,
                budget=plan.budget_tokens,
                reasons={str(k): v for k, v in plan.reasons.items()},
            )
        return started

    async def _ring_quiet_over(self) -> None:
        self.doorbell.ring("quiet hours over")

    async def _max_parallel(self, now: datetime) -> int:
        if self.parallel_limit is None:
            return self.settings.max_parallel
        return await self.parallel_limit(now, self.usage.window_end(now))

    async def _claim_planning(self, now: datetime) -> Task | None:
        """A task to plan: one left in `planning` (a revision, a restart), else a queued one."""
        if not self.planning:
            return None
        for task in await self.store.tasks.query([TaskState.PLANNING]):
            if task.id not in self.follower.active:
                return task
        return await self.store.tasks.claim_next(
            now, source=TaskState.QUEUED, target=TaskState.PLANNING, deps_done=False, reason="planning"
        )

    async def planning_pending(self) -> bool:
        if not self.planning:
            return False
        return await self.store.tasks.count([TaskState.QUEUED, TaskState.PLANNING]) > 0

    async def _plan(self, now: datetime, round_: Round) -> WindowPlan | None:
        """The budget plan for this window, or None to hold nothing back."""
        if self.burst:
            return None
        ready = await self.store.tasks.runnable(now)
        if not ready:
            return None
        capacity = self.capacity(round_.fresh_window)
        resuming = set(self.gate.resume_first)
        histories: dict[str | None, list[int]] = {}
        candidates = []
        for task in ready:
            if task.repo not in histories:
                histories[task.repo] = await self.estimator.history(task.repo)
            candidates.append(
                Candidate(
                    task_id=task.id,
                    priority=int(task.priority),
                    estimate_tokens=await self.estimator.estimate(task, histories[task.repo]),
                    rank=(iso(task.created_at),),
                    resuming=task.id in resuming,
                )
            )
        return plan_window(candidates, capacity, self.settings.reserve_by_hour, now, self.tz)

    def capacity(self, fresh_window: bool) -> WindowCapacity | None:
        """The window's size and spend (runs in flight count at their estimates)."""
        state = self.usage.last
        return window_capacity(
            utilization=state.utilization if state is not None else None,
            tokens_used=state.tokens_used if state is not None else None,
            largest_block_tokens=state.capacity_tokens if state is not None else None,
            setting_tokens=self.settings.window_capacity_tokens,
            fresh_window=fresh_window,
            in_flight_tokens=self.follower.in_flight_tokens(),
        )
