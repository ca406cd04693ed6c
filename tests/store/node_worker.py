"""One daemon's work loop on a shared queue, for tests/store/test_two_daemons.py.

`python -m tests.store.node_worker URL NAME WORK_S`: joins as node NAME, beats every BEAT_S,
claims tasks of the repositories it has, "runs" each for WORK_S (a run row, a pause, the
outcome) and finishes it only if it still holds it; prints one JSON line per start and end;
exits when nothing is ready or running anywhere.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta

from core.cluster import NodeAgent
from core.models import Outcome, TaskState, utcnow
from core.store.store import Store

BEAT_S = 0.2
STALE_S = 3.0


def say(**fields: object) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


async def main(url: str, name: str, work_s: float) -> None:
    store = await Store.connect(url)
    agent = NodeAgent(store, name, clock=utcnow, stale_after=timedelta(seconds=STALE_S))
    await agent.join()

    async def heart() -> None:
        while True:
            for taken in await agent.beat():
                say(taken=taken.task_id, from_node=taken.from_node)
            await asyncio.sleep(BEAT_S)

    beating = asyncio.create_task(heart())
    while True:
        task = await store.tasks.claim_next(**agent.claim_scope())
        if task is None:
            if await store.tasks.count([TaskState.READY, TaskState.RUNNING]) == 0:
                break
            await asyncio.sleep(0.05)
            continue
        run = await store.runs.create(task.id, started_at=utcnow())
        say(started=task.id, run=run.id)
        await asyncio.sleep(work_s)
        await store.runs.finish(run.id, Outcome.SUCCESS)
        if await store.tasks.release(task.id, name, TaskState.RUNNING, TaskState.DONE,
                                     now=utcnow(), reason="done"):
            say(done=task.id)
        else:
            say(lost=task.id)
    beating.cancel()
    await agent.leave()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
