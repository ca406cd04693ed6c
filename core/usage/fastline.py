"""The msgspec reader of log lines: ccusage's schema (see `core.usage.logline`) as structs.

msgspec decodes and validates in one C pass, several times faster than `json.loads` plus
checks in Python, which is most of a cold scan's time. The scanner imports this module only
when it has a lot to read: importing msgspec costs more than a few appended lines do.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from core.usage.logline import (
    MALFORMED,
    NOTHING,
    TIMESTAMP_PATTERN,
    VERSION_PATTERN,
    DecodedLine,
    UsageLine,
    entry_ms,
    make_entry,
)

DecodeError = msgspec.DecodeError
ValidationError = msgspec.ValidationError

Number = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)] | float
"""Past 64 bits an integer cannot be stored (SQLite INTEGER): such a line is malformed, as in
`logline._number`."""
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
    timestamp: Annotated[str, Meta(pattern=TIMESTAMP_PATTERN)]
    message: _Message
    cwd: str | UnsetType = UNSET
    sessionId: NonEmpty | UnsetType = UNSET
    version: Annotated[str, Meta(pattern=VERSION_PATTERN)] | UnsetType = UNSET
    costUSD: Number | UnsetType = UNSET
    requestId: NonEmpty | UnsetType = UNSET
    isApiErrorMessage: bool | UnsetType = UNSET


class _Stamp(Struct):
    """Any JSON object; only its top-level `timestamp` is kept (ccusage orders files by it)."""

    timestamp: Any = None


USAGE_DECODER = msgspec.json.Decoder(_Line)
STAMP_DECODER = msgspec.json.Decoder(_Stamp)


def timestamp_of(line: bytes) -> DecodedLine:
    """Only the top-level timestamp (and whether the line is JSON at all)."""
    try:
        stamp = STAMP_DECODER.decode(line).timestamp
    except msgspec.ValidationError:
        return NOTHING  # JSON, but not an object
    except msgspec.DecodeError:
        return MALFORMED
    return DecodedLine(None, stamp) if isinstance(stamp, str) else NOTHING


def decode_line(line: bytes) -> DecodedLine:
    """A log line: its usage entry when ccusage would count one, and its timestamp."""
    try:
        parsed = USAGE_DECODER.decode(line)
    except msgspec.ValidationError:
        return timestamp_of(line)  # valid JSON that is no usage entry, or broken later on
    except msgspec.DecodeError:
        return MALFORMED
    return DecodedLine(entry_of(parsed), parsed.timestamp)


def entry_of(parsed: Any) -> UsageLine | None:
    """The entry of a line `USAGE_DECODER` accepted (None if its timestamp is no date)."""
    message = parsed.message
    usage = message.usage
    texts: list[str] = []
    is_error = parsed.isApiErrorMessage is True
    if is_error and message.content is not UNSET:
        texts = [item.text for item in message.content if item.text is not UNSET]
    cache_creation = usage.cache_creation_input_tokens
    cache_read = usage.cache_read_input_tokens
    return make_entry(
        parsed.timestamp,
        None if message.id is UNSET else message.id,
        None if parsed.requestId is UNSET else parsed.requestId,
        None if message.model is UNSET else message.model,
        (usage.input_tokens, usage.output_tokens, 0 if cache_creation is UNSET else cache_creation,
         0 if cache_read is UNSET else cache_read),
        None if parsed.costUSD is UNSET else parsed.costUSD,
        is_error,
        texts,
    )


def row_of(parsed: Any, offset: int, price: Any) -> tuple[Any, ...] | None:
    """The scanner's row for a line `USAGE_DECODER` accepted: `entry_of` + pricing, inlined.

    The hot path of a cold scan (one call per entry); API-error lines (limit messages) take
    the general `make_entry` road. A test holds this equal to building the row from
    `entry_of`.
    """
    if parsed.isApiErrorMessage is True:
        entry = entry_of(parsed)
        if entry is None:
            return None
        tokens = (entry.input_tokens, entry.output_tokens, entry.cache_creation_tokens,
                  entry.cache_read_tokens)
        cost = entry.logged_cost if entry.logged_cost is not None else price(entry.model, tokens)
        return (offset, 0, entry.ts_ms, entry.hash, *tokens, cost, entry.logged_cost, entry.model,
                entry.reset_ms, entry.limit_text)
    millis = entry_ms(parsed.timestamp)
    if millis is None:
        return None
    message = parsed.message
    usage = message.usage
    cache_creation = usage.cache_creation_input_tokens
    cache_read = usage.cache_read_input_tokens
    tokens = (usage.input_tokens, usage.output_tokens, 0 if cache_creation is UNSET else cache_creation,
              0 if cache_read is UNSET else cache_read)
    model = None if message.model is UNSET else message.model
    logged = None if parsed.costUSD is UNSET else float(parsed.costUSD)
    message_id = message.id
    request_id = parsed.requestId
    key = None if message_id is UNSET or request_id is UNSET else f"{message_id}:{request_id}"
    return (offset, 0, millis, key, *tokens, logged if logged is not None else price(model, tokens),
            logged, model, None, None)
