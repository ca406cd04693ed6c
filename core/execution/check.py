"""The task's check command (`make test`): the judge of success, not the model's own word.

The command is the owner's own shell text, so it runs through `/bin/sh -c` by design (the
prompt never does). It gets its own process group so a timeout or cancel ends everything it
started. Its output goes to a file, not a pipe: a background child that keeps the pipe open
would otherwise keep the check "running" after the shell has exited; only the file's tail is
read back into memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core import safefs
from core.childenv import child_env

KEEP_BYTES = 64 * 1024
KILL_GRACE_S = 2.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    passed: bool
    exit_code: int | None
    output: str
    """The end of stdout and stderr, interleaved as they were written."""
    timed_out: bool
    duration_s: float


def _kill_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _tail(fd: int, limit: int = KEEP_BYTES) -> str:
    """The end of the output, read through our own descriptor: the check may have replaced
    the file's name meanwhile (with a link to a secret, say), never our descriptor's file."""
    size = os.fstat(fd).st_size
    start = max(0, size - limit)
    return os.pread(fd, size - start, start).decode("utf-8", "replace")


async def run_check(
    command: str,
    cwd: Path,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    output_path: Path | None = None,
) -> CheckResult:
    """Run the check; its full output is kept at `output_path` when given (0600, a new file
    renamed into place: a link planted there is replaced, not written through).

    `env` defaults to the allow-listed child environment, never ours whole: the check runs
    code Claude just wrote."""
    started = time.monotonic()
    if output_path is None:
        fd, name = tempfile.mkstemp(prefix="nightshift-check-")
        output_path, keep = Path(name), False
    else:
        fd, keep = safefs.open_fresh(output_path, readable=True), True
    try:
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", command,
            cwd=str(cwd),
            env=dict(env) if env is not None else child_env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=fd,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        timed_out = False
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
        except asyncio.CancelledError:
            _kill_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), KILL_GRACE_S)
            raise
        finally:
            # Whatever it left running in the background ends with it.
            _kill_group(proc.pid, signal.SIGKILL)
        output = _tail(fd)
    finally:
        os.close(fd)
        if not keep:
            output_path.unlink(missing_ok=True)
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
