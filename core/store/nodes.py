"""Daemons sharing one queue: who is alive, which tasks each holds, and single-holder leases.

Each machine's daemon registers itself as a node (its name, accounts and repositories) and
beats a heartbeat. A node that claims a task writes its name on the task; when a node's
heartbeat stops, another node takes over what it held. A lease (the notification sender, for
one) has one holder at a time and passes to another node only once its holder's heartbeat
is older than the staleness limit the callers agree on. Times are each machine's own clock
(keep them in sync with NTP; the limit should be well above any skew).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.models import TaskState, dumps, iso, parse_iso
from core.store.port import Database, Row
from core.store.runs import RunStore
from core.store.tasks import TaskStore
from core.store.transitions import NODE_KEPT_STATES

HELD_STATES = tuple(sorted(NODE_KEPT_STATES))
"""Running, planning, and paused by a limit: what a stopped node's tasks may be in."""


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    accounts: tuple[str, ...] = ()
    repos: tuple[str, ...] = ()

    def alive(self, now: datetime, stale_after: timedelta) -> bool:
        return now - self.heartbeat_at < stale_after


def _row_to_node(row: Row) -> Node:
    started, beat = parse_iso(row["started_at"]), parse_iso(row["heartbeat_at"])
    assert started is not None and beat is not None
    return Node(
        name=row["name"],
        host=row["host"],
        pid=int(row["pid"]),
        started_at=started,
        heartbeat_at=beat,
        accounts=tuple(json.loads(row["accounts"])),
        repos=tuple(json.loads(row["repos"])),
    )


@dataclass(frozen=True, slots=True)
class TakenOver:
    task_id: int
    from_node: str
    state: TaskState
    """The state the task was in when its node stopped (it is READY or QUEUED now)."""


