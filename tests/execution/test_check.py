"""The check command: exit code, output tail, and a timeout that ends everything it started."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from core.execution.check import KEEP_BYTES, run_check
from tests.execution.conftest import eventually, group_gone


async def test_pass_and_fail_with_interleaved_output(tmp_path: Path) -> None:
    ok = await run_check("echo out; echo err >&2; true", tmp_path, 30)
    assert ok.passed and ok.exit_code == 0 and ok.output == "out\nerr\n"
    bad = await run_check("echo nope; exit 3", tmp_path, 30)
    assert not bad.passed and bad.exit_code == 3 and not bad.timed_out


async def test_it_runs_in_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "marker").write_text("here\n")
    assert (await run_check("cat marker", tmp_path, 30)).output == "here\n"


async def test_only_the_tail_of_a_huge_output_is_kept(tmp_path: Path) -> None:
    result = await run_check("seq 1 200000; echo LAST", tmp_path, 60)
    assert result.passed and result.output.endswith("200000\nLAST\n")
    assert len(result.output.encode()) <= KEEP_BYTES


async def test_a_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pgid"
    result = await run_check(f"ps -o pgid= $$ > {pidfile}; sleep 300 & sleep 300", tmp_path, 0.5)
    assert result.timed_out and not result.passed and result.exit_code is None
    assert "stopped after 0.5s" in result.output
    await eventually(lambda: group_gone(int(pidfile.read_text().strip())), "the process group to end")


async def test_a_background_child_holding_the_pipe_does_not_hang_it(tmp_path: Path) -> None:
    result = await asyncio.wait_for(run_check("(sleep 300 &) ; echo done", tmp_path, 30), 20)
    assert result.passed and "done" in result.output


async def test_cancelling_kills_the_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pgid"
    job = asyncio.create_task(run_check(f"ps -o pgid= $$ > {pidfile}; sleep 300", tmp_path, 300))
    await eventually(lambda: pidfile.exists() and pidfile.read_text().strip(), "the check to start")
    job.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await job
    await eventually(lambda: group_gone(int(pidfile.read_text().strip())), "the process group to end")
