"""Draws `TimelineData`: one block per window, lanes of runs over the window's token curve.

Every string drawn comes from the data (`TimelineData.texts()`, the header given here),
so what the picture says can be checked, and the text twin says the same. One window is
the window summary's picture; several stacked are the morning digest's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.metrics.style import (
    BLACK,
    BLUE,
    DARK_GREY,
    GREY,
    GROUP_COLORS,
    LABEL_PT,
    NOTE_PT,
    TICK_PT,
    TITLE_PT,
    VERMILLION,
    WIDTH_PX,
    YELLOW,
    fit_pt,
    new_figure,
    png_bytes,
)
from core.metrics.timeline_model import PLAN_RUN, TimelineData

LANE_PX = 82
TOKENS_PX = 250
TOKENS_COMPACT_PX = 165
BLOCK_EXTRA_PX = 95
"""A window's title, its hour labels and the gap to the next one."""
HEADER_PX = 150
TOKENS_USED = "tokens used"
IDLE_FACE = "#EFEFEF"
CHAR_PX = 10
"""About the width of one character at NOTE_PT: a label only goes where it fits."""
PLOT_PX = 900
_BOX = {"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 2}


def figure_height_px(windows: Sequence[TimelineData], *, compact: bool = False) -> int:
    tokens_px = TOKENS_COMPACT_PX if compact else TOKENS_PX
    return HEADER_PX + sum(max(1, len(w.lanes)) * LANE_PX + 20 + tokens_px + BLOCK_EXTRA_PX
                           for w in windows)


def header_texts(windows: Sequence[TimelineData]) -> set[str]:
    """Strings the figure adds beyond each window's own: the legend's shared entries."""
    out = {TOKENS_USED} if any(not w.empty for w in windows) else set()
    return out


def timeline_figure(
    windows: Sequence[TimelineData], title: str | None = None, *, compact: bool = False
) -> Any:
    """A matplotlib Figure: `title` on top (the single window's own title when omitted).

    `compact` gives the token curves less height: the digest stacks several windows and
    Telegram shrinks a tall picture until a phone cannot read it.
    """
    if not windows:
        raise ValueError("a timeline needs at least one window")
    single = len(windows) == 1 and title is None
    fig = new_figure(figure_height_px(windows, compact=compact))
    fig.set_layout_engine("constrained", h_pad=0.06, hspace=0.02)
    ratios: list[float] = []
    for w in windows:
        ratios += [max(1, len(w.lanes)) * LANE_PX + 20,
                   TOKENS_COMPACT_PX if compact else TOKENS_PX]
    axes = fig.subplots(len(ratios), 1, gridspec_kw={"height_ratios": ratios})
    axes = list(axes) if len(ratios) > 1 else [axes]
    heading = title or windows[0].title
    fig.suptitle(heading, fontsize=fit_pt(heading, TITLE_PT, WIDTH_PX * 0.9), x=0.02, ha="left",
                 fontweight="bold")
    legend: dict[str, Any] = {}
    for i, data in enumerate(windows):
        lanes_ax, tokens_ax = axes[2 * i], axes[2 * i + 1]
        tokens_ax.sharex(lanes_ax)
        _draw_lanes(lanes_ax, data, None if single else data.title, legend)
        _draw_tokens(tokens_ax, data, legend)
    if legend:
        fig.legend(list(legend.values()), list(legend), loc="outside lower left",
                   ncol=min(4, len(legend)), fontsize=NOTE_PT, frameon=False,
                   handlelength=1.6, columnspacing=1.2)
    return fig


def timeline_png(
    windows: Sequence[TimelineData], title: str | None = None, *, compact: bool = False
) -> bytes:
    """PNG bytes; the same data gives the same bytes."""
    return png_bytes(timeline_figure(windows, title, compact=compact))


def _draw_lanes(ax: Any, data: TimelineData, title: str | None, legend: dict[str, Any]) -> None:
    from matplotlib.patches import Patch
    from matplotlib.transforms import blended_transform_factory

    if title:
        ax.set_title(title, fontsize=LABEL_PT, loc="left", fontweight="bold")
    ax.set_xlim(0, data.span_h)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="x", labelbottom=False, length=0)
    n = max(1, len(data.lanes))
    ax.set_ylim(n - 0.5, -0.5)  # first lane on top
    if data.empty:
        ax.text(0.5, 0.5, data.empty_note, ha="center", va="center", fontsize=LABEL_PT,
                color=DARK_GREY, transform=ax.transAxes)
    for idle in data.idle:
        ax.axvspan(idle.start_h, idle.end_h, facecolor=IDLE_FACE, edgecolor="#C8C8C8",
                   hatch="//", linewidth=0, zorder=0)
        if len(idle.label) * CHAR_PX <= (idle.end_h - idle.start_h) * PLOT_PX / data.span_h:
            # In the last lane's bar row: nothing runs during the stretch, so it is free.
            ax.text((idle.start_h + idle.end_h) / 2, n - 1 + 0.18, idle.label, ha="center",
                    va="center", fontsize=NOTE_PT, color=DARK_GREY, zorder=1)
    for row, lane in enumerate(data.lanes):
        for bar in lane.bars:
            color = GROUP_COLORS[bar.group]
            ax.barh(row + 0.18, max(bar.end_h - bar.start_h, data.span_h / 250),
                    left=bar.start_h, height=0.56, color=color, edgecolor="white", linewidth=1.5,
                    hatch="xx" if bar.plan else None, zorder=2)
            legend.setdefault(bar.group, Patch(facecolor=color, label=bar.group))
    if any(bar.plan for lane in data.lanes for bar in lane.bars):
        legend.setdefault(PLAN_RUN, Patch(facecolor="white", edgecolor=DARK_GREY, hatch="xx",
                                          label=PLAN_RUN))
    ax.set_yticks([])
    for row, lane in enumerate(data.lanes):
        # Above its bars, not beside them: the window keeps the picture's whole width.
        ax.text(0.004, row - 0.14, lane.label, transform=blended_transform_factory(
            ax.transAxes, ax.transData), ha="left", va="bottom", fontsize=LABEL_PT,
            bbox=_BOX, zorder=5)
    if data.more_label:
        ax.text(0.0, -0.02, data.more_label, transform=ax.transAxes, ha="left", va="top",
                fontsize=NOTE_PT, color=DARK_GREY)
    top = blended_transform_factory(ax.transData, ax.transAxes)
    for mark in data.marks:
        if mark.kind == "limit":
            ax.axvline(mark.at_h, color=VERMILLION, linewidth=3, zorder=3)
            right = mark.at_h > data.span_h / 2
            ax.annotate(mark.label, (mark.at_h, 0.98), xycoords=top,
                        xytext=(-6 if right else 6, 0), textcoords="offset points",
                        ha="right" if right else "left", va="top", fontsize=NOTE_PT,
                        color=VERMILLION, fontweight="bold", bbox=_BOX, zorder=4)
        elif mark.kind == "reset":
            ax.text(1.0, 1.02, mark.label, transform=ax.transAxes, ha="right", va="bottom",
                    fontsize=NOTE_PT, color=BLACK, fontweight="bold")
        elif mark.kind == "now":
            ax.axvline(mark.at_h, color=DARK_GREY, linewidth=2, linestyle=":", zorder=3)


