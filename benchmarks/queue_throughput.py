"""Queue throughput: add 10,000 tasks, then claim them all.

Prints adds/s and claims/s, each against its target (2,000 adds/s, 1,000 claims/s) and
against a reference measured in the same run: the same statements through plain
synchronous sqlite3, one transaction per operation (what the store can at best approach,
since aiosqlite adds a thread hop per call).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

from core.store.db import migrate_file
from core.store.store import Store
from core.store.task_rows import NewTask

TARGET_ADDS_PER_S = 2_000
TARGET_CLAIMS_PER_S = 1_000


async def measure_store(path: Path, count: int) -> tuple[float, float]:
    store = await Store.open(path)
    try:
        started = time.perf_counter()
        for i in range(count):
            await store.tasks.add(NewTask(prompt=f"task {i}", needs_plan=False, priority=i % 4))  # type: ignore[arg-type]
        adds = count / (time.perf_counter() - started)
        started = time.perf_counter()
        claimed = 0
        while await store.tasks.claim_next() is not None:
            claimed += 1
        claims = claimed / (time.perf_counter() - started)
        assert claimed == count, claimed
        return adds, claims
    finally:
        await store.close()


def measure_reference(path: Path, count: int) -> tuple[float, float]:
    migrate_file(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    now = "2026-11-27T00:00:00.000000+00:00"
    started = time.perf_counter()
    for i in range(count):
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute(
            "INSERT INTO tasks (title, prompt, priority, state, needs_plan, created_at, updated_at)"
            " VALUES (?, ?, ?, 'ready', 0, ?, ?)",
            (f"task {i}", f"task {i}", i % 4, now, now),
        )
        conn.execute(
            "INSERT INTO events (at, kind, task_id, to_state) VALUES (?, 'task_added', ?, 'ready')",
            (now, cur.lastrowid),
        )
        conn.execute("COMMIT")
    adds = count / (time.perf_counter() - started)
    started = time.perf_counter()
    claimed = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute(
            "SELECT id FROM tasks WHERE state = 'ready' ORDER BY priority, created_at, id LIMIT 1"
        ).fetchone()
        if row is None:
            conn.execute("COMMIT")
            break
        conn.execute("UPDATE tasks SET state = 'running' WHERE id = ?", (row[0],))
        conn.execute(
            "INSERT INTO events (at, kind, task_id, to_state) VALUES (?, 'state_changed', ?, 'running')",
            (now, row[0]),
        )
        conn.execute("COMMIT")
        claimed += 1
    claims = claimed / (time.perf_counter() - started)
    conn.close()
    return adds, claims


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        adds, claims = asyncio.run(measure_store(Path(tmp) / "store.db", args.tasks))
        ref_adds, ref_claims = measure_reference(Path(tmp) / "ref.db", args.tasks)
    print(f"tasks: {args.tasks:,}")
    print(
        f"adds/s:   {adds:8,.0f}  target {TARGET_ADDS_PER_S:,} -> {adds / TARGET_ADDS_PER_S:.2f}x"
        f"   plain sqlite3 {ref_adds:8,.0f} -> {adds / ref_adds:.2f}x of reference"
    )
    print(
        f"claims/s: {claims:8,.0f}  target {TARGET_CLAIMS_PER_S:,} -> {claims / TARGET_CLAIMS_PER_S:.2f}x"
        f"   plain sqlite3 {ref_claims:8,.0f} -> {claims / ref_claims:.2f}x of reference"
    )


if __name__ == "__main__":
    main()
