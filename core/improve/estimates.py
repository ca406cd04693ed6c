"""Learned cost estimates: tokens and minutes a task takes, by tag, repo and plan size.

Each key keeps an exponentially weighted moving average (EWMA), so the estimate follows
drift (a repo that got bigger, a model that got cheaper) instead of averaging all of
history. A task's estimate combines the keys it matches, weighted by how much each key
has seen; with no history at all there is no estimate (`None`), and the planner falls
back to its default. Everything here is pure; `core.improve.learning` persists it.
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

CONFIDENCE_CAP = 10
"""A key's weight in the combination stops growing after this many samples."""

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


@dataclass
class EstimateBook:
    """EWMA per (key, metric). Mutable: `observe` folds one finished task in."""

    alpha: float = DEFAULT_ALPHA
    cells: dict[tuple[str, str, Metric], Cell] = field(default_factory=dict)

    def predict(self, keys: Sequence[Key], metric: Metric) -> float | None:
        """Samples-weighted mean of the matching keys' EWMAs, else the `all` key, else None."""
        weighted = 0.0
        weight = 0
        for dimension, key in keys:
            cell = self.cells.get((dimension, key, metric))
            if cell is None or cell.samples <= 0:
                continue
            w = min(cell.samples, CONFIDENCE_CAP)
            weighted += w * cell.value
            weight += w
        if weight:
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
                    cell.value = ewma(cell.value, value, self.alpha)
                    cell.samples += 1
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