class NodeStore:
    def __init__(self, db: Database, tasks: TaskStore, runs: RunStore) -> None:
        self.db = db
        self.tasks = tasks
        self.runs = runs

    async def register(self, node: Node) -> Node:
        """Announce (or re-announce after a restart) this machine's daemon."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO nodes (name, host, pid, started_at, heartbeat_at, accounts, repos)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                " host = excluded.host, pid = excluded.pid, started_at = excluded.started_at,"
                " heartbeat_at = excluded.heartbeat_at, accounts = excluded.accounts,"
                " repos = excluded.repos",
                (node.name, node.host, node.pid, iso(node.started_at), iso(node.heartbeat_at),
                 dumps(list(node.accounts)), dumps(list(node.repos))),
            )
        return node

    async def heartbeat(self, name: str, now: datetime) -> bool:
        """Say this node is alive at `now`; False if it is not registered (re-register then)."""
        async with self.db.transaction() as conn:
            changed = await conn.execute(
                "UPDATE nodes SET heartbeat_at = ? WHERE name = ?", (iso(now), name)
            )
        return changed == 1

    async def nodes(self) -> list[Node]:
        return [_row_to_node(r) for r in await self.db.fetchall("SELECT * FROM nodes ORDER BY name")]

    async def get(self, name: str) -> Node | None:
        row = await self.db.fetchone("SELECT * FROM nodes WHERE name = ?", (name,))
        return _row_to_node(row) if row else None

    async def forget(self, name: str) -> None:
        """A clean shutdown: the node holds nothing any more and leaves the list."""
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM leases WHERE holder = ?", (name,))
            await conn.execute("DELETE FROM nodes WHERE name = ?", (name,))

    async def held_by(self, name: str) -> list[int]:
        rows = await self.db.fetchall(
            "SELECT id FROM tasks WHERE node = ? ORDER BY id", (name,)
        )
        return [int(r[0]) for r in rows]

    async def take_over(self, me: str, now: datetime, stale_after: timedelta) -> list[TakenOver]:
        """Put back in the queue every task held by a node whose heartbeat stopped.

        A running task goes back to READY (its work starts again on whichever node claims
        it; the session it had lives on the dead machine), a planning one to QUEUED, one a
        limit of that machine's account paused to READY at once (another machine's account
        is not limited), and the runs the dead node left open are finished as interrupted.
        A ready task whose session lives in one of the dead node's accounts (a continuation
        waiting its turn) forgets that session, so another machine can start it. Each
        move is compare-and-set on (state, node), so two live nodes taking over at once move
        each task once. The dead node's name stays on its row until it registers again.
        """
        cutoff = iso(now - stale_after)
        rows = await self.db.fetchall(
            "SELECT t.id, t.node, t.state FROM tasks t JOIN nodes n ON n.name = t.node"
            f" WHERE n.heartbeat_at < ? AND n.name != ? AND t.state IN ({_marks(HELD_STATES)})"
            " ORDER BY t.id",
            (cutoff, me, *(s.value for s in HELD_STATES)),
        )
        orphans = await self.db.fetchall(
            "SELECT t.id, t.node, t.state FROM tasks t LEFT JOIN nodes n ON n.name = t.node"
            f" WHERE t.node IS NOT NULL AND n.name IS NULL AND t.state IN ({_marks(HELD_STATES)})"
            " ORDER BY t.id",
            tuple(s.value for s in HELD_STATES),
        )
        taken: list[TakenOver] = []
        for row in [*rows, *orphans]:
            task_id, node, state = int(row[0]), str(row[1]), TaskState(row[2])
            target = TaskState.QUEUED if state is TaskState.PLANNING else TaskState.READY
            reason = f"taken over by {me}: node {node} stopped beating"
            # Runs first: once the task is READY another node may claim it and open a new run,
            # which must not be mistaken for the dead node's. Finishing a run twice is a no-op.
            await self.runs.interrupt_open(task_id, now=now, reason=reason)
            # The Claude session stayed on the stopped machine: the next node starts afresh.
            if await self.tasks.release(task_id, node, state, target, now=now, reason=reason,
                                        fields={"session_id": None, "resume_after": None}):
                taken.append(TakenOver(task_id, node, state))
        return taken + await self._forget_sessions(me, cutoff)

    async def _forget_sessions(self, me: str, cutoff: str | None) -> list[TakenOver]:
        """Ready tasks whose session is in a stopped node's account (keys `NODE` or `NODE/NAME`,
        core.accounts) start afresh wherever they are claimed next."""
        rows = await self.db.fetchall(
            "SELECT t.id, n.name FROM tasks t JOIN nodes n ON (t.account = n.name OR"
            " substr(t.account, 1, length(n.name) + 1) = n.name || '/')"
            " WHERE n.heartbeat_at < ? AND n.name != ? AND t.state = ? AND t.session_id IS NOT NULL"
            " ORDER BY t.id",
            (cutoff, me, TaskState.READY.value),
        )
        forgotten: list[TakenOver] = []
        for task_id, node in rows:
            async with self.db.transaction() as conn:
                changed = await conn.execute(
                    "UPDATE tasks SET session_id = NULL"
                    " WHERE id = ? AND state = ? AND session_id IS NOT NULL",
                    (int(task_id), TaskState.READY.value),
                )
            if changed == 1:
                forgotten.append(TakenOver(int(task_id), str(node), TaskState.READY))
        return forgotten

    # --- leases --------------------------------------------------------------------------

    async def acquire(self, lease: str, me: str, now: datetime, stale_after: timedelta) -> bool:
        """Hold `lease` (or keep holding it); True if `me` holds it now.

        Granted when nobody holds it, when `me` already does, or when the holder's heartbeat
        is older than `stale_after` (or the holder is gone). One statement, so two nodes
        asking at once cannot both win.
        """
        async with self.db.transaction() as conn:
            changed = await conn.execute(
                "INSERT INTO leases (name, holder, acquired_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
                " acquired_at = CASE WHEN leases.holder = excluded.holder"
                "   THEN leases.acquired_at ELSE excluded.acquired_at END"
                " WHERE leases.holder = excluded.holder OR NOT EXISTS ("
                "   SELECT 1 FROM nodes n WHERE n.name = leases.holder AND n.heartbeat_at >= ?)",
                (lease, me, iso(now), iso(now - stale_after)),
            )
        return changed == 1

    async def holder(self, lease: str) -> str | None:
        row = await self.db.fetchone("SELECT holder FROM leases WHERE name = ?", (lease,))
        return str(row[0]) if row else None

    async def release(self, lease: str, me: str) -> None:
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (lease, me))


def _marks(items: Iterable[object]) -> str:
    return ",".join("?" for _ in items)
