"""Where settings files are looked for; `os` only (the `usage blocks` lean path reads it).

Weakest first: `./.env` (for development), then `$XDG_CONFIG_HOME/nightshift/.env`
(`~/.config/nightshift/.env`), where `nightshift init` writes. The environment beats both,
and the user's file beats `./.env`, so the daemon behaves the same from any directory.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

CONFIG_DIR_NAME = "nightshift"


def user_config_name() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    if not (base and os.path.isabs(base)):
        home = os.path.expanduser("~")
        if home.startswith("~"):
            raise RuntimeError("Could not determine home directory.")  # as Path.home() says it
        base = os.path.join(home, ".config")
    return os.path.join(base, CONFIG_DIR_NAME, ".env")


def user_config_file() -> Path:
    from pathlib import Path

    return Path(user_config_name())


def config_names() -> list[str]:
    """The settings files that exist, weakest first (as given: relative or absolute)."""
    return [name for name in (".env", user_config_name()) if os.path.isfile(name)]


def config_files() -> list[Path]:
    """The settings files that exist, weakest first."""
    from pathlib import Path

    return [Path(name) for name in config_names()]
