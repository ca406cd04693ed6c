"""Learned estimates: EWMA bounds (property), convergence on a synthetic history, MAPE."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.improve.estimates import EstimateBook, absolute_percentage_error, ewma, mape, task_keys

values = st.floats(min_value=0, max_value=1e9, allow_nan=False)


@given(samples=st.lists(values, min_size=1, max_size=50), alpha=st.floats(0.01, 1.0))
def test_ewma_stays_between_the_smallest_and_largest_sample(samples: list[float], alpha: float) -> None:
    value: float | None = None
    for sample in samples:
        value = ewma(value, sample, alpha)
        assert value is not None
        assert min(samples) - 1e-6 * max(samples) <= value <= max(samples) * (1 + 1e-9) + 1e-9


@given(start=values, target=values, alpha=st.floats(0.05, 1.0))
def test_ewma_of_a_constant_moves_toward_it_monotonically(start: float, target: float, alpha: float) -> None:
    value = start
    gap = abs(value - target)
    for _ in range(20):
        value = ewma(value, target, alpha)
        assert abs(value - target) <= gap + 1e-6
        gap = abs(value - target)


def test_ewma_refuses_a_bad_alpha() -> None:
    with pytest.raises(ValueError, match="alpha"):
        ewma(1.0, 2.0, 0.0)


def test_no_history_means_no_estimate() -> None:
    assert EstimateBook().predict(task_keys(["docs"], None, None), "tokens") is None


def test_an_unseen_tag_falls_back_to_everything_seen() -> None:
    book = EstimateBook(alpha=0.5)
    book.observe(task_keys(["docs"], None, None), {"tokens": 100.0})
    book.observe(task_keys(["docs"], None, None), {"tokens": 300.0})
    assert book.predict(task_keys(["brand-new"], None, None), "tokens") == pytest.approx(200.0)


def test_a_consistent_key_outweighs_one_that_mixes_kinds() -> None:
    book = EstimateBook()
    for tokens in (100.0, 104.0, 96.0, 100.0):
        book.observe(task_keys(["docs"], None, None), {"tokens": tokens})
    for tokens in (100.0, 5000.0, 120.0, 4800.0, 90.0, 5100.0):
        book.observe(task_keys([], "/code/shop", None), {"tokens": tokens})
    repo_alone = book.predict(task_keys([], "/code/shop", None), "tokens")
    combined = book.predict(task_keys(["docs"], "/code/shop", None), "tokens")
    assert repo_alone is not None and repo_alone > 1000
    assert combined == pytest.approx(100.0, rel=0.15)
    # Two keys equally consistent share the weight equally.
    even = EstimateBook(alpha=1.0)
    even.observe(task_keys(["a"], None, None), {"tokens": 100.0})
    even.observe(task_keys(["b"], None, None), {"tokens": 300.0})
    assert even.predict(task_keys(["a", "b"], None, None), "tokens") == pytest.approx(200.0)


def test_estimates_converge_on_a_synthetic_history() -> None:
    """Three kinds of task with different true costs; estimates learn each, error shrinks."""
    rng = random.Random(7)
    truth = {"docs": 200_000.0, "bugfix": 1_000_000.0, "feature": 4_000_000.0}
    minutes = {"docs": 8.0, "bugfix": 35.0, "feature": 120.0}
    sizes = {"docs": "small", "bugfix": "medium", "feature": "large"}
    book = EstimateBook()
    errors: list[tuple[float | None, float]] = []
    for _ in range(150):
        kind = rng.choice(sorted(truth))
        keys = task_keys([kind], "/code/shop", sizes[kind])
        tokens = truth[kind] * rng.uniform(0.85, 1.15)
        predicted = book.observe(keys, {"tokens": tokens, "minutes": minutes[kind]})
        errors.append((predicted["tokens"], tokens))
    for kind, cost in truth.items():
        keys = task_keys([kind], "/code/shop", sizes[kind])
        estimate = book.predict(keys, "tokens")
        # The repo key mixes kinds, the tag and size keys do not: within 20 % of the truth.
        assert estimate == pytest.approx(cost, rel=0.2)
        # Tag alone (an unsized task of that kind): within the noise.
        assert book.predict(task_keys([kind], None, None), "tokens") == pytest.approx(cost, rel=0.15)
    early, late = mape(errors[1:30]), mape(errors[-50:])
    assert early is not None and late is not None
    assert late < early
    assert late < 0.2


def test_mape_skips_missing_predictions_and_zero_actuals() -> None:
    assert absolute_percentage_error(None, 10) is None
    assert absolute_percentage_error(5, 0) is None
    assert mape([(None, 10.0), (15.0, 10.0), (5.0, 10.0), (3.0, 0.0)]) == pytest.approx(0.5)
    assert mape([]) is None


def test_task_keys_normalise_tags_and_sizes() -> None:
    assert task_keys([" Docs ", "docs", ""], "/r", " Large ") == [
        ("tag", "docs"), ("repo", "/r"), ("size", "large")
    ]
