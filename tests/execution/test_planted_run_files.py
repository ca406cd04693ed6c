"""Links planted in a run's folder, at the check's output, at the daemon's lock and at the
.env `init` writes: nothing is written (or read) through them."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from core.abc import ProcessExit, ProcessSpec
from core.errors import UnsafeFile
from core.execution.check import run_check
from core.execution.tmux import TmuxRunner
from core.lock import InstanceLock
from core.settings import Settings
from core.setup.envfile import write_private

SECRET = b"outside the run: never to be written or read back\n"
BIN = Path(sys.executable).parent / "nightshift"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "secret"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    return path


@pytest.fixture
def tmux(settings: Settings) -> TmuxRunner:
    runner = TmuxRunner(settings.tmux_socket)
    yield runner  # type: ignore[misc]
    runner.stop_server()


def plain(path: Path) -> bool:
    info = os.lstat(path)
    return stat.S_ISREG(info.st_mode) and info.st_nlink == 1


def spec(tmp_path: Path, *argv: str) -> ProcessSpec:
    run_dir = tmp_path / "runs" / "7"
    run_dir.mkdir(parents=True, mode=0o700)
    return ProcessSpec(name="ns-1-7", argv=argv, cwd=tmp_path, env={"PATH": os.environ["PATH"]},
                       log_path=run_dir / "stream.jsonl", run_dir=run_dir)


async def wait_exit(runner: TmuxRunner, run: ProcessSpec) -> ProcessExit:
    handle = await runner.attach(run)
    for _ in range(3000):
        status = await handle.poll()
        if status is not None:
            return status
        await asyncio.sleep(0.01)
    raise AssertionError("the run did not end")


async def test_links_at_the_run_files_are_replaced_not_followed(
    tmux: TmuxRunner, tmp_path: Path, outside: Path,
) -> None:
    run = spec(tmp_path, "sh", "-c", "printf out; printf err >&2")
    for name in ("spec.json", "env.json", "pid", "exit", "stderr.log"):
        (run.run_dir / name).symlink_to(outside)
    await tmux.run(run)
    assert await wait_exit(tmux, run) == ProcessExit(0)
    assert outside.read_bytes() == SECRET
    for name in ("pid", "exit", "stderr.log", "stream.jsonl"):
        assert plain(run.run_dir / name), name
    assert (run.run_dir / "stderr.log").read_text() == "err"
    assert run.log_path.read_text() == "out"


async def test_a_link_at_the_run_log_refuses_the_run(tmux: TmuxRunner, tmp_path: Path, outside: Path) -> None:
    run = spec(tmp_path, "true")
    run.log_path.symlink_to(outside)
    with pytest.raises(UnsafeFile, match=r"stream\.jsonl is a symbolic link"):
        await tmux.run(run)
    assert outside.read_bytes() == SECRET


async def test_a_fifo_at_the_exit_file_does_not_block_the_poll(tmux: TmuxRunner, tmp_path: Path) -> None:
    run = spec(tmp_path, "true")
    os.mkfifo(run.run_dir / "exit")  # read the old way, this would block the event loop
    handle = await tmux.attach(run)
    assert await asyncio.wait_for(handle.poll(), 30) == ProcessExit(None)


async def test_the_check_output_file_replaces_a_link(tmp_path: Path, outside: Path) -> None:
    log = tmp_path / "check.log"
    log.symlink_to(outside)
    result = await run_check("echo checked", tmp_path, 30, output_path=log)
    assert result.passed and result.output == "checked\n"
    assert plain(log) and outside.read_bytes() == SECRET


async def test_a_check_that_swaps_its_output_for_a_link_cannot_read_a_secret_back(
    tmp_path: Path, outside: Path,
) -> None:
    """The output is read through nightshift's own descriptor, not the (replaced) name."""
    log = tmp_path / "check.log"
    result = await run_check(f"echo visible; rm '{log}'; ln -s '{outside}' '{log}'", tmp_path, 30,
                             output_path=log)
    assert result.output == "visible\n"
    assert SECRET.decode() not in result.output


def test_the_daemon_lock_is_never_taken_through_a_link(tmp_path: Path, outside: Path) -> None:
    home = tmp_path / "state"
    home.mkdir(mode=0o700)
    lock = InstanceLock(home)
    lock.path.symlink_to(outside)
    with pytest.raises(UnsafeFile, match="symbolic link"):
        lock.acquire()
    assert outside.read_bytes() == SECRET


def test_the_env_file_replaces_a_link(tmp_path: Path, outside: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.symlink_to(outside)
    write_private(env_file, "A=1\n")
    assert plain(env_file) and env_file.read_text() == "A=1\n"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert outside.read_bytes() == SECRET


def test_init_refuses_to_merge_into_a_linked_env_file(tmp_path: Path, outside: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.symlink_to(outside)
    done = subprocess.run([str(BIN), "init", "--yes", "--work-hours", "9-18", "--env-file", str(env_file)],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode != 0
    assert "symbolic link" in done.stderr and str(env_file) in done.stderr
    assert env_file.is_symlink() and outside.read_bytes() == SECRET
