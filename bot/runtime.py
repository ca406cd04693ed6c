"""Running the bot inside the daemon's event loop: polling, handlers and the outbox sender.

    async with running_bot(settings, service):
        ...  # the daemon's own work; the bot answers and delivers meanwhile

The bot never owns the loop (no `run_polling()`): it is started with
`async with application` + `updater.start_polling()` + `application.start()` and stopped
in reverse when the block ends. If Telegram cannot be reached at start-up the daemon
goes on and the bot keeps trying in the background; a token Telegram rejects is a
`ConfigError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application

from bot.app import ALLOWED_UPDATES, BotOptions, bot_commands, build_application, register
from bot.deps import BotDeps, RefusalLimiter
from bot.sender import OutboxSender
from core.errors import ConfigError
from core.log import event
from core.outbox_notifier import OutboxNotifier
from core.redact import SecretRedactor, install_redaction, secret_variants
from core.service import Service
from core.settings import Settings
from core.store.outbox import OutboxStore


def _nothing() -> None:
    return None


def service_outbox(service: Service) -> OutboxStore:
    """The outbox the bot delivers: the one the service's notifier writes to.

    The notifier is the service's from its construction (`core.assembly.owner_notifier`);
    the bot never replaces it. A service that notifies elsewhere still gets its commands
    answered, but its notifications do not reach Telegram.
    """
    if isinstance(service.notifier, OutboxNotifier):
        return service.notifier.outbox
    event("notifications will not reach Telegram", logging.WARNING, logger="bot",
          reason="the service's notifier is not an OutboxNotifier", notifier=type(service.notifier).__name__)
    return OutboxStore(service.store.db)


class BotRuntime:
    """The running bot: the PTB Application, the outbox and its sender."""

    def __init__(self, settings: Settings, service: Service, options: BotOptions) -> None:
        if settings.telegram_bot_token is None:
            raise ConfigError("TELEGRAM_BOT_TOKEN", "is not set, so the bot is off")
        self.settings = settings
        self.service = service
        self.options = options
        self.outbox = service_outbox(service)
        self.redactor = SecretRedactor(secret_variants(settings.telegram_bot_token.get_secret_value()))
        self.application: Application | None = None  # type: ignore[type-arg]
        self.sender: OutboxSender | None = None
        self.ready = asyncio.Event()
        self._attempt_failed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._serve_task: asyncio.Task[None] | None = None
        self._uninstall_redaction: Callable[[], None] = _nothing
        self.limiter = RefusalLimiter(interval_s=options.refusal_interval_s)

    async def start(self) -> None:
        """Start serving; return once the bot polls, or once the first attempt failed for now."""
        self._uninstall_redaction = install_redaction(self.redactor.secrets)
        if not self.settings.telegram_allowed_users:
            event("bot refuses everyone", logging.WARNING, logger="bot",
                  reason="TELEGRAM_ALLOWED_USERS is empty")
        self._serve_task = asyncio.create_task(self._serve(), name="nightshift-bot")
        self._serve_task.add_done_callback(self._report_crash)
        waiters = [asyncio.ensure_future(e.wait()) for e in (self.ready, self._attempt_failed)]
        try:
            await asyncio.wait([self._serve_task, *waiters], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if self._serve_task.done() and self._serve_task.exception() is not None:
            self._stopping.set()
            self._uninstall_redaction()
            self._serve_task.result()  # raises ConfigError for a rejected token

    async def stop(self) -> None:
        self._stopping.set()
        if self._serve_task is not None:
            # An error the task ended with was logged by _report_crash already.
            done, _ = await asyncio.wait([self._serve_task], timeout=self.options.stop_timeout_s)
            if not done:
                event("bot did not stop, cancelling it", logging.WARNING, logger="bot",
                      stop_timeout_s=self.options.stop_timeout_s)
                self._serve_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._serve_task
        self._uninstall_redaction()

    async def _serve(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            application = build_application(self.settings, self.options)
            try:
                await self._serve_once(application)
                return
            except InvalidToken:
                raise ConfigError("TELEGRAM_BOT_TOKEN", "Telegram rejected the token") from None
            except TelegramError as exc:
                wait_s = self.options.connect_retry.backoff_s(failures)
                failures += 1
                event("telegram unreachable", logging.WARNING, logger="bot",
                      error=f"{type(exc).__name__}: {exc}", retry_in_s=round(wait_s, 3))
                self._attempt_failed.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=wait_s)

    async def _serve_once(self, application: Application) -> None:  # type: ignore[type-arg]
        register(application, BotDeps(self.settings, self.service, self.outbox, self.limiter))
        async with application:
            try:
                await application.bot.set_my_commands(bot_commands())
            except TelegramError as exc:  # only the phone's menu is missing; commands still work
                event("command menu not registered", logging.WARNING, logger="bot", error=type(exc).__name__)
            updater = application.updater
            assert updater is not None
            await updater.start_polling(
                poll_interval=0.0,
                timeout=int(self.options.poll_timeout_s),
                allowed_updates=ALLOWED_UPDATES,
                error_callback=self._polling_error,
            )
            await application.start()
            sender = OutboxSender(self.outbox, application.bot, policy=self.options.retry,
                                  clock=self.options.clock, sleep=self.options.sleep,
                                  redact=self.redactor.redact,
                                  allowed=self.settings.telegram_allowed_users)
            sender_task = asyncio.create_task(sender.run(), name="nightshift-outbox")
            self.application, self.sender = application, sender
            self.ready.set()
            event("bot polling", logger="bot", username=application.bot.username)
            try:
                await self._stopping.wait()
            finally:
                self.ready.clear()
                await updater.stop()
                await application.stop()
                sender.stop()
                await sender_task

    def _report_crash(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None and not isinstance(error, ConfigError):  # start() raises that one
            event("bot stopped", logging.ERROR, logger="bot", exc_info=error)

    def _polling_error(self, exc: TelegramError) -> None:
        # PTB retries polling on its own with backoff; one line per failure is enough.
        event("telegram polling failed", logging.WARNING, logger="bot", error=f"{type(exc).__name__}: {exc}")


@asynccontextmanager
async def running_bot(
    settings: Settings, service: Service, options: BotOptions | None = None
) -> AsyncIterator[BotRuntime]:
    """Run the Telegram bot and the outbox sender for the duration of the block."""
    runtime = BotRuntime(settings, service, options or BotOptions())
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
