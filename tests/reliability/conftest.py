"""Fixtures for the reliability suite: the bot's and the daemon's real parts, reused as they are.

Importing a fixture into a conftest registers it here; nothing below is a new fake.
"""

from __future__ import annotations

from tests.bot.conftest import bot_service, bot_settings, fake_telegram  # noqa: F401
from tests.daemon.conftest import (  # noqa: F401
    daemon_settings,
    dservice,
    dstore,
    executor,
    make_daemon,
    runner,
    start_daemon,
)
