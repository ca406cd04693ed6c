"""Two processes claiming from the same queue never get the same task."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from core.store.store import Store
from core.store.tasks import NewTask

CLAIMER = """
import asyncio, json, sys
from pathlib import Path
from core.store.store import Store

async def main():
    store = await Store.open(Path(sys.argv[1]))
    ids = []
    while (task := await store.tasks.claim_next()) is not None:
        ids.append(task.id)
    await store.close()
    print(json.dumps(ids))

asyncio.run(main())
"""


async def test_two_processes_claim_each_task_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "n.db"
    store = await Store.open(path)
    for i in range(200):
        await store.tasks.add(NewTask(prompt=f"task {i}", needs_plan=False))
    await store.close()
    root = Path(__file__).resolve().parents[2]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLAIMER, str(path), cwd=root, stdout=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [await p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    claimed = [json.loads(out) for out, _ in outputs]
    together = claimed[0] + claimed[1]
    assert sorted(together) == list(range(1, 201))
    assert len(set(together)) == 200
    store = await Store.open(path)
    try:
        assert await store.tasks.count() == 200
        starts = [e for e in await store.tasks.events() if e.to_state == "running"]
        assert len(starts) == 200
    finally:
        await store.close()
