"""What a window timeline shows, as plain data: comparable, hashable as JSON, testable.

Built by `timeline.build_timeline()`, drawn by `timeline_draw`. Time is in hours from the
window's start.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from core.models import iso

PLAN_RUN = "plan run"


@dataclass(frozen=True, slots=True)
class Bar:
    """One run in its task's lane, clipped to the window."""

    run_id: int
    start_h: float
    end_h: float
    group: str
    """Outcome group (`style.OUTCOME_GROUPS`): the bar's colour."""
    plan: bool = False


@dataclass(frozen=True, slots=True)
class Lane:
    task_id: int
    label: str
    bars: tuple[Bar, ...]
    words: tuple[str, ...] = ()
    """How each run ended, in order: the text twin's line for this lane."""


@dataclass(frozen=True, slots=True)
class Mark:
    """A moment drawn as a vertical line across the window: limit hit, reset, now."""

    kind: str
    at_h: float
    label: str


@dataclass(frozen=True, slots=True)
class Idle:
    """A stretch with nothing running: `limit` when the limit stopped the work, else `idle`."""

    start_h: float
    end_h: float
    label: str
    kind: str = "idle"


@dataclass(frozen=True, slots=True)
class ReserveStep:
    """From `start_h` to `end_h` the owner keeps the tokens above `low_tokens`."""

    start_h: float
    end_h: float
    low_tokens: float


@dataclass(frozen=True)
class TimelineData:
    title: str
    start: datetime
    end: datetime
    span_h: float
    lanes: tuple[Lane, ...]
    more_label: str | None
    """Says how many tasks got no lane (more than `MAX_LANES`)."""
    marks: tuple[Mark, ...]
    idle: tuple[Idle, ...]
    cumulative: tuple[tuple[float, float], ...]
    """(hours, tokens so far) corners of the cumulative token line."""
    tokens_total: int
    runs: int
    tasks: int
    capacity_tokens: int | None
    """The capacity line drawn: the known capacity, else the learned estimate, else none."""
    capacity_label: str | None
    capacity_known: bool
    capacity_note: str | None
    """Said on the picture when the capacity is not known."""
    reserve: tuple[ReserveStep, ...]
    reserve_label: str | None
    x_ticks: tuple[tuple[float, str], ...]
    y_ticks: tuple[tuple[float, str], ...]
    legend: tuple[str, ...]
    y_label: str = "tokens"
    empty_note: str = "nothing ran in this window"
    extra_texts: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not self.lanes

    def texts(self) -> set[str]:
        """Every string the drawing may put on the picture."""
        out = {self.title, self.y_label, self.empty_note, *self.legend, *self.extra_texts}
        out |= {lane.label for lane in self.lanes}
        out |= {m.label for m in self.marks} | {i.label for i in self.idle}
        out |= {label for _, label in self.x_ticks} | {label for _, label in self.y_ticks}
        out |= {t for t in (self.more_label, self.capacity_label, self.capacity_note,
                            self.reserve_label) if t}
        return out

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["start"], out["end"] = iso(self.start), iso(self.end)
        return out
