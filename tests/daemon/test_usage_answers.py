"""The running daemon answers `usage blocks --json` polls (core.usage.serve), for each
account's scanner database, and takes its socket with it when it stops."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.usage.ask import socket_path
from tests.daemon.conftest import NIGHTSHIFT, Running, claude_log


async def test_the_running_daemon_answers_polls_and_takes_its_socket_when_it_stops(
        start_daemon: Callable[..., Awaitable[Running]], isolated_env: Path) -> None:
    now = datetime.now(UTC)
    claude_log(isolated_env / "claude", "owner", now - timedelta(minutes=30), 1200)
    running = await start_daemon()
    sock = socket_path(str(running.daemon.settings.db_path))
    assert os.path.exists(sock)
    claude_log(isolated_env / "claude", "owner", now - timedelta(minutes=10), 800)  # after the start
    done = await asyncio.to_thread(subprocess.run, [NIGHTSHIFT, "usage", "blocks", "--json"],
                                   capture_output=True, check=True, env=dict(os.environ))
    assert running.daemon.usage_answers.answered == 1
    blocks = json.loads(done.stdout)["blocks"]
    assert [b["totalTokens"] for b in blocks] == [2000] and blocks[0]["isActive"]
    await running.stop()
    assert not os.path.exists(sock)
