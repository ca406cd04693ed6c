"""Limit facts inside a run's stream-json output: `rate_limit_event` lines and the `result`.

These are the most authoritative source (DESIGN: usage windows, source 1): the CLI reports
them for the very call that was refused. Parsing is defensive because the event shapes are
undocumented and drift: anything unexpected is "not a limit event" (None), never an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from core.usage.limits import FALLBACK_WINDOW, LimitHit, parse_limit_message

NOT_A_USAGE_LIMIT = "(not your usage limit)"
"""Claude Code's wording for a 429 without the subscription headers: the server is busy."""
API_KEY_RATE_LIMIT = "API Error: Request rejected (429)"
"""An API-key account's 429: a per-minute rate limit, not a 5-hour window."""

_WINDOW_KIND = {
    "five_hour": "session",
    "seven_day": "weekly",
    "seven_day_opus": "opus",
    "seven_day_sonnet": "sonnet",
}


@dataclass(frozen=True)
class RateLimitInfo:
    """One `rate_limit_event`. Sent on normal runs too: only `rejected` means limited."""

    status: str
    resets_at: datetime | None
    window: str
    utilization: float | None
    warning: bool = False
    """Past a warning threshold: `allowed_warning`, at the top or for the event's own window
    (Claude Code 2.1.332 reports the window's warning only inside `unifiedWindows`)."""

    @property
    def rejected(self) -> bool:
        return self.status == "rejected"

    @property
    def kind(self) -> str:
        """The window in `LimitHit.kind` terms (`five_hour` -> `session`, …)."""
        if self.window in _WINDOW_KIND:
            return _WINDOW_KIND[self.window]
        if "overage" in self.window or "extra" in self.window:
            return "extra"
        return "unknown"

    def as_hit(self, now: datetime) -> LimitHit | None:
        """The limit this event reports, if it is a refusal (`now` fills a missing reset)."""
        if not self.rejected:
            return None
        text = f"rate_limit_event rejected ({self.window or 'unknown window'})"
        if self.resets_at is None:
            return LimitHit(self.kind, now.astimezone(UTC) + FALLBACK_WINDOW, text, estimated=True)
        return LimitHit(self.kind, self.resets_at, text)


def _epoch(value: Any) -> datetime | None:
    """`resetsAt` is epoch seconds; accept milliseconds and ISO text too, as formats drift."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if not math.isfinite(value) or value <= 0:
            return None
        seconds = float(value) / 1000 if value > 10**11 else float(value)
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.isdecimal():
            return _epoch(int(text))
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _fraction(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return float(value)


def parse_rate_limit_event(obj: Mapping[str, Any]) -> RateLimitInfo | None:
    """A `rate_limit_event` line (already JSON-decoded); None for any other event or garbage."""
    if not isinstance(obj, Mapping) or obj.get("type") != "rate_limit_event":
        return None
    info = obj.get("rate_limit_info")
    if not isinstance(info, Mapping):
        return None
    status = info.get("status")
    if not isinstance(status, str) or not status:
        return None
    window = info.get("rateLimitType")
    window = window if isinstance(window, str) else ""
    # Newer CLIs (2.1.332) put each window's figures in `unifiedWindows`; the top level may
    # lack the utilization (a plain `allowed` reply) while the window carries it.
    windows = info.get("unifiedWindows")
    own = windows.get(window) if isinstance(windows, Mapping) and window else None
    own = own if isinstance(own, Mapping) else {}
    utilization = _fraction(info.get("utilization"))
    if utilization is None:
        utilization = _fraction(own.get("utilization"))
    resets_at = _epoch(info.get("resetsAt")) or _epoch(own.get("resetsAt"))
    return RateLimitInfo(
        status=status,
        resets_at=resets_at,
        window=window,
        utilization=utilization,
        warning=status == "allowed_warning" or own.get("status") == "allowed_warning",
    )


def limit_from_result(obj: Mapping[str, Any], now: datetime, local_tz: tzinfo) -> LimitHit | None:
    """The limit a `result` reports: an error result with HTTP 429 or a limit text.

    A successful result is never a limit, whatever its text says (the model may well write
    about rate limits). A 429 without a readable reset time gives an `estimated` hit.
    """
    if not isinstance(obj, Mapping):
        return None
    if obj.get("type", "result") != "result" or obj.get("is_error") is not True:
        return None
    text = obj.get("result")
    text = text if isinstance(text, str) else ""
    hit = parse_limit_message(text, now, local_tz) if text else None
    if hit is not None:
        return hit
    if NOT_A_USAGE_LIMIT in text or text.startswith(API_KEY_RATE_LIMIT):
        # The server throttles (or an API key's per-minute limit): transient, not a window.
        return None
    status = obj.get("api_error_status")
    if status == 429 or status == "429":
        return LimitHit("unknown", now.astimezone(UTC) + FALLBACK_WINDOW,
                        text.strip() or "HTTP 429", estimated=True)
    return None


__all__ = ["RateLimitInfo", "limit_from_result", "parse_rate_limit_event"]
