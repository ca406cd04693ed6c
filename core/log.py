"""Logging, set up in one place: one JSON object per line on stderr, fields not prose.

    event("run finished", task=3, outcome="success")

writes `{"time": ..., "level": "info", "event": "run finished", "task": 3, "outcome": ...}`.
`time` is the key `brain/logs` uses too, so one `jq` filter reads both. Under systemd
(`JOURNAL_STREAM` set) every line starts with its syslog priority, `<3>` for an error, so
`journalctl -p err` finds the errors. Every line goes through the one secret redactor.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from core.models import iso
from core.redact import redact, redact_text

ROOT = "nightshift"
TIME_KEY = "time"
"""The timestamp key of every structured line, here and in `brain/logs` (`core.brain_logs`)."""

SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}
QUIET_LOGGERS = ("apscheduler", "httpx")
"""They log every job run and every request at INFO: a line a minute per job is noise."""


def event(
    name: str,
    level: int = logging.INFO,
    *,
    logger: str = "daemon",
    exc_info: bool | BaseException = False,
    **fields: Any,
) -> None:
    """Log event `name` with `fields` on `nightshift.<logger>`; the message is the name alone.

    `exc_info=True` inside an `except` block adds the traceback (as the `error` field); an
    exception instead of True adds that exception's traceback, for callbacks handed one outside
    its `except` block (PTB's error handler, a finished task)."""
    logging.getLogger(f"{ROOT}.{logger}").log(level, name, exc_info=exc_info, extra={"fields": fields})


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a logging level (levels between the named ones round down)."""
    for threshold in sorted(SYSLOG_PRIORITY, reverse=True):
        if levelno >= threshold:
            return SYSLOG_PRIORITY[threshold]
    return SYSLOG_PRIORITY[logging.DEBUG]


class JsonLines(logging.Formatter):
    """One redacted JSON object per line: `time`, `level`, `event`, then the event's fields."""

    def __init__(self, *, priority_prefix: bool = False) -> None:
        super().__init__()
        self.priority_prefix = priority_prefix

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            TIME_KEY: iso(datetime.fromtimestamp(record.created, UTC)),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        out.update(getattr(record, "fields", {}))
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        line = redact_text(json.dumps(redact(out), ensure_ascii=False, default=str))
        if self.priority_prefix:
            return f"<{syslog_priority(record.levelno)}>{line}"
        return line


def configure_logging(stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Structured lines on stderr for the whole process (`nightshift run`)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLines(priority_prefix=bool(os.environ.get("JOURNAL_STREAM"))))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
