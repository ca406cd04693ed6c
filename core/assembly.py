"""Putting the engine together: the one place that builds the daemon and all its parts.

Every collaborator is made once, here, and handed over at construction: the notifier, the
executor, the service (with the executor's cancel hook, the dispatcher's doorbell and the
usage monitor), the estimator, the budget guard (with the executor's budget stop), the
planner, the after-run upkeep. Nothing is swapped in later.
`nightshift run`, `run --burst` and `nightshift demo` all use it, so the demo shows the
same machinery the owner runs at night, and the daemon tests test it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from importlib.metadata import entry_points

from core.abc import Clock, Notifier, NullNotifier, ProcessRunner
from core.accounts import Account, accounts, find, usage_monitors
from core.brain_logs import LogBook
from core.cluster import NodeAgent, repos_here
from core.daemon import Daemon, Doorbell, FrontFactory
from core.daemon.budget_guard import BudgetGuard
from core.daemon.seams import FinishedHook
from core.errors import ConfigError
from core.execution.context import AccountFor
from core.execution.executor import Executor
from core.execution.tmux import TmuxRunner
from core.improve.cache import LearnedCache
from core.improve.meta import maybe_queue_meta_task
from core.models import Run, Task, utcnow
from core.outbox_notifier import OutboxNotifier
from core.plans.planner import Planner
from core.scheduling.estimator import Estimator
from core.scheduling.priming import WINDOW_LENGTH
from core.service import Service
from core.settings import Settings
from core.store.outbox import OutboxStore
from core.store.store import Store
from core.upkeep import Upkeep
from core.usage.monitor import UsageMonitor

FRONTS_GROUP = "nightshift.fronts"
"""Entry points of fronts that live as long as the daemon (the Telegram bot registers one)."""

FrontsFor = Callable[[Service], Sequence[FrontFactory]]
"""The fronts of a daemon, given its service (`telegram_fronts` in production)."""


@dataclass(frozen=True, slots=True)
class ExecutorTimings:
    """How often the executor looks at a run; tests shorten them."""

    poll_interval_s: float = 0.1
    progress_interval_s: float = 1.0
    kill_grace_s: float = 3.0


def owner_notifier(settings: Settings, store: Store, clock: Clock = utcnow) -> Notifier:
    """Where the owner's notifications go: the outbox, when a Telegram bot delivers it."""
    if not settings.telegram_enabled:
        return NullNotifier()
    return OutboxNotifier(OutboxStore(store.db), settings.telegram_allowed_users, clock=clock)


def telegram_fronts(service: Service) -> list[FrontFactory]:
    """The Telegram bot when configured, found through its entry point.

    The engine knows fronts only by the entry-point group: core never imports the bot, and
    works (CLI, burst, demo) without it installed.
    """
    settings = service.settings
    if not settings.telegram_enabled:
        return []
    found = {ep.name: ep for ep in entry_points(group=FRONTS_GROUP)}
    if "telegram" not in found:
        raise ConfigError("TELEGRAM_BOT_TOKEN", "is set but the Telegram front is not installed")
    try:
        running_bot = found["telegram"].load()
    except ImportError as exc:
        raise ConfigError("TELEGRAM_BOT_TOKEN", f"is set but the Telegram front cannot load: {exc}") from None
    return [lambda: running_bot(settings, service)]


class LearningObserver:
    """After every run and on the daemon's timers: the after-run upkeep and the learning loop."""

    def __init__(
        self, service: Service, upkeep: Upkeep, learned: LearnedCache, monitor: UsageMonitor | None
    ) -> None:
        self.service = service
        self.upkeep = upkeep
        self.learned = learned
        self.monitor = monitor

    async def run_finished(self, task: Task, run: Run | None, now: datetime) -> None:
        self.learned.invalidate()
        await self.upkeep.run_finished(task, run, now)

    async def tick(self, now: datetime) -> None:
        await self.learned.get()  # keeps the snapshot the sync accessors read fresh
        await self.upkeep.tick(now)

    async def retro(self, now: datetime) -> None:
        await self.upkeep.retro(now)

    async def meta_task(self, now: datetime) -> None:
        state = self.monitor.last_state if self.monitor is not None else None
        if state is not None and state.window_start is not None:
            left = state.capacity_tokens - state.tokens_used if state.capacity_tokens else None
            await maybe_queue_meta_task(
                self.service, now=now, window_end=state.window_start + WINDOW_LENGTH, budget_left_tokens=left
            )


