"""The one secret redactor: what must never reach a log line, a note or a message.

Known secret values (the environment's tokens) are replaced wherever they appear; strings
shaped like a token (a Telegram bot token, `sk-ant-…`, a GitHub PAT, a JWT) are replaced
whatever their source; string values under secret-sounding keys are dropped whole.

Log records are redacted once, when they are created (`install_redaction`): a filter on one
handler would miss handlers added later, and libraries put secrets where a formatter never
looks twice (httpx logs each Bot API URL, which holds the bot token; python-telegram-bot
puts the same URLs into exception messages). A front whose secret may come from a settings
file rather than the environment installs it there (the bot does, for its token).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
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


# --- log records ---------------------------------------------------------------------------


def secret_variants(token: str) -> list[str]:
    """A bot token and its secret half (after the colon), which also identifies the bot."""
    variants = [token]
    _, colon, secret = token.partition(":")
    if colon and len(secret) >= _MIN_SECRET_CHARS:
        variants.append(secret)
    return variants


class SecretRedactor(logging.Filter):
    """A logging filter that redacts a record's message, exception and stack: `secrets` and
    the environment's (`redact_text`)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so the whole token is masked before its secret half is looked for.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        return redact_text(text, [*self.secrets, *env_secrets()])

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the raw parts, still redacted
            message = f"{record.msg} {record.args}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            redacted = self.redact(record.exc_text)
            if redacted != record.exc_text:
                record.exc_text = redacted
                # A formatter that formats `exc_info` itself (not `exc_text`) would print the
                # secret again: drop the live exception, keep its redacted text.
                record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class _RedactingFactory:
    def __init__(self, previous: Callable[..., logging.LogRecord], redactor: SecretRedactor):
        self.previous = previous
        self.redactor = redactor
        self.active = True

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        if self.active:
            self.redactor.filter(record)
        return record


def install_redaction(secrets: Iterable[str]) -> Callable[[], None]:
    """Redact `secrets` from every log record from now on; returns the function that undoes it."""
    redactor = SecretRedactor(secrets)
    factory = _RedactingFactory(logging.getLogRecordFactory(), redactor)
    logging.setLogRecordFactory(factory)

    def uninstall() -> None:
        factory.active = False
        if logging.getLogRecordFactory() is factory:
            logging.setLogRecordFactory(factory.previous)

    return uninstall
