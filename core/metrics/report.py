"""The numbers `nightshift stats`, `/stats`, the charts and the daily notes show.

Every ratio is None when its denominator is zero: "no data" must not read as 0 %.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, tzinfo
from typing import Any

from core.models import Tokens, iso


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Reset-to-start latency: how long scheduled runs started after their planned time."""

    count: int = 0
    mean_s: float | None = None
    median_s: float | None = None
    max_s: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {"count": self.count, "mean_s": self.mean_s, "median_s": self.median_s,
                "max_s": self.max_s}


@dataclass(frozen=True)
class GroupMetrics:
    """The metrics of one slice of history: all of it, a day, a week, a tag or a repo."""

    key: str
    tasks_done: int = 0
    tasks_failed: int = 0
    tasks_cancelled: int = 0
    tasks_rejected: int = 0
    runs: int = 0
    outcomes: Mapping[str, int] = field(default_factory=dict)
    tokens: Tokens = field(default_factory=Tokens)
    cost_usd: float = 0.0
    windows: int = 0
    completion_rate: float | None = None
    tokens_per_completed_task: float | None = None
    completed_per_window: float | None = None
    retry_rate: float | None = None
    tasks_attempted: int = 0
    plans_approved: int = 0
    revisions_per_approved_plan: float | None = None
    plans_never_approved: int = 0
    utilization: float | None = None
    latency: LatencyStats = field(default_factory=LatencyStats)

    @property
    def tasks_finished(self) -> int:
        return self.tasks_done + self.tasks_failed

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "tasks_done": self.tasks_done,
            "tasks_failed": self.tasks_failed,
            "tasks_cancelled": self.tasks_cancelled,
            "tasks_rejected": self.tasks_rejected,
            "runs": self.runs,
            "outcomes": dict(sorted(self.outcomes.items())),
            "tokens": {**self.tokens.as_dict(), "total": self.tokens.total},
            "cost_usd": self.cost_usd,
            "windows": self.windows,
            "completion_rate": self.completion_rate,
            "tokens_per_completed_task": self.tokens_per_completed_task,
            "completed_per_window": self.completed_per_window,
            "retry_rate": self.retry_rate,
            "tasks_attempted": self.tasks_attempted,
            "plans_approved": self.plans_approved,
            "revisions_per_approved_plan": self.revisions_per_approved_plan,
            "plans_never_approved": self.plans_never_approved,
            "utilization": self.utilization,
            "latency": self.latency.as_json(),
        }


@dataclass(frozen=True)
class WindowMetrics:
    """One usage window: what nightshift spent in it against what the window can hold."""

    key: str
    start: datetime
    runs: int
    tokens: Tokens
    cost_usd: float
    tasks_completed: int
    capacity_tokens: int | None
    utilization: float | None
    open: bool
    """The window was still running at `now`: its numbers can still grow."""

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "start": iso(self.start),
            "runs": self.runs,
            "tokens": {**self.tokens.as_dict(), "total": self.tokens.total},
            "cost_usd": self.cost_usd,
            "tasks_completed": self.tasks_completed,
            "capacity_tokens": self.capacity_tokens,
            "utilization": self.utilization,
            "open": self.open,
        }


