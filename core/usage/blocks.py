"""ccusage's 5-hour blocks, as a pure function of usage entries and `now`.

Users check nightshift's window figures against `ccusage blocks`, so this follows ccusage
17's `identifySessionBlocks` step for step, quirks included: a block starts at its first
entry's time floored to the UTC hour; an entry more than 5 h after the block's start or
after the previous entry opens a new block; a gap of more than 5 h between entries gets a
zero-token gap block from `last + 5 h` to the next entry; blocks are finally ordered by
start time with a stable sort (a gap can start after the block that follows it).

Times are integer epoch milliseconds throughout: the block algorithm runs over every entry
on a cold scan, and integer comparisons are what keep it fast and exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from core.usage import render
from core.usage.render import HOUR_MS as HOUR_MS
from core.usage.render import MINUTE_MS as MINUTE_MS
from core.usage.render import SESSION_MS as SESSION_MS
from core.usage.render import STATE_FIELDS
from core.usage.render import WARNING_FRACTION as WARNING_FRACTION
from core.usage.render import iso_ms as iso_ms
from core.usage.render import js_round as js_round
from core.usage.render import number as number


class Entry(NamedTuple):
    """One deduplicated usage entry (the scanner's row, in this order)."""

    ts_ms: int
    input_tokens: float
    output_tokens: float
    cache_creation_tokens: float
    cache_read_tokens: float
    cost: float
    model: str | None
    reset_ms: int | None = None
    estimated: bool = False
    """The cost is an estimate (the model is not in the price table; see core.usage.prices)."""


class Block:
    """One 5-hour block (or gap) with its running totals; `last_ms` is `actualEndTime`."""

    __slots__ = ("cache_creation_tokens", "cache_read_tokens", "cost", "end_ms", "entries", "estimated",
                 "first_ms", "input_tokens", "is_active", "is_gap", "last_ms", "models", "output_tokens",
                 "reset_ms", "start_ms")

    def __init__(self, start_ms: int, end_ms: int, first_ms: int = 0, is_gap: bool = False) -> None:
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.first_ms = first_ms
        self.last_ms: int | None = None
        self.is_gap = is_gap
        self.is_active = False
        self.entries = 0
        self.input_tokens: float = 0
        self.output_tokens: float = 0
        self.cache_creation_tokens: float = 0
        self.cache_read_tokens: float = 0
        self.cost: float = 0
        self.models: list[str] = []
        self.reset_ms: int | None = None
        self.estimated = False

    def __repr__(self) -> str:
        return (f"Block(start={self.start_ms}, end={self.end_ms}, gap={self.is_gap}, "
                f"entries={self.entries}, tokens={self.total_tokens})")

    @property
    def total_tokens(self) -> float:
        return self.input_tokens + self.output_tokens + self.cache_creation_tokens + self.cache_read_tokens

    def add(self, entry: tuple[Any, ...]) -> None:
        """Count one entry: an `Entry` or any tuple that starts with the same fields.

        `cost` sums in entry order, as ccusage's does (floating point: the order matters)."""
        self.entries += 1
        self.last_ms = entry[0]
        self.input_tokens += entry[1]
        self.output_tokens += entry[2]
        self.cache_creation_tokens += entry[3]
        self.cache_read_tokens += entry[4]
        self.cost += entry[5]
        if entry[7] is not None:
            self.reset_ms = entry[7]
        if entry[8]:
            self.estimated = True
        model = entry[6] if entry[6] is not None else "unknown"
        if model not in self.models:
            self.models.append(model)

    _STATE = STATE_FIELDS

    def state(self) -> list[Any]:
        """The running totals of an open block, to carry on from later (JSON-able, exact)."""
        return [getattr(self, name) for name in self._STATE]

    @classmethod
    def from_state(cls, values: list[Any]) -> Block:
        block = cls(0, 0)
        for name, value in zip(cls._STATE, values, strict=True):
            setattr(block, name, value)
        return block

    def active_at(self, now_ms: int, session_ms: int = SESSION_MS) -> bool:
        return not self.is_gap and render.active_at(self.last_ms, self.end_ms, now_ms, session_ms)

    # --- ccusage's derived figures (only for the active block) ----------------------------

    def burn_rate(self) -> BurnRate | None:
        if self.is_gap:
            return None
        rate = render.burn_rate(self.state())
        return None if rate is None else BurnRate(*rate)

    def projection(self, now_ms: int) -> Projection | None:
        if not self.is_active or self.is_gap:
            return None
        ahead = render.projection(self.state(), now_ms)
        return None if ahead is None else Projection(*ahead)


class BurnRate(NamedTuple):
    tokens_per_minute: float
    tokens_per_minute_for_indicator: float
    cost_per_hour: float


class Projection(NamedTuple):
    total_tokens: int
    total_cost: float
    remaining_minutes: int


def floor_hour(ts_ms: int) -> int:
    return ts_ms - ts_ms % HOUR_MS


class BlockBuilder:
    """Feeds entries in time order; `closed` holds every block that can no longer change.

    Streaming keeps a cold scan's memory flat, and `closed` is what the scanner caches:
    once a later entry has opened a new block, the earlier ones are final.
    """

    def __init__(self, session_ms: int = SESSION_MS) -> None:
        self.session_ms = session_ms
        self.closed: list[Block] = []
        self.current: Block | None = None

    def add(self, entry: tuple[Any, ...]) -> None:
        """One entry (an `Entry`, or a scanner row that starts with the same fields)."""
        current = self.current
        ts = entry[0]
        if current is not None:
            assert current.last_ms is not None
            since_last = ts - current.last_ms
            if ts - current.start_ms > self.session_ms or since_last > self.session_ms:
                self.closed.append(current)
                if since_last > self.session_ms:
                    start = current.last_ms + self.session_ms
                    self.closed.append(Block(start_ms=start, end_ms=ts, is_gap=True))
                current = None
        if current is None:
            start = floor_hour(ts)
            current = Block(start_ms=start, end_ms=start + self.session_ms, first_ms=ts)
            self.current = current
        current.add(entry)

    def extend(self, entries: Iterable[Entry]) -> BlockBuilder:
        for entry in entries:
            self.add(entry)
        return self

    def blocks(self, now_ms: int) -> list[Block]:
        """Every block, `is_active` set for `now_ms`, in ccusage's (stable) start order."""
        found = [*self.closed, *([self.current] if self.current else [])]
        for block in found:
            block.is_active = block.active_at(now_ms, self.session_ms)
        return sorted(found, key=lambda block: block.start_ms)


def identify_blocks(entries: Iterable[Entry], now: datetime, session_ms: int = SESSION_MS) -> list[Block]:
    """The blocks of `entries` (deduplicated, in time order; ties keep their order) at `now`."""
    ordered = sorted(entries, key=lambda entry: entry.ts_ms)
    return BlockBuilder(session_ms).extend(ordered).blocks(to_ms(now))


def largest_completed(blocks: Iterable[Block]) -> float:
    """ccusage's `--token-limit max`: the largest total of a finished, non-gap block (0 if none)."""
    best: float = 0
    for block in blocks:
        if not block.is_gap and not block.is_active and block.total_tokens > best:
            best = block.total_tokens
    return best


# --- time and JSON -------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def from_ms(ts_ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ts_ms)


def token_limit_status(projected: int, limit: int) -> dict[str, Any]:
    limit, projected, percent, status = render.limit_status(projected, limit)
    return {"limit": limit, "projectedUsage": projected, "percentUsed": percent, "status": status}


def block_json(block: Block, now_ms: int, limit: int | None = None,
               limit_given: bool = False) -> dict[str, Any]:
    """ccusage's `blocks --json` object for one block (`limit_given`: `--token-limit` was used).

    The reference shape: `render.render_block` writes the same as text without `json` (a
    test holds `json.dumps` of this equal to it), and that is what the commands print."""
    active = block.is_active
    rate = block.burn_rate() if active else None
    projection = block.projection(now_ms) if active else None
    out: dict[str, Any] = {
        "id": f"gap-{iso_ms(block.start_ms)}" if block.is_gap else iso_ms(block.start_ms),
        "startTime": iso_ms(block.start_ms),
        "endTime": iso_ms(block.end_ms),
        "actualEndTime": iso_ms(block.last_ms) if block.last_ms is not None else None,
        "isActive": active,
        "isGap": block.is_gap,
        "entries": block.entries,
        "tokenCounts": {
            "inputTokens": number(block.input_tokens),
            "outputTokens": number(block.output_tokens),
            "cacheCreationInputTokens": number(block.cache_creation_tokens),
            "cacheReadInputTokens": number(block.cache_read_tokens),
        },
        "totalTokens": number(block.total_tokens),
        "costUSD": number(block.cost),
        **({"costEstimated": True} if block.estimated else {}),
        "models": list(block.models),
        "burnRate": None if rate is None else {
            "tokensPerMinute": number(rate.tokens_per_minute),
            "tokensPerMinuteForIndicator": number(rate.tokens_per_minute_for_indicator),
            "costPerHour": number(rate.cost_per_hour),
        },
        "projection": None if projection is None else {
            "totalTokens": projection.total_tokens,
            "totalCost": number(projection.total_cost),
            "remainingMinutes": projection.remaining_minutes,
        },
    }
    if projection is not None and limit_given and limit is not None:
        out["tokenLimitStatus"] = token_limit_status(projection.total_tokens, limit)
    if block.reset_ms is not None:
        out["usageLimitResetTime"] = iso_ms(block.reset_ms)
    return out
