"""Where the fake CLI keeps things, laid out as the real one does.

The config folder (CLAUDE_CONFIG_DIR), the project folder a session's transcript goes to
(named after the cwd exactly as Claude Code names it: nightshift's usage monitor finds the
transcripts by that name), and the fake's own state under `fake-claude/` there (sessions,
the account's limit), which every simulated run of one account sees.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any


def config_dir() -> Path:
    """The first entry of CLAUDE_CONFIG_DIR (nightshift allows a list; the CLI uses one)."""
    raw = os.environ.get("CLAUDE_CONFIG_DIR", "")
    first = next((p.strip() for p in raw.split(",") if p.strip()), "")
    return Path(first).expanduser() if first else Path.home() / ".claude"


MAX_SANITIZED = 200
"""Claude Code keeps a project folder's name within the file system's limit: past 200
characters it keeps the first 200 and adds a hash of the whole path."""


def _js_hash36(text: str) -> str:
    """JavaScript's `(h << 5) - h + charCodeAt(i) | 0` over UTF-16 code units, in base 36."""
    h = 0
    units = text.encode("utf-16-le")
    for i in range(0, len(units), 2):
        h = ((h << 5) - h + int.from_bytes(units[i:i + 2], "little")) & 0xFFFFFFFF
    h = abs(h - (1 << 32) if h >= 1 << 31 else h)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        h, r = divmod(h, 36)
        out = digits[r] + out
        if h == 0:
            return out


def project_dir(cwd: str) -> Path:
    """Claude Code names a project folder after the cwd, every character but letters and
    digits turned into `-`, bounded in length as it does for deep folders."""
    name = re.sub(r"[^A-Za-z0-9]", "-", cwd)
    if len(name) > MAX_SANITIZED:
        name = f"{name[:MAX_SANITIZED]}-{_js_hash36(cwd)}"
    return config_dir() / "projects" / name


def state_dir() -> Path:
    path = config_dir() / "fake-claude"
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_json(path: Path) -> dict[str, Any]:
    """A state file, or {} when it is missing or unreadable: the fake starts afresh."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def save_json(path: Path, value: dict[str, Any]) -> None:
    """Through a temporary file and a rename: a session running at the same time never reads
    half a file."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value), encoding="utf-8")
    tmp.replace(path)
