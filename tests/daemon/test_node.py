"""The daemon as a node: the fronts run on the sender lease's holder only, its heartbeat job,
its clean leave, and `nightshift backup` pointing a shared queue to pg_dump."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.cluster import SENDER_LEASE, NodeAgent
from core.daemon.node import Heartbeat, LeasedFronts
from core.daemon.wake import Doorbell
from core.execution.executor import Executor
from core.execution.tmux import TmuxRunner
from core.models import Outcome, TaskState, utcnow
from core.settings import Settings
from core.store.store import Store
from core.store.task_rows import NewTask
from tests.support import NIGHTSHIFT

from .conftest import MakeDaemon, run_daemon

STALE = timedelta(seconds=30)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class FrontLog:
    """A front that records when it runs (the Telegram bot's place in the daemon)."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def factory(self, name: str):  # type: ignore[no-untyped-def]
        @asynccontextmanager
        async def front() -> AsyncIterator[None]:
            self.events.append(f"{name} up")
            try:
                yield
            finally:
                self.events.append(f"{name} down")

        return front


async def test_the_fronts_run_only_on_the_lease_holder_and_move_when_its_heartbeat_stops(
    store: Store,
) -> None:
    clock = Clock()
    log = FrontLog()
    one = NodeAgent(store, "one", clock=clock, stale_after=STALE, shared=True)
    two = NodeAgent(store, "two", clock=clock, stale_after=STALE, shared=True)
    fronts = {n.name: LeasedFronts([log.factory(n.name)], n) for n in (one, two)}
    beats = {n.name: Heartbeat(n, fronts[n.name], Doorbell()) for n in (one, two)}
    await one.join()
    await two.join()
    await beats["one"].beat()
    await beats["two"].beat()
    assert log.events == ["one up"] and await store.nodes.holder(SENDER_LEASE) == "one"

    clock.now += STALE * 2  # one stops beating; two goes on
    await beats["two"].beat()
    assert log.events == ["one up", "two up"]
    await beats["one"].beat()  # one wakes up (a suspended laptop): its bot must stop
    assert log.events == ["one up", "two up", "one down"]
    assert fronts["two"].running and not fronts["one"].running

    await beats["two"].leave()  # a clean stop gives the lease up at once
    await beats["one"].beat()
    assert log.events[-1] == "one up"
    await fronts["one"].close()
    await fronts["two"].close()
    assert log.events[-2:] == ["one down", "two down"]


async def test_a_beat_takes_over_a_stopped_nodes_task_and_rings_for_a_round(store: Store) -> None:
    clock = Clock()
    task = await store.tasks.add(NewTask(prompt="x", needs_plan=False), now=clock.now)
    dead = NodeAgent(store, "dead", clock=clock, stale_after=STALE, shared=True)
    live = NodeAgent(store, "live", clock=clock, stale_after=STALE, shared=True)
    await dead.join()
    claimed = await store.tasks.claim_next(clock.now, **dead.claim_scope())
    assert claimed is not None and not live.mine(claimed) and dead.mine(claimed)
    doorbell = Doorbell()
    beat = Heartbeat(live, LeasedFronts([], live), doorbell)
    await beat.beat()
    assert beat.taken == []  # not stale yet
    clock.now += STALE * 2
    await beat.beat()
    assert beat.taken == [task.id]
    assert (await store.tasks.get(task.id)).state is TaskState.READY
    woke = await doorbell.wait()
    assert woke is not None and woke.reason == "taken over"


async def test_the_daemon_beats_joins_and_leaves_its_queue(make_daemon: MakeDaemon, dstore: Store) -> None:
    daemon = make_daemon(monitor=False, node_name="nightbox", node_stale_s=3)
    assert daemon.node.name == "nightbox" and not daemon.node.shared
    running = await run_daemon(daemon)
    try:
        assert "heartbeat" in daemon.timers.names()
        assert [n.name for n in await dstore.nodes.nodes()] == ["nightbox"]
        assert await dstore.nodes.holder(SENDER_LEASE) is None  # no front: no lease taken
    finally:
        assert await running.stop() == 0
    assert await dstore.nodes.nodes() == []


def test_backup_and_restore_of_a_shared_queue_say_to_use_pg_dump(settings: Settings, tmp_path: Path) -> None:
    env_url = "postgresql://nightshift:s3cret@db.example:5432/nightshift"
    for command in (["backup"], ["restore", str(tmp_path / "x.db"), "--yes"]):
        done = subprocess.run(
            [NIGHTSHIFT, *command], capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, "NIGHTSHIFT_DATABASE_URL": env_url},
        )
        assert done.returncode == 1
        assert "pg_dump" in done.stderr and f"nightshift {command[0]}" in done.stderr
        assert "s3cret" not in done.stderr + done.stdout
    assert not settings.db_path.exists()  # nothing was opened or copied


async def test_recovery_leaves_another_machines_running_task_and_settles_a_run_nobody_follows(
    daemon_settings: Settings, dstore: Store, runner: TmuxRunner,
) -> None:
    """Start-up recovery on a shared queue: a task running on another machine is that machine's
    (its run is left as it is); a run whose task is no longer running is nobody's and is settled."""
    theirs = await dstore.tasks.add(NewTask(prompt="theirs", needs_plan=False))
    dropped = await dstore.tasks.add(NewTask(prompt="cancelled meanwhile", needs_plan=False))
    for task in (theirs, dropped):
        assert await dstore.tasks.claim_next(only_ids=[task.id], node="elsewhere") is not None
    their_run = await dstore.runs.create(theirs.id, started_at=utcnow())
    dropped_run = await dstore.runs.create(dropped.id, started_at=utcnow())
    await dstore.tasks.transition(dropped.id, TaskState.CANCELLED, reason="the owner cancelled it")
    here = NodeAgent(dstore, "here", clock=utcnow, stale_after=STALE, shared=True)
    executor = Executor(daemon_settings, dstore, runner, owns=here.mine)
    await executor.reconcile()
    assert (await dstore.runs.get(their_run.id)).finished_at is None
    assert (await dstore.tasks.get(theirs.id)).state is TaskState.RUNNING
    settled = await dstore.runs.get(dropped_run.id)
    assert settled.finished_at is not None and settled.outcome is Outcome.CANCELLED


async def test_a_beat_in_flight_during_a_clean_stop_does_not_register_the_node_again(store: Store) -> None:
    clock = Clock()
    node = NodeAgent(store, "leaving", clock=clock, stale_after=STALE, shared=True)
    await node.join()
    assert await node.leave()
    await node.beat()  # the heartbeat job was already running when the daemon stopped
    assert await store.nodes.nodes() == []
    again = NodeAgent(store, "leaving", clock=clock, stale_after=STALE, shared=True)
    await again.beat()  # a new start (a new agent) registers again on its first beat
    assert [n.name for n in await store.nodes.nodes()] == ["leaving"]
