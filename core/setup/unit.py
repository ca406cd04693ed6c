"""The systemd user unit that keeps `nightshift run` alive across reboots."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

UNIT_NAME = "nightshift.service"


def unit_path(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    config = Path(env.get("XDG_CONFIG_HOME") or Path(env.get("HOME", str(Path.home()))) / ".config")
    return config / "systemd" / "user" / UNIT_NAME


def render_unit(executable: Path, workdir: Path, path_env: str) -> str:
    """The unit text.

    KillMode=process: stopping the daemon must not kill the tmux server that holds live
    runs; a restarted daemon adopts them. WorkingDirectory is where `.env` lives, since
    settings are read from the current directory.
    """
    exec_start = " ".join(shlex.quote(part) for part in (str(executable), "run"))
    return "\n".join(
        [
            "[Unit]",
            "Description=nightshift: run queued Claude Code tasks when the usage window resets",
            "After=network-online.target",
            "Wants=network-online.target",
            "",
            "[Service]",
            "Type=simple",
            f"WorkingDirectory={workdir}",
            f"ExecStart={exec_start}",
            f"Environment=PATH={path_env}",
            "Environment=PYTHONUNBUFFERED=1",
            "Restart=on-failure",
            "RestartSec=10",
            "KillMode=process",
            "TimeoutStopSec=30",
            "UMask=0077",
            "",
            "[Install]",
            "WantedBy=default.target",
            "",
        ]
    )


def manual_instructions(executable: Path, workdir: Path) -> str:
    """For machines without systemd: a crontab line and the tmux way."""
    command = f"cd {shlex.quote(str(workdir))} && {shlex.quote(str(executable))} run"
    return (
        "systemd is not available here. Start nightshift at boot with a crontab entry\n"
        f"(crontab -e):\n\n  @reboot {command} >> ~/.nightshift/daemon.log 2>&1\n\n"
        "or keep it running in tmux:\n\n"
        f"  tmux new-session -d -s nightshift-daemon '{command}'\n"
    )
