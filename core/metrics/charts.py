"""Metric charts as PNG images, sized and lettered for a phone screen.

The same images go to `nightshift chart`, the bot's /stats, the window and morning
summaries and the daily notes. `chart_series()` extracts what a chart shows (pure, no
matplotlib); `chart_png()` draws it. matplotlib is imported inside the drawing function:
it costs about a second to import, and most commands never draw. We draw on a bare
`Figure` with the Agg canvas instead of pyplot, so no global backend or rc state is
touched and drawing from a worker thread is safe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InvalidInput
from core.metrics.report import MetricsReport, human
from core.metrics.style import (
    BLUE,
    BLUISH_GREEN,
    DARK_GREY,
    DPI,
    GROUP_COLORS,
    LABEL_PT,
    NOTE_PT,
    OUTCOME_GROUPS,
    SKY_BLUE,
    TICK_PT,
    TITLE_PT,
    VERMILLION,
    WIDTH_PX,
    png_bytes,
    write_png,
)

CHART_KINDS = ("completion", "tokens", "outcomes", "utilization", "weekly")
HEIGHT_PX = 625
DEFAULT_POINTS = 14
"""Days or windows on one chart: more and the labels stop being readable on a phone."""

COLORS = {
    **GROUP_COLORS,
    "bar": BLUE,
    "open": SKY_BLUE,
    "limit_line": VERMILLION,
    "line": BLUISH_GREEN,
}
"""Okabe-Ito throughout (`style`): outcome colours match the window timeline's."""


@dataclass(frozen=True)
class ChartSeries:
    """Everything a chart shows, as plain data: hashable, comparable, testable."""

    kind: str
    title: str
    ylabel: str
    labels: tuple[str, ...]
    series: dict[str, tuple[float | None, ...]] = field(default_factory=dict)
    limits: tuple[float | None, ...] = ()
    open: tuple[bool, ...] = ()
    empty_note: str = "no data yet"
    note: str = ""
    """A line under the title (the weekly limit's use), drawn when set."""

    @property
    def empty(self) -> bool:
        return not self.labels or all(
            v is None for values in self.series.values() for v in values
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "ylabel": self.ylabel,
            "labels": list(self.labels),
            "series": {k: list(v) for k, v in self.series.items()},
            "limits": list(self.limits),
            "open": list(self.open),
            "empty_note": self.empty_note,
            "note": self.note,
        }


def _check_kind(kind: str) -> None:
    if kind not in CHART_KINDS:
        raise InvalidInput(f"chart kind must be one of {', '.join(CHART_KINDS)}, not {kind!r}")


def chart_series(
    kind: str,
    report: MetricsReport,
    *,
    max_points: int = DEFAULT_POINTS,
    weekly_limit_used: float | None = None,
) -> ChartSeries:
    """The last `max_points` days (or windows) of `report` that `kind` draws.

    `weekly_limit_used` (0..1, from the usage endpoint when it answers) only shows on the
    weekly chart."""
    _check_kind(kind)
    if max_points < 1:
        raise InvalidInput("a chart needs at least one point")
    if kind == "weekly":
        from core.metrics.weekly import weekly_series

        return weekly_series(report, weekly_limit_used=weekly_limit_used)
    days = report.by_day[-max_points:]
    day_labels = tuple(g.key[5:] for g in days)  # MM-DD: the year wastes width on a phone
    windows = report.windows[-max_points:]
    window_labels = tuple(w.start.astimezone(report.tz).strftime("%m-%d %H:%M") for w in windows)
    if kind == "completion":
        return ChartSeries(
            kind, "Completion rate by day (done / finished)", "completed %", day_labels,
            {"completion": tuple(None if g.completion_rate is None else 100 * g.completion_rate
                                 for g in days),
             "done": tuple(float(g.tasks_done) for g in days),
             "finished": tuple(float(g.tasks_finished) for g in days)},
            empty_note="no finished tasks yet",
        )
    if kind == "outcomes":
        mix: dict[str, tuple[float | None, ...]] = {}
        for group, members in OUTCOME_GROUPS.items():
            counts = tuple(float(sum(g.outcomes.get(m, 0) for m in members)) for g in days)
            if any(counts):
                mix[group] = counts
        return ChartSeries(kind, "Run outcomes by day", "runs", day_labels, mix,
                           empty_note="no runs yet")
    if kind == "tokens":
        return ChartSeries(
            kind, "Tokens per window vs estimated limit", "tokens", window_labels,
            {"tokens": tuple(float(w.tokens.total) for w in windows)},
            limits=tuple(None if w.capacity_tokens is None else float(w.capacity_tokens)
                         for w in windows),
            open=tuple(w.open for w in windows),
            empty_note="no runs yet",
        )
    return ChartSeries(
        kind, "Window utilization (nightshift tokens / capacity)", "used %", window_labels,
        {"utilization": tuple(None if w.utilization is None else 100 * w.utilization
                              for w in windows)},
        open=tuple(w.open for w in windows),
        empty_note="capacity unknown" if windows else "no runs yet",
    )


def chart_png(
    kind: str,
    report: MetricsReport,
    *,
    max_points: int = DEFAULT_POINTS,
    weekly_limit_used: float | None = None,
) -> bytes:
    return draw(chart_series(kind, report, max_points=max_points,
                             weekly_limit_used=weekly_limit_used))


def render_chart(
    kind: str,
    report: MetricsReport,
    out: Path,
    *,
    max_points: int = DEFAULT_POINTS,
    weekly_limit_used: float | None = None,
) -> Path:
    """Draw chart `kind` of `report` into `out` (a PNG, replaced atomically); return `out`."""
    data = chart_png(kind, report, max_points=max_points, weekly_limit_used=weekly_limit_used)
    return write_png(data, out)


