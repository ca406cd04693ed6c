"""What the usage scanner keeps in the database, named and encoded in one light module.

The modules that write this state (core.usage.db, scanner, report, prices) import `json`,
`pathlib` and `typing`; the `usage blocks` lean path (core.usage.lean) reads the same state
on every poll and must not. So the names, versions and encodings both sides rely on live
here, with nothing heavier than `zlib`.
"""

from __future__ import annotations

import zlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

USAGE_SCHEMA_VERSION = 7
"""The last migration that created or changed a usage table (bump it with such a migration).

A database at this version or later has everything the scanner touches, so the scanner
does not import the migration registry (and `dataclasses` with it) on every `usage blocks`
poll; later migrations of other tables are applied by `Database.open` as usual.
"""
CACHE_FORMAT = "3"
"""Bump when the cached JSON of a block changes shape: the block cache is then rebuilt."""
LIVE_KEY = "live_block"
"""`usage_state` key: the open block's totals after the last refresh (`encode_live`)."""
ZONE_KEY = "zone_checked"
"""`usage_state` key: the owner's zone as the last full `usage blocks` run accepted it."""
CLOSED_KEY = "closed_text"
"""`usage_state` key: the closed blocks' text, joined in ccusage's order, as UTF-8 (a BLOB:
the only value there that is not text, never read with the others)."""
CLOSED_SPLIT_KEY = "closed_split"
"""`usage_state` key: `<open block's start_ms>:<bytes>`: where in `CLOSED_KEY` the open block
goes (after every closed block that starts no later than it)."""
_LIVE_FORMAT = "v1;"  # bump with any change below: an older text then reads as none


def _field(value: Any) -> str:
    if value is None:
        return "n"
    if value is True or value is False:
        return "b1" if value else "b0"
    if type(value) is int:
        return f"i{value}"
    if type(value) is float:
        return "f" + value.hex()
    if type(value) is list and all(type(item) is str for item in value):
        return "s" + ".".join("x" + item.encode("utf-8", "surrogatepass").hex() for item in value)
    raise TypeError(f"cannot keep {type(value).__name__} in a block state")


def _value(text: str) -> Any:
    kind, body = text[:1], text[1:]
    if kind == "n" and not body:
        return None
    if kind == "b" and body in ("0", "1"):
        return body == "1"
    if kind == "i":
        return int(body)
    if kind == "f":
        return float.fromhex(body)
    if kind == "s":
        parts = body.split(".") if body else []
        if not all(part.startswith("x") for part in parts):
            raise ValueError("not a list of names")
        return [bytes.fromhex(part[1:]).decode("utf-8", "surrogatepass") for part in parts]
    raise ValueError(f"not a block state field: {text[:20]!r}")


def encode_live(state: Sequence[Any] | None) -> str | None:
    """The open block's `Block.state()` as text that `decode_live` reads back exactly (floats
    to the bit, via `float.hex`) without `json`."""
    if state is None:
        return None
    return _LIVE_FORMAT + ",".join(_field(value) for value in state)


def decode_live(text: str | None) -> list[Any] | None:
    """`encode_live`'s state, or None for nothing or anything it did not write."""
    if text is None or not text.startswith(_LIVE_FORMAT):
        return None
    try:
        values = [_value(part) for part in text[len(_LIVE_FORMAT):].split(",")]
    except (ValueError, UnicodeDecodeError):
        return None
    return values if len(values) == 13 else None


def price_fingerprint(texts: Sequence[str]) -> str:
    """Which price tables the stored costs were computed with (the bundled one, then the
    owner's): a fingerprint, not a security check, so zlib rather than hashlib."""
    digest: list[int] = []
    for text in texts:
        digest += [zlib.crc32(text.encode()), len(text)]
    return "-".join(f"{part:x}" for part in digest)


def closed_split(live_start: int | None, offset: int) -> str:
    return f"{live_start}:{offset}"


def plain_document(closed: bytes, split: str | None, live_start: int,
                   live: bytes) -> list[bytes | memoryview] | None:
    """`blocks --json` (no options), in pieces to write one after the other (1.5 MB of closed
    blocks are not copied again to join them), from the stored closed text and the open
    block's text, with the line's end; None if `split` was not stored for this open block."""
    start, _, offset_text = (split or "").partition(":")
    if start != str(live_start) or not offset_text.isdigit() or int(offset_text) > len(closed):
        return None
    offset = int(offset_text)
    view = memoryview(closed)
    head, tail = view[:offset], view[offset:]
    pieces: list[bytes | memoryview] = [b'{\n  "blocks": [\n']
    if head:
        pieces += [head, b",\n"]
    pieces.append(live)
    if tail:
        pieces += [b",\n", tail]
    pieces.append(b"\n  ]\n}\n")
    return pieces
