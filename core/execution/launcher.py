"""Runs inside a run's tmux pane: starts the CLI from an argument vector and keeps its record.

tmux is given `python -I launcher.py RUN_DIR` as separate arguments, so no shell ever sees
the prompt. This program reads `spec.json` (argv, cwd, log path) and `env.json` (the child's
environment, deleted as soon as it is read because it may hold credentials) from RUN_DIR,
then:

- writes its pid to `pid` (it leads the pane's process group, which the CLI joins);
- copies the CLI's stdout, byte for byte, to the run's log, and a short readable rendering
  to the pane so the owner can attach and watch;
- sends the CLI's stderr to `stderr.log`;
- writes the exit code to `exit` (atomically) when the CLI ends.

No `exit` file after the pane is gone means the run was killed, not that it finished.
Standard library only: it runs as a script, outside the package's import path, so the few
lines of `core.safefs` it needs are repeated here: files are created as fresh temp files
renamed into place, or opened with O_NOFOLLOW and checked to be regular files, so a link
planted in the run folder is never written (or read) through.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

_SAFE = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _fresh(path: Path) -> int:
    """A new file renamed to `path` (a link there is replaced, never written through)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    os.replace(tmp, path)
    return fd


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _checked(path: Path, fd: int) -> int:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise OSError(f"{path} is not a regular file of its own; refusing to use it")
    os.set_blocking(fd, True)
    return fd


def _open_private(path: Path, flags: int) -> int:
    return _checked(path, os.open(path, flags | os.O_CREAT | _SAFE, 0o600))


def _read_text(path: Path) -> str:
    fd = _checked(path, os.open(path, os.O_RDONLY | _SAFE))
    with os.fdopen(fd, encoding="utf-8") as fh:
        return fh.read()


def _render(line: bytes) -> str | None:
    """One line for a human watching the pane; the log keeps the exact bytes."""
    try:
        event: Any = json.loads(line)
    except ValueError:
        return line.decode("utf-8", "replace")[:200]
    if not isinstance(event, dict):
        return None
    kind = event.get("type")
    if kind == "system" and event.get("subtype") == "init":
        return f"[session {event.get('session_id')} · {event.get('model')} · {event.get('cwd')}]"
    if kind == "assistant":
        out = []
        for block in (event.get("message") or {}).get("content") or ():
            if block.get("type") == "text":
                out.append("● " + str(block.get("text", "")).strip()[:500])
            elif block.get("type") == "tool_use":
                detail = json.dumps(block.get("input"), ensure_ascii=False)[:160]
                out.append(f"⏺ {block.get('name')} {detail}")
        return "\n".join(out) or None
    if kind == "rate_limit_event":
        info = event.get("rate_limit_info") or {}
        return f"[rate limit: {info.get('status')} · resets at {info.get('resetsAt')}]"
    if kind == "result":
        return (
            f"[result: {event.get('subtype')} · error={event.get('is_error')} · "
            f"{event.get('num_turns')} turns · ${event.get('total_cost_usd')}]"
        )
    return None


def _show(text: str | None) -> None:
    if not text:
        return
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except OSError:
        pass  # nobody can see the pane; the log is what counts


def main(argv: list[str]) -> int:
    run_dir = Path(argv[1])
    spec = json.loads(_read_text(run_dir / "spec.json"))
    env_path = run_dir / "env.json"
    env = json.loads(_read_text(env_path))
    env_path.unlink()
    _write_atomic(run_dir / "pid", f"{os.getpid()}\n")

    stdin_path = spec.get("stdin_path")
    stdin_fd = (_checked(Path(stdin_path), os.open(stdin_path, os.O_RDONLY | _SAFE)) if stdin_path
                else os.open(os.devnull, os.O_RDONLY))
    log_fd = _open_private(Path(spec["log_path"]), os.O_WRONLY | os.O_APPEND)
    err_fd = _fresh(run_dir / "stderr.log")
    code: int
    with os.fdopen(stdin_fd, "rb") as stdin:
        try:
            child = subprocess.Popen(
                spec["argv"], cwd=spec["cwd"], env=env, stdin=stdin, stdout=subprocess.PIPE,
                stderr=err_fd, close_fds=True,
            )
        except OSError as exc:
            os.write(err_fd, f"nightshift: cannot start {spec['argv'][0]}: {exc}\n".encode())
            _write_atomic(run_dir / "exit", "127\n")
            return 127
        assert child.stdout is not None
        for line in child.stdout:
            os.write(log_fd, line)
            _show(_render(line.rstrip(b"\n")))
        code = child.wait()
    if code < 0:
        code = 128 - code  # killed by a signal: the shell's convention
    os.close(log_fd)
    os.close(err_fd)
    _write_atomic(run_dir / "exit", f"{code}\n")
    _show(f"[claude exited with code {code}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
