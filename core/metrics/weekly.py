"""The week at a glance: for each day, how full the windows nightshift used were, how many
windows it used and how many tasks each finished, and the weekly limit's use when known.

A chart kind like the others (`chart_series("weekly", ...)` gives a `ChartSeries`), shown
by `/stats`, `nightshift chart --kind weekly`, `nightshift stats --week` and the weekly
retro. Days are the owner's days; a window belongs to the day it started on.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from core.metrics.report import MetricsReport, WindowMetrics, human

if TYPE_CHECKING:
    from core.metrics.charts import ChartSeries

DAYS = 7
TITLE = "The week: how full the windows nightshift used were"
TITLE_TOKENS = "The week: tokens in the windows nightshift used"
NO_WINDOW = "none"


def week_days(report: MetricsReport) -> list[date]:
    """The days the chart shows: the report's period when it is a week or less, else the
    seven days up to the report's end (or when it was made)."""
    tz = report.tz
    if report.since is not None and report.until is not None:
        first = report.since.astimezone(tz).date()
        last = (report.until - timedelta(microseconds=1)).astimezone(tz).date()
        if 0 <= (last - first).days < DAYS:
            return [first + timedelta(days=i) for i in range((last - first).days + 1)]
    end = report.until - timedelta(microseconds=1) if report.until else report.generated_at
    last = end.astimezone(tz).date()
    return [last - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]


def limit_note(weekly_limit_used: float | None) -> str:
    if weekly_limit_used is None:
        return "weekly limit: use unknown"
    return f"weekly limit: {weekly_limit_used * 100:.0f}% used"


def weekly_series(report: MetricsReport, *, weekly_limit_used: float | None = None) -> ChartSeries:
    from core.metrics.charts import ChartSeries

    days = week_days(report)
    by_day: dict[date, list[WindowMetrics]] = {d: [] for d in days}
    for window in report.windows:
        day = window.start.astimezone(report.tz).date()
        if day in by_day:
            by_day[day].append(window)
    utilization: list[float | None] = []
    tokens: list[float | None] = []
    windows: list[float | None] = []
    done: list[float | None] = []
    for day in days:
        members = by_day[day]
        utils = [w.utilization for w in members if w.utilization is not None]
        utilization.append(100 * sum(utils) / len(utils) if utils else None)
        tokens.append(float(sum(w.tokens.total for w in members)) if members else None)
        windows.append(float(len(members)) if members else None)
        done.append(float(sum(w.tasks_completed for w in members)) if members else None)
    known = any(u is not None for u in utilization)
    return ChartSeries(
        "weekly",
        TITLE if known else TITLE_TOKENS,
        "used %" if known else "tokens",
        tuple(f"{d:%a} {d:%d}" for d in days),
        {"utilization": tuple(utilization), "tokens": tuple(tokens),
         "windows": tuple(windows), "done": tuple(done)},
        empty_note="no windows used this week",
        note=limit_note(weekly_limit_used),
    )


def day_label(windows: float | None, done: float | None) -> str:
    """Under each bar's top: windows used, and tasks done per window."""
    if not windows:
        return NO_WINDOW
    per = (done or 0.0) / windows
    return f"{windows:.0f} win\n{per:.1f} done/win"


def draw_weekly(ax: Any, chart: ChartSeries, x: list[int]) -> None:
    from core.metrics.charts import COLORS, _scale
    from core.metrics.style import DARK_GREY, LABEL_PT, NOTE_PT, VERMILLION

    windows, done = chart.series["windows"], chart.series["done"]
    if chart.ylabel == "used %":
        values = [v or 0.0 for v in chart.series["utilization"]]
        ax.bar(x, values, color=COLORS["bar"], width=0.7)
        ax.axhline(100, color=VERMILLION, linewidth=3, linestyle="--")
        top = max(125.0, max(values) * 1.3)
    else:
        raw = [v or 0.0 for v in chart.series["tokens"]]
        unit, suffix = _scale(max(raw) or 1.0)
        values = [v / unit for v in raw]
        ax.bar(x, values, color=COLORS["bar"], width=0.7)
        ax.set_ylabel(f"tokens ({suffix})" if suffix else "tokens", fontsize=LABEL_PT)
        top = max(values) * 1.45 or 1.0
    for i, value in enumerate(values):
        label = day_label(windows[i], done[i])
        ax.annotate(label, (i, value), textcoords="offset points", xytext=(0, 5),
                    ha="center", va="bottom", fontsize=NOTE_PT,
                    color=DARK_GREY if label == NO_WINDOW else "black")
    ax.set_ylim(0, top)


def weekly_text(chart: ChartSeries) -> str:
    """The text twin: what each bar and its label say, days without a window summed up
    (it rides in a photo caption, which Telegram cuts at 1024 characters)."""
    lines = [f"Week by day ({chart.note}):"]
    idle = []
    for i, day in enumerate(chart.labels):
        windows = chart.series["windows"][i]
        if not windows:
            idle.append(day)
            continue
        util = chart.series["utilization"][i]
        tokens = chart.series["tokens"][i]
        done = chart.series["done"][i] or 0.0
        used = f"{util:.0f}% full" if util is not None else f"{human(tokens)} tokens"
        lines.append(f"  {day}: {windows:.0f} window{'s' if windows != 1 else ''}, {used},"
                     f" {done / windows:.1f} done per window")
    if idle:
        which = "" if len(idle) == len(chart.labels) else f" ({', '.join(d.split()[0] for d in idle)})"
        lines.append(f"  no window on {len(idle)} day{'s' if len(idle) != 1 else ''}{which}")
    return "\n".join(lines)
