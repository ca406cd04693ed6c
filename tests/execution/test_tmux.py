"""The tmux runner: argv without a shell, private bookkeeping, re-attach, process-group kill."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from core.abc import ProcessExit, ProcessHandle, ProcessSpec
from core.errors import TmuxError
from core.execution.tmux import TmuxRunner
from core.settings import Settings
from tests.execution.conftest import eventually, group_gone


@pytest.fixture
def tmux(settings: Settings) -> TmuxRunner:
    runner = TmuxRunner(settings.tmux_socket)
    yield runner  # type: ignore[misc]
    runner.stop_server()


def spec(tmp_path: Path, name: str, *argv: str, env: dict[str, str] | None = None) -> ProcessSpec:
    run_dir = tmp_path / "runs" / name
    run_dir.mkdir(parents=True, mode=0o700)
    return ProcessSpec(name=name, argv=argv, cwd=tmp_path, env=env or {"PATH": os.environ["PATH"]},
                       log_path=run_dir / "stream.jsonl", run_dir=run_dir)


async def wait_exit(handle: ProcessHandle) -> ProcessExit:
    for _ in range(2000):
        status = await handle.poll()
        if status is not None:
            return status
        await asyncio.sleep(0.01)
    raise AssertionError("the process did not end")


async def test_argv_reaches_the_program_without_a_shell(tmux: TmuxRunner, tmp_path: Path) -> None:
    text = "$(touch pwned) `touch pwned2` 'q' \"qq\" ; | & ü\nnext line"
    handle = await tmux.run(spec(tmp_path, "ns-1-1", "printf", "%s", text))
    assert await wait_exit(handle) == ProcessExit(0)
    assert (tmp_path / "runs" / "ns-1-1" / "stream.jsonl").read_text() == text
    assert not list(tmp_path.glob("pwned*"))


async def test_exit_codes_and_a_missing_program(tmux: TmuxRunner, tmp_path: Path) -> None:
    assert await wait_exit(await tmux.run(spec(tmp_path, "ns-1-2", "sh", "-c", "exit 7"))) == ProcessExit(7)
    missing = spec(tmp_path, "ns-1-3", str(tmp_path / "no-such-program"))
    assert await wait_exit(await tmux.run(missing)) == ProcessExit(127)
    assert "cannot start" in (missing.run_dir / "stderr.log").read_text()


async def test_bookkeeping_is_private_and_the_environment_is_not_kept(
    tmux: TmuxRunner, tmp_path: Path,
) -> None:
    env = {"PATH": os.environ["PATH"], "SECRET_TOKEN": "hunter2-secret"}
    run = spec(tmp_path, "ns-1-4", "sh", "-c", 'test ${#SECRET_TOKEN} = 14', env=env)
    assert await wait_exit(await tmux.run(run)) == ProcessExit(0)  # the child got it...
    assert not (run.run_dir / "env.json").exists()  # ...and it is not left on disk
    for path in run.run_dir.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path
        assert b"hunter2" not in path.read_bytes()


async def test_a_new_runner_attaches_to_a_live_run_and_kills_its_whole_group(
    tmux: TmuxRunner, settings: Settings, tmp_path: Path,
) -> None:
    pgid_file = tmp_path / "pgid"
    run = spec(tmp_path, "ns-2-5", "sh", "-c", f"ps -o pgid= $$ > {pgid_file}; sleep 300 & sleep 300")
    first = await tmux.run(run)
    await eventually(lambda: pgid_file.exists() and pgid_file.read_text().strip(), "the pgid")
    pgid = int(pgid_file.read_text())
    assert pgid == first.pid
    later = TmuxRunner(settings.tmux_socket)  # as after a restart
    handle = await later.attach(run)
    assert handle.pid == pgid and await handle.poll() is None
    await handle.kill(grace_s=1.0)
    assert await wait_exit(handle) == ProcessExit(None)  # killed: no exit code recorded
    await eventually(lambda: group_gone(pgid), "the process group to end")
    assert not await later.has_session(run.name)


async def test_attach_to_a_run_that_is_gone(tmux: TmuxRunner, tmp_path: Path) -> None:
    handle = await tmux.attach(spec(tmp_path, "ns-3-6", "true"))
    assert handle.pid is None and await handle.poll() == ProcessExit(None)


async def test_two_runs_cannot_share_a_name(tmux: TmuxRunner, tmp_path: Path) -> None:
    await tmux.run(spec(tmp_path, "ns-4-7", "sleep", "30"))
    again = ProcessSpec("ns-4-7", ("true",), tmp_path, {}, tmp_path / "x.log", tmp_path / "x")
    with pytest.raises(TmuxError, match="duplicate session"):
        await tmux.run(again)



def test_a_stopped_server_leaves_no_socket_file_behind(tmp_path: Path) -> None:
    name = f"ns-sock-{os.getpid()}-{tmp_path.name}"
    subprocess.run(["tmux", "-L", name, "new-session", "-d", "-s", "idle", "sleep 60"], check=True)
    runner = TmuxRunner(name)
    path = runner.socket_path()
    assert path.is_socket()
    runner.stop_server()
    assert not path.exists()
    assert subprocess.run(["tmux", "-L", name, "ls"], capture_output=True).returncode != 0
    runner.stop_server()  # nothing there any more: still fine
