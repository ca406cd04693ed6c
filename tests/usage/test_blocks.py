"""The 5-hour block algorithm as a pure function of entries and `now`."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core.usage.blocks import (
    HOUR_MS,
    SESSION_MS,
    Entry,
    block_json,
    identify_blocks,
    iso_ms,
    js_round,
    largest_completed,
    to_ms,
)
from core.usage.render import render_block
from core.usage.report import render_closed

T = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def render_fragment(value: dict[str, Any]) -> str:
    """The oracle: one block as `JSON.stringify({blocks}, null, 2)` holds it (indented by 4)."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return "\n".join("    " + line for line in text.split("\n"))
MS = timedelta(milliseconds=1)
FIVE = timedelta(hours=5)


def entry(moment: datetime, tokens: int = 10, model: str | None = "m", cost: float = 0.5) -> Entry:
    return Entry(to_ms(moment), tokens, 0, 0, 0, cost, model)


def test_block_starts_on_the_hour_and_lasts_five_hours() -> None:
    blocks = identify_blocks([entry(T + timedelta(minutes=17))], now=T + timedelta(days=1))
    assert len(blocks) == 1
    assert iso_ms(blocks[0].start_ms) == "2026-03-02T10:00:00.000Z"
    assert iso_ms(blocks[0].end_ms) == "2026-03-02T15:00:00.000Z"
    assert not blocks[0].is_active


def test_entry_exactly_at_the_end_stays_in_the_block() -> None:
    blocks = identify_blocks([entry(T), entry(T + FIVE)], now=T + timedelta(days=1))
    assert [b.entries for b in blocks] == [2]


def test_just_past_the_end_opens_a_new_block_without_gap() -> None:
    blocks = identify_blocks([entry(T), entry(T + timedelta(hours=2)), entry(T + FIVE + MS)],
                             now=T + timedelta(days=1))
    assert [(b.is_gap, b.entries) for b in blocks] == [(False, 2), (False, 1)]


def test_gap_of_exactly_five_hours_is_no_gap_block() -> None:
    start = T + timedelta(minutes=30)
    blocks = identify_blocks([entry(start), entry(start + FIVE)], now=T + timedelta(days=1))
    # 5 h after the previous entry is not *more* than 5 h, but it is past the block's end
    assert [b.is_gap for b in blocks] == [False, False]


def test_gap_just_over_five_hours() -> None:
    start = T + timedelta(minutes=30)
    later = start + FIVE + MS
    blocks = identify_blocks([entry(start), entry(later)], now=T + timedelta(days=1))
    gap = [b for b in blocks if b.is_gap]
    assert len(gap) == 1
    assert gap[0].start_ms == to_ms(start + FIVE) and gap[0].end_ms == to_ms(later)
    # the new block starts at 15:00, before the gap (15:30): ordered by start, gap last
    assert [b.is_gap for b in blocks] == [False, False, True]
    assert block_json(gap[0], to_ms(later))["id"] == "gap-2026-03-02T15:30:00.000Z"


def test_active_block_burn_rate_and_projection() -> None:
    entries = [entry(T + timedelta(minutes=m), tokens=600) for m in (0, 30, 60)]
    now = T + timedelta(minutes=90)
    blocks = identify_blocks(entries, now=now)
    block = blocks[0]
    assert block.is_active
    rate = block.burn_rate()
    assert rate is not None and rate.tokens_per_minute == 1800 / 60
    projection = block.projection(to_ms(now))
    assert projection is not None
    assert projection.remaining_minutes == 210
    assert projection.total_tokens == 1800 + 30 * 210
    out = block_json(block, to_ms(now), limit=5000, limit_given=True)
    assert out["tokenLimitStatus"]["status"] == "exceeds"
    assert out["projection"]["totalCost"] == round(1.5 + 1.5 / 60 * 210, 2)


def test_no_activity_for_five_hours_is_inactive() -> None:
    blocks = identify_blocks([entry(T)], now=T + FIVE - MS)
    assert blocks[0].is_active
    blocks = identify_blocks([entry(T + timedelta(minutes=10))], now=T + FIVE)
    assert not blocks[0].is_active  # now is past the block's end


def test_models_in_first_use_order_and_unknown() -> None:
    blocks = identify_blocks([entry(T, model="b"), entry(T + MS, model=None), entry(T + 2 * MS, model="b")],
                             now=T + timedelta(days=1))
    assert blocks[0].models == ["b", "unknown"]


def test_largest_completed_ignores_gaps_and_the_active_block() -> None:
    entries = [entry(T, tokens=100), entry(T + timedelta(hours=11), tokens=900)]
    now = T + timedelta(hours=12)
    blocks = identify_blocks(entries, now=now)
    assert largest_completed(blocks) == 100


