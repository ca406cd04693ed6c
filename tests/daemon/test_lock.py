"""One daemon per NIGHTSHIFT_HOME, enforced across real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.errors import AlreadyRunning
from core.lock import InstanceLock

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from core.lock import InstanceLock
    lock = InstanceLock(Path(sys.argv[1]))
    lock.acquire()
    print("locked", flush=True)
    sys.stdin.read()  # hold until the test closes our stdin
    """
)


def test_second_process_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    home = tmp_path / "state"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(home)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(AlreadyRunning) as caught:
            InstanceLock(home).acquire()
        assert caught.value.pid == holder.pid
        assert str(holder.pid) in str(caught.value) and str(home) in str(caught.value)
        assert (home / "daemon.lock").stat().st_mode & 0o777 == 0o600
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
    # The holder exited: the kernel released its lock, the file stays and is reusable.
    with InstanceLock(home) as lock:
        assert (home / "daemon.lock").read_text().strip() == str(os.getpid())
        assert lock.path.exists()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    home = tmp_path / "state"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(home)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2],
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    holder.kill()
    holder.wait(timeout=10)
    with InstanceLock(home):
        pass
