"""Readers of the setting values that are more than one scalar: comma lists, `name=path` maps,
Telegram user ids, a database URL, names and zones.

Kept apart from the `Settings` model (core/settings.py) so the model reads as the list of
knobs it is, and each reader is a pure function tested on its own. Each raises `ValueError`
with a sentence for the owner; `load_settings` turns it into a `ConfigError` naming the
variable. The time-of-day values are read where they are used: hour ranges and HH:MM times in
`core.scheduling.hours`, work hours, weekdays and crontab lines in their `core.scheduling` modules.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import SecretStr

ACCOUNT_NAME_MAX = 40
NODE_NAME_MAX = 100


def split_csv(value: Any) -> Any:
    """`"a, b,,c"` -> ["a", "b", "c"]; anything but a string (already a list) passes through."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _plain_name(name: str, limit: int) -> bool:
    return len(name) <= limit and all(ch.isalnum() or ch in "-_." for ch in name)


def parse_repo_aliases(value: Any) -> Any:
    """`NIGHTSHIFT_REPOS`: `"shop=~/src/shop, blog=/srv/blog"` -> {alias: path}."""
    if not isinstance(value, str):
        return value
    aliases: dict[str, str] = {}
    for part in split_csv(value):
        name, sep, path = part.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ValueError(f"{part!r} is not alias=path")
        aliases[name.strip()] = path.strip()
    return aliases


def parse_accounts(value: Any) -> Any:
    """`NIGHTSHIFT_ACCOUNTS`: `"work=~/.claude-work, home=~/.claude"` -> {name: config dir}.

    Two accounts on one directory would share one login and one set of limits: refused."""
    if not isinstance(value, str):
        return value
    accounts: dict[str, str] = {}
    for part in split_csv(value):
        name, sep, path = (x.strip() for x in part.partition("="))
        if not sep or not name or not path:
            raise ValueError(f"{part!r} is not name=CONFIG_DIR")
        if not _plain_name(name, ACCOUNT_NAME_MAX):
            raise ValueError(
                f"account name {name!r}: use letters, digits, '-', '_' and '.' (at most {ACCOUNT_NAME_MAX})"
            )
        if name in accounts:
            raise ValueError(f"account {name!r} is named twice")
        accounts[name] = path
    if len(set(accounts.values())) != len(accounts):
        raise ValueError("two accounts share one config directory: each needs its own login")
    return accounts


def parse_user_ids(value: Any) -> Any:
    """`TELEGRAM_ALLOWED_USERS`: `"123, -456"` -> frozenset({123, -456})."""
    if not isinstance(value, str):
        return value
    ids = []
    for part in split_csv(value):
        if not part.lstrip("-").isdigit():
            raise ValueError(f"{part!r} is not a numeric Telegram user id")
        ids.append(int(part))
    return frozenset(ids)


def check_node_name(value: str) -> str:
    """`NIGHTSHIFT_NODE_NAME`, stripped; it ends up in lease rows and messages."""
    value = value.strip()
    if not _plain_name(value, NODE_NAME_MAX):
        raise ValueError(f"use letters, digits, '-', '_' and '.' (at most {NODE_NAME_MAX})")
    return value


def check_database_url(value: Any) -> Any:
    """`NIGHTSHIFT_DATABASE_URL`: a PostgreSQL URL, or None when empty.

    The value may hold a password, so a refusal names only its scheme."""
    if value is None or value == "":
        return None
    text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    if not text.startswith(("postgresql://", "postgres://")):
        raise ValueError(f"must start with postgresql:// (got {text.partition(':')[0]!r}:…)")
    return text


def check_zone(value: str) -> str:
    """`NIGHTSHIFT_TZ`: an IANA zone name, or empty for the machine's zone."""
    if value:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
    return value
