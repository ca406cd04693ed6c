"""Where Claude Code keeps its logs, resolved exactly as Claude Code and ccusage do."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path


def default_config_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    env = os.environ if env is None else env
    home = Path(env.get("HOME", str(Path.home())))
    xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    return [xdg / "claude", home / ".claude"]


def projects_dirs(
    configured: Sequence[Path] | None = None, env: Mapping[str, str] | None = None
) -> list[Path]:
    """The existing `projects/` directories to scan.

    `CLAUDE_CONFIG_DIR` entries may name a config directory (that contains `projects/`) or
    the `projects/` directory itself; without it, both default locations are used, each
    only if its `projects/` exists. Duplicates (the same directory twice) are dropped.
    """
    env = os.environ if env is None else env
    if configured:
        candidates = [Path(p).expanduser() for p in configured]
    elif env.get("CLAUDE_CONFIG_DIR", "").strip():
        candidates = [Path(p.strip()).expanduser() for p in env["CLAUDE_CONFIG_DIR"].split(",") if p.strip()]
    else:
        candidates = default_config_dirs(env)
    found: list[Path] = []
    seen: set[Path] = set()
    for candidate in candidates:
        for option in (candidate / "projects", candidate):
            if option.name == "projects" and option.is_dir():
                resolved = option.resolve()
                if resolved not in seen:
                    seen.add(resolved)
                    found.append(option)
                break
    return found
