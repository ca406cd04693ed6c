"""Learned cost estimates: tokens and minutes a task takes, by tag, repo and plan size.

Each key keeps an exponentially weighted moving average (EWMA), so the estimate follows
drift (a repo that got bigger, a model that got cheaper) instead of averaging all of
history. A task's estimate combines the keys it matches, weighted by how consistent
each key's history is (see `EstimateBook`); with no history at all there is no estimate
(`None`) and the planner falls back to its default. Everything here is pure;
`core.improve.learning` persists it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Metric = Literal["tokens", "minutes"]
METRICS: tuple[Metric, ...] = ("tokens", "minutes")

ALL_KEY = ("all", "*")
"""Every finished task feeds this key: the fallback when nothing more specific is known."""

DEFAULT_ALPHA = 0.3
"""Weight of the newest sample: about the last 6 tasks of a key carry 90 % of its estimate."""
SINGLE_SAMPLE_SPREAD = 0.5
"""With one sample a key's spread is unknown: assume +-50 % until a second sample says more."""
MIN_SPREAD = 0.05
"""No key is trusted to better than +-5 %: keeps one lucky streak from taking all the weight."""

Key = tuple[str, str]


def ewma(previous: float | None, sample: float, alpha: float = DEFAULT_ALPHA) -> float:
    """The next EWMA value; the first sample starts the average."""
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
    if previous is None:
        return sample
    return previous + alpha * (sample - previous)


def task_keys(tags: Iterable[str], repo: str | None, plan_size: str | None) -> list[Key]:
    """The specific keys a task is estimated by (the `all` key is implicit)."""
    keys: list[Key] = [("tag", t.strip().lower()) for t in tags if t.strip()]
    if repo:
        keys.append(("repo", repo))
    if plan_size and plan_size.strip():
        keys.append(("size", plan_size.strip().lower()))
    return list(dict.fromkeys(keys))


@dataclass(slots=True)
class Cell:
    value: float
    samples: int
    variance: float = 0.0
    """Exponentially weighted variance of the samples around `value`."""

    def add(self, sample: float, alpha: float) -> None:
        # West/Finch's incremental form of the exponentially weighted variance.
        diff = sample - self.value
        self.value += alpha * diff
        self.variance = (1 - alpha) * (self.variance + alpha * diff * diff)
        self.samples += 1

    def weight(self, alpha: float) -> float:
        """Inverse relative variance, scaled by the EWMA's effective number of samples.

        Relative (variance / value^2), because costs spread multiplicatively: a 100k key
        at +-10 % is as sure as a 1M key at +-10 %, and neither may pull the mean its way.
        """
        scale = abs(self.value) or 1.0
        if self.samples <= 1:
            spread = SINGLE_SAMPLE_SPREAD**2
        else:
            spread = max(self.variance / (scale * scale), MIN_SPREAD**2)
        effective = min(float(self.samples), (2 - alpha) / alpha)
        return effective / spread


@dataclass
class EstimateBook:
    """EWMA per (key, metric). Mutable: `observe` folds one finished task in.

    A task's estimate is the inverse-variance weighted mean of its keys' EWMAs: a key
    whose tasks cost alike (a tag) outweighs one that mixes kinds (a busy repo), which is
    how independent estimates of one quantity are best combined.
    """

    alpha: float = DEFAULT_ALPHA
    cells: dict[tuple[str, str, Metric], Cell] = field(default_factory=dict)

    def predict(self, keys: Sequence[Key], metric: Metric) -> float | None:
        """Weighted mean of the matching keys' EWMAs, else the `all` key, else None."""
        weighted = 0.0
        weight = 0.0
        for dimension, key in keys:
            cell = self.cells.get((dimension, key, metric))
            if cell is None or cell.samples <= 0:
                continue
            w = cell.weight(self.alpha)
            weighted += w * cell.value
            weight += w
        if weight > 0:
            return weighted / weight
        fallback = self.cells.get((*ALL_KEY, metric))
        return fallback.value if fallback and fallback.samples > 0 else None

    def observe(self, keys: Sequence[Key], actual: Mapping[Metric, float]) -> dict[Metric, float | None]:
        """Fold one finished task in; returns what was predicted for it *before* learning."""
        predicted: dict[Metric, float | None] = {}
        for metric, value in actual.items():
            predicted[metric] = self.predict(keys, metric)
            for dimension, key in [*keys, ALL_KEY]:
                cell = self.cells.get((dimension, key, metric))
                if cell is None:
                    self.cells[(dimension, key, metric)] = Cell(value, 1)
                else:
                    cell.add(value, self.alpha)
        return predicted


def absolute_percentage_error(predicted: float | None, actual: float) -> float | None:
    """|predicted - actual| / actual; None when there was no prediction or nothing to divide by."""
    if predicted is None or actual <= 0:
        return None
    return abs(predicted - actual) / actual


def mape(pairs: Iterable[tuple[float | None, float]]) -> float | None:
    """Mean absolute percentage error over (predicted, actual) pairs that have a prediction."""
    errors = [e for p, a in pairs if (e := absolute_percentage_error(p, a)) is not None]
    return sum(errors) / len(errors) if errors else None