def _nan(values: Sequence[float | None]) -> list[float]:
    return [math.nan if v is None else v for v in values]


def _scale(peak: float) -> tuple[float, str]:
    if peak >= 1_000_000:
        return 1_000_000, "M"
    if peak >= 1000:
        return 1000, "k"
    return 1, ""


def draw(chart: ChartSeries) -> bytes:
    """Render `chart` to PNG bytes; the same data gives the same bytes."""
    return png_bytes(chart_figure(chart))


def chart_figure(chart: ChartSeries) -> Any:
    """The matplotlib Figure `draw` renders (tests inspect its artists)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(chart.title, fontsize=TITLE_PT, loc="left")
    if chart.note:
        fig.suptitle(chart.note, fontsize=LABEL_PT, x=0.01, ha="left", fontweight="bold")
    ax.tick_params(labelsize=TICK_PT)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if chart.empty:
        ax.set_axis_off()
        ax.text(0.5, 0.5, chart.empty_note, ha="center", va="center", fontsize=TITLE_PT,
                color=DARK_GREY, transform=ax.transAxes)
    else:
        ax.set_ylabel(chart.ylabel, fontsize=LABEL_PT)
        x = list(range(len(chart.labels)))
        if chart.kind == "weekly":
            from core.metrics.weekly import draw_weekly

            draw_weekly(ax, chart, x)
        else:
            {"completion": _completion, "outcomes": _outcomes, "tokens": _tokens,
             "utilization": _utilization}[chart.kind](ax, chart, x)
        ax.set_xticks(x, list(chart.labels))
        if len(x) > 7:
            for label in ax.get_xticklabels():
                label.set_rotation(45)
                label.set_horizontalalignment("right")
        ax.grid(axis="y", alpha=0.3)
    return fig


def _completion(ax: Any, chart: ChartSeries, x: list[int]) -> None:
    rates = chart.series["completion"]
    ax.plot(x, _nan(rates), marker="o", markersize=10, linewidth=3, color=COLORS["line"])
    for i, rate in enumerate(rates):
        if rate is not None:
            done = chart.series["done"][i] or 0
            finished = chart.series["finished"][i] or 0
            ax.annotate(f"{rate:.0f}%\n{done:.0f}/{finished:.0f}", (i, rate),
                        textcoords="offset points", xytext=(0, 10), ha="center",
                        fontsize=NOTE_PT)
    ax.set_ylim(0, 125)
    ax.set_yticks([0, 25, 50, 75, 100])


def _outcomes(ax: Any, chart: ChartSeries, x: list[int]) -> None:
    bottom = [0.0] * len(x)
    for group, counts in chart.series.items():
        heights = [v or 0.0 for v in counts]
        ax.bar(x, heights, bottom=bottom, color=COLORS[group], label=group, width=0.7)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.legend(fontsize=NOTE_PT, loc="upper left", frameon=False,
              ncol=min(3, len(chart.series)))
    ax.set_ylim(0, max(bottom) * 1.35 + 1)
    ax.yaxis.get_major_locator().set_params(integer=True)


def _tokens(ax: Any, chart: ChartSeries, x: list[int]) -> None:
    tokens = [v or 0.0 for v in chart.series["tokens"]]
    limits = [v for v in chart.limits if v is not None]
    unit, suffix = _scale(max([*tokens, *limits]))
    colors = [COLORS["open"] if is_open else COLORS["bar"]
              for is_open in (chart.open or (False,) * len(x))]
    ax.bar(x, [t / unit for t in tokens], color=colors, width=0.7, label="nightshift")
    for i, t in enumerate(tokens):
        ax.annotate(human(t), (i, t / unit), textcoords="offset points", xytext=(0, 5),
                    ha="center", fontsize=NOTE_PT)
    if limits:
        if len(set(limits)) == 1 and len(limits) == len(x):
            ax.axhline(limits[0] / unit, color=COLORS["limit_line"], linewidth=3,
                       linestyle="--", label=f"estimated limit {human(limits[0])}")
        else:
            xs = [i for i, v in enumerate(chart.limits) if v is not None]
            ax.scatter(xs, [v / unit for v in limits], marker="_", s=1500, linewidths=4,
                       color=COLORS["limit_line"], label="estimated limit", zorder=3)
        ax.legend(fontsize=NOTE_PT, loc="upper left", frameon=False)
    ax.set_ylabel(f"tokens ({suffix})" if suffix else "tokens", fontsize=LABEL_PT)
    ax.set_ylim(0, max([*tokens, *limits]) / unit * 1.3 or 1)


def _utilization(ax: Any, chart: ChartSeries, x: list[int]) -> None:
    values = chart.series["utilization"]
    colors = []
    for v in values:
        if v is None:
            colors.append(COLORS["stopped"])
        elif v > 100:
            colors.append(COLORS["failed"])
        elif v >= 80:
            colors.append(COLORS["check failed"])
        else:
            colors.append(COLORS["success"])
    ax.bar(x, [v or 0.0 for v in values], color=colors, width=0.7)
    for i, v in enumerate(values):
        text = "?" if v is None else f"{v:.0f}%"
        ax.annotate(text, (i, v or 0.0), textcoords="offset points", xytext=(0, 5),
                    ha="center", fontsize=NOTE_PT)
    ax.axhline(100, color=COLORS["limit_line"], linewidth=3, linestyle="--")
    ax.set_ylim(0, max(125.0, max(v or 0.0 for v in values) * 1.2))
