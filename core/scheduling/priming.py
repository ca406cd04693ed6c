"""Window priming: start a window on purpose so that its reset falls where the owner wants.

A 5-hour window starts with its first message. Sending one tiny prompt at 06:00 makes the
window reset at 11:00, whatever the owner does later. Priming while a window is open would
only spend tokens, so the decision refuses then, and also within a window's length of our
own last prime (the logs may not show it yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

WINDOW_LENGTH = timedelta(hours=5)

PRIME_PROMPT = "Reply with the single word: ok"
PRIME_MODEL = "haiku"
"""The cheapest model alias the CLI accepts; one turn, no tools."""


def prime_times(prime_at: Sequence[str]) -> list[tuple[int, int]]:
    """`["06:00", "11:00"]` -> [(6, 0), (11, 0)], sorted, duplicates dropped."""
    out: set[tuple[int, int]] = set()
    for item in prime_at:
        hh, _, mm = item.strip().partition(":")
        out.add((int(hh), int(mm)))
    return sorted(out)


@dataclass(frozen=True, slots=True)
class PrimeDecision:
    prime: bool
    reason: str


def prime_decision(
    now: datetime,
    *,
    window_start: datetime | None,
    limited: bool,
    last_primed_at: datetime | None,
) -> PrimeDecision:
    """Whether to send the priming prompt at `now`."""
    if limited:
        return PrimeDecision(False, "a window is open and limited")
    if window_start is not None and window_start <= now < window_start + WINDOW_LENGTH:
        ends = window_start + WINDOW_LENGTH
        return PrimeDecision(False, f"a window is open until {ends.isoformat()}")
    if last_primed_at is not None and last_primed_at <= now < last_primed_at + WINDOW_LENGTH:
        return PrimeDecision(False, "the window primed at " + last_primed_at.isoformat()
                             + " is still open")
    return PrimeDecision(True, "no window is open")
