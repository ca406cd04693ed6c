"""Building the python-telegram-bot Application: endpoints, timeouts, handlers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import capture, handlers
from bot.access import gate
from bot.callbacks import on_button
from bot.deps import BotDeps, install
from bot.render import COMMANDS
from bot.sender import RetryPolicy, Sleep
from core.abc import Clock
from core.errors import ConfigError
from core.log import event
from core.models import utcnow
from core.settings import Settings

ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]


@dataclass(frozen=True)
class BotOptions:
    """Network timings of the bot; tests shrink them, the daemon keeps the defaults."""

    poll_timeout_s: float = 30.0
    """getUpdates long-poll: Telegram answers at once when an update arrives, so a long
    timeout costs no latency and saves requests."""
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 15.0
    write_timeout_s: float = 15.0
    media_write_timeout_s: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    connect_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(base_s=5, max_s=300))
    """Backoff between attempts to reach Telegram at start-up (getMe)."""
    refusal_interval_s: float = 600.0
    stop_timeout_s: float = 20.0
    clock: Clock = utcnow
    sleep: Sleep | None = None
    """The outbox sender's wait between retries (tests pass a fake that advances a fake clock)."""


def file_base_url(base_url: str) -> str:
    """`https://host/bot` -> `https://host/file/bot`, as Telegram and its local server lay files out."""
    head, sep, tail = base_url.rpartition("/bot")
    return f"{head}/file/bot{tail}" if sep else base_url.rstrip("/") + "/file/bot"


def build_application(settings: Settings, options: BotOptions) -> Application:  # type: ignore[type-arg]
    if settings.telegram_bot_token is None:
        raise ConfigError("TELEGRAM_BOT_TOKEN", "is not set, so the bot is off")
    token = settings.telegram_bot_token.get_secret_value()
    application = (
        Application.builder()
        .token(token)
        .base_url(settings.telegram_api_base_url)
        .base_file_url(file_base_url(settings.telegram_api_base_url))
        .connect_timeout(options.connect_timeout_s)
        .read_timeout(options.read_timeout_s)
        .write_timeout(options.write_timeout_s)
        .media_write_timeout(options.media_write_timeout_s)
        .get_updates_connect_timeout(options.connect_timeout_s)
        .get_updates_read_timeout(options.read_timeout_s)
        .job_queue(None)
        .build()
    )
    return application


def register(application: Application, deps: BotDeps) -> None:  # type: ignore[type-arg]
    install(application, deps)
    application.add_handler(TypeHandler(Update, gate), group=-1)
    for name, handler in handlers.COMMAND_HANDLERS.items():
        application.add_handler(CommandHandler(name, handlers.guarded(handler)))
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_handler(MessageHandler(filters.COMMAND, handlers.guarded(handlers.unknown_command)))
    application.add_handler(
        MessageHandler(filters.TEXT & ~filters.COMMAND, handlers.guarded(capture.text_message))
    )
    application.add_handler(
        MessageHandler(filters.PHOTO | filters.Document.ALL, handlers.guarded(capture.file_message))
    )
    application.add_handler(MessageHandler(filters.VOICE, handlers.guarded(capture.voice_message)))
    # Last: whatever else arrives in a message gets one line, never silence.
    application.add_handler(MessageHandler(filters.ALL, handlers.guarded(capture.other_message)))
    application.add_error_handler(on_error)


def bot_commands() -> list[BotCommand]:
    """What `setMyCommands` registers: the menu the phone shows when you type '/'."""
    return [BotCommand(name, what) for name, _, what in COMMANDS]


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log an error outside the guarded handlers, without the update's content."""
    event("update failed", logging.ERROR, logger="bot", exc_info=context.error or False)
