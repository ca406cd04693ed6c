"""The task's check command (`make test`): the judge of success, not the model's own word.

The command is the owner's own shell text, so it runs through `/bin/sh -c` by design (the
prompt never does). It gets its own process group so a timeout or cancel ends everything it
started, and only the tail of its output is kept in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

KEEP_BYTES = 64 * 1024
KILL_GRACE_S = 2.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    passed: bool
    exit_code: int | None
    output: str
    """The end of stdout and stderr, interleaved as they arrived."""
    timed_out: bool
    duration_s: float


def _kill_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def run_check(
    command: str, cwd: Path, timeout_s: float, env: Mapping[str, str] | None = None
) -> CheckResult:
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", command,
        cwd=str(cwd),
        env=dict(env) if env is not None else None,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    buffer = bytearray()

    async def read() -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(65536):
            buffer.extend(chunk)
            if len(buffer) > 2 * KEEP_BYTES:
                del buffer[:-KEEP_BYTES]

    reader = asyncio.create_task(read())
    timed_out = False
    try:
        try:
            await asyncio.wait_for(proc.wait(), timeout_s)
        except TimeoutError:
            timed_out = True
            _kill_group(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), KILL_GRACE_S)
            except TimeoutError:
                _kill_group(proc.pid, signal.SIGKILL)
                await proc.wait()
        # A background child may still hold the pipe: give it a moment, then end the group.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(reader), KILL_GRACE_S)
    except asyncio.CancelledError:
        _kill_group(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), KILL_GRACE_S)
        raise
    finally:
        _kill_group(proc.pid, signal.SIGKILL)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    output = bytes(buffer[-KEEP_BYTES:]).decode("utf-8", "replace")
    code = proc.returncode
    if timed_out:
        output += f"\n[nightshift: the check was stopped after {timeout_s:g}s]\n"
    return CheckResult(
        passed=not timed_out and code == 0,
        exit_code=None if timed_out else code,
        output=output,
        timed_out=timed_out,
        duration_s=time.monotonic() - started,
    )
