"""Two daemons on one PostgreSQL queue: every task done exactly once, a killed one's task taken over.

Each daemon is a real process running the node loop (tests/store/node_worker.py: join,
heartbeat, take over, claim, run, finish-if-still-held) against a real PostgreSQL server.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path

from core.models import Outcome, TaskState
from core.store.store import Store
from core.store.task_rows import NewTask

ROOT = Path(__file__).resolve().parents[2]
TASKS = 12


async def start(url: str, name: str, work_s: float) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.store.node_worker", url, name, str(work_s),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )


async def lines(proc: asyncio.subprocess.Process) -> list[dict[str, int | str]]:
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=90)
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


async def test_two_daemons_share_the_queue_and_a_killed_ones_task_is_taken_over(pg_url: str) -> None:
    store = await Store.connect(pg_url)
    try:
        for i in range(TASKS):
            await store.tasks.add(NewTask(prompt=f"task {i}", needs_plan=False))
        doomed = await start(pg_url, "doomed", work_s=30.0)  # would hold its first task for long
        assert doomed.stdout is not None
        first = json.loads(await asyncio.wait_for(doomed.stdout.readline(), timeout=60))
        os.kill(doomed.pid, signal.SIGKILL)
        await doomed.wait()
        survivor = await start(pg_url, "survivor", work_s=0.05)
        said = await lines(survivor)
        assert survivor.returncode == 0

        assert {"taken": first["started"], "from_node": "doomed"} in said
        tasks = await store.tasks.query()
        assert [t.state for t in tasks] == [TaskState.DONE] * TASKS
        done_moves = Counter(
            e.task_id for e in await store.tasks.events() if e.to_state == TaskState.DONE.value
        )
        assert done_moves == Counter({t.id: 1 for t in tasks})  # every task done exactly once
        runs = [r for t in tasks for r in await store.runs.for_task(t.id)]
        outcomes = Counter((r.task_id, r.outcome) for r in runs)
        assert outcomes[(first["started"], Outcome.INTERRUPTED)] == 1
        assert all(outcomes[(t.id, Outcome.SUCCESS)] == 1 for t in tasks)
        assert await store.nodes.held_by("doomed") == []
    finally:
        await store.close()


async def test_two_live_daemons_split_the_work_and_run_each_task_once(pg_url: str) -> None:
    store = await Store.connect(pg_url)
    try:
        for i in range(TASKS):
            await store.tasks.add(NewTask(prompt=f"task {i}", needs_plan=False))
        procs = [await start(pg_url, name, work_s=0.05) for name in ("one", "two")]
        said = await asyncio.gather(*(lines(p) for p in procs))
        assert all(p.returncode == 0 for p in procs)
        started = [line["started"] for out in said for line in out if "started" in line]
        assert sorted(started) == [t.id for t in await store.tasks.query()]  # once each, no repeats
        assert all(not any("lost" in line or "taken" in line for line in out) for out in said)
        assert await store.nodes.nodes() == []  # both left cleanly
    finally:
        await store.close()
