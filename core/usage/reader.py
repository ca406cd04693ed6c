"""Reading one log file (or its appended part) into usage rows.

Files are read in 4 MiB chunks and split on newlines. Only lines that contain `"usage"` can
be entries; the others are decoded by a struct with a single field (their timestamp decides
the file's place in the deduplication order; broken ones are counted). An unfinished last
line is left for the next scan; if it already is a complete JSON object (only its newline is
missing) its entry counts provisionally, as ccusage would count it, and is dropped and read
again once the file grows.

A copy of a response that appears again later in the same file can never count (the first
copy comes first in ccusage's order, and any change that removes it re-reads the file), so
it is not kept: Claude Code writes one row per content block of a response, which makes
such copies about 40 % of all usage lines.

A row is a plain tuple in the order of `ROW_COLUMNS` (no per-line objects beyond it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.usage import decode_stdlib
from core.usage.blocks import iso_ms
from core.usage.line_schema import NOTHING, DecodedLine, UsageLine, timestamp_ms
from core.usage.prices import PriceTable
from core.usage.tree import CHECK_BYTES, FileRead, checksum

CHUNK_BYTES = 4 << 20
FLUSH_ROWS = 5_000
"""Rows handed to the sink at a time: bounds the memory a big file takes."""
ROW_COLUMNS = ("slot", "offset", "provisional", "ts_ms", "key", "input_tokens", "output_tokens",
               "cache_creation_tokens", "cache_read_tokens", "cost", "logged_cost", "estimated", "model",
               "reset_ms", "limit_text")
USAGE_KEY = b'"usage"'

Sink = Callable[[list[tuple[Any, ...]]], None]


def row_of(entry: UsageLine, slot: int, offset: int, provisional: bool,
           prices: PriceTable) -> tuple[Any, ...]:
    """The row of an entry read by the general (non-hot) path."""
    tokens = (entry.input_tokens, entry.output_tokens, entry.cache_creation_tokens, entry.cache_read_tokens)
    if entry.logged_cost is not None:
        cost, estimated = entry.logged_cost, False
    else:
        cost, estimated = prices.price(entry.model, tokens)
    return (slot, offset, int(provisional), entry.ts_ms, entry.key, *tokens, cost, entry.logged_cost,
            int(estimated), entry.model, entry.reset_ms, entry.limit_text)


def read_file(item: FileRead, prices: PriceTable, fast: bool, sink: Sink | None = None) -> None:
    """Read `item.path` from `item.start` up to the size seen when planning.

    Rows collect in `item.rows` (handed to `sink` every FLUSH_ROWS when one is given).
    `fast` uses msgspec (a big read); otherwise the standard library's json (a few lines).
    """
    try:
        handle = open(item.path, "rb", buffering=0)  # noqa: SIM115 - closed below
    except OSError:
        item.offset = item.size = item.start
        return
    seen: set[str] = set()
    with handle:
        handle.seek(item.start)
        if fast:
            carry, pos = _read_fast(handle, item, prices, sink, seen)
        else:
            carry, pos = _read_plain(handle, item, prices, seen)
    item.offset = pos
    if carry.strip():
        item.pending_bytes = len(carry)
        decoded = decode_stdlib.decode_line(carry) if USAGE_KEY in carry else NOTHING
        if decoded.entry is not None and decoded.entry.key not in seen:
            # Complete JSON without its newline: counted for now, as ccusage counts it.
            item.rows.append(row_of(decoded.entry, item.slot, pos, True, prices))
    if sink is not None and item.rows:
        sink(item.rows)
        item.rows = []
    start = max(0, pos - CHECK_BYTES)
    if pos:
        try:
            with open(item.path, "rb") as again:
                again.seek(start)
                item.tail_check = checksum(again.read(pos - start))
        except OSError:
            item.tail_check = ""


def _chunks(handle: Any, item: FileRead) -> Any:
    """(complete lines, offset of the first) per chunk; the unfinished rest is returned last."""
    remaining = item.size - item.start
    pos = item.start
    carry = b""
    while remaining > 0:
        chunk = handle.read(min(CHUNK_BYTES, remaining))
        if not chunk:
            break
        remaining -= len(chunk)
        data = carry + chunk if carry else chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        carry = data[cut + 1:]
        yield data[:cut], pos
        pos += cut + 1
    yield carry, -pos - 1  # negative: the unfinished last line and the read offset


def _read_plain(handle: Any, item: FileRead, prices: PriceTable, seen: set[str]) -> tuple[bytes, int]:
    """The standard-library reader for small reads: one `decode_line` per line (a later copy
    of a kept response is not checked against the schema: it cannot count)."""
    min_ts = item.min_ts_ms
    min_text = ""
    for block, at in _chunks(handle, item):
        if at < 0:
            item.min_ts_ms = min_ts
            return block, -at - 1
        for line in block.split(b"\n"):
            offset = at
            at += len(line) + 1
            if not line.strip():
                continue
            item.lines += 1
            decoded: DecodedLine = decode_stdlib.decode_line(line, seen)
            if decoded.malformed:
                item.malformed += 1
                continue
            stamp = decoded.timestamp
            if stamp is not None:
                later = False
                if min_ts is not None and len(stamp) == 24 and stamp[23] == "Z":
                    # ISO text with milliseconds orders like its time, as in `_read_fast`
                    min_text = min_text or iso_ms(min_ts)
                    later = stamp >= min_text
                millis = None if later else timestamp_ms(stamp)
                if millis is not None and (min_ts is None or millis < min_ts):
                    min_ts = millis
                    min_text = ""
            entry = decoded.entry
            if entry is not None and USAGE_KEY in line:
                if entry.key is not None:
                    if entry.key in seen:
                        continue
                    seen.add(entry.key)
                item.rows.append(row_of(entry, item.slot, offset, False, prices))
    raise AssertionError("unreachable: _chunks ends with the unfinished line")


def _read_fast(handle: Any, item: FileRead, prices: PriceTable, sink: Sink | None,
               seen: set[str]) -> tuple[bytes, int]:
    from msgspec import UNSET

    from core.usage.decode_msgspec import STAMP_DECODER, USAGE_DECODER, DecodeError, ValidationError, entry_of
    from core.usage.line_schema import CLOCKS, FRACTIONS, HOURS, VALID_MAX, VERSIONS, entry_ms, valid_version

    hours, clocks, fractions, versions = HOURS, CLOCKS, FRACTIONS, VERSIONS
    usage_decode = USAGE_DECODER.decode
    stamp_decode = STAMP_DECODER.decode
    quotes: dict[Any, Any] = {}
    quote = prices.quote
    cost_of = prices.cost_of
    slot = item.slot
    rows = item.rows
    min_ts = item.min_ts_ms
    min_text = ""
    lines = malformed = 0
    for block, at in _chunks(handle, item):
        if at < 0:
            item.min_ts_ms = min_ts
            item.lines += lines
            item.malformed += malformed
            return block, -at - 1
        line_at = at
        for line in block.split(b"\n"):
            at = line_at
            line_at += len(line) + 1
            # The hot loop of a cold scan: decoders and checks inline, few helpers.
            stamp = None
            if USAGE_KEY in line:
                lines += 1
                decoded = None
                parsed: Any
                try:
                    parsed = usage_decode(line)
                except ValidationError:
                    parsed = None  # JSON that is no usage entry (or broken later on)
                except (DecodeError, UnicodeDecodeError):
                    # what ccusage reads with replacement (bad UTF-8, lone surrogates), or broken
                    parsed = None
                    decoded = decode_stdlib.decode_line(line)
                    if decoded.malformed:
                        malformed += 1
                        continue
                if parsed is not None:
                    stamp = parsed.timestamp
                    message = parsed.message
                    key = None
                    if message.id is not UNSET and parsed.requestId is not UNSET:
                        key = f"{message.id}:{parsed.requestId}"
                    # a later copy of a kept response: only its timestamp matters (below)
                    if key is None or key not in seen:
                        hour = hours.get(stamp[:13])
                        clock = clocks.get(stamp[13:19])
                        fraction = fractions.get(stamp[19:])
                        if hour is None or clock is None or fraction is None:
                            millis = entry_ms(stamp)  # first sight of a part: check and cache it
                        else:
                            millis = hour + clock + fraction
                            if millis > VALID_MAX:
                                millis = None
                        version = parsed.version
                        if millis is not None and (version is UNSET or versions.get(version)
                                                   or valid_version(version)):
                            if min_ts is None or millis < min_ts:
                                min_ts = millis
                                min_text = ""
                            if key is not None:
                                seen.add(key)
                            if parsed.isApiErrorMessage is True:
                                entry = entry_of(parsed)
                                if entry is not None:
                                    rows.append(row_of(entry, slot, at, False, prices))
                                continue
                            usage = message.usage
                            i = usage.input_tokens
                            o = usage.output_tokens
                            c = usage.cache_creation_input_tokens
                            r = usage.cache_read_input_tokens
                            model: Any = message.model
                            if model is UNSET:
                                model = None
                            logged: Any = parsed.costUSD
                            estimated = 0
                            if logged is UNSET:
                                logged = None
                                q = quotes.get(model)
                                if q is None:
                                    full = quote(model)
                                    s = full.simple or (0.0, 0.0, 0.0, 0.0)
                                    q = quotes[model] = (s[0], s[1], s[2], s[3],
                                                         full.simple_limit if full.simple else -1.0,
                                                         full.estimated, full)
                                r0, r1, r2, r3, limit, guessed, full = q
                                if (0 <= i <= limit and 0 <= o <= limit and 0 <= c <= limit
                                        and 0 <= r <= limit):
                                    cost = i * r0 + o * r1 + c * r2 + r * r3
                                else:
                                    cost = cost_of(full, (i, o, c, r))
                                if guessed and (i or o or c or r):
                                    estimated = 1
                            else:
                                logged = cost = float(logged)
                            rows.append((slot, at, 0, millis, key, i, o, c, r, cost, logged, estimated,
                                         model, None, None))
                            if sink is not None and len(rows) >= FLUSH_ROWS:
                                sink(rows)
                                rows = item.rows = []
                            continue
                elif decoded is not None:
                    entry = decoded.entry
                    stamp = decoded.timestamp
                    if entry is not None:
                        if entry.ts_ms is not None and (min_ts is None or entry.ts_ms < min_ts):
                            min_ts = entry.ts_ms
                            min_text = ""
                        if entry.key is not None:
                            if entry.key in seen:
                                continue
                            seen.add(entry.key)
                        rows.append(row_of(entry, slot, at, False, prices))
                        continue
            elif not line or line.isspace():
                continue  # ccusage skips blank lines without a word
            else:
                lines += 1
            if stamp is None:
                # Other lines matter only for their timestamp (the file's place in the
                # dedup order) and to count broken ones; msgspec skips the rest in C.
                try:
                    stamp = stamp_decode(line).timestamp
                except ValidationError:
                    continue  # JSON, but not an object
                except (DecodeError, UnicodeDecodeError):
                    decoded = decode_stdlib.decode_line(line)
                    if decoded.malformed:
                        malformed += 1
                        continue
                    stamp = decoded.timestamp
                if not isinstance(stamp, str):
                    continue
            if min_ts is not None and len(stamp) == 24 and stamp[23] == "Z":
                # ISO text with milliseconds orders like its time: no parsing needed
                if not min_text:
                    min_text = iso_ms(min_ts)
                if stamp >= min_text:
                    continue
            millis = timestamp_ms(stamp)
            if millis is not None and (min_ts is None or millis < min_ts):
                min_ts = millis
                min_text = ""
    raise AssertionError("unreachable: _chunks ends with the unfinished line")
