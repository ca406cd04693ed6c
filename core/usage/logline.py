"""One line of a Claude Code log, judged exactly as ccusage 17 judges it.

ccusage validates each decoded line against a schema (valibot) and silently drops lines
that fail; users compare our numbers with its numbers, so the same lines must count. The
rules, field by field: a present-but-`null` optional field fails (valibot's `optional`
admits only a missing key), numbers exclude booleans, the timestamp must be ISO with `Z`
and at most milliseconds, names must not be empty. (One divergence: valibot would also
accept a JSON array as a `message.content` item; Claude Code never writes one.)

Two readers apply these rules: `core.usage.fastline` (msgspec: decoding and validation in
one C pass, for the bulk of a cold scan) and `decode_line` here (the standard library's
json and the checks below, for a few appended lines, where importing msgspec would cost
more than it saves). A property test holds them equal.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

LEGACY_LIMIT_TEXT = "Claude AI usage limit reached"
TIMESTAMP_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{3})?Z\Z"
VERSION_PATTERN = r"^[0-9]+\.[0-9]+\.[0-9]+"
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
_VERSION = re.compile(VERSION_PATTERN)
_EPOCH_AFTER_BAR = re.compile(r"\|(\d+)", re.ASCII)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


class UsageLine(NamedTuple):
    """A usage entry as read from the log (before deduplication and pricing)."""

    ts_ms: int
    hash: str | None
    input_tokens: float
    output_tokens: float
    cache_creation_tokens: float
    cache_read_tokens: float
    logged_cost: float | None
    model: str | None
    reset_ms: int | None
    """ccusage's `usageLimitResetTime`: the epoch in a legacy "…limit reached|<epoch>" line."""
    limit_text: str | None
    """The text of a synthetic API-error line (the limit message), for the monitor."""


class DecodedLine(NamedTuple):
    entry: UsageLine | None
    timestamp: str | None
    """The top-level `timestamp` if it is a string (whether or not the line is an entry)."""
    malformed: bool = False


MALFORMED = DecodedLine(None, None, True)
NOTHING = DecodedLine(None, None)


_DAYS: dict[str, int | None] = {}


def entry_ms(text: str) -> int | None:
    """`timestamp_ms` for a timestamp that passed the schema's pattern, without datetime.

    Called for every entry of a cold scan: the day is looked up once per date, the rest
    is integer arithmetic. A day or time that does not exist gives None (as JS's NaN), and
    so does the year 9999: its 5-hour block would end past the last date Python can hold.
    """
    day = _DAYS.get(text[:10], -1)
    if day == -1:
        try:
            day = (datetime.fromisoformat(text[:10] + "T00:00:00+00:00") - _EPOCH) // _MILLISECOND
        except ValueError:
            day = None
        if text.startswith("9999"):
            day = None
        _DAYS[text[:10]] = day
    hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
    if day is None or hour > 23 or minute > 59 or second > 59:
        return None
    millis = int(text[20:23]) if len(text) == 24 else 0
    return day + hour * 3_600_000 + minute * 60_000 + second * 1000 + millis


def timestamp_ms(text: str) -> int | None:
    """Epoch milliseconds of an ISO timestamp with a zone, or None when it is not one."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return (moment - _EPOCH) // _MILLISECOND


def make_entry(timestamp: str, message_id: str | None, request_id: str | None, model: str | None,
               tokens: tuple[Any, Any, Any, Any], cost: float | None, is_error: bool,
               texts: list[str]) -> UsageLine | None:
    """The entry of a line that passed the schema (None if its timestamp is no date)."""
    millis = entry_ms(timestamp)
    if millis is None:  # matches the pattern but is no date (month 13): JavaScript gets NaN
        return None
    reset_ms = None
    limit_text = None
    if is_error and texts:
        limit_text = "\n".join(texts)
        legacy = next((t for t in texts if LEGACY_LIMIT_TEXT in t), None)
        found = _EPOCH_AFTER_BAR.search(legacy) if legacy is not None else None
        if found and 0 < int(found[1]) < 2**53 // 1000:  # epoch seconds, not any digits
            reset_ms = int(found[1]) * 1000
    return UsageLine(
        ts_ms=millis,
        hash=f"{message_id}:{request_id}" if message_id is not None and request_id is not None else None,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cache_creation_tokens=tokens[2],
        cache_read_tokens=tokens[3],
        logged_cost=None if cost is None else float(cost),
        model=model,
        reset_ms=reset_ms,
        limit_text=limit_text,
    )


# --- the standard-library reader ----------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python accepts NaN and Infinity; JSON.parse does not


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _number(value: Any) -> bool:
    # An integer past 64 bits cannot be stored (SQLite INTEGER); a line claiming 10**30
    # tokens is as broken as one with text there, and must not stop the scan.
    return type(value) is float or (type(value) is int and -(2**63) <= value < 2**63)


def _optional_str(obj: dict[str, Any], key: str, non_empty: bool = False) -> bool:
    if key not in obj:
        return True
    value = obj[key]
    return type(value) is str and (not non_empty or value != "")


def _validated(obj: dict[str, Any]) -> tuple[bool, UsageLine | None]:
    """(whether the schema passed, the entry: None when its timestamp is no date)."""
    stamp = obj.get("timestamp")
    if type(stamp) is not str or _TIMESTAMP.search(stamp) is None:
        return False, None
    message = obj.get("message")
    if type(message) is not dict:
        return False, None
    usage = message.get("usage")
    if type(usage) is not dict:
        return False, None
    tokens = []
    for key, required in (("input_tokens", True), ("output_tokens", True),
                          ("cache_creation_input_tokens", False), ("cache_read_input_tokens", False)):
        if key in usage:
            if not _number(usage[key]):
                return False, None
            tokens.append(usage[key])
        elif required:
            return False, None
        else:
            tokens.append(0)
    if not (_optional_str(message, "model", True) and _optional_str(message, "id", True)):
        return False, None
    texts: list[str] = []
    if "content" in message:
        content = message["content"]
        if type(content) is not list:
            return False, None
        for item in content:
            if type(item) is not dict:
                return False, None
            if "text" in item:
                if type(item["text"]) is not str:
                    return False, None
                texts.append(item["text"])
    if not (_optional_str(obj, "cwd") and _optional_str(obj, "sessionId", True)
            and _optional_str(obj, "requestId", True)):
        return False, None
    if "version" in obj and not (type(obj["version"]) is str and _VERSION.search(obj["version"])):
        return False, None
    if "costUSD" in obj and not _number(obj["costUSD"]):
        return False, None
    if "isApiErrorMessage" in obj and type(obj["isApiErrorMessage"]) is not bool:
        return False, None
    return True, make_entry(stamp, message.get("id"), obj.get("requestId"), message.get("model"),
                            (tokens[0], tokens[1], tokens[2], tokens[3]), obj.get("costUSD"),
                            obj.get("isApiErrorMessage") is True, texts)


def decode_line(line: bytes) -> DecodedLine:
    """A log line: its usage entry when ccusage would count one, and its timestamp."""
    try:
        obj = _DECODER.decode(line.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return MALFORMED
    if type(obj) is not dict:
        return NOTHING
    stamp = obj.get("timestamp")
    stamp = stamp if type(stamp) is str else None
    if b'"usage"' not in line:
        return DecodedLine(None, stamp)
    _, entry = _validated(obj)
    return DecodedLine(entry, stamp)