def node_agent(settings: Settings, store: Store, clock: Clock = utcnow) -> NodeAgent:
    """This machine's daemon as a node of its queue: on a shared (PostgreSQL) queue it claims
    only tasks whose repository it has (NIGHTSHIFT_REPOS that exist here)."""
    shared = settings.shared_queue
    return NodeAgent(
        store,
        settings.node,
        clock=clock,
        stale_after=timedelta(seconds=settings.node_stale_s),
        repos=repos_here(settings.repos.values()) if shared else None,
        shared=shared,
    )


def account_runner(here: Sequence[Account]) -> AccountFor:
    """The executor's view of the accounts: a key (None, or one no longer configured: the
    first account) -> the key its run records and the environment that selects it."""

    def account_for(key: str | None) -> tuple[str | None, dict[str, str]]:
        account = find(tuple(here), key) or here[0]
        return account.key, account.child_env()

    return account_for


def build_daemon(
    settings: Settings,
    store: Store,
    *,
    notifier: Notifier | None = None,
    clock: Clock = utcnow,
    burst: bool = False,
    max_wait_s: float = 0.0,
    usage_monitor: bool = False,
    fronts: FrontsFor | None = None,
    runner: ProcessRunner | None = None,
    on_finished: FinishedHook | None = None,
    install_signal_handlers: bool = True,
    timings: ExecutorTimings = ExecutorTimings(),
) -> Daemon:
    """The daemon over `store`, with every part it runs with; its service is `daemon.service`.

    `notifier` defaults to the owner's (`owner_notifier`); `usage_monitor` reads Claude's
    logs and the usage endpoint (`run` without `--burst`); `fronts` are entered at start.
    """
    notifier = notifier or owner_notifier(settings, store, clock)
    node = node_agent(settings, store, clock)
    here = accounts(settings)
    learned = LearnedCache(settings, store)
    executor = Executor(
        settings,
        store,
        runner or TmuxRunner(settings.tmux_socket),
        notifier,
        clock=clock,
        time_limit_minutes=learned.time_limit_minutes,
        owns=node.mine,
        account_for=account_runner(here),
        **asdict(timings),
    )
    monitors = usage_monitors(settings, store, here) if usage_monitor else {}
    monitor = monitors.get(here[0].key)
    doorbell = Doorbell()
    service = Service(
        settings,
        store,
        notifier=notifier,
        clock=clock,
        cancel_hooks=[executor.cancel],
        listeners=[doorbell.on_change],
        usage_monitor=monitor,
        account_monitors={a.name: monitors[a.key] for a in here if a.key in monitors},
    )

    def capacity() -> int | None:
        state = monitor.last_state if monitor is not None else None
        return state.capacity_tokens if state is not None else None

    logbook = LogBook(settings.brain_dir, clock=clock)
    estimator = Estimator(store, settings.default_task_tokens, learned.estimate)
    budget = BudgetGuard(settings, store, estimator, pause_run=executor.pause_for_budget, burst=burst)
    upkeep = Upkeep(settings, store, notifier, logbook=logbook, capacity_tokens=capacity)
    return Daemon(
        service,
        executor,
        doorbell=doorbell,
        notifier=notifier,
        logbook=logbook,
        node=node,
        estimator=estimator,
        budget=budget,
        accounts=here,
        monitors=monitors,
        planner=Planner(settings, store, executor, notifier, clock=clock),
        observer=LearningObserver(service, upkeep, learned, monitor),
        choose_prompt=learned.choose_prompt,
        parallel_limit=learned.max_parallel,
        on_finished=on_finished,
        fronts=fronts(service) if fronts is not None else (),
        burst=burst,
        max_wait_s=max_wait_s,
        install_signal_handlers=install_signal_handlers,
    )
