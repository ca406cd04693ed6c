"""One dispatch round: the gates in order, then the claim order.

Gates, each of which can stop the round: the owner's pause (`/pause`), the limit gate
(which may release a due reset first), quiet hours, the hold after a run could not start,
free slots, the probe after a reset, and the owner's nightly cap. Claim order: tasks a
reset released (the interrupted one first), then a task to plan, then the ready tasks the
window's budget lets start, by priority. Never two runs in one repository. Which tasks could
start here is the dispatcher's; what the budget allows of them is the `BudgetGuard`'s.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from core.abc import Notification
from core.cluster import NodeAgent
from core.daemon.budget_guard import BudgetGuard
from core.daemon.follower import Follower
from core.daemon.lanes import Lane, Lanes
from core.daemon.model_limits import choose_model, family, task_models
from core.daemon.seams import ParallelLimit
from core.daemon.timers import Job, Once, Timers
from core.daemon.wake import Doorbell, Round
from core.errors import NightshiftError
from core.log import event
from core.models import Task, TaskState, iso
from core.scheduling.budget import ANYTIME_TAG, Candidate, WindowPlan
from core.scheduling.estimator import Estimator
from core.scheduling.hours import is_quiet, quiet_ends_at
from core.service import Service


class Dispatcher:
    def __init__(
        self,
        service: Service,
        *,
        follower: Follower,
        lanes: Lanes,
        timers: Timers,
        doorbell: Doorbell,
        estimator: Estimator,
        budget: BudgetGuard,
        planning: bool,
        parallel_limit: ParallelLimit | None = None,
        burst: bool = False,
        node: NodeAgent | None = None,
    ) -> None:
        self.service = service
        self.node = node
        """This machine among those sharing the queue: claims name it and stay in its repositories."""
        self.settings = service.settings
        self.store = service.store
        self.follower = follower
        self.lanes = lanes
        self.timers = timers
        self.doorbell = doorbell
        self.estimator = estimator
        self.budget = budget
        """The nightly cap and each window's owner share: what of the candidates may start."""
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
        started: list[int] = []
        for lane in await self.lanes.by_owner_use(now):  # where it takes least from the owner
            check = await lane.gate.check(now)
            if check.closed:
                continue  # this account is limited; another may be open
            if await self._paced_out(lane, now):
                continue
            if not self.burst and is_quiet(self.settings.quiet_hour_set, now, self.tz):
                end = quiet_ends_at(self.settings.quiet_hour_set, now, self.tz)
                if end is not None:
                    self.timers.place(Job("quiet-end", Once(end), self._ring_quiet_over))
                return started
            if self.follower.holding(now):
                return started
            free = await self._max_parallel(now, lane) - len(self.follower.on(lane))
            if free <= 0:
                continue
            if check.after_reset and lane.gate.probing(now, self.follower.run_starts(lane)):
                continue
            if await self.budget.night_spent(now):
                return started
            started += await self._claim(lane, now, check.round or round_, free, alone=check.after_reset)
        return started

    async def _claim(
        self, lane: Lane, now: datetime, round_: Round, free: int, *, alone: bool,
    ) -> list[int]:
        """Claim and start up to `free` tasks on `lane`; `alone`: after a reset one run goes first."""
        started: list[int] = []
        holds = await lane.models.active(now)
        held = set(holds)
        runnable = await self._runnable_ids(now, holds)  # None: every task may run
        if lane.gate.resume_first:
            waiting = await self.store.tasks.query([TaskState.READY, TaskState.QUEUED])
            lane.gate.keep_resuming({t.id for t in waiting} | set(self.follower.active))
        resuming = [i for i in lane.gate.resume_first if i not in self.follower.active
                    and (runnable is None or i in runnable)]
        plan = await self._plan(lane, now, round_)
        if plan is not None and plan.in_turn:
            # A task larger than any window resumes in its turn, through the plan (`goes_first`).
            resuming = [i for i in resuming if i not in plan.in_turn]
        await self._note_model_waits(lane, now, holds, runnable)
        for _ in range(free):
            busy = self.follower.busy_repos()
            task = None
            if resuming:
                task = await self.store.tasks.claim_next(
                    now, exclude_repos=busy, only_ids=resuming, reason="resumed after reset",
                    **self._scope(lane),
                )
            if task is None and (resuming or lane is self.lanes.first):
                planning = await self._claim_planning(now, resuming)
                if planning is not None:
                    lane.gate.resumed(planning.id)
                    self.follower.start_planning(planning, now)
                    started.append(planning.id)
                    if alone:
                        break
                    continue
            if task is None:
                allowed = None if plan is None else list(plan.picked)
                if runnable is not None:
                    allowed = [i for i in (allowed if allowed is not None else runnable) if i in runnable]
                task = await self.store.tasks.claim_next(
                    now, exclude_repos=busy, only_ids=allowed, reason=round_.reason, **self._scope(lane)
                )
            if task is None:
                break
            lane.gate.resumed(task.id)
            estimate = await self.estimator.estimate(task)
            budget = plan.budget_tokens if plan else None
            _, model = choose_model(task, self.settings, held)
            self.follower.start_work(task, round_.scheduled_for, now, estimate, budget, lane, model)
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

    async def _runnable_ids(self, now: datetime, holds: dict[str, datetime]) -> set[int] | None:
        """While an Opus/Sonnet limit holds on an account: the ready tasks that may run there (on
        their own model or their fallback); the others wait for the reset or another account."""
        if not holds:
            return None
        ready = await self.store.tasks.runnable(now)
        return {t.id for t in ready if choose_model(t, self.settings, set(holds))[0]}

    async def _note_model_waits(
        self, lane: Lane, now: datetime, holds: dict[str, datetime], allowed: set[int] | None,
    ) -> None:
        """Why a ready task waits for a model family's reset on `lane`, for `show` and the
        phone (none once its holds are over: that account's last ones go)."""
        waits: dict[int, str] = {}
        ready = await self.store.tasks.runnable(now) if holds else []
        for task in ready:
            if allowed is not None and task.id in allowed:
                continue
            needs = family(task_models(task, self.settings)[0]) or min(holds, key=lambda k: holds[k])
            until = holds.get(needs) or min(holds.values())
            waits[task.id] = (
                f"it needs {needs.capitalize()}, whose weekly limit holds until"
                f" {until.astimezone(self.tz):%a %d %b %H:%M}; tag it fallback:MODEL to go on with another")
        await self.budget.record_model_waits(lane.key, waits, now,
                                             ready={t.id for t in ready} if holds else None)

    async def could_run(self, task: Task, now: datetime) -> bool:
        """Could `task` start on some account, as far as model limits go?"""
        for lane in self.lanes:
            if choose_model(task, self.settings, set(await lane.models.active(now)))[0]:
                return True
        return False

    async def _paced_out(self, lane: Lane, now: datetime) -> bool:
        """Weekly pacing (NIGHTSHIFT_WEEKLY_PACING): the account had today's part of its week.
        The owner hears it once a day per account."""
        pace = lane.pace
        if not self.settings.weekly_pacing or pace is None or not pace.hold or pace.resets_at <= now:
            return False
        if lane.held_on != pace.day:
            lane.held_on = pace.day
            event("weekly pace: holding new work", account=lane.account.name, day=pace.day.isoformat(),
                  used_today=round(pace.used_today, 4), budget_today=round(pace.budget_today, 4),
                  week_used=round(pace.utilization, 4), resets_at=iso(pace.resets_at))
            where = f" on account {lane.account.name}" if len(self.lanes) > 1 else ""
            try:
                await self.service.notifier.notify(Notification(
                    "weekly_pace", f"Weekly pace{where}: {pace.text()}. New work waits for tomorrow"
                    + (" or another account." if len(self.lanes) > 1 else "."),
                    data={"account": lane.account.name, "pace": pace.as_json()}))
            except NightshiftError as exc:
                event("weekly pace not told", logging.WARNING, error=str(exc))
        return True

    async def _ring_quiet_over(self) -> None:
        self.doorbell.ring("quiet hours over")

    async def _max_parallel(self, now: datetime, lane: Lane) -> int:
        """Runs at once on one account (its window's end may lower it)."""
        if self.parallel_limit is None:
            return self.settings.max_parallel
        return await self.parallel_limit(now, lane.usage.window_end(now))

    async def _claim_planning(self, now: datetime, resuming: list[int]) -> Task | None:
        """A task to plan: one left in `planning` (a revision, a restart), else a queued one.

        After a reset, a plan run the limit cut short goes first like resumed work: the gate
        released its task to queued, and it is the only one planned (nothing new) until then.
        """
        if not self.planning:
            return None
        for task in [] if resuming else await self.store.tasks.query([TaskState.PLANNING]):
            if task.id not in self.follower.active and self.follower.mine(task):
                return task
        return await self.store.tasks.claim_next(
            now, source=TaskState.QUEUED, target=TaskState.PLANNING, deps_done=False,
            only_ids=resuming or None, reason="resumed after reset" if resuming else "planning",
            **self._scope(),
        )

    def _scope(self, lane: Lane | None = None) -> dict[str, Any]:
        """This node's name and repositories, and the account a work run would use: a task
        whose session lives in another account is left for that one."""
        scope: dict[str, Any] = self.node.claim_scope() if self.node is not None else {}
        if lane is not None:
            scope["account"] = lane.key
            # Alone, a session of an account no longer configured can only start afresh here;
            # on a shared queue an unknown account is another machine's.
            scope["other_accounts"] = None if self.settings.shared_queue else self.lanes.keys
        return scope

    async def planning_pending(self) -> bool:
        if not self.planning:
            return False
        return await self.store.tasks.count([TaskState.QUEUED, TaskState.PLANNING]) > 0

    async def _plan(self, lane: Lane, now: datetime, round_: Round) -> WindowPlan | None:
        """The budget plan for this account's window, or None to hold nothing back (a burst run)."""
        if self.burst:
            return None
        ready = await self.store.tasks.runnable(now)
        everywhere = {t.id for t in ready}  # ready on some account: the others' reasons for them stay
        if self.node is not None:  # tasks in repositories this machine lacks are other machines'
            ready = [t for t in ready if self.node.has_repo(t)]
        # Sessions held by another of this machine's accounts resume there, not here.
        ready = [t for t in ready if not (t.session_id and t.account and t.account in self.lanes.keys
                                          and t.account != lane.key)]
        if not ready:
            await self.budget.record_waits(lane.key, {}, now, ready=everywhere)
            return None
        resuming = set(lane.gate.resume_first)
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
                    anytime=ANYTIME_TAG in task.tags,
                )
            )
        return await self.budget.plan(now, lane, candidates, fresh_window=round_.fresh_window,
                                      committed_tokens=self.follower.in_flight_tokens(lane),
                                      ready=everywhere)
