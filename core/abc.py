"""The seams of nightshift, in one place (as APScheduler 4's `abc.py`).

Adapters live beside the code that uses them; tests swap in real local parts (a temp-dir
database, a private tmux socket, a fake `claude` executable, a local Bot API server)
through these interfaces rather than mocking internals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

Clock = Callable[[], datetime]
"""Returns an aware 'now'. Time math takes `now` as an argument; only the edges call a clock."""


@dataclass(frozen=True, slots=True)
class Button:
    text: str
    data: str  # callback data, at most 64 bytes (Telegram's limit)


@dataclass(frozen=True, slots=True)
class Notification:
    """Something the owner should hear about, independent of how it is delivered.

    `text` is plain text; the delivering front escapes and formats it. `photo` is a path
    to a PNG chart. `buttons` are rows of inline buttons.
    """

    kind: str
    text: str
    task_id: int | None = None
    run_id: int | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    photo: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    key: str | None = None
    """A stable key for a message that is updated in place (a run's live progress): a newer
    notification with the same key replaces an older one not yet delivered, and the front
    edits the message it sent for the key instead of sending another."""


@runtime_checkable
class Notifier(Protocol):
    """The core's outbound port: the bot implements delivery, the core only enqueues."""

    async def notify(self, note: Notification) -> None: ...


class NullNotifier:
    """Drops notifications: for fronts that have nobody to tell (one-off CLI commands)."""

    async def notify(self, note: Notification) -> None:
        return None


# --- running programs unattended (the executor's seam, shaped like httpx's transports) -------


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One program to run unattended: an argument vector, never a shell string.

    `env` is the child's complete environment (the runner passes nothing else through);
    stdout is appended to `log_path`; `run_dir` is private space for the runner's own
    bookkeeping (exit code, pid) so that a later process can `attach` to the same run.
    """

    name: str
    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str]
    log_path: Path
    run_dir: Path
    stdin_path: Path | None = None  # None: /dev/null


@dataclass(frozen=True, slots=True)
class ProcessExit:
    """How a program ended. `code` is None when it vanished without reporting one (killed)."""

    code: int | None


@runtime_checkable
class ProcessHandle(Protocol):
    name: str

    @property
    def pid(self) -> int | None:
        """Leader of the run's process group, when known."""
        ...

    async def poll(self) -> ProcessExit | None:
        """None while the program runs; its exit once it has ended."""
        ...

    async def kill(self, grace_s: float = 3.0) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after `grace_s`."""
        ...


@runtime_checkable
class ProcessRunner(Protocol):
    """Starts programs and finds them again after a restart (tmux in production)."""

    async def run(self, spec: ProcessSpec) -> ProcessHandle: ...

    async def attach(self, spec: ProcessSpec) -> ProcessHandle:
        """A handle on a run started earlier, perhaps by another process; `poll` says if it lives."""
        ...
