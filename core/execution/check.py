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


def _tail(path: Path, limit: int = KEEP_BYTES) -> str:
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - limit))
        return fh.read().decode("utf-8", "replace")


async def run_check(
    command: str,
    cwd: Path,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    output_path: Path | None = None,
) -> CheckResult:
    """Run the check; its full output is kept at `output_path` when given (0600)."""
    started = time.monotonic()
    if output_path is None:
        fd, name = tempfile.mkstemp(prefix="nightshift-check-")
        output_path, keep = Path(name), False
    else:
        fd, keep = os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), True
    try:
        try:
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", command,
                cwd=str(cwd),
                env=dict(env) if env is not None else None,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=fd,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            os.close(fd)
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
        output = _tail(output_path)
    finally:
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
