"""What every nightshift picture shares: a colour-blind-safe palette, phone-sized type, PNG bytes.

Colours are Okabe & Ito's eight (2008), distinguishable with every common colour-vision
deficiency; outcomes that must not be confused (success, check failed, failed, limit) get
hues that also differ in lightness, so they survive a greyscale screenshot too.
matplotlib is imported only inside the functions that draw: it costs about a second.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from core import safefs

WIDTH_PX = 1000
DPI = 100

TITLE_PT = 24
LABEL_PT = 19
TICK_PT = 16
NOTE_PT = 15

ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
BLUISH_GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
REDDISH_PURPLE = "#CC79A7"
BLACK = "#000000"
GREY = "#999999"
DARK_GREY = "#616161"

OUTCOME_GROUPS: dict[str, tuple[str, ...]] = {
    "success": ("success",),
    "check failed": ("check_failed",),
    "failed": ("error", "crashed", "permission_denied", "max_turns", "budget", "timeout"),
    "limit": ("limit",),
    "stopped": ("cancelled", "interrupted", "logged_out", "overloaded"),
    "running": ("running",),
}
"""Run outcomes as the owner reads them; the order is the legend's."""

GROUP_COLORS = {
    "success": BLUISH_GREEN,
    "check failed": ORANGE,
    "failed": VERMILLION,
    "limit": REDDISH_PURPLE,
    "stopped": GREY,
    "running": SKY_BLUE,
}

_GROUP_OF = {outcome: group for group, members in OUTCOME_GROUPS.items() for outcome in members}


def outcome_group(outcome: str | None) -> str:
    """`check_failed` -> "check failed"; a run without an outcome is still running."""
    return _GROUP_OF.get(outcome or "running", "failed")


CHAR_EM = 0.6
"""DejaVu Sans's average character width, in ems (bold is a little wider)."""


def fit_pt(text: str, max_pt: float, width_px: float = WIDTH_PX * 0.95) -> float:
    """The largest size up to `max_pt` at which one line of `text` fits `width_px`."""
    longest = max((len(line) for line in text.splitlines()), default=1) or 1
    return min(max_pt, width_px / (longest * CHAR_EM * DPI / 72))


def new_figure(height_px: int) -> Any:
    """A bare Agg `Figure` (no pyplot: no global state, safe from a worker thread)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_PX / DPI, height_px / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Any) -> bytes:
    buffer = io.BytesIO()
    # No "Software" stamp: the bytes then depend only on the data (and matplotlib's drawing).
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def write_png(data: bytes, out: Path) -> Path:
    """Replace `out` with `data` atomically through `core.safefs`: a private (0600,
    O_EXCL|O_NOFOLLOW) temp file renamed over it, so a reader never sees half a picture and a
    link planted at `out` is replaced, never written through. Callers writing into the state
    directory or the vault make the folder private first (`ensure_private_dir`); a path the
    owner names (`nightshift chart --out`) keeps its folder as it is."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    safefs.write_atomic(out, data)
    return out
