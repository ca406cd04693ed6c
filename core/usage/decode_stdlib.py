"""The standard-library reader of log lines: `json` plus the schema checks in Python.

Used for a few appended lines (importing msgspec would cost more than it saves) and for
the lines msgspec refuses that ccusage still counts: Node reads a log as UTF-8 with
replacement, so an invalid byte becomes U+FFFD, and `JSON.parse` accepts a lone surrogate
escape such as `\\ud83d`; both are done here the same way.
"""

from __future__ import annotations

import json
from collections.abc import Container
from typing import Any

from core.usage.line_schema import (
    MALFORMED,
    NOTHING,
    TIMESTAMP,
    DecodedLine,
    UsageLine,
    clean_text,
    make_entry,
    valid_version,
)


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


def _validated(obj: dict[str, Any]) -> UsageLine | None:
    """The entry if the schema passes and the timestamp is a date, else None."""
    stamp = obj.get("timestamp")
    if type(stamp) is not str or TIMESTAMP.search(stamp) is None:
        return None
    message = obj.get("message")
    if type(message) is not dict:
        return None
    usage = message.get("usage")
    if type(usage) is not dict:
        return None
    tokens = []
    for key, required in (("input_tokens", True), ("output_tokens", True),
                          ("cache_creation_input_tokens", False), ("cache_read_input_tokens", False)):
        if key in usage:
            if not _number(usage[key]):
                return None
            tokens.append(usage[key])
        elif required:
            return None
        else:
            tokens.append(0)
    if not (_optional_str(message, "model", True) and _optional_str(message, "id", True)):
        return None
    texts: list[str] = []
    if "content" in message:
        content = message["content"]
        if type(content) is not list:
            return None
        for item in content:
            if type(item) is not dict:
                return None
            if "text" in item:
                if type(item["text"]) is not str:
                    return None
                texts.append(item["text"])
    if not (_optional_str(obj, "cwd") and _optional_str(obj, "sessionId", True)
            and _optional_str(obj, "requestId", True)):
        return None
    if "version" in obj and not (type(obj["version"]) is str and valid_version(obj["version"])):
        return None
    if "costUSD" in obj and not _number(obj["costUSD"]):
        return None
    if "isApiErrorMessage" in obj and type(obj["isApiErrorMessage"]) is not bool:
        return None
    return make_entry(stamp, message.get("id"), obj.get("requestId"), message.get("model"),
                      (tokens[0], tokens[1], tokens[2], tokens[3]), obj.get("costUSD"),
                      obj.get("isApiErrorMessage") is True, texts)


def _copy_key(obj: dict[str, Any]) -> str | None:
    """The deduplication key a usage line would have, before any schema check."""
    message = obj.get("message")
    if type(message) is not dict:
        return None
    message_id, request_id = message.get("id"), obj.get("requestId")
    if type(message_id) is not str or type(request_id) is not str:
        return None
    return clean_text(f"{message_id}:{request_id}")


def decode_line(line: bytes, seen: Container[str] = ()) -> DecodedLine:
    """A log line: its usage entry when ccusage would count one, and its timestamp.

    A line whose key is in `seen` (a response this file already counted) gives no entry
    without the schema's checks: a later copy never counts, valid or not."""
    try:
        obj = _DECODER.decode(line.decode("utf-8", "replace"))
    except ValueError:
        return MALFORMED
    except RecursionError:
        return MALFORMED  # JSON.parse would take it; no usage line nests this deep
    if type(obj) is not dict:
        return NOTHING
    stamp = obj.get("timestamp")
    stamp = stamp if type(stamp) is str else None
    if b'"usage"' not in line or (seen and _copy_key(obj) in seen):
        return DecodedLine(None, stamp)
    return DecodedLine(_validated(obj), stamp)
