"""Putting the engine together: one place that builds the daemon with all its parts.

`nightshift run`, `run --burst` and `nightshift demo` all use it, so the demo shows the
same machinery the owner runs at night, not a special path.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from importlib.metadata import entry_points

from core.abc import Notification, ProcessRunner
from core.daemon import Daemon, FrontFactory
from core.errors import ConfigError
from core.execution.executor import Executor
from core.execution.tmux import TmuxRunner
from core.feedback import Feedback
from core.improve.learning import Learned, load_learned
from core.improve.meta import maybe_queue_meta_task
from core.improve.styles import render_prompt
from core.models import Run, Task
from core.plans.planner import Planner
from core.scheduling.priming import WINDOW_LENGTH
from core.service import Service
from core.usage.monitor import UsageMonitor

FRONTS_GROUP = "nightshift.fronts"
"""Entry points of fronts that live as long as the daemon (the Telegram bot registers one)."""

LEARNED_TTL_S = 30.0
"""The learning loop's snapshot is reused this long: estimates are asked for every ready task
on every dispatch round, and the snapshot changes only when a run finishes."""


class ServiceNotifier:
    """Delivers through whatever notifier the service has at the time of the call.

    The Telegram front installs its outbox notifier on the service when it starts, which is
    after the executor is built; reading `service.notifier` late keeps run reports flowing.
    """

    def __init__(self, service: Service) -> None:
        self.service = service

    async def notify(self, note: Notification) -> None:
        await self.service.notifier.notify(note)


class LearnedCache:
    """The prompt-style choice and learned estimates, from one snapshot of the learning loop."""

    def __init__(self, service: Service, *, rng: random.Random | None = None) -> None:
        self.service = service
        self.rng = rng or random.Random()
        self._snapshot: Learned | None = None
        self._loaded_at = 0.0

    def invalidate(self) -> None:
        self._snapshot = None

    async def get(self) -> Learned:
        if self._snapshot is None or time.monotonic() - self._loaded_at > LEARNED_TTL_S:
            self._snapshot = await load_learned(self.service.store, self.service.settings)
            self._loaded_at = time.monotonic()
        return self._snapshot

    def time_limit_minutes(self, task: Task) -> float:
        """From the snapshot already loaded (choosing the prompt loads it just before a run)."""
        default = self.service.settings.max_minutes
        return self._snapshot.time_limit_minutes(task, default) if self._snapshot else default

    def max_parallel(self, now: datetime, window_end: datetime | None) -> int:
        default = self.service.settings.max_parallel
        return self._snapshot.max_parallel(now, window_end, default) if self._snapshot else default

    async def estimate(self, task: Task) -> int | None:
        return (await self.get()).estimate_tokens(task)

    async def choose_prompt(self, task: Task, now: datetime) -> tuple[str, str] | None:
        """A style for a fresh start; the approved plan is added by the executor, not here."""
        learned = await self.get()
        if not learned.styles.styles:
            return None
        style = learned.choose_style(task, now, self.rng)
        return style.name, render_prompt(style, task, None, learned.lessons_for(task))


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


def build_daemon(
    service: Service,
    *,
    burst: bool = False,
    max_wait_s: float = 0.0,
    fronts: Sequence[FrontFactory] = (),
    runner: ProcessRunner | None = None,
    monitor: UsageMonitor | None = None,
    on_finished: Callable[[Task, Run | None], None] | None = None,
    install_signal_handlers: bool = True,
) -> Daemon:
    settings = service.settings
    notifier = ServiceNotifier(service)
    learned = LearnedCache(service)
    executor = Executor(
        settings,
        service.store,
        runner or TmuxRunner(settings.tmux_socket),
        notifier,
        clock=service.clock,
        time_limit_minutes=learned.time_limit_minutes,
    )
    service.cancel_hooks.append(executor.cancel)
    if monitor is not None:
        service.usage_monitor = monitor

    def capacity() -> int | None:
        state = monitor.last_state if monitor is not None else None
        return state.capacity_tokens if state is not None else None

    feedback = Feedback(settings, service.store, notifier, capacity_tokens=capacity)

    class _Observer:
        async def run_finished(self, task: Task, run: Run | None, now: datetime) -> None:
            learned.invalidate()
            await feedback.run_finished(task, run, now)

        async def tick(self, now: datetime) -> None:
            await learned.get()  # keeps the snapshot the sync accessors read fresh
            await feedback.tick(now)
            state = monitor.last_state if monitor is not None else None
            if state is not None and state.window_start is not None:
                left = state.capacity_tokens - state.tokens_used if state.capacity_tokens else None
                await maybe_queue_meta_task(
                    service, now=now, window_end=state.window_start + WINDOW_LENGTH, budget_left_tokens=left
                )

    return Daemon(
        service,
        executor,
        monitor=monitor,
        fronts=fronts,
        burst=burst,
        max_wait_s=max_wait_s,
        install_signal_handlers=install_signal_handlers,
        on_finished=on_finished,
        planner=Planner(settings, service.store, executor, notifier, clock=service.clock),
        observer=_Observer(),
        choose_prompt=learned.choose_prompt,
        learned_estimate=learned.estimate,
        parallel_limit=learned.max_parallel,
    )
