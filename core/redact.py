"""The one secret redactor: what must never reach a log line, a note or a message.

Known secret values (the environment's tokens) are replaced wherever they appear; strings
shaped like a token (a Telegram bot token, `sk-ant-…`, a GitHub PAT, a JWT) are replaced
whatever their source; string values under secret-sounding keys are dropped whole.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"
SECRET_ENV = (
    "TELEGRAM_BOT_TOKEN",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "GITHUB_TOKEN",
    "GH_TOKEN",
)
"""Environment variables whose values must never appear in a log or note, whatever their shape."""

# Hand-written patterns: secret scanners (detect-secrets, gitleaks) scan files and repos;
# we need a cheap in-process filter on short strings, which a dozen regexes do well.
_SECRET_PATTERNS = [
    re.compile(r"\b\d{5,12}:[A-Za-z0-9_-]{30,}"),  # Telegram bot token
    re.compile(r"\bsk-ant-[A-Za-z0-9_-]{8,}"),  # Anthropic API / OAuth tokens
    re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub tokens
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # JWT
    re.compile(r"(?i)\b(bearer|token)\s+[A-Za-z0-9._~+/=-]{16,}"),
]
_SECRET_KEY = re.compile(r"(?i)(token|secret|passw|api[_-]?key|authorization|cookie|credential)")
_MIN_SECRET_CHARS = 8
"""Shorter environment values are not treated as secrets: redacting "1" everywhere helps nobody."""


def env_secrets() -> list[str]:
    values = (os.environ.get(name, "") for name in SECRET_ENV)
    return sorted({v for v in values if len(v) >= _MIN_SECRET_CHARS}, key=len, reverse=True)


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    for secret in env_secrets() if secrets is None else secrets:
        text = text.replace(secret, REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def redact(value: Any, *, _secrets: list[str] | None = None, _key: str = "") -> Any:
    """`value` with every token-like string replaced; string values under secret-sounding
    keys (`api_key`, `password`…) are dropped whole. Numbers are kept: `tokens_input` is a count."""
    secrets = env_secrets() if _secrets is None else _secrets
    if isinstance(value, str):
        if _key and _SECRET_KEY.search(_key) and value:
            return REDACTED
        return redact_text(value, secrets)
    if isinstance(value, Mapping):
        return {redact_text(str(k), secrets): redact(v, _secrets=secrets, _key=str(k))
                for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v, _secrets=secrets, _key=_key) for v in value]
    return value
