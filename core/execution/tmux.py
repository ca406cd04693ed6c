"""The real `ProcessRunner`: one detached tmux session per run, on nightshift's private socket.

tmux keeps runs alive when the daemon restarts and lets the owner attach over ssh to
watch (`tmux -L <socket> attach -t ns-<task>-<run>`). State never comes from the pane's
screen: the launcher writes the stream to the log file and the exit code to a file.

Each tmux command is a subprocess run in a thread. It starts from the allow-listed
environment (`core.childenv`), because a tmux server keeps the environment of the client
that started it as its global environment, hands it to every pane, and Claude's Bash tool
can read both: the daemon's bot token must never get there. A server already running on
the socket (started by an older nightshift, say) has its global environment scrubbed
before each run. The run's own environment reaches Claude through `env.json`, never tmux.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from core import safefs
from core.abc import ProcessExit, ProcessSpec
from core.childenv import child_env
from core.errors import TmuxError, ToolMissing, UnsafeFile
from core.store.db import ensure_private_dir

LAUNCHER = Path(__file__).with_name("launcher.py")
PANE_SIZE = ("200", "50")
START_ATTEMPTS = 5
TMUX_TIMEOUT_S = 30.0
TMUX_NAMES = ("TMUX_TMPDIR",)
"""Besides the basic allow-list, tmux needs to know where its sockets live."""
_MISSING = "install tmux (apt install tmux / brew install tmux)"


def tmux_env() -> dict[str, str]:
    """The environment of every tmux client nightshift runs, and so of a server it starts."""
    return child_env(TMUX_NAMES, claude=False)


def _write_private(path: Path, text: str) -> None:
    safefs.write_atomic(path, text.encode("utf-8", "surrogateescape"), fsync=False)


def read_exit(run_dir: Path) -> int | None:
    """The code the launcher wrote; never read through a link or from a FIFO (which would
    block the event loop) planted in the run's folder."""
    try:
        return int(safefs.read_regular(run_dir / "exit", limit_bytes=64).strip())
    except (FileNotFoundError, ValueError, UnsafeFile):
        return None


