"""The few settings the usage scanner needs, readable without building `Settings`.

`nightshift usage blocks --json` is what status lines and scripts poll every few seconds;
building the pydantic `Settings` costs about a third of a second, several times the whole
incremental scan. So this reads the same four variables the same way (the environment
first, then `.env`, names case-insensitive, `CLAUDE_CONFIG_DIR` comma-separated), and a
test holds it equal to `Settings` for them. Anything doubtful returns None and the caller
takes the ordinary path, which reports the problem properly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from core.configfiles import config_names
from core.usage.lean_config import settings_values
from core.usage.paths import projects_dirs

if TYPE_CHECKING:
    from core.settings import Settings


class UsageConfig(NamedTuple):
    home: Path
    claude_config_dirs: tuple[Path, ...]
    tz: str
    prices_file: Path | None

    @property
    def db_path(self) -> Path:
        return self.home.expanduser() / "nightshift.db"

    @property
    def projects(self) -> list[Path]:
        return projects_dirs(list(self.claude_config_dirs) or None)

    @property
    def zone(self) -> tzinfo | None:
        """The configured zone, or None for the system's (which `time.localtime` applies)."""
        if not self.tz:
            return None
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.tz)

    @property
    def price_file(self) -> Path:
        """The override price table: the setting, or `prices.json` in the state directory."""
        return (self.prices_file or self.home / "prices.json").expanduser()

    @classmethod
    def from_settings(cls, settings: Settings) -> UsageConfig:
        return cls(
            home=settings.home,
            claude_config_dirs=tuple(settings.claude_config_dir),
            tz=settings.tz,
            prices_file=Path(settings.usage_prices_file) if settings.usage_prices_file else None,
        )


DISCOVER = "discover"


def _split(value: str) -> tuple[Path, ...]:
    return tuple(Path(part.strip()) for part in value.split(",") if part.strip())


def read_config(env: Mapping[str, str] | None = None, env_file: str | None = DISCOVER,
                values: Mapping[str, str] | None = None) -> UsageConfig | None:
    """The usage settings as `load_settings()` would read them, or None if in doubt.

    `env_file`: one file, None for none, or (the default) the files `load_settings()` reads.
    `values`: the four settings as `settings_values` already read them (the `usage blocks`
    lean path's: with its connection open, no file is opened again, see core.usage.lean).
    """
    if values is None:
        env = os.environ if env is None else env
        files = config_names() if env_file == DISCOVER else [env_file] if env_file else []
        try:
            values = settings_values(env, [name for name in files if os.path.isfile(name)], _dotenv_values)
        except ImportError:
            return None
    if values is None:
        return None
    tz = values["nightshift_tz"]
    if tz:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            return None
    prices = values["nightshift_usage_prices_file"]
    return UsageConfig(
        home=Path(values["nightshift_home"]),
        claude_config_dirs=_split(values["claude_config_dir"]),
        tz=tz,
        prices_file=Path(prices) if prices else None,
    )


def _dotenv_values(name: str) -> Mapping[str, str | None]:
    """A settings file that is more than plain lines, read by python-dotenv as the settings are."""
    from dotenv import dotenv_values

    return dotenv_values(name, encoding="utf-8")
