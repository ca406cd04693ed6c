"""One line of a Claude Code log, judged exactly as ccusage 17 judges it.

ccusage validates each decoded line against a schema (valibot) and silently drops lines
that fail; users compare our numbers with its numbers, so the same lines must count. The
msgspec structs below are that schema field by field: a present-but-`null` optional field
fails (valibot's `optional` admits only a missing key), numbers exclude booleans, the
timestamp must be ISO with `Z` and at most milliseconds, names must not be empty.
msgspec decodes and validates in one C pass, several times faster than `json.loads` plus
checks in Python, which is most of a cold scan's time. (One divergence: valibot would also
accept a JSON array as a `message.content` item; Claude Code never writes one.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

LEGACY_LIMIT_TEXT = "Claude AI usage limit reached"
_EPOCH_AFTER_BAR = re.compile(r"\|(\d+)", re.ASCII)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)

Number = int | float
NonEmpty = Annotated[str, Meta(min_length=1)]


class _Usage(Struct):
    input_tokens: Number
    output_tokens: Number
    cache_creation_input_tokens: Number | UnsetType = UNSET
    cache_read_input_tokens: Number | UnsetType = UNSET


class _ContentItem(Struct):
    text: str | UnsetType = UNSET


class _Message(Struct):
    usage: _Usage
    model: NonEmpty | UnsetType = UNSET
    id: NonEmpty | UnsetType = UNSET
    content: list[_ContentItem] | UnsetType = UNSET


class _Line(Struct):
    timestamp: Annotated[
        str, Meta(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{3})?Z\Z")
    ]
    message: _Message
    cwd: str | UnsetType = UNSET
    sessionId: NonEmpty | UnsetType = UNSET
    version: Annotated[str, Meta(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+")] | UnsetType = UNSET
    costUSD: Number | UnsetType = UNSET
    requestId: NonEmpty | UnsetType = UNSET
    isApiErrorMessage: bool | UnsetType = UNSET


class _Stamp(Struct):
    """Any JSON object; only its top-level `timestamp` is kept (ccusage orders files by it)."""

    timestamp: Any = None


USAGE_DECODER = msgspec.json.Decoder(_Line)
STAMP_DECODER = msgspec.json.Decoder(_Stamp)
_USAGE = USAGE_DECODER
_STAMP = STAMP_DECODER


@dataclass(frozen=True, slots=True)
class UsageLine:
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


@dataclass(frozen=True, slots=True)
class DecodedLine:
    entry: UsageLine | None
    timestamp: str | None
    """The top-level `timestamp` if it is a string (whether or not the line is an entry)."""
    malformed: bool = False


MALFORMED = DecodedLine(None, None, True)
NOTHING = DecodedLine(None, None)


def timestamp_ms(text: str) -> int | None:
    """Epoch milliseconds of an ISO timestamp with a zone, or None when it is not one."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return (moment - _EPOCH) // _MILLISECOND


def timestamp_of(line: bytes) -> DecodedLine:
    """Only the top-level timestamp (and whether the line is JSON at all)."""
    try:
        stamp = _STAMP.decode(line).timestamp
    except msgspec.ValidationError:
        return NOTHING  # JSON, but not an object
    except msgspec.DecodeError:
        return MALFORMED
    return DecodedLine(None, stamp) if isinstance(stamp, str) else NOTHING


def decode_line(line: bytes) -> DecodedLine:
    """A log line: its usage entry when ccusage would count one, and its timestamp."""
    try:
        parsed = _USAGE.decode(line)
    except msgspec.ValidationError:
        return timestamp_of(line)  # valid JSON that is no usage entry, or broken later on
    except msgspec.DecodeError:
        return MALFORMED
    return DecodedLine(entry_of(parsed), parsed.timestamp)


def entry_of(parsed: Any) -> UsageLine | None:
    """The entry of a line `USAGE_DECODER` accepted (None if its timestamp is no date)."""
    millis = timestamp_ms(parsed.timestamp)
    if millis is None:  # matches the pattern but is no date (month 13): JavaScript gets NaN
        return None
    message = parsed.message
    usage = message.usage
    message_id = message.id
    request_id = parsed.requestId
    model = message.model
    reset_ms = None
    limit_text = None
    if parsed.isApiErrorMessage is True and message.content is not UNSET:
        texts = [item.text for item in message.content if item.text is not UNSET]
        if texts:
            limit_text = "\n".join(texts)
        legacy = next((t for t in texts if LEGACY_LIMIT_TEXT in t), None)
        found = _EPOCH_AFTER_BAR.search(legacy) if legacy is not None else None
        if found and int(found[1]) > 0:
            reset_ms = int(found[1]) * 1000
    cache_creation = usage.cache_creation_input_tokens
    cache_read = usage.cache_read_input_tokens
    cost = parsed.costUSD
    return UsageLine(
        ts_ms=millis,
        hash=f"{message_id}:{request_id}" if message_id is not UNSET and request_id is not UNSET else None,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_creation_tokens=0 if cache_creation is UNSET else cache_creation,
        cache_read_tokens=0 if cache_read is UNSET else cache_read,
        logged_cost=None if cost is UNSET else float(cost),
        model=None if model is UNSET else model,
        reset_ms=reset_ms,
        limit_text=limit_text,
    )
