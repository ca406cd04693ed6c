"""The daemon itself: one per home, its fronts, signals, start and stop, the parts composed.

Stopping (SIGTERM, SIGINT) stops claiming and leaves live runs in tmux; the next start
adopts them. With `burst` it exits once nothing runnable is left (or a limit would keep
it waiting longer than `max_wait_s`). What the standing jobs do belongs to the parts
(`routine` for the housekeeping ones); the daemon only hands them to `timers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Mapping, Sequence
from datetime import datetime

from core.abc import Notifier
from core.accounts import Account
from core.accounts import accounts as all_accounts
from core.brain_logs import LogBook
from core.cluster import NodeAgent
from core.daemon.budget_guard import BudgetGuard
from core.daemon.dispatcher import Dispatcher
from core.daemon.follower import Follower
from core.daemon.gate import LimitGate
from core.daemon.lanes import Lane, Lanes, OwnerUse
from core.daemon.model_limits import ModelHolds
from core.daemon.node import Heartbeat, LeasedFronts
from core.daemon.owner import OwnerUseSource, day_start
from core.daemon.pause import LIMIT_PAUSE_KEY
from core.daemon.priming import LAST_PRIMED_KEY, Primer
from core.daemon.routine import Routine
from core.daemon.seams import (
    DaemonStats,
    FinishedHook,
    FrontFactory,
    ParallelLimit,
    PromptChooser,
    RunObserver,
    TaskExecutor,
    TaskPlanner,
)
from core.daemon.summary import WindowSummary
from core.daemon.timers import StandingWork, Timers, standing_jobs
from core.daemon.usage import UsageWatch
from core.daemon.wake import Background, Doorbell
from core.errors import StoreError
from core.lock import InstanceLock
from core.log import event
from core.models import Task, TaskState, iso
from core.scheduling.estimator import Estimator
from core.service import Service
from core.usage.monitor import UsageMonitor
from core.usage.serve import BlocksServer


class Daemon:
    """Built by `core.assembly.build_daemon`, which makes every collaborator once."""

    def __init__(
        self,
        service: Service,
        executor: TaskExecutor,
        *,
        doorbell: Doorbell,
        notifier: Notifier,
        logbook: LogBook,
        node: NodeAgent,
        estimator: Estimator,
        budget: BudgetGuard,
        accounts: Sequence[Account] = (),
        monitors: Mapping[str, UsageMonitor] | None = None,
        planner: TaskPlanner | None = None,
        observer: RunObserver | None = None,
        choose_prompt: PromptChooser | None = None,
        parallel_limit: ParallelLimit | None = None,
        owner_use: OwnerUse | None = None,
        on_finished: FinishedHook | None = None,
        fronts: Sequence[FrontFactory] = (),
        burst: bool = False,
        max_wait_s: float = 0.0,
        install_signal_handlers: bool = True,
    ) -> None:
        self.service = service
        self.settings = settings = service.settings
        self.store = service.store
        self.observer = observer
        self.logbook = logbook
        self.node = node
        self.fronts = LeasedFronts(fronts, node)
        self.burst = burst
        self.max_wait_s = max_wait_s
        self.install_signal_handlers = install_signal_handlers
        self.stats = DaemonStats()
        self.doorbell = doorbell
        self.timers = Timers(settings.local_tz)
        self.background = Background()
        self.heartbeat = Heartbeat(node, self.fronts, doorbell)
        self.routine = Routine(service, node=node, doorbell=doorbell, observer=observer)
        self.estimator = estimator
        self.budget = budget
        self.summary = WindowSummary(service, notifier, settings.local_tz, self.stats,
                                     lambda: self.lanes.pace_text())
        self._owner_use = owner_use
        """A test's stand-in for the first account's owner-use source."""
        self.lanes = Lanes([
            self._lane(account, (monitors or {}).get(account.key), first=i == 0)
            for i, account in enumerate(accounts or all_accounts(settings))
        ])
        self.usage = self.lanes.first.usage
        """The first account's window (priming; the only one without NIGHTSHIFT_ACCOUNTS)."""
        self.gate = self.lanes.first.gate
        self.follower = Follower(
            service.store,
            executor,
            lanes=self.lanes,
            summary=self.summary,
            estimator=self.estimator,
            doorbell=doorbell,
            stats=self.stats,
            clock=service.now,
            planner=planner,
            observer=observer,
            choose_prompt=choose_prompt,
            on_finished=on_finished,
            mine=node.mine,
        )
        self.dispatcher = Dispatcher(
            service,
            follower=self.follower,
            lanes=self.lanes,
            timers=self.timers,
            doorbell=doorbell,
            estimator=self.estimator,
            budget=budget,
            planning=planner is not None,
            parallel_limit=parallel_limit,
            burst=burst,
            node=node,
        )
        self.primer = self.lanes.first.primer
        self.usage_answers = BlocksServer([lane.usage.monitor.worker for lane in self.lanes
                                           if lane.usage.monitor is not None])
        """`usage blocks --json` polls answered from the watched, warm scanner."""
        self._loop_task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._exit_code = 0
        self._started = False

    def _lane(self, account: Account, monitor: UsageMonitor | None, *, first: bool) -> Lane:
        """One account's window picture and limit gate; its pause and jobs named apart. (The
        gate's callbacks read `self.lanes`, which exists once every lane is made.)"""
        usage = UsageWatch(monitor)
        def mine(task: Task) -> bool:
            return self.node.mine(task) and self.lanes.for_task(task).key == account.key

        suffix = "" if first else f"-{account.name}"
        models = ModelHolds(self.settings, self.store, key_scope=account.kv_scope(self.settings),
                            timers=self.timers, doorbell=self.doorbell, clock=self.service.now,
                            mine=mine, job_suffix=suffix, notifier=self.summary.notifier,
                            account=account.name if len(self.settings.accounts) > 1 else "")

        async def opened(trigger: str, scheduled_for: datetime) -> None:
            lane = self.lanes.get(account.key)
            capacity = self.budget.capacity(lane, fresh_window=True,
                                            in_flight_tokens=self.follower.in_flight_tokens(lane))
            self.summary.begin(trigger, scheduled_for, capacity.total_tokens if capacity else None)

        gate = LimitGate(
            self.store,
            margin_s=self.settings.reset_margin_s,
            timers=self.timers,
            usage=usage,
            doorbell=self.doorbell,
            background=self.background,
            stats=self.stats,
            clock=self.service.now,
            window_opened=opened,
            logbook=self.logbook,
            burst=self.burst,
            pause_key=LIMIT_PAUSE_KEY + account.kv_scope(self.settings),
            mine=mine,
            job_suffix=suffix,
            models=models,
        )
        owner = (self._owner_use if first else None) or OwnerUseSource(
            monitor, self.store, self.settings.local_tz)
        primer = Primer(
            self.settings, self.store, usage=usage, gate=gate, doorbell=self.doorbell, stats=self.stats,
            clock=self.service.now, busy=lambda: bool(self.follower.on(self.lanes.get(account.key))),
            account_env=account.child_env(), key=LAST_PRIMED_KEY + account.kv_scope(self.settings),
            learned_start=lambda now: day_start(owner, now),
        )
        return Lane(account, usage, gate, models, primer, owner_use=owner, first=first)

    # --- life cycle -----------------------------------------------------------------------

    def now(self) -> datetime:
        return self.service.now()

    @property
    def started(self) -> bool:
        """Start-up is over: runs adopted, timed jobs running, the first round asked for."""
        return self._started

    async def run(self) -> int:
        """Run until stopped (or, with `burst`, until nothing runnable is left); the exit code."""
        with InstanceLock(self.settings.home_dir):
            try:
                await self.node.join()
            except StoreError as exc:  # busy or away: the first heartbeat registers the node
                event("node not registered yet", logging.WARNING, node=self.node.name, error=str(exc))
            try:
                await self.fronts.sync()  # a front that cannot start stops the daemon here
                try:
                    await self._start()
                    await self._stop.wait()
                finally:
                    await self._shutdown()
            finally:
                await self.fronts.close()
                await self.heartbeat.leave()
        return self._exit_code

    def request_stop(self, reason: str = "stop requested") -> None:
        """Stop claiming and exit; live runs stay in tmux for the next start to adopt."""
        if not self.doorbell.stopping:
            event("stopping", reason=reason, live_runs=sorted(self.follower.active))
        self.doorbell.stop()
        self._stop.set()

    def wake(self, reason: str) -> None:
        """Ask for a dispatch round now."""
        self.doorbell.ring(reason)

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.install_signal_handlers:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self.request_stop, signal.Signals(signum).name)
        event(
            "starting",
            home=str(self.settings.home_dir),
            pid=os.getpid(),
            node=self.node.name,
            shared_queue=self.node.shared,
            burst=self.burst,
            max_parallel=self.settings.max_parallel,
            margin_s=self.settings.reset_margin_s,
        )
        await self.follower.adopt()
        await self.usage_answers.start()
        work = StandingWork(
            tick=self.routine.tick,
            import_inbox=self.routine.import_inbox,
            backup=self.routine.backup,
            cron=self.lanes.on_cron,
            prime=self.lanes.prime,
            refresh_usage=self._refresh_usage if self.lanes.monitored else None,
            retro=self.routine.retro if self.observer is not None else None,
            meta_task=self.routine.meta_task if self.observer is not None else None,
            daily_summary=self.routine.daily_summary,
            morning_digest=self.routine.morning_digest,
            work_prime=self.lanes.prime_for_work,
            heartbeat=self.heartbeat.beat,
        )
        self.timers.start(standing_jobs(self.settings, work, burst=self.burst))
        for lane in self.lanes:
            await lane.gate.restore()
            await lane.models.restore()
        if self.lanes.monitored:
            await self._refresh_usage()  # the first round knows the windows it is in
        self._loop_task = asyncio.create_task(self._dispatch_loop(), name="dispatcher")
        self.doorbell.ring("start")
        self._started = True

    async def _shutdown(self) -> None:
        self.doorbell.stop()
        if self.install_signal_handlers:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
        self.timers.stop()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        live = await self.follower.stop()
        await self.background.cancel()
        await self.usage_answers.close()
        for lane in self.lanes:
            await lane.usage.close()
        event("stopped", left_running=live)

    # --- the dispatch loop ----------------------------------------------------------------

    async def _dispatch_loop(self) -> None:
        while (round_ := await self.doorbell.wait()) is not None:
            try:
                started = await self.dispatcher.round(round_)
                if self.summary.open and not started and not self.follower.active:
                    await self.summary.close()
            except Exception:
                event("dispatch failed", logging.ERROR, exc_info=True)
            if self.burst:
                await self._maybe_finish_burst()

    async def _refresh_usage(self) -> None:
        """The `usage` job: every account's window, limits and weekly pace; then the stop
        line: runs pause once the window reaches the owner's share."""
        if not self.doorbell.stopping:
            await self.lanes.refresh_usage(self.settings, self.store, self.now)
        now = self.now()
        for lane in self.lanes:  # each account's window against its own line
            await self.budget.enforce_stop_line(now, lane, [a.task for a in self.follower.on(lane)])

    # --- burst ------------------------------------------------------------------------------

    async def _maybe_finish_burst(self) -> None:
        if self.follower.active or self.doorbell.stopping:
            return
        now = self.now()
        pauses = [await lane.gate.pause.load() for lane in self.lanes]
        active = [p for p in pauses if p is not None and p.active(now)]
        if len(active) == len(pauses):  # every account is limited: the soonest reset decides
            pause = min(active, key=lambda p: p.until)
            wait_s = (pause.until - now).total_seconds()
            if wait_s <= self.max_wait_s:
                event("waiting for the reset", seconds=round(wait_s, 1))
                return
            event("limited beyond --max-wait", until=iso(pause.until), max_wait_s=self.max_wait_s)
            self.request_stop("burst: limited beyond --max-wait")
            return
        if await self.service.queue_paused():
            self.request_stop("burst: the queue is paused by the owner")
        elif self.follower.holding(now):
            self._exit_code = 1  # a run could not even start (the log line says why)
            self.request_stop("burst: a run could not start")
        elif not [t for t in await self.store.tasks.runnable(now)
                  if self.node.has_repo(t) and await self.dispatcher.could_run(t, now)] \
                and not await self.dispatcher.planning_pending():
            soonest = min((p.until for p in active), default=None)
            if soonest is not None and (soonest - now).total_seconds() <= self.max_wait_s \
                    and await self.store.tasks.count([TaskState.PAUSED_LIMIT]):
                # One account is limited with work paused on it; the others have nothing left.
                event("waiting for the reset", seconds=round((soonest - now).total_seconds(), 1))
                return
            self.request_stop("burst: nothing runnable left")
        else:
            # Became runnable after this round looked (a dependency just finished).
            self.wake("burst")
