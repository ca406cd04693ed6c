"""What `stats --experiments`, `/stats` and `nightshift styles` show about the loop.

Data first (`experiment_report`, `estimate_error`), text second (`experiments_text`), so
the CLI, the bot and the retrospective show the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.improve.adjustments import Knobs
from core.improve.bayes import Posterior
from core.improve.estimates import mape
from core.improve.learning import get_pin, prompts_dir
from core.improve.storage import ImproveStore
from core.improve.styles import load_styles
from core.settings import Settings
from core.store.store import Store

CREDIBLE_LEVEL = 0.95


@dataclass(frozen=True, slots=True)
class StyleReport:
    name: str
    description: str
    runs: int
    """Every analysed run in this style, including limits and cancels."""
    successes: int
    failures: int
    low: float
    high: float
    status: str
    """active | retired | pinned | disabled | missing (has runs, template gone)."""

    @property
    def rate(self) -> float | None:
        return Posterior(self.successes, self.failures).rate

    @property
    def mean(self) -> float:
        return Posterior(self.successes, self.failures).mean

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "runs": self.runs,
            "successes": self.successes,
            "failures": self.failures,
            "success_rate": self.rate,
            "posterior_mean": self.mean,
            "credible_interval": {"level": CREDIBLE_LEVEL, "low": self.low, "high": self.high},
            "status": self.status,
        }


async def experiment_report(store: Store, settings: Settings, now: datetime) -> list[StyleReport]:
    improve = ImproveStore(store.db)
    styles = load_styles(prompts_dir(settings))
    stats = await improve.style_stats()
    runs = await improve.style_runs()
    retired = Knobs.from_log(await improve.adjustments()).retired_styles
    pin = await get_pin(store, settings)
    pinned = pin.name if pin is not None and pin.active(now) else None
    names = list(dict.fromkeys([*styles.names, *sorted(stats)]))
    out = []
    for name in names:
        style = styles.by_name(name)
        post = stats.get(name, Posterior())
        low, high = post.interval(CREDIBLE_LEVEL)
        if style is None:
            status = "missing"
        elif name == pinned:
            status = "pinned"
        elif not style.enabled:
            status = "disabled"
        elif name in retired:
            status = "retired"
        else:
            status = "active"
        out.append(StyleReport(name, style.description if style else "", runs.get(name, 0),
                               post.successes, post.failures, low, high, status))
    return out


def experiments_text(reports: list[StyleReport]) -> str:
    if not reports:
        return "no prompt styles"
    lines = ["prompt styles (success = done with its check passing; 95% credible interval):"]
    for r in reports:
        rate = "-" if r.rate is None else f"{r.rate * 100:.0f}%"
        lines.append(
            f"  {r.name:<20} {r.status:<8} runs {r.runs:>4}  success {r.successes}/"
            f"{r.successes + r.failures} ({rate})  interval {r.low * 100:.0f}–{r.high * 100:.0f}%"
        )
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class EstimateError:
    samples: int
    predicted: int
    """Samples that had an estimate when they started (the first of each kind has none)."""
    mape_tokens: float | None
    mape_minutes: float | None

    def as_json(self) -> dict[str, Any]:
        return {"samples": self.samples, "predicted": self.predicted,
                "mape_tokens": self.mape_tokens, "mape_minutes": self.mape_minutes}

    def as_text(self) -> str:
        if self.mape_tokens is None:
            return f"estimate error: not known yet ({self.samples} finished tasks learned from)"
        minutes = "-" if self.mape_minutes is None else f"{self.mape_minutes * 100:.0f}%"
        return (f"estimate error (MAPE): tokens {self.mape_tokens * 100:.0f}%, minutes {minutes}"
                f" over {self.predicted} tasks")


async def estimate_error(
    store: Store, since: datetime | None = None, until: datetime | None = None
) -> EstimateError:
    samples = await ImproveStore(store.db).estimate_samples(since, until)
    return EstimateError(
        samples=len(samples),
        predicted=sum(1 for s in samples if s.predicted_tokens is not None),
        mape_tokens=mape((s.predicted_tokens, s.tokens) for s in samples),
        mape_minutes=mape((s.predicted_minutes, s.minutes) for s in samples),
    )