def _draw_tokens(ax: Any, data: TimelineData, legend: dict[str, Any]) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=TICK_PT)
    ax.set_xticks([x for x, _ in data.x_ticks], [label for _, label in data.x_ticks])
    ax.set_yticks([y for y, _ in data.y_ticks], [label for _, label in data.y_ticks])
    ax.set_ylim(0, data.y_ticks[-1][0] if len(data.y_ticks) > 1 else 1)
    top = max([data.tokens_total, data.capacity_tokens or 0]) * 1.12
    if top > 0:
        ax.set_ylim(0, max(top, data.y_ticks[-1][0]))
    ax.set_ylabel(data.y_label, fontsize=NOTE_PT)
    ax.grid(axis="y", alpha=0.3)
    for step in data.reserve:
        assert data.capacity_tokens is not None
        ax.fill_between([step.start_h, step.end_h], step.low_tokens, data.capacity_tokens,
                        color=YELLOW, alpha=0.55, linewidth=0, zorder=1)
    if data.reserve_label:
        legend.setdefault(data.reserve_label, Patch(facecolor=YELLOW, alpha=0.55,
                                                     label=data.reserve_label))
    if data.capacity_tokens and data.capacity_label:
        ax.axhline(data.capacity_tokens, color=BLACK if data.capacity_known else GREY,
                   linewidth=2.5, linestyle="--" if data.capacity_known else ":", zorder=2)
        ax.text(data.span_h * 0.99, data.capacity_tokens, data.capacity_label, ha="right",
                va="bottom", fontsize=NOTE_PT, bbox=_BOX, zorder=4)
    if data.capacity_note:
        ax.set_title(data.capacity_note, loc="left", fontsize=NOTE_PT, color=VERMILLION,
                     fontweight="bold")
    if not data.empty:
        xs = [x for x, _ in data.cumulative]
        ys = [y for _, y in data.cumulative]
        ax.plot(xs, ys, color=BLUE, linewidth=3.5, zorder=3, solid_capstyle="round")
        ax.fill_between(xs, ys, color=BLUE, alpha=0.12, linewidth=0, zorder=2)
        legend.setdefault(TOKENS_USED, Line2D([], [], color=BLUE, linewidth=3.5,
                                              label=TOKENS_USED))
    for mark in data.marks:
        if mark.kind == "limit":
            ax.axvline(mark.at_h, color=VERMILLION, linewidth=3, zorder=3)
        elif mark.kind == "now":
            ax.axvline(mark.at_h, color=DARK_GREY, linewidth=2, linestyle=":", zorder=3)
            left = mark.at_h < data.span_h * 0.8
            ax.annotate(mark.label, (mark.at_h, 0.03), xycoords=ax.get_xaxis_transform(),
                        xytext=(6 if left else -6, 0), textcoords="offset points",
                        ha="left" if left else "right", va="bottom", fontsize=NOTE_PT,
                        color=DARK_GREY, bbox=_BOX, zorder=4)
    ax.set_xlim(0, data.span_h)
