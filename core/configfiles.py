"""Where settings files are looked for; standard library only (the fast CLI path reads it).

Weakest first: `./.env` (for development), then `$XDG_CONFIG_HOME/nightshift/.env`
(`~/.config/nightshift/.env`), where `nightshift init` writes. The environment beats both,
and the user's file beats `./.env`, so the daemon behaves the same from any directory.
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_DIR_NAME = "nightshift"


def user_config_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / CONFIG_DIR_NAME / ".env"


def config_files() -> list[Path]:
    """The settings files that exist, weakest first."""
    return [path for path in (Path(".env"), user_config_file()) if path.is_file()]
