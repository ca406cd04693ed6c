"""Claims per second on a shared PostgreSQL queue with 1, 2 and 4 claiming processes.

Each process opens the store the way a daemon does and claims (`claim_next`: SELECT … FOR
UPDATE SKIP LOCKED, the state change and its event in one transaction) until the queue is
empty; the figure is all claims over the wall time from a common start to the last process
done. The reference, measured in the same run on the same machine, is the SQLite store with
the same number of processes on one file. The PostgreSQL server is a throwaway one started
here from the system's binaries (durability off, unix socket), like the tests' server, so
the figures compare locking and round trips, not disks.
Every run also checks that no task was claimed twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from core.store.store import Store
from core.store.task_rows import NewTask
from tests.pgserver import TempPostgres, create_database, create_schema

ROOT = Path(__file__).resolve().parents[1]
CLAIMER = """
import asyncio, json, sys, time
from pathlib import Path
from core.store.store import Store

async def main():
    target = sys.argv[1]
    store = await (Store.connect(target) if "://" in target else Store.open(Path(target)))
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    sys.stdin.readline()
    ids = []
    while (task := await store.tasks.claim_next()) is not None:
        ids.append(task.id)
    done = time.perf_counter()
    await store.close()
    print(json.dumps({"ids": ids, "done": done}))

asyncio.run(main())
"""


async def fill(store: Store, count: int) -> None:
    """Queue `count` tasks, then gather planner statistics as a live database's autovacuum
    would have: just after a bulk insert PostgreSQL believes the table holds a handful of rows
    and sorts every ready task for each claim instead of reading the claim index in order."""
    for i in range(count):
        await store.tasks.add(NewTask(prompt=f"task {i}", needs_plan=False))
    async with store.db.transaction() as tx:
        await tx.execute("ANALYZE")


async def claim_with(target: str, processes: int) -> tuple[float, int]:
    """(claims per second, tasks claimed) for `processes` claimers on the queue at `target`."""
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLAIMER, target, cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert (await proc.stdout.readline()).strip() == b"ready"
    started = time.perf_counter()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    outputs = [json.loads((await proc.communicate())[0]) for proc in procs]
    ids = [task_id for out in outputs for task_id in out["ids"]]
    if len(ids) != len(set(ids)):
        raise SystemExit(f"a task was claimed twice with {processes} processes")
    finished = max(out["done"] for out in outputs)
    return len(ids) / (finished - started), len(ids)


async def run_sqlite(folder: Path, count: int, processes: int) -> float:
    path = folder / f"q{processes}.db"
    store = await Store.open(path)
    await fill(store, count)
    await store.close()
    rate, claimed = await claim_with(str(path), processes)
    assert claimed == count, claimed
    return rate


async def run_postgres(server: TempPostgres, count: int, processes: int) -> float:
    url = create_schema(server, "bench", f"q{processes}")
    store = await Store.connect(url)
    await fill(store, count)
    await store.close()
    rate, claimed = await claim_with(url, processes)
    assert claimed == count, claimed
    return rate


async def measure(count: int, counts: list[int]) -> None:
    server = TempPostgres.start()
    try:
        create_database(server, "bench")
        with tempfile.TemporaryDirectory() as tmp:
            print(f"tasks per run: {count:,}")
            print("processes  postgresql claims/s  sqlite claims/s  postgresql / sqlite")
            for processes in counts:
                pg = await run_postgres(server, count, processes)
                lite = await run_sqlite(Path(tmp), count, processes)
                print(f"{processes:9d}  {pg:20,.0f}  {lite:15,.0f}  {pg / lite:19.2f}x")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=3_000)
    parser.add_argument("--processes", default="1,2,4")
    args = parser.parse_args()
    asyncio.run(measure(args.tasks, [int(p) for p in args.processes.split(",")]))


if __name__ == "__main__":
    main()
