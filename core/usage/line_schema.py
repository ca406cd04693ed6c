"""What makes a Claude Code log line a usage entry, judged exactly as ccusage 17 judges it.

ccusage validates each decoded line against a schema (valibot) and silently drops lines
that fail; users compare our numbers with its numbers, so the same lines must count. The
rules, field by field: a present-but-`null` optional field fails (valibot's `optional`
admits only a missing key), numbers exclude booleans, the timestamp must be ISO with `Z`
and at most milliseconds, names must not be empty. (One divergence: valibot would also
accept a JSON array as a `message.content` item; Claude Code never writes one.)

Two readers apply these rules: `core.usage.decode_msgspec` (decoding and validation in one
C pass, for the bulk of a scan) and `core.usage.decode_stdlib` (the standard library's
json, for a few appended lines and for lines msgspec refuses: invalid UTF-8 and lone
surrogate escapes, which ccusage reads with replacement). A property test holds them equal.

The timestamp and version patterns are checked here, with small caches, not by msgspec:
its pattern check calls back into Python's `re` for every line, which doubled the decoding
time of a cold scan.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

LEGACY_LIMIT_TEXT = "Claude AI usage limit reached"
TIMESTAMP_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{3})?Z\Z"
VERSION_PATTERN = r"^[0-9]+\.[0-9]+\.[0-9]+"
TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
_VERSION = re.compile(VERSION_PATTERN)
_HOUR_PART = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}\Z")
_CLOCK_PART = re.compile(r":[0-9]{2}:[0-9]{2}\Z")
_FRACTION_PART = re.compile(r"(?:\.[0-9]{3})?Z\Z")
_EPOCH_AFTER_BAR = re.compile(r"\|(\d+)", re.ASCII)
_SURROGATE = re.compile("[\ud800-\udfff]")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


class UsageLine(NamedTuple):
    """A usage entry as read from the log (before deduplication and pricing)."""

    ts_ms: int
    key: str | None
    """`message.id:requestId`, ccusage's deduplication key (None: never deduplicated)."""
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

# --- timestamps -----------------------------------------------------------------------------
# A timestamp is split into "YYYY-MM-DDTHH", ":MM:SS" and ".mmmZ"/"Z"; each part is checked
# and converted once and then looked up. The three patterns together are TIMESTAMP_PATTERN.

INVALID = 1 << 62
VALID_MAX = 1 << 52
"""Cached for a part that fails: any sum with it is past VALID_MAX (real times are far below)."""
HOURS: dict[str, int] = {}
CLOCKS: dict[str, int] = {}
FRACTIONS: dict[str, int] = {}


def _hour_ms(part: str) -> int:
    value = INVALID
    if _HOUR_PART.match(part) and int(part[11:13]) <= 23 and not part.startswith("9999"):
        # the year 9999 is refused: its 5-hour block would end past the last date Python holds
        try:
            value = (datetime.fromisoformat(part[:10] + "T00:00:00+00:00") - _EPOCH) // _MILLISECOND
            value += int(part[11:13]) * 3_600_000
        except ValueError:
            value = INVALID  # no such day (month 13): JavaScript's Date gives NaN
    if len(HOURS) < 200_000:
        HOURS[part] = value
    return value


def _clock_ms(part: str) -> int:
    value = INVALID
    if _CLOCK_PART.match(part) and int(part[1:3]) <= 59 and int(part[4:6]) <= 59:
        value = int(part[1:3]) * 60_000 + int(part[4:6]) * 1000
    if len(CLOCKS) < 10_000:
        CLOCKS[part] = value
    return value


def _fraction_ms(part: str) -> int:
    value = (int(part[1:4]) if len(part) == 5 else 0) if _FRACTION_PART.match(part) else INVALID
    if len(FRACTIONS) < 2_000:
        FRACTIONS[part] = value
    return value


def entry_ms(text: str) -> int | None:
    """Epoch milliseconds of an entry's timestamp; None when ccusage would not count it.

    None for text that fails the schema's pattern and for a date that does not exist
    (JavaScript's NaN). Called for every entry of a scan, hence the lookups.
    """
    hour = HOURS.get(text[:13])
    if hour is None:
        hour = _hour_ms(text[:13])
    clock = CLOCKS.get(text[13:19])
    if clock is None:
        clock = _clock_ms(text[13:19])
    fraction = FRACTIONS.get(text[19:])
    if fraction is None:
        fraction = _fraction_ms(text[19:])
    millis = hour + clock + fraction
    return None if millis > VALID_MAX else millis


def timestamp_ms(text: str) -> int | None:
    """Epoch milliseconds of an ISO timestamp with a zone, or None when it is not one.

    What orders files for deduplication: ccusage takes any line's `timestamp` that
    `new Date()` reads, not only the schema's form.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    try:
        return (moment - _EPOCH) // _MILLISECOND
    except OverflowError:
        return None


VERSIONS: dict[str, bool] = {}


def valid_version(text: str) -> bool:
    known = VERSIONS.get(text)
    if known is None:
        known = _VERSION.search(text) is not None
        if len(VERSIONS) < 10_000:
            VERSIONS[text] = known
    return known


def clean_text(text: str) -> str:
    """`text` without lone surrogates (JSON may escape them; SQLite text cannot hold them)."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def make_entry(timestamp: str, message_id: str | None, request_id: str | None, model: str | None,
               tokens: tuple[Any, Any, Any, Any], cost: float | None, is_error: bool,
               texts: list[str]) -> UsageLine | None:
    """The entry of a line that passed the schema (None if its timestamp is no date)."""
    millis = entry_ms(timestamp)
    if millis is None:
        return None
    reset_ms = None
    limit_text = None
    if is_error and texts:
        limit_text = clean_text("\n".join(texts))
        legacy = next((t for t in texts if LEGACY_LIMIT_TEXT in t), None)
        found = _EPOCH_AFTER_BAR.search(legacy) if legacy is not None else None
        if found and 0 < int(found[1]) < 2**53 // 1000:  # epoch seconds, not any digits
            reset_ms = int(found[1]) * 1000
    key = None
    if message_id is not None and request_id is not None:
        key = clean_text(f"{message_id}:{request_id}")
    return UsageLine(
        ts_ms=millis,
        key=key,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cache_creation_tokens=tokens[2],
        cache_read_tokens=tokens[3],
        logged_cost=None if cost is None else float(cost),
        model=None if model is None else clean_text(model),
        reset_ms=reset_ms,
        limit_text=limit_text,
    )
