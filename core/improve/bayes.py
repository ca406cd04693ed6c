"""Beta-Bernoulli posterior math for the prompt-style experiment.

Each style's success rate has a Beta(1 + successes, 1 + failures) posterior (a uniform
prior). Hand-written rather than importing scipy: the two functions needed (the Beta
quantile and P(one rate < another)) have exact finite-sum forms when both Beta parameters
are integers, which they always are here, and scipy would be a ~40 MB dependency for them.
Sums run in log space so thousands of runs neither overflow nor underflow.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

_BISECT_STEPS = 52
"""2^-52 is float resolution on [0, 1]: the bisection is as exact as floats allow."""


def _logsumexp(values: list[float]) -> float:
    if not values:
        return -math.inf
    top = max(values)
    if top == -math.inf:
        return -math.inf
    return top + math.log(math.fsum(math.exp(v - top) for v in values))


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _check_params(a: int, b: int) -> None:
    if not (isinstance(a, int) and isinstance(b, int)) or a < 1 or b < 1:
        raise ValueError(f"Beta parameters must be integers >= 1, got ({a!r}, {b!r})")


def beta_cdf(x: float, a: int, b: int) -> float:
    """P(X <= x) for X ~ Beta(a, b) with integer a, b.

    For integers, I_x(a, b) = P(Binomial(a + b - 1, x) >= a): a finite binomial tail.
    The tail that is the smaller probability at this x is summed and the other one is
    1 minus it: summing the large tail directly loses monotonicity near 1 to rounding
    (I_x(15, 15) came out larger at x = 0.969 than at x = 0.996).
    """
    _check_params(a, b)
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    n = a + b - 1
    log_x, log_1mx = math.log(x), math.log1p(-x)
    upper_is_small = x * n < a  # below the binomial mean, P(Bin >= a) is the small tail
    first, last = (a, n) if upper_is_small else (0, a - 1)
    # Terms of the binomial pmf in log space, by the ratio recurrence
    # pmf(j+1)/pmf(j) = (n-j)/(j+1) * x/(1-x): one lgamma for the first term only.
    term = _log_comb(n, first) + first * log_x + (n - first) * log_1mx
    logs = [term]
    odds = log_x - log_1mx
    for j in range(first, last):
        term += math.log((n - j) / (j + 1)) + odds
        logs.append(term)
    tail = math.exp(_logsumexp(logs))
    value = tail if upper_is_small else 1.0 - tail
    return min(1.0, max(0.0, value))


def beta_ppf(q: float, a: int, b: int) -> float:
    """The q-quantile of Beta(a, b), by bisection on the (monotone) CDF."""
    _check_params(a, b)
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {q!r}")
    low, high = 0.0, 1.0
    for _ in range(_BISECT_STEPS):
        mid = (low + high) / 2
        if beta_cdf(mid, a, b) < q:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def prob_less(a1: int, b1: int, a2: int, b2: int) -> float:
    """P(X < Y) for independent X ~ Beta(a1, b1), Y ~ Beta(a2, b2), integer parameters.

    The closed form (a finite sum over a2 terms) is the one Evan Miller derived for
    Bayesian A/B tests: sum_i B(a1+i, b1+b2) / ((b2+i) B(1+i, b2) B(a1, b1)).
    """
    _check_params(a1, b1)
    _check_params(a2, b2)
    base = _log_beta(a1, b1)
    terms = [
        _log_beta(a1 + i, b1 + b2) - math.log(b2 + i) - _log_beta(1 + i, b2) - base
        for i in range(a2)
    ]
    return min(1.0, max(0.0, math.exp(_logsumexp(terms))))


@dataclass(frozen=True, slots=True)
class Posterior:
    """What is known about one style's success rate after `successes` + `failures` runs."""

    successes: int = 0
    failures: int = 0

    @property
    def alpha(self) -> int:
        return 1 + self.successes

    @property
    def beta(self) -> int:
        return 1 + self.failures

    @property
    def trials(self) -> int:
        return self.successes + self.failures

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def rate(self) -> float | None:
        """The observed success rate; None before any run."""
        return self.successes / self.trials if self.trials else None

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """Equal-tailed credible interval: the rate lies inside with probability `level`."""
        if not 0.0 < level < 1.0:
            raise ValueError(f"credible level must be in (0, 1), got {level!r}")
        tail = (1.0 - level) / 2
        return beta_ppf(tail, self.alpha, self.beta), beta_ppf(1.0 - tail, self.alpha, self.beta)

    def prob_worse_than(self, other: Posterior) -> float:
        """P(this rate < the other's): the evidence for retiring this style."""
        return prob_less(self.alpha, self.beta, other.alpha, other.beta)

    def sample(self, rng: random.Random) -> float:
        """One Thompson draw from the posterior."""
        return rng.betavariate(self.alpha, self.beta)

    def add(self, success: bool) -> Posterior:
        if success:
            return Posterior(self.successes + 1, self.failures)
        return Posterior(self.successes, self.failures + 1)
