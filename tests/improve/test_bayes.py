"""Posterior math: exact against closed forms, and sane for every count (property tests)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.improve.bayes import Posterior, beta_cdf, beta_ppf, prob_less

counts = st.integers(min_value=0, max_value=200)
slow = settings(deadline=None, max_examples=60)


def test_uniform_prior_quantiles_are_the_identity() -> None:
    for q in (0.0, 0.025, 0.5, 0.975, 1.0):
        assert beta_ppf(q, 1, 1) == pytest.approx(q, abs=1e-12)


@slow
@given(a=st.integers(1, 60), q=st.floats(0.001, 0.999))
def test_beta_a_1_has_the_closed_form_quantile(a: int, q: float) -> None:
    # Beta(a, 1) has CDF x**a, so its q-quantile is q**(1/a).
    assert beta_ppf(q, a, 1) == pytest.approx(q ** (1 / a), abs=1e-9)


@slow
@given(s=counts, f=counts)
def test_credible_interval_lies_in_0_1_and_holds_the_mean(s: int, f: int) -> None:
    post = Posterior(s, f)
    low, high = post.interval(0.95)
    assert 0.0 <= low < high <= 1.0
    assert low <= post.mean <= high


@slow
@given(s=counts, f=counts)
def test_more_evidence_narrows_the_interval(s: int, f: int) -> None:
    # Four times the runs at the observed rate narrow the interval (up to float noise).
    post = Posterior(s, f)
    more = Posterior(s * 4 + 1, f * 4 + 1)
    assert (more.interval()[1] - more.interval()[0]) <= (post.interval()[1] - post.interval()[0]) + 1e-9


@slow
@given(a=st.integers(1, 50), b=st.integers(1, 50), x=st.floats(0, 1), y=st.floats(0, 1))
def test_cdf_is_monotone_and_bounded(a: int, b: int, x: float, y: float) -> None:
    lo, hi = sorted((x, y))
    assert 0.0 <= beta_cdf(lo, a, b) <= beta_cdf(hi, a, b) <= 1.0


@slow
@given(a1=st.integers(1, 80), b1=st.integers(1, 80), a2=st.integers(1, 80), b2=st.integers(1, 80))
def test_prob_less_is_a_probability_and_complements(a1: int, b1: int, a2: int, b2: int) -> None:
    p = prob_less(a1, b1, a2, b2)
    assert 0.0 <= p <= 1.0
    # Continuous distributions: P(X < Y) + P(Y < X) = 1.
    assert p + prob_less(a2, b2, a1, b1) == pytest.approx(1.0, abs=1e-9)


def test_prob_less_of_identical_posteriors_is_a_half() -> None:
    assert prob_less(7, 3, 7, 3) == pytest.approx(0.5, abs=1e-12)


def test_prob_less_agrees_with_monte_carlo() -> None:
    rng = random.Random(4)
    a1, b1, a2, b2 = 4, 9, 8, 5
    hits = sum(rng.betavariate(a1, b1) < rng.betavariate(a2, b2) for _ in range(40_000))
    assert prob_less(a1, b1, a2, b2) == pytest.approx(hits / 40_000, abs=0.01)


def test_thousands_of_runs_do_not_overflow() -> None:
    post = Posterior(3000, 7000)
    low, high = post.interval()
    assert low == pytest.approx(0.291, abs=0.002) and high == pytest.approx(0.309, abs=0.002)
    assert math.isfinite(Posterior(3000, 7000).prob_worse_than(Posterior(3100, 6900)))


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="integers >= 1"):
        beta_cdf(0.5, 0, 1)
    with pytest.raises(ValueError, match="quantile"):
        beta_ppf(1.5, 1, 1)
    with pytest.raises(ValueError, match="credible level"):
        Posterior().interval(1.0)
