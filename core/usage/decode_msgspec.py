"""The msgspec reader of log lines: ccusage's schema (see `core.usage.line_schema`) as structs.

msgspec decodes and type-checks a line in one C pass, several times faster than `json.loads`
plus checks in Python. The timestamp and version patterns are checked afterwards in Python
(cached), and a line msgspec refuses as broken is handed to the standard-library reader,
which decodes as ccusage does (invalid UTF-8 replaced, lone surrogates accepted). The
scanner imports this module only when it has a lot to read: importing msgspec costs more
than a few appended lines do.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from core.usage import decode_stdlib
from core.usage.line_schema import (
    NOTHING,
    DecodedLine,
    UsageLine,
    entry_ms,
    make_entry,
    valid_version,
)

DecodeError = msgspec.DecodeError
ValidationError = msgspec.ValidationError

Number = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)] | float
"""Past 64 bits an integer cannot be stored (SQLite INTEGER): such a line is not counted, as in
`decode_stdlib._number`."""
NonEmpty = Annotated[str, Meta(min_length=1)]


class Usage(Struct, gc=False):
    input_tokens: Number
    output_tokens: Number
    cache_creation_input_tokens: Number = 0
    cache_read_input_tokens: Number = 0


class ContentItem(Struct, gc=False):
    text: str | UnsetType = UNSET


class Message(Struct, gc=False):
    usage: Usage
    model: NonEmpty | UnsetType = UNSET
    id: NonEmpty | UnsetType = UNSET
    content: list[ContentItem] | UnsetType = UNSET


class Line(Struct, gc=False):
    """A usage line; `timestamp` and `version` still need `entry_ms` / `valid_version`."""

    timestamp: str
    message: Message
    cwd: str | UnsetType = UNSET
    sessionId: NonEmpty | UnsetType = UNSET
    version: str | UnsetType = UNSET
    costUSD: Number | UnsetType = UNSET
    requestId: NonEmpty | UnsetType = UNSET
    isApiErrorMessage: bool | UnsetType = UNSET


class Stamp(Struct, gc=False):
    """Any JSON object; only its top-level `timestamp` is kept (ccusage orders files by it)."""

    timestamp: Any = None


USAGE_DECODER = msgspec.json.Decoder(Line)
STAMP_DECODER = msgspec.json.Decoder(Stamp)


def timestamp_of(line: bytes) -> DecodedLine:
    """Only the top-level timestamp (and whether the line is JSON at all)."""
    try:
        stamp = STAMP_DECODER.decode(line).timestamp
    except ValidationError:
        return NOTHING  # JSON, but not an object
    except (DecodeError, UnicodeDecodeError):
        return decode_stdlib.decode_line(line)  # what ccusage reads with replacement
    return DecodedLine(None, stamp) if isinstance(stamp, str) else NOTHING


def counts(parsed: Line) -> bool:
    """Whether a decoded line passes the checks msgspec leaves to Python."""
    version = parsed.version
    return entry_ms(parsed.timestamp) is not None and (version is UNSET or valid_version(version))


def entry_of(parsed: Line) -> UsageLine | None:
    """The entry of a line `USAGE_DECODER` accepted (None if ccusage would not count it)."""
    if not counts(parsed):
        return None
    message = parsed.message
    usage = message.usage
    texts: list[str] = []
    is_error = parsed.isApiErrorMessage is True
    if is_error and message.content is not UNSET:
        texts = [item.text for item in message.content if item.text is not UNSET]
    return make_entry(
        parsed.timestamp,
        None if message.id is UNSET else message.id,
        None if parsed.requestId is UNSET else parsed.requestId,
        None if message.model is UNSET else message.model,
        (usage.input_tokens, usage.output_tokens, usage.cache_creation_input_tokens,
         usage.cache_read_input_tokens),
        None if parsed.costUSD is UNSET else parsed.costUSD,
        is_error,
        texts,
    )


def decode_line(line: bytes) -> DecodedLine:
    """A log line: its usage entry when ccusage would count one, and its timestamp."""
    try:
        parsed = USAGE_DECODER.decode(line)
    except ValidationError:
        return timestamp_of(line)  # valid JSON that is no usage entry, or broken later on
    except (DecodeError, UnicodeDecodeError):
        return decode_stdlib.decode_line(line)
    return DecodedLine(entry_of(parsed), parsed.timestamp)
