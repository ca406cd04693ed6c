"""Processes claiming from the same queue never get the same task, on either engine."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.store.store import Store
from core.store.task_rows import NewTask
from tests.store.conftest import Opener

CLAIMER = """
import asyncio, json, sys
from pathlib import Path
from core.store.store import Store

async def main():
    target = sys.argv[1]
    store = await (Store.connect(target) if "://" in target else Store.open(Path(target)))
    ids = []
    while (task := await store.tasks.claim_next()) is not None:
        ids.append(task.id)
    await store.close()
    print(json.dumps(ids))

asyncio.run(main())
"""


@pytest.mark.parametrize("processes", [2, 4])
async def test_processes_claim_each_task_exactly_once(
    store: Store, open_again: Opener, target: str, processes: int
) -> None:
    for i in range(200):
        await store.tasks.add(NewTask(prompt=f"task {i}", needs_plan=False))
    root = Path(__file__).resolve().parents[2]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLAIMER, target, cwd=root, stdout=subprocess.PIPE
        )
        for _ in range(processes)
    ]
    outputs = [await p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    claimed = [json.loads(out) for out, _ in outputs]
    together = [task_id for ids in claimed for task_id in ids]
    assert sorted(together) == list(range(1, 201))
    again = await open_again()
    assert await again.tasks.count() == 200
    starts = [e for e in await again.tasks.events() if e.to_state == "running"]
    assert len(starts) == 200


async def test_coroutines_of_one_process_claim_each_task_once(store: Store) -> None:
    """On PostgreSQL a pool runs transactions at once: the row lock, not a mutex, decides."""
    for i in range(60):
        await store.tasks.add(NewTask(prompt=f"task {i}", needs_plan=False))

    async def claim_all() -> list[int]:
        ids = []
        while (task := await store.tasks.claim_next()) is not None:
            ids.append(task.id)
        return ids

    claimed = await asyncio.gather(*(claim_all() for _ in range(4)))
    together = [task_id for ids in claimed for task_id in ids]
    assert sorted(together) == list(range(1, 61))