@dataclass(frozen=True)
class MetricsReport:
    generated_at: datetime
    since: datetime | None
    until: datetime | None
    overall: GroupMetrics
    by_day: tuple[GroupMetrics, ...] = ()
    by_week: tuple[GroupMetrics, ...] = ()
    by_tag: tuple[GroupMetrics, ...] = ()
    by_repo: tuple[GroupMetrics, ...] = ()
    by_account: tuple[GroupMetrics, ...] = ()
    """By the account holding each task's session (NIGHTSHIFT_ACCOUNTS); `overall` is the total."""
    windows: tuple[WindowMetrics, ...] = ()
    capacity_tokens: int | None = None
    """The single capacity estimate given, if one was (per-window estimates show per window)."""
    tz: tzinfo = UTC
    """The zone days and weeks were cut in."""

    def day(self, key: str) -> GroupMetrics | None:
        return next((g for g in self.by_day if g.key == key), None)

    def as_json(self) -> dict[str, Any]:
        return {
            "generated_at": iso(self.generated_at),
            "since": iso(self.since),
            "until": iso(self.until),
            "timezone": str(self.tz),
            "capacity_tokens": self.capacity_tokens,
            "overall": self.overall.as_json(),
            "by_day": [g.as_json() for g in self.by_day],
            "by_week": [g.as_json() for g in self.by_week],
            "by_tag": [g.as_json() for g in self.by_tag],
            "by_repo": [g.as_json() for g in self.by_repo],
            "by_account": [g.as_json() for g in self.by_account],
            "windows": [w.as_json() for w in self.windows],
        }

    def as_text(self, *, days: int = 7, top: int = 5) -> str:
        """A short plain-text summary that fits a phone screen (the bot's /stats)."""
        o = self.overall
        span = "all time"
        if self.since is not None:
            local = self.since.astimezone(self.tz)
            span = "since " + local.strftime("%Y-%m-%d" if local.time() == time(0) else "%Y-%m-%d %H:%M")
        lines = [
            f"nightshift stats, {span}",
            f"tasks: {o.tasks_done} done, {o.tasks_failed} failed, {o.tasks_cancelled} cancelled,"
            f" {o.tasks_rejected} rejected",
            f"completion rate: {percent(o.completion_rate)} (done / finished)",
            f"runs: {o.runs}, tokens: {human(o.tokens.total)}, cost: ${o.cost_usd:.2f},"
            f" windows: {o.windows}",
            f"tokens per completed task: {human(o.tokens_per_completed_task)}",
            f"completed tasks per window: {number(o.completed_per_window)}",
            f"retries per task: {number(o.retry_rate)}",
            f"plan revisions per approved plan: {number(o.revisions_per_approved_plan)}"
            f" ({o.plans_approved} approved, {o.plans_never_approved} never approved)",
        ]
        if o.utilization is None:
            lines.append("window utilization: unknown (no capacity estimate)")
        else:
            cap = f", capacity {human(self.capacity_tokens)}" if self.capacity_tokens else ""
            lines.append(f"window utilization: {percent(o.utilization)} on average{cap}")
        if o.latency.count:
            lines.append(
                f"reset-to-start latency: mean {seconds(o.latency.mean_s)},"
                f" max {seconds(o.latency.max_s)} ({o.latency.count} runs)"
            )
        else:
            lines.append("reset-to-start latency: no scheduled runs yet")
        recent = self.by_day[-days:]
        if recent:
            lines.append("by day:")
            for g in recent:
                lines.append(
                    f"  {g.key}  {g.tasks_done} done, {g.tasks_failed} failed,"
                    f" {g.runs} runs, {human(g.tokens.total)} tokens"
                )
        for title, groups in (("by account", self.by_account), ("by repo", self.by_repo),
                              ("by tag", self.by_tag)):
            if len(groups) > 1:
                lines.append(f"{title}:")
                busiest = sorted(groups, key=lambda g: (-g.runs, g.key))[:top]
                for g in busiest:
                    name = g.key.rstrip("/").rsplit("/", 1)[-1] if title == "by repo" else g.key
                    lines.append(
                        f"  {name}  {g.tasks_done} done, {g.tasks_failed} failed,"
                        f" completion {percent(g.completion_rate)}, {human(g.tokens.total)} tokens"
                    )
        return "\n".join(lines)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}s" if abs(value) < 600 else f"{value / 60:.0f}min"


def human(value: float | None) -> str:
    """Token counts the way people say them: 950, 12k, 1.2M."""
    if value is None:
        return "-"
    size = abs(value)
    if size >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if size >= 10_000:
        return f"{value / 1000:.0f}k"
    if size >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}"