def pid_alive(pid: int) -> bool:
    """Is `pid` running? A zombie is not: when tmux's server is gone, its pane's process is
    reparented to an init that may never reap it, and `kill(pid, 0)` would still succeed."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust kill()
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


class TmuxHandle:
    def __init__(self, runner: TmuxRunner, spec: ProcessSpec, pid: int | None) -> None:
        self.runner = runner
        self.spec = spec
        self.name = spec.name
        self._pid = pid

    @property
    def pid(self) -> int | None:
        return self._pid

    async def poll(self) -> ProcessExit | None:
        code = read_exit(self.spec.run_dir)
        if code is not None:
            return ProcessExit(code)
        if self._pid is not None:
            alive = pid_alive(self._pid)
        else:
            alive = await self.runner.has_session(self.name)
        if alive:
            return None
        # The launcher writes `exit` before it ends: look once more to avoid a race.
        code = read_exit(self.spec.run_dir)
        return ProcessExit(code)

    async def kill(self, grace_s: float = 3.0) -> None:
        """SIGTERM the pane's process group (the launcher leads it, the CLI is in it), then SIGKILL."""
        pid = self._pid
        if pid is not None and pid_alive(pid):
            _signal_group(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while pid_alive(pid) and time.monotonic() < deadline:  # noqa: ASYNC110 - no event to wait on
                await asyncio.sleep(0.05)
            _signal_group(pid, signal.SIGKILL)
        await self.runner.kill_session(self.name)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class TmuxRunner:
    """Starts each run as `tmux -L <socket> new-session -d -s <name> -- python -I launcher.py DIR`."""

    def __init__(self, socket_name: str, *, python: str | None = None) -> None:
        self.socket_name = socket_name
        self.python = python or sys.executable

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        tmux = shutil.which("tmux", path=os.environ.get("PATH"))
        if tmux is None:
            raise ToolMissing("tmux", _MISSING)
        try:
            return subprocess.run(
                [tmux, "-L", self.socket_name, *args], env=tmux_env(), stdin=subprocess.DEVNULL,
                capture_output=True, text=True, errors="replace", timeout=TMUX_TIMEOUT_S,
            )
        except FileNotFoundError as exc:  # pragma: no cover - removed meanwhile
            raise ToolMissing("tmux", _MISSING) from exc
        except subprocess.TimeoutExpired:
            raise TmuxError(f"tmux {args[0]} did not answer within {TMUX_TIMEOUT_S:g}s") from None

    def _cmd(self, *args: str) -> list[str]:
        proc = self._run(*args)
        if proc.returncode != 0:
            raise TmuxError(f"tmux {args[0]} failed: {proc.stderr.strip() or 'no output'}")
        return proc.stdout.splitlines()

    def scrub_global_env(self) -> list[str]:
        """Unset, in a server already running on the socket, every global variable outside
        the allow-list (a server started by an older nightshift, or by hand from a shell,
        holds that shell's whole environment); return the names unset."""
        proc = self._run("show-environment", "-g")
        if proc.returncode != 0:
            return []  # no server yet: the next command starts one from tmux_env()
        allowed = tmux_env()
        names = [line.partition("=")[0] for line in proc.stdout.splitlines()
                 if line and not line.startswith("-")]
        unset = [name for name in names if name not in allowed]
        for name in unset:
            self._run("set-environment", "-g", "-u", name)
        return unset

    async def run(self, spec: ProcessSpec) -> TmuxHandle:
        ensure_private_dir(spec.run_dir)
        _write_private(spec.run_dir / "spec.json", json.dumps({
            "name": spec.name,
            "argv": list(spec.argv),
            "cwd": str(spec.cwd),
            "log_path": str(spec.log_path),
            "stdin_path": str(spec.stdin_path) if spec.stdin_path else None,
        }, ensure_ascii=False))
        _write_private(spec.run_dir / "env.json", json.dumps(dict(spec.env), ensure_ascii=False))
        safefs.ensure_file(spec.log_path)
        # Separate arguments after `--`: tmux executes them directly, without a shell.
        args = ("new-session", "-d", "-P", "-F", "#{pane_pid}", "-s", spec.name,
                "-c", str(spec.cwd), "-x", PANE_SIZE[0], "-y", PANE_SIZE[1],
                "--", self.python, "-I", str(LAUNCHER), str(spec.run_dir))
        for attempt in range(START_ATTEMPTS):
            try:
                await asyncio.to_thread(self.scrub_global_env)
                out = await asyncio.to_thread(self._cmd, *args)
                break
            except TmuxError as exc:
                # The server quits when its last session ends; a start that meets it on its
                # way out is refused and simply goes again (a fresh server starts).
                if "server exited" not in exc.message or attempt == START_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        try:
            pid = int(out[0].strip())
        except (IndexError, ValueError):
            pid = None
        return TmuxHandle(self, spec, pid)

    async def attach(self, spec: ProcessSpec) -> TmuxHandle:
        pid: int | None = None
        if read_exit(spec.run_dir) is None and await self.has_session(spec.name):
            try:
                out = await asyncio.to_thread(
                    self._cmd, "list-panes", "-t", f"={spec.name}", "-F", "#{pane_pid}"
                )
                pid = int(out[0].strip())
            except (TmuxError, IndexError, ValueError):
                pid = None
        return TmuxHandle(self, spec, pid)

    async def has_session(self, name: str) -> bool:
        try:
            proc = await asyncio.to_thread(self._run, "has-session", "-t", f"={name}")
        except (TmuxError, ToolMissing):
            return False
        return proc.returncode == 0

    async def kill_session(self, name: str) -> None:
        if await self.has_session(name):
            with contextlib.suppress(TmuxError):  # it may end between the two commands
                await asyncio.to_thread(self._cmd, "kill-session", "-t", f"={name}")

    async def kill_server(self) -> None:
        """Ends every run on this socket: for tests and `nightshift clean --all`-style teardown."""
        await asyncio.to_thread(self.stop_server)

    def stop_server(self) -> None:
        """`kill_server` for synchronous callers (test teardown); no server is fine.

        A killed tmux server leaves its socket file behind in `/tmp/tmux-UID`: one per
        socket name, thousands after a few test runs or demos. Removed here once nothing
        answers on it (the link itself if it is one, never what it points at)."""
        with contextlib.suppress(TmuxError, ToolMissing):
            self._run("kill-server")
        path = self.socket_path()
        with contextlib.suppress(OSError):
            folder = os.lstat(path.parent)  # tmux's own: a real folder of ours, 0700
            ours = (stat.S_ISDIR(folder.st_mode) and folder.st_uid == os.getuid()
                    and not folder.st_mode & 0o077)
            if ours and stat.S_ISSOCK(os.lstat(path).st_mode) and not self._answers():
                os.unlink(path)

    def socket_path(self) -> Path:
        """Where tmux keeps this socket: `$TMUX_TMPDIR/tmux-UID/NAME` (`/tmp` by default)."""
        base = tmux_env().get("TMUX_TMPDIR") or "/tmp"  # noqa: S108 - tmux's default, only read
        return Path(base) / f"tmux-{os.getuid()}" / self.socket_name

    def _answers(self) -> bool:
        try:
            return self._run("list-sessions").returncode == 0
        except (TmuxError, ToolMissing):
            return False
