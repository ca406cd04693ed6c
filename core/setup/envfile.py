"""Writing `.env` for `nightshift init`: private, merged, validated before it is saved."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from core import safefs
from core.errors import InvalidInput

TOKEN_PATTERN = re.compile(r"^\d{5,}:[A-Za-z0-9_-]{30,}$")


def check_token_shape(token: str) -> str:
    token = token.strip()
    if not TOKEN_PATTERN.match(token):
        # Never echo the token back: it may be a real one with a typo.
        raise InvalidInput("that does not look like a bot token from @BotFather (digits:letters)")
    return token


def check_user_ids(raw: list[str]) -> list[int]:
    ids = []
    for item in raw:
        for part in item.replace(" ", ",").split(","):
            if not part:
                continue
            if not part.lstrip("-").isdecimal():
                raise InvalidInput(
                    f"{part!r} is not a numeric Telegram user id (ask @userinfobot for yours; "
                    "@usernames can change hands, ids cannot)"
                )
            ids.append(int(part))
    return ids


def _quote(value: str) -> str:
    if value == "" or re.fullmatch(r"[A-Za-z0-9_./:@,=~+-]+", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def merge_env(existing: str, values: Mapping[str, str]) -> str:
    """Replace the given keys in `existing` (keeping comments and other keys), append new ones."""
    remaining = dict(values)
    lines = []
    for line in existing.splitlines():
        match = re.match(r"^\s*([A-Z][A-Z0-9_]*)\s*=", line)
        if match and match.group(1) in remaining:
            key = match.group(1)
            lines.append(f"{key}={_quote(remaining.pop(key))}")
        else:
            lines.append(line)
    lines.extend(f"{key}={_quote(value)}" for key, value in remaining.items())
    return "\n".join(lines).rstrip("\n") + "\n"


def write_private(path: Path, text: str) -> None:
    """Write through a 0600 temp file and rename, so the secret is never briefly world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fresh 0600 temp file (O_EXCL|O_NOFOLLOW) renamed over the name: a link planted at
    # `path` or at a predictable temp name is replaced, never written through.
    safefs.write_atomic(path, text.encode("utf-8"), mode=0o600)
