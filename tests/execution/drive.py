"""Claim one task and execute it with the real executor: a process for tests to SIGKILL.

Usage: python drive.py TASK_ID (settings come from the environment, as for `nightshift`).
"""

from __future__ import annotations

import asyncio
import sys

from core.execution.executor import Executor
from core.execution.tmux import TmuxRunner
from core.settings import load_settings
from core.store.store import Store


async def main(task_id: int) -> int:
    settings = load_settings(env_file=None)
    store = await Store.open(settings.db_path)
    try:
        task = await store.tasks.claim_next(only_ids=[task_id])
        if task is None:
            return 2
        await Executor(settings, store, TmuxRunner(settings.tmux_socket)).execute(task)
        return 0
    finally:
        await store.close()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(int(sys.argv[1]))))
