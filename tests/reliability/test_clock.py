"""The clock jumping (suspend and resume, a clock set back): the reset is worked out again from
the new `now`, never from where the clock was when it was planned.

The daemon reads time through the service's clock; the test moves that clock by hours while
the real daemon (APScheduler, executor, tmux, the fake CLI) runs, and never sleeps on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from core.daemon import LIMIT_PAUSE_KEY, Daemon
from core.models import Task, TaskState, utcnow
from core.scheduling.resets import LimitPause
from core.service import Service
from core.settings import Settings
from core.store.store import Store
from tests.daemon.conftest import MakeDaemon, Record, run_daemon, wait_for_states

MARGIN = timedelta(seconds=1)  # NIGHTSHIFT_RESET_MARGIN_S in the daemon tests' settings


class JumpingClock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset


@dataclass
class World:
    clock: JumpingClock
    service: Service
    daemon: Daemon
    paused: Task
    waiting: Task
    resets_at: datetime


@pytest.fixture
async def paused_world(daemon_settings: Settings, dstore: Store, make_daemon: MakeDaemon
                       ) -> AsyncIterator[World]:
    """A queue paused by a limit that resets in an hour, and a daemon on a movable clock."""
    clock = JumpingClock()
    daemon = make_daemon(clock=clock, monitor=False)
    service = daemon.service
    resets_at = clock() + timedelta(hours=1)
    paused = await service.add("interrupted by the limit [fake: turns=1]", plan=False, priority="low")
    await dstore.tasks.claim_next(only_ids=[paused.id])
    paused = await dstore.tasks.transition(paused.id, TaskState.PAUSED_LIMIT, reason="limit",
                                           fields={"resume_after": resets_at})
    await dstore.kv.set(LIMIT_PAUSE_KEY, LimitPause(resets_at, resets_at + MARGIN,
                                                    task_id=paused.id).as_json())
    waiting = await service.add("queued behind the limit [fake: turns=1]", plan=False, priority="urgent")
    running = await run_daemon(daemon)
    try:
        yield World(clock, service, daemon, paused, waiting, resets_at)
    finally:
        await running.stop()


async def _tick(world: World) -> None:
    """Run the daemon's safety tick now (it is due every minute anyway)."""
    world.daemon.timers.fire_now("tick")
    await asyncio.sleep(0.3)


async def test_a_jump_past_the_reset_releases_the_queue_at_the_next_tick(
    paused_world: World, dstore: Store, record: Record,
) -> None:
    world = paused_world
    await _tick(world)
    assert record() == [], "an hour before the reset nothing starts"
    # Suspended for three hours: the reset happened while the machine slept.
    world.clock.offset = timedelta(hours=3)
    await _tick(world)
    await wait_for_states(dstore, [world.paused.id, world.waiting.id], {TaskState.DONE})
    calls = record()
    assert [c["prompt"].split(" [")[0] for c in calls] == [
        "interrupted by the limit", "queued behind the limit"], "the interrupted task goes first"
    [run] = await dstore.runs.for_task(world.paused.id)
    assert run.scheduled_for == world.resets_at + MARGIN, "scheduled for the reset it waited for"
    assert run.started_at is not None and run.started_at >= world.clock() - timedelta(minutes=1)
    assert run.latency_s is not None and run.latency_s >= 3600 * 2 - 60, "late by the suspend"


async def test_a_clock_set_back_keeps_the_pause_and_places_the_reset_again(
    paused_world: World, dstore: Store, record: Record,
) -> None:
    world = paused_world
    world.clock.offset = -timedelta(hours=2)
    # The reset job fires (by the scheduler's wall clock, a job placed for the old timeline);
    # on the daemon's clock the reset is now three hours away: it is placed again, not run.
    world.daemon.timers.fire_now("reset")
    await asyncio.sleep(0.3)
    await _tick(world)
    assert world.daemon.timers.next_fire("reset") == world.resets_at + MARGIN
    assert record() == []
    assert (await dstore.tasks.get(world.paused.id)).state is TaskState.PAUSED_LIMIT
    assert (await dstore.tasks.get(world.waiting.id)).state is TaskState.READY
    pause = await dstore.kv.get(LIMIT_PAUSE_KEY)
    assert pause is not None and not pause["lifted"]
    # Then time catches up with the reset: the queue goes on.
    world.clock.offset = timedelta(hours=1, seconds=5)
    await _tick(world)
    await wait_for_states(dstore, [world.paused.id, world.waiting.id], {TaskState.DONE})
