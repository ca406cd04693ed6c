"""Two `nightshift run` daemons on one PostgreSQL queue, as two machines run them.

Each is a real process with its own home, tmux server, Claude config directory and node
name, and the fake CLI; the queue is a real PostgreSQL server the tests start. A machine
that dies is SIGKILLed together with its tmux server.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.models import Outcome, TaskState
from core.settings import Settings
from core.store.store import Store
from core.store.task_rows import NewTask
from tests.support import read_record

from .conftest import start_cli, stop_cli, wait_for_states

STALE_S = "3"


class Machine:
    def __init__(self, root: Path, name: str, pg_url: str, **env: str) -> None:
        self.name = name
        self.root = root / name
        (self.root / "claude" / "projects").mkdir(parents=True)
        self.socket = f"ns-test-{os.getpid()}-{root.name}-{name}"
        self.env = dict(
            os.environ,
            NIGHTSHIFT_HOME=str(self.root / "state"),
            NIGHTSHIFT_BRAIN=str(self.root / "brain"),
            NIGHTSHIFT_DATABASE_URL=pg_url,
            NIGHTSHIFT_NODE_NAME=name,
            NIGHTSHIFT_NODE_STALE_S=STALE_S,
            NIGHTSHIFT_TMUX_SOCKET=self.socket,
            CLAUDE_CONFIG_DIR=str(self.root / "claude"),
            FAKE_CLAUDE_RECORD=str(self.root / "record.jsonl"),
            **env,
        )
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = start_cli("run", env=self.env)

    def calls(self) -> list[dict[str, object]]:
        return read_record(self.root / "record.jsonl")

    def stop(self) -> tuple[int, str]:
        assert self.proc is not None
        code, _, err = stop_cli(self.proc, timeout_s=60)
        return code, err

    def die(self) -> None:
        """The machine is gone: the daemon and every run in its tmux server."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.kill_tmux()

    def kill_tmux(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)


@pytest.fixture
def machines(daemon_settings: Settings, tmp_path: Path, pg_url: str) -> Iterator[list[Machine]]:
    made: list[Machine] = []
    yield made
    for machine in made:
        if machine.proc is not None and machine.proc.poll() is None:
            machine.proc.kill()
            machine.proc.wait(timeout=30)
        machine.kill_tmux()


@pytest.fixture
async def queue(pg_url: str) -> AsyncIterator[Store]:
    store = await Store.connect(pg_url)
    try:
        yield store
    finally:
        await store.close()


async def add(queue: Store, prompt: str) -> int:
    return (await queue.tasks.add(NewTask(prompt=prompt, needs_plan=False))).id


async def done_once(queue: Store) -> dict[int, list[Outcome | None]]:
    """Every task done, by exactly one DONE move; each task's run outcomes in order."""
    tasks = await queue.tasks.query()
    assert [t.state for t in tasks] == [TaskState.DONE] * len(tasks)
    moves = Counter(e.task_id for e in await queue.tasks.events() if e.to_state == TaskState.DONE.value)
    assert moves == Counter({t.id: 1 for t in tasks})
    return {t.id: [r.outcome for r in await queue.runs.for_task(t.id)] for t in tasks}


async def test_two_daemons_on_one_database_run_every_task_exactly_once(
    machines: list[Machine], tmp_path: Path, pg_url: str, queue: Store,
) -> None:
    ids = [await add(queue, f"task {i}") for i in range(8)]
    one, two = Machine(tmp_path, "one", pg_url), Machine(tmp_path, "two", pg_url)
    machines += [one, two]
    one.start()
    two.start()
    await wait_for_states(queue, ids, {TaskState.DONE, TaskState.FAILED}, timeout_s=120)
    for machine in (one, two):
        code, err = machine.stop()
        assert code == 0, err

    outcomes = await done_once(queue)
    assert outcomes == {i: [Outcome.SUCCESS] for i in ids}
    calls = one.calls() + two.calls()
    assert len(calls) == len(ids)  # the CLI ran once per task, on one machine or the other
    assert Counter(i for c in calls for i in range(8) if f"task {i}" in str(c["prompt"])) == Counter(range(8))
    assert await queue.nodes.nodes() == []  # both stopped cleanly and left the list


async def test_a_killed_daemons_running_task_is_taken_over_after_its_heartbeat_stops(
    machines: list[Machine], tmp_path: Path, pg_url: str, queue: Store,
) -> None:
    slow = await add(queue, "slow work")
    rest = [await add(queue, f"quick {i}") for i in range(3)]
    doomed = Machine(tmp_path, "doomed", pg_url, FAKE_CLAUDE_SCENARIO="slow delay=2")
    survivor = Machine(tmp_path, "survivor", pg_url)
    machines += [doomed, survivor]
    doomed.start()
    await wait_for_states(queue, [slow], {TaskState.RUNNING}, timeout_s=60)
    while not doomed.calls():  # the CLI has started on the doomed machine
        assert doomed.proc is not None and doomed.proc.poll() is None
        await asyncio.sleep(0.05)
    held = await queue.tasks.get(slow)
    assert held.node == "doomed" and held.session_id is not None
    doomed.die()

    survivor.start()
    await wait_for_states(queue, [slow, *rest], {TaskState.DONE, TaskState.FAILED}, timeout_s=120)
    code, err = survivor.stop()
    assert code == 0, err

    outcomes = await done_once(queue)
    assert outcomes[slow] == [Outcome.INTERRUPTED, Outcome.SUCCESS]
    assert all(outcomes[i] == [Outcome.SUCCESS] for i in rest)
    moves = [e for e in await queue.tasks.events(slow) if e.from_state == TaskState.RUNNING.value]
    assert [(e.from_state, e.to_state) for e in moves] == [("running", "ready"), ("running", "done")]
    assert moves[0].reason == "taken over by survivor: node doomed stopped beating"
    assert len(doomed.calls()) == 1
    calls = survivor.calls()
    assert len(calls) == 4
    # The session lived on the dead machine: the survivor starts the work afresh, never resumes it.
    assert all(c["resume"] is None for c in calls)
    assert [n.name for n in await queue.nodes.nodes()] == ["doomed"]  # dead, still listed
    assert await queue.nodes.held_by("doomed") == []
