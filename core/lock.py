"""One daemon per NIGHTSHIFT_HOME: an exclusive `flock` on `<home>/daemon.lock`.

Its own module so that whoever must keep the daemon out (a restore of the database)
takes the same lock without importing the daemon.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from core import safefs
from core.errors import AlreadyRunning
from core.store.db import ensure_private_dir

LOCK_FILE = "daemon.lock"


class InstanceLock:
    """An exclusive `flock` on `<home>/daemon.lock`, holding the owner's pid.

    The kernel drops the lock when the process dies, so a crash never leaves a stale lock
    behind; the file itself is kept (deleting a lock file races with the next start).
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        ensure_private_dir(self.home)
        fd = safefs.open_lock(self.path)  # never through a link planted at the lock's name
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raw = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise AlreadyRunning(str(self.home), int(raw) if raw.isdigit() else None) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
