"""What the usage monitor knows, as the fronts show it: the limit state and the windows.

`LimitState` is one answer to "may we run now, and until when?" (see core.usage.monitor for
how the sources combine); `windows` is the weekly picture beside the 5-hour window, each
figure with the source it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.models import iso, parse_iso

HARD_NOTE = "an organisation's limit: it does not lift by itself (the reset time is a guess)"
WINDOW_KINDS = {"five_hour": "session", "seven_day": "weekly", "seven_day_opus": "opus",
                "seven_day_sonnet": "sonnet"}
"""The endpoint's and the stream's window names, in `LimitHit.kind` terms."""


@dataclass(frozen=True)
class WindowView:
    """One window beside the 5-hour one (weekly, Opus, Sonnet): how full, when it resets."""

    kind: str
    utilization: float | None
    """Share used, 0..1, when a source knows it."""
    resets_at: datetime | None
    limited: bool
    source: str

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "utilization": self.utilization, "resets_at": iso(self.resets_at),
                "limited": self.limited, "source": self.source}


@dataclass(frozen=True)
class LimitState:
    limited: bool
    kind: str | None
    """The window that limits (or, when not limited, the window the figures describe)."""
    resets_at: datetime | None
    utilization: float | None
    """Share of the window used, 0..1, when a source knows it."""
    source: str
    """Which source decided `limited`/`resets_at`: stream, message, endpoint, logs or none."""
    window_start: datetime | None = None
    tokens_used: int = 0
    burn_rate_per_min: float | None = None
    projection: int | None = None
    capacity_tokens: int | None = None
    """The largest finished block (ccusage `--token-limit max`), or the configured capacity."""
    sources: tuple[tuple[str, str], ...] = ()
    """Where each figure came from, e.g. (("utilization", "endpoint"), ("tokens_used", "logs"))."""
    text: str | None = None
    """The limit message or event that set a limit, for people."""
    windows: tuple[WindowView, ...] = ()
    """The weekly picture (weekly, Opus, Sonnet windows) when a source knows it."""
    warning: str | None = None
    """A run's last rate-limit event said a window is nearly used up (`allowed_warning`)."""

    @property
    def percent_used(self) -> float | None:
        if self.utilization is not None:
            return self.utilization * 100
        if self.capacity_tokens:
            return self.tokens_used / self.capacity_tokens * 100
        return None

    def as_json(self) -> dict[str, Any]:
        return {
            "limited": self.limited,
            "kind": self.kind,
            "resets_at": iso(self.resets_at),
            "utilization": self.utilization,
            "source": self.source,
            "window_start": iso(self.window_start),
            "tokens_used": self.tokens_used,
            "burn_rate_per_min": self.burn_rate_per_min,
            "projection": self.projection,
            "capacity_tokens": self.capacity_tokens,
            "percent_used": self.percent_used,
            "sources": dict(self.sources),
            "text": self.text,
            "windows": [window.as_json() for window in self.windows],
            "warning": self.warning,
        }


@dataclass(frozen=True)
class Noted:
    kind: str
    resets_at: datetime
    source: str
    text: str
    estimated: bool
    noted_at: datetime

    @property
    def hard(self) -> bool:
        return self.kind == "org"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "resets_at": iso(self.resets_at), "source": self.source,
                "text": self.text, "estimated": self.estimated, "noted_at": iso(self.noted_at)}

    @classmethod
    def from_json(cls, data: Any) -> Noted | None:
        try:
            resets_at = parse_iso(data["resets_at"])
            noted_at = parse_iso(data["noted_at"])
        except (KeyError, TypeError, ValueError):
            return None
        if resets_at is None or noted_at is None:
            return None
        return cls(str(data.get("kind", "unknown")), resets_at, str(data.get("source", "stream")),
                   str(data.get("text", "")), bool(data.get("estimated", False)), noted_at)


def for_people(text: str, hard: bool) -> str:
    """The limit's text as the owner reads it; an organisation's limit says what it means."""
    return f"{text} — {HARD_NOTE}" if hard else text
