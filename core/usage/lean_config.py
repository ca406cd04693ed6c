"""The four settings the usage scanner needs, read with nothing but `os`.

`core.usage.config.read_config` and the `usage blocks` lean path (core.usage.lean) both
read them here: the environment first, then the settings files, names case-insensitive, as
`load_settings()` reads them (a test holds them equal). A settings file is parsed here when
every line is of the plain kinds `nightshift init` writes (`KEY=value`, `KEY="value"`,
comments); anything else (escapes, `$` expansion, `export`, inline comments) goes to
python-dotenv, which the lean path cannot afford: it then hands over to the full path.
"""

from __future__ import annotations

import os

from core.configfiles import config_names
from core.usage.paths import expand_user, path_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

VARIABLES = {
    "home": "NIGHTSHIFT_HOME",
    "claude_config_dir": "CLAUDE_CONFIG_DIR",
    "tz": "NIGHTSHIFT_TZ",
    "usage_prices_file": "NIGHTSHIFT_USAGE_PRICES_FILE",
}
DEFAULT_HOME = "~/.nightshift"
_KEY_REFUSED = frozenset(" \t#'\"$\\")
_VALUE_REFUSED = frozenset("'\"$\\#")
_QUOTED_REFUSED = frozenset("'\"$\\")


def parse_plain(text: str) -> dict[str, str] | None:
    """What python-dotenv reads from `text`, when every line is a plain one; else None."""
    out: dict[str, str] = {}
    for line in text.removeprefix("\ufeff").split("\n"):
        if not line.isascii() or not line.replace("\t", " ").isprintable():
            return None
        stripped = line.strip(" \t")
        if not stripped or stripped[0] == "#":
            continue
        key, equals, value = stripped.partition("=")
        key = key.rstrip(" \t")
        value = value.lstrip(" \t")
        if not equals or not key or not _KEY_REFUSED.isdisjoint(key):
            return None
        if value[:1] in ("'", '"'):
            if len(value) < 2 or value[-1] != value[0] or not _QUOTED_REFUSED.isdisjoint(value[1:-1]):
                return None
            value = value[1:-1]
        elif not _VALUE_REFUSED.isdisjoint(value):
            return None
        out[key] = value
    return out


def settings_values(env: Mapping[str, str], files: Sequence[str],
                    full_reader: Callable[[str], Mapping[str, str | None]] | None) -> dict[str, str] | None:
    """The four variables (lower-cased names), or None if a file cannot be read as
    `load_settings()` would read it (or needs `full_reader`, python-dotenv, and none is given)."""
    lowered = {key.lower(): value for key, value in env.items()}
    values: dict[str, str] = {}
    for name in files:  # weakest first: later files win
        try:
            with open(name, encoding="utf-8") as handle:
                found: Mapping[str, str | None] | None = parse_plain(handle.read())
            if found is None:
                if full_reader is None:
                    return None
                found = full_reader(name)
        except (OSError, UnicodeDecodeError):
            return None
        for key, value in found.items():
            if value is not None:
                values[key.lower()] = value
    for field, variable in VARIABLES.items():
        name = variable.lower()
        if name in lowered:
            values[name] = lowered[name]
        values.setdefault(name, "" if field != "home" else DEFAULT_HOME)
    return values


def split_dirs(value: str) -> list[str]:
    """`CLAUDE_CONFIG_DIR` as the settings split it (comma-separated, blanks dropped)."""
    return [path_text(part.strip()) for part in value.split(",") if part.strip()]


class LeanConfig:
    """The settings as plain strings, for the lean path."""

    __slots__ = ("claude_config_dirs", "home", "prices_file", "tz", "values")

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values
        """As `settings_values` read them (for `read_config(values=...)`)."""
        self.home = path_text(values["nightshift_home"])
        self.claude_config_dirs = split_dirs(values["claude_config_dir"])
        self.tz = values["nightshift_tz"]
        prices = values["nightshift_usage_prices_file"]
        self.prices_file = path_text(prices) if prices else None

    @property
    def db_path(self) -> str:
        return path_text(expand_user(self.home) + "/nightshift.db")

    @property
    def price_file(self) -> str:
        return expand_user(self.prices_file or self.home + "/prices.json")


def read_lean(env: Mapping[str, str] | None = None) -> LeanConfig | None:
    """The settings from the environment and the plain settings files; None when a file
    needs python-dotenv (or cannot be read), or the home directory cannot be found."""
    env = os.environ if env is None else env
    try:
        values = settings_values(env, config_names(), None)
    except RuntimeError:  # no home directory to look for the user's file in
        return None
    return None if values is None else LeanConfig(values)
