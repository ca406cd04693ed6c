from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.scheduling.estimates import choose_capacity, choose_estimate


def test_capacity_prefers_the_usage_endpoint_then_blocks_then_the_setting() -> None:
    assert choose_capacity(utilization=0.25, tokens_used=1_000, largest_block_tokens=9,
                           setting_tokens=7).tokens == 4_000
    by_block = choose_capacity(utilization=None, tokens_used=1_000, largest_block_tokens=9,
                               setting_tokens=7)
    assert (by_block.tokens, by_block.source) == (9, "largest completed block")
    assert choose_capacity(utilization=0.01, tokens_used=1_000, largest_block_tokens=None,
                           setting_tokens=7).tokens == 7
    unknown = choose_capacity(utilization=None, tokens_used=None, largest_block_tokens=0,
                              setting_tokens=0)
    assert unknown.tokens is None and unknown.source == "unknown"


@given(st.floats(0.05, 1.0), st.integers(1, 10**9))
def test_capacity_from_utilization_is_never_below_what_is_used(util: float, used: int) -> None:
    choice = choose_capacity(utilization=util, tokens_used=used, largest_block_tokens=None,
                             setting_tokens=0)
    assert choice.tokens is not None and choice.tokens >= used


def test_estimate_prefers_plan_then_history_median_then_default() -> None:
    assert choose_estimate(500, [1, 2, 3], 9).tokens == 500
    history = choose_estimate(None, [100, 200, 10_000_000], 9)
    assert (history.tokens, history.source) == (200, "history")
    assert choose_estimate(0, [], 9).tokens == 9
    assert choose_estimate(None, [0, 0], 9).source == "default"
