"""The `ProcessRunner` contract, run over every implementation of the seam.

As APScheduler 4's data-store tests do, one parametrized fixture builds each runner and
every test below runs against each: the tmux runner (a real program on a private tmux
server) and the in-memory mock (which answers what the program would have printed). A
runner joins by adding a `Contestant` to `RUNNERS`.

A "program" here is described once (`Program`): for tmux it is a real Python child that
prints, writes to stderr, exits or hangs; the mock reads the same description from the
argument vector and answers with it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.abc import ProcessExit, ProcessHandle, ProcessRunner, ProcessSpec
from core.execution.tmux import TmuxRunner
from core.settings import Settings
from tests.fakes.runner import MockResponse, MockRunner

PROGRAM = """
import json, sys, time
p = json.loads(sys.argv[1])
for line in p["lines"]:
    print(line, flush=True)
sys.stderr.write(p["stderr"]); sys.stderr.flush()
if p["hang"]:
    time.sleep(600)
sys.exit(p["exit"])
"""


@dataclass(frozen=True)
class Program:
    lines: tuple[str, ...] = ()
    exit: int = 0
    stderr: str = ""
    hang: bool = False

    def argv(self) -> tuple[str, ...]:
        described = {"lines": list(self.lines), "exit": self.exit, "stderr": self.stderr, "hang": self.hang}
        return (sys.executable, "-c", PROGRAM, json.dumps(described))


def answer(spec: ProcessSpec) -> MockResponse:
    """The mock's handler: the program the argument vector describes, as if it had run."""
    p = json.loads(spec.argv[-1])
    return MockResponse(lines=p["lines"], exit_code=p["exit"], stderr=p["stderr"], hang=p["hang"])


@dataclass(frozen=True)
class Contestant:
    name: str
    make: Callable[[Settings], ProcessRunner]
    restart: Callable[[ProcessRunner], ProcessRunner]
    """A new runner over the same runs, as a restarted daemon builds it."""
    stop: Callable[[ProcessRunner], None]


def _tmux_stop(runner: ProcessRunner) -> None:
    assert isinstance(runner, TmuxRunner)
    runner.stop_server()


def _mock_restart(runner: ProcessRunner) -> ProcessRunner:
    # The mock's "processes" live in its handles; a restarted mock sees the same ones.
    assert isinstance(runner, MockRunner)
    return MockRunner(answer, handles=runner.handles)


RUNNERS = [
    Contestant(
        "tmux",
        lambda settings: TmuxRunner(settings.tmux_socket),
        lambda runner: TmuxRunner(runner.socket_name),  # type: ignore[attr-defined]
        _tmux_stop,
    ),
    Contestant("mock", lambda settings: MockRunner(answer), _mock_restart, lambda runner: None),
]


@pytest.fixture(params=RUNNERS, ids=[c.name for c in RUNNERS])
def contestant(request: pytest.FixtureRequest) -> Contestant:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def runner(contestant: Contestant, settings: Settings) -> Iterator[ProcessRunner]:
    made = contestant.make(settings)
    try:
        yield made
    finally:
        contestant.stop(made)


_names = iter(range(1, 10_000))


def spec_for(tmp_path: Path, program: Program, *, env: dict[str, str] | None = None) -> ProcessSpec:
    name = f"ns-c-{next(_names)}"
    run_dir = tmp_path / "runs" / name
    return ProcessSpec(
        name=name, argv=program.argv(), cwd=tmp_path, env=env or {"PATH": os.environ["PATH"]},
        log_path=tmp_path / "logs" / f"{name}.jsonl", run_dir=run_dir,
    )


async def wait_exit(handle: ProcessHandle) -> ProcessExit:
    for _ in range(3000):
        status = await handle.poll()
        if status is not None:
            return status
        await asyncio.sleep(0.01)
    raise AssertionError("the program did not end")


@pytest.fixture(autouse=True)
def _logs_folder(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir(mode=0o700)


@pytest.mark.parametrize("code", [0, 3])
async def test_what_the_program_prints_lands_in_the_log_and_its_exit_code_is_reported(
    runner: ProcessRunner, tmp_path: Path, code: int
) -> None:
    spec = spec_for(tmp_path, Program(lines=('{"type":"system"}', "second line"), exit=code))
    handle = await runner.run(spec)
    assert handle.name == spec.name
    assert await wait_exit(handle) == ProcessExit(code)
    assert spec.log_path.read_text() == '{"type":"system"}\nsecond line\n'


async def test_stderr_is_kept_apart_in_the_run_folder(runner: ProcessRunner, tmp_path: Path) -> None:
    spec = spec_for(tmp_path, Program(lines=("out",), stderr="warning: slow disk\n", exit=1))
    assert await wait_exit(await runner.run(spec)) == ProcessExit(1)
    assert "warning: slow disk" in (spec.run_dir / "stderr.log").read_text()
    assert "warning" not in spec.log_path.read_text()


async def test_a_running_program_polls_none_and_a_kill_ends_it_without_a_code(
    runner: ProcessRunner, tmp_path: Path
) -> None:
    spec = spec_for(tmp_path, Program(lines=("working",), hang=True))
    handle = await runner.run(spec)
    assert await handle.poll() is None
    await handle.kill(grace_s=1.0)
    assert await wait_exit(handle) == ProcessExit(None)


async def test_a_restarted_runner_attaches_to_a_live_run_and_can_stop_it(
    contestant: Contestant, runner: ProcessRunner, tmp_path: Path
) -> None:
    spec = spec_for(tmp_path, Program(hang=True))
    await runner.run(spec)
    later = contestant.restart(runner)
    handle = await later.attach(spec)
    assert handle.name == spec.name and await handle.poll() is None
    await handle.kill(grace_s=1.0)
    assert await wait_exit(handle) == ProcessExit(None)


async def test_a_restarted_runner_reads_the_code_of_a_run_that_ended_meanwhile(
    contestant: Contestant, runner: ProcessRunner, tmp_path: Path
) -> None:
    spec = spec_for(tmp_path, Program(exit=4))
    assert await wait_exit(await runner.run(spec)) == ProcessExit(4)
    handle = await contestant.restart(runner).attach(spec)
    assert await handle.poll() == ProcessExit(4)


async def test_attaching_to_a_run_nobody_started_finds_it_gone(runner: ProcessRunner, tmp_path: Path) -> None:
    handle = await runner.attach(spec_for(tmp_path, Program()))
    assert await handle.poll() == ProcessExit(None)


async def test_the_run_folder_is_private_and_keeps_no_environment(
    runner: ProcessRunner, tmp_path: Path
) -> None:
    env = {"PATH": os.environ["PATH"], "SECRET_TOKEN": "hunter2-secret"}
    spec = spec_for(tmp_path, Program(lines=("done",), stderr="note\n"), env=env)
    assert await wait_exit(await runner.run(spec)) == ProcessExit(0)
    assert spec.run_dir.stat().st_mode & 0o777 == 0o700
    files = [p for p in spec.run_dir.iterdir() if p.is_file()]
    assert files, "the runner keeps its bookkeeping in the run folder"
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600, path
        assert b"hunter2" not in path.read_bytes(), path
