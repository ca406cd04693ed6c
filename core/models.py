"""Value types shared by every layer: tasks, plans, runs, events, and their vocabularies."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.errors import InvalidInput


class TaskState(enum.StrEnum):
    QUEUED = "queued"
    PLANNING = "planning"
    AWAITING_APPROVAL = "awaiting_approval"
    READY = "ready"
    RUNNING = "running"
    PAUSED_LIMIT = "paused_limit"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({TaskState.DONE, TaskState.FAILED, TaskState.REJECTED, TaskState.CANCELLED})
"""Dependents of a task that ended in any of these but DONE can never run."""


class Priority(enum.IntEnum):
    """Lower value runs first; stored as the integer so SQL can order by it."""

    URGENT = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3

    @classmethod
    def parse(cls, value: str | int | Priority) -> Priority:
        if isinstance(value, Priority):
            return value
        if isinstance(value, int):
            return cls(value)
        try:
            return cls[value.strip().upper()]
        except KeyError:
            names = "|".join(p.name.lower() for p in cls)
            raise InvalidInput(f"priority must be one of {names}, not {value!r}") from None

    @property
    def label(self) -> str:
        return self.name.lower()


class Outcome(enum.StrEnum):
    """How one run ended; drives retries, pauses and the metrics."""

    SUCCESS = "success"
    CHECK_FAILED = "check_failed"
    ERROR = "error"
    MAX_TURNS = "max_turns"
    BUDGET = "budget"
    TIMEOUT = "timeout"
    LIMIT = "limit"
    CRASHED = "crashed"
    CANCELLED = "cancelled"
    PERMISSION_DENIED = "permission_denied"
    INTERRUPTED = "interrupted"
    LOGGED_OUT = "logged_out"
    """The API refused the login (401, "Not logged in"): the queue holds until it changes."""
    OVERLOADED = "overloaded"
    """The API stayed overloaded (529/5xx) through the CLI's own retries: back off, no attempt."""


class RunKind(enum.StrEnum):
    WORK = "work"
    PLAN = "plan"
    PRIME = "prime"


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """Fixed-width UTC ISO text, so SQL string order equals time order."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True, slots=True)
class Tokens:
    input: int = 0
    output: int = 0
    cache_creation: int = 0
    cache_read: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_creation + self.cache_read

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(
            self.input + other.input,
            self.output + other.output,
            self.cache_creation + other.cache_creation,
            self.cache_read + other.cache_read,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "input": self.input,
            "output": self.output,
            "cache_creation": self.cache_creation,
            "cache_read": self.cache_read,
        }


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    title: str
    prompt: str
    state: TaskState
    priority: Priority
    repo: str | None
    depends_on: tuple[int, ...]
    created_at: datetime
    updated_at: datetime
    needs_plan: bool = True
    check_cmd: str | None = None
    max_iterations: int | None = None
    max_minutes: float | None = None
    max_budget_usd: float | None = None
    tags: tuple[str, ...] = ()
    attempts: int = 0
    session_id: str | None = None
    source: str = "cli"
    state_reason: str | None = None
    resume_after: datetime | None = None
    blocked_by: tuple[int, ...] = ()
    """Dependencies that ended without DONE: this task will never run unless they are retried."""
    node: str | None = None
    """The daemon (machine) working on it or holding its paused session; None: nobody."""
    account: str | None = None
    """The account (key, core.accounts) whose Claude session this task's `session_id` is."""

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "prompt": self.prompt,
            "state": self.state.value,
            "priority": self.priority.label,
            "repo": self.repo,
            "depends_on": list(self.depends_on),
            "needs_plan": self.needs_plan,
            "check": self.check_cmd,
            "tags": list(self.tags),
            "attempts": self.attempts,
            "session_id": self.session_id,
            "source": self.source,
            "state_reason": self.state_reason,
            "blocked_by": list(self.blocked_by),
            "node": self.node,
            "account": self.account,
            "resume_after": iso(self.resume_after),
            "max_iterations": self.max_iterations,
            "max_minutes": self.max_minutes,
            "max_budget_usd": self.max_budget_usd,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class Plan:
    id: int
    task_id: int
    version: int
    body: str
    status: str  # draft | approved | superseded | rejected
    created_at: datetime
    size: str | None = None
    estimate_tokens: int | None = None
    suggested_check: str | None = None
    comment: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task_id": self.task_id,
            "version": self.version,
            "status": self.status,
            "body": self.body,
            "size": self.size,
            "estimate_tokens": self.estimate_tokens,
            "suggested_check": self.suggested_check,
            "comment": self.comment,
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class Run:
    id: int
    task_id: int
    iteration: int
    kind: RunKind
    outcome: Outcome | None
    session_id: str | None
    tokens: Tokens
    cost_usd: float
    num_turns: int
    branch: str | None
    worktree: str | None
    tmux_session: str | None
    log_path: str | None
    prompt_variant: str | None
    window_id: str | None
    scheduled_for: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None = None
    final_text: str | None = None
    summary: str | None = None
    check_output: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    account: str | None = None
    """The account (key) it ran on; None: from before accounts, or not a Claude run."""

    @property
    def latency_s(self) -> float | None:
        """Reset-to-start latency: how long a scheduled run waited past its planned time."""
        if self.scheduled_for is None or self.started_at is None:
            return None
        return (self.started_at - self.scheduled_for).total_seconds()

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task_id": self.task_id,
            "iteration": self.iteration,
            "kind": self.kind.value,
            "outcome": self.outcome.value if self.outcome else None,
            "session_id": self.session_id,
            "tokens": self.tokens.as_dict(),
            "cost_usd": self.cost_usd,
            "num_turns": self.num_turns,
            "branch": self.branch,
            "worktree": self.worktree,
            "tmux_session": self.tmux_session,
            "log_path": self.log_path,
            "prompt_variant": self.prompt_variant,
            "window_id": self.window_id,
            "exit_code": self.exit_code,
            "final_text": self.final_text,
            "summary": self.summary,
            "scheduled_for": iso(self.scheduled_for),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "latency_s": self.latency_s,
            "duration_s": self.duration_s,
            "account": self.account,
        }


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    at: datetime
    kind: str
    task_id: int | None
    run_id: int | None
    from_state: str | None
    to_state: str | None
    reason: str | None
    data: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": iso(self.at),
            "kind": self.kind,
            "task_id": self.task_id,
            "run_id": self.run_id,
            "from": self.from_state,
            "to": self.to_state,
            "reason": self.reason,
            "data": self.data,
        }


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
