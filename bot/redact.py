"""Keep the bot token out of every log line.

httpx logs each request URL at INFO, and Bot API URLs contain the token
(`…/bot<token>/getUpdates`); python-telegram-bot puts the same URLs into exception
messages. A filter on one handler would miss handlers added later by the daemon, so
`install_redaction` wraps the log-record factory: every record, from any logger, is
redacted once, when it is created.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

MASK = "[REDACTED]"


def secret_variants(token: str) -> list[str]:
    """The token and its secret half (after the colon), which also identifies the bot."""
    variants = [token]
    _, colon, secret = token.partition(":")
    if colon and len(secret) >= 8:
        variants.append(secret)
    return variants


class SecretRedactor(logging.Filter):
    """A logging filter that replaces secrets in a record's message, exception and stack."""

    def __init__(self, secrets: Iterable[str], mask: str = MASK) -> None:
        super().__init__()
        # Longest first, so the whole token is masked before its secret half is looked for.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self.mask = mask

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, self.mask)
        return text

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