def test_js_round_rounds_halves_up() -> None:
    assert [js_round(x) for x in (0.5, 1.5, 2.5, -0.5, 2.4999)] == [1, 2, 3, 0, 2]


moments = st.integers(0, 40 * 24 * 60).map(
    lambda minutes: T + timedelta(minutes=minutes, milliseconds=minutes % 7))


@settings(deadline=None)
@given(st.lists(st.tuples(moments, st.integers(0, 10_000)), max_size=60), st.integers(0, 60 * 24 * 60))
def test_blocks_partition_the_entries(items: list[tuple[datetime, int]], later_min: int) -> None:
    entries = [entry(m, tokens=t) for m, t in items]
    # `now` after every entry (with entries in the future, several blocks can be "active")
    now = max((m for m, _ in items), default=T) + timedelta(minutes=later_min)
    blocks = identify_blocks(entries, now=now)
    real = [b for b in blocks if not b.is_gap]
    assert sum(b.entries for b in real) == len(entries)
    assert sum(b.input_tokens for b in real) == sum(t for _, t in items)
    assert [b.start_ms for b in blocks] == sorted(b.start_ms for b in blocks)
    assert sum(b.is_active for b in blocks) <= 1
    for block in real:
        assert block.start_ms % HOUR_MS == 0
        assert block.end_ms - block.start_ms == SESSION_MS
        assert block.start_ms <= block.first_ms <= (block.last_ms or 0) <= block.end_ms
    for block in blocks:
        if block.is_gap:
            assert block.entries == 0 and block.end_ms - block.start_ms > 0
    ordered = sorted(e.ts_ms for e in entries)
    big_gaps = sum(1 for a, b in itertools.pairwise(ordered) if b - a > SESSION_MS)
    assert sum(b.is_gap for b in blocks) == big_gaps


numbers = st.one_of(st.integers(0, 2**60), st.floats(0, 1e18, allow_nan=False), st.just(2.5))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(moments, numbers, numbers, st.floats(0, 50, allow_nan=False),
                          st.sampled_from(["claude-opus-4-5", "m\u00e9\"\\\n", None]),
                          st.one_of(st.none(), st.integers(1, 2**40)), st.booleans()), max_size=20))
def test_a_closed_block_is_rendered_as_json_dumps_renders_it(
        items: list[tuple[datetime, float, float, float, str | None, int | None, bool]]) -> None:
    entries = [Entry(to_ms(m), i, o, 3, 4, cost, model, reset, estimated)
               for m, i, o, cost, model, reset, estimated in items]
    now = max((m for m, *_ in items), default=T) + timedelta(days=1)
    for block in identify_blocks(entries, now=now):
        assert render_closed(block) == render_fragment(block_json(block, to_ms(now)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(moments, numbers, numbers, st.floats(0, 50, allow_nan=False),
                          st.sampled_from(["claude-opus-4-5", "m\u00e9\"\\\n\x01\u2028", None]),
                          st.one_of(st.none(), st.integers(1, 2**40)), st.booleans()),
                min_size=1, max_size=20),
       st.integers(-10, 6 * 60), st.one_of(st.none(), st.integers(0, 2**40)))
def test_a_live_block_is_rendered_as_json_dumps_renders_it(
        items: list[tuple[datetime, float, float, float, str | None, int | None, bool]], after_min: int,
        limit: int | None) -> None:
    """Active or not, with a burn rate, a projection and a token limit: the text the commands
    print for the live block is `json.dumps` of ccusage's object, to the byte."""
    entries = [Entry(to_ms(m), i, o, 3, 4, cost, model, reset, estimated)
               for m, i, o, cost, model, reset, estimated in items]
    now_ms = max(to_ms(m) for m, *_ in items) + after_min * 60_000
    for block in identify_blocks(entries, now=datetime.fromtimestamp(now_ms / 1000, UTC)):
        block.is_active = block.active_at(now_ms)
        expected = render_fragment(block_json(block, now_ms, limit, limit_given=limit is not None))
        assert render_block(block.state(), block.is_gap, block.is_active, now_ms, limit) == expected


@given(st.integers(to_ms(datetime(1000, 1, 1, tzinfo=UTC)),
                   to_ms(datetime(9999, 12, 31, 23, 59, tzinfo=UTC))))
def test_iso_ms_is_javascripts_to_iso_string(ts_ms: int) -> None:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ts_ms)
    assert iso_ms(ts_ms) == f"{moment:%Y-%m-%dT%H:%M:%S}.{ts_ms % 1000:03d}Z"
