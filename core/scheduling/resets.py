"""The queue pause: one limit stops every new start until the window resets, plus a margin.

The pause is a value (`LimitPause`) the daemon keeps in the store, so a restart knows the
queue is still paused and when to go on. Right after a reset the CLI can still answer
"limited" for a while; then the pause is extended with exponential backoff instead of
spending the task's retries.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from core.models import iso, parse_iso

BACKOFF_BASE_S = 60.0
BACKOFF_CAP_S = 30 * 60.0


def reset_fire_time(resets_at: datetime, margin_s: float) -> datetime:
    """When to start after a reset: the CLI may still refuse at the very second."""
    return resets_at + timedelta(seconds=margin_s)


def backoff_delay_s(
    failures: int, base_s: float = BACKOFF_BASE_S, cap_s: float = BACKOFF_CAP_S
) -> float:
    """1, 2, 4 … minutes after the 1st, 2nd, 3rd … "still limited", never above the cap."""
    if failures < 1:
        return 0.0
    # Cap the exponent first: 2 ** 10_000 as a float overflows.
    return min(cap_s, base_s * 2.0 ** min(failures - 1, 64))


@dataclass(frozen=True, slots=True)
class LimitPause:
    resets_at: datetime
    """When the window resets, as the CLI or the monitor said."""
    until: datetime
    """No new run starts before this: the reset plus the margin, or the backoff."""
    kind: str = "unknown"
    source: str = "run"
    task_id: int | None = None
    """The task the limit interrupted: it resumes first."""
    still_limited: int = 0
    """"Still limited" answers since the reset; drives the backoff, never the attempts."""
    lifted: bool = False
    """The reset job ran: work may start, but the pause is kept until a run gets through."""
    estimated: bool = False
    """No source named the reset time (a guess of now + 5 h): an owner's cron time may end it."""

    def active(self, now: datetime) -> bool:
        return not self.lifted and now < self.until

    def lift(self) -> LimitPause:
        return replace(self, lifted=True)

    def as_json(self) -> dict[str, Any]:
        return {
            "resets_at": iso(self.resets_at),
            "until": iso(self.until),
            "kind": self.kind,
            "source": self.source,
            "task_id": self.task_id,
            "still_limited": self.still_limited,
            "lifted": self.lifted,
            "estimated": self.estimated,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LimitPause:
        resets_at = parse_iso(data["resets_at"])
        until = parse_iso(data["until"])
        if resets_at is None or until is None:
            raise ValueError("a limit pause needs resets_at and until")
        return cls(
            resets_at=resets_at,
            until=until,
            kind=str(data.get("kind", "unknown")),
            source=str(data.get("source", "run")),
            task_id=data.get("task_id"),
            still_limited=int(data.get("still_limited", 0)),
            lifted=bool(data.get("lifted", False)),
            estimated=bool(data.get("estimated", False)),
        )


def pause_for_limit(
    previous: LimitPause | None,
    resets_at: datetime | None,
    now: datetime,
    margin_s: float,
    *,
    kind: str = "unknown",
    source: str = "run",
    task_id: int | None = None,
    estimated: bool = False,
) -> LimitPause:
    """The pause after a limit was seen at `now`.

    A reset in the future pauses until it plus the margin (a second limit on the same
    window keeps the later of the two). No reset time, or one already past, means the CLI
    still says limited after the reset: back off 1, 2, 4 … minutes from now.
    """
    first_task = previous.task_id if previous is not None and previous.task_id else task_id
    if resets_at is not None and resets_at > now:
        until = reset_fire_time(resets_at, margin_s)
        if previous is not None and not previous.lifted and previous.until > until:
            return previous
        carried = first_task if previous is not None and not previous.lifted else task_id
        return LimitPause(resets_at, until, kind, source, carried, 0, False, estimated)
    failures = (previous.still_limited if previous is not None else 0) + 1
    until = now + timedelta(seconds=backoff_delay_s(failures))
    if previous is not None and not previous.lifted and previous.until > until:
        return previous
    return LimitPause(resets_at or now, until, kind, source, first_task, failures, False, False)
