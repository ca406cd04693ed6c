"""Lessons: failure patterns that recur become advice that later prompts include.

A pattern recurs when the same pattern shows up in at least `threshold` different runs
of the same tag or repo within `window` (3 in 7 days by default). It becomes a *proposed*
lesson with those runs as evidence; only lessons the owner *accepted* reach prompts, and
only the prompts of tasks with the same tag or repo. Limits never become lessons: they
are a scheduling matter (see `adjustments`), not something a prompt can fix.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from core.improve.analysis import Finding, Pattern
from core.models import Task, iso

RECUR_WINDOW = timedelta(days=7)
RECUR_THRESHOLD = 3
LESSON_PATTERNS = frozenset(Pattern) - {Pattern.LIMIT}

ScopeKind = Literal["tag", "repo"]


class LessonStatus(enum.StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DISMISSED = "dismissed"


@dataclass(frozen=True, slots=True, order=True)
class Scope:
    kind: ScopeKind
    value: str

    def matches(self, tags: Iterable[str], repo: str | None) -> bool:
        if self.kind == "tag":
            return self.value in {t.strip().lower() for t in tags}
        return repo is not None and repo == self.value

    def __str__(self) -> str:
        return f"{self.kind} {self.value}"

    @classmethod
    def parse(cls, text: str) -> Scope:
        kind, _, value = text.strip().partition(" ")
        if kind not in ("tag", "repo") or not value.strip():
            raise ValueError(f"scope must be 'tag NAME' or 'repo PATH', not {text!r}")
        return cls(kind, value.strip())  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Observation:
    """One analysed, failed run, as the recurrence detector needs it."""

    run_id: int
    at: datetime
    findings: tuple[Finding, ...]
    tags: tuple[str, ...] = ()
    repo: str | None = None
    check_cmd: str | None = None

    def scopes(self) -> list[Scope]:
        out: list[Scope] = [Scope("tag", t.strip().lower()) for t in self.tags if t.strip()]
        if self.repo:
            out.append(Scope("repo", self.repo))
        return list(dict.fromkeys(out))


@dataclass(frozen=True, slots=True)
class Recurrence:
    pattern: Pattern
    scope: Scope
    run_ids: tuple[int, ...]
    details: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    check_cmd: str | None = None


@dataclass(frozen=True, slots=True)
class Lesson:
    id: int
    pattern: Pattern
    scope: Scope
    status: LessonStatus
    text: str
    evidence: tuple[int, ...]
    first_seen: datetime
    last_seen: datetime
    created_at: datetime
    updated_at: datetime
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pattern": self.pattern.value,
            "scope": {"kind": self.scope.kind, "value": self.scope.value},
            "status": self.status.value,
            "text": self.text,
            "evidence": [f"run-{r}" for r in self.evidence],
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass
class _Bucket:
    runs: dict[int, datetime] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)
    check_cmd: str | None = None


def recurring(
    observations: Iterable[Observation],
    now: datetime,
    *,
    window: timedelta = RECUR_WINDOW,
    threshold: int = RECUR_THRESHOLD,
) -> list[Recurrence]:
    """Patterns seen in >= `threshold` distinct runs of one tag or repo in (now - window, now]."""
    since = now - window
    buckets: dict[tuple[Pattern, Scope], _Bucket] = {}
    for obs in observations:
        if not since < obs.at <= now:
            continue
        for finding in obs.findings:
            if finding.pattern not in LESSON_PATTERNS:
                continue
            for scope in obs.scopes():
                bucket = buckets.setdefault((finding.pattern, scope), _Bucket())
                bucket.runs[obs.run_id] = obs.at
                bucket.details.extend(finding.details)
                bucket.check_cmd = bucket.check_cmd or obs.check_cmd
    out = []
    for (pattern, scope), bucket in sorted(buckets.items(), key=lambda kv: (kv[0][0].value, kv[0][1])):
        if len(bucket.runs) < threshold:
            continue
        times = sorted(bucket.runs.values())
        out.append(Recurrence(
            pattern=pattern,
            scope=scope,
            run_ids=tuple(sorted(bucket.runs)),
            details=tuple(dict.fromkeys(bucket.details))[:5],
            first_seen=times[0],
            last_seen=times[-1],
            check_cmd=bucket.check_cmd,
        ))
    return out


def _listing(details: Sequence[str]) -> str:
    return ", ".join(f"`{d}`" for d in details)


def lesson_text(pattern: Pattern, details: Sequence[str] = (), check_cmd: str | None = None) -> str:
    """The advice a recurring pattern turns into: one or two sentences a prompt can carry."""
    seen = f" ({_listing(details)})" if details else ""
    if pattern is Pattern.FAILING_TESTS:
        return (f"Earlier runs here ended with failing tests{seen}. Run the tests yourself before "
                "you finish and do not stop while any of them fails.")
    if pattern is Pattern.CHECK_FAILED:
        check = f" (`{check_cmd}`)" if check_cmd else ""
        return (f"Earlier runs here finished while the check{check} failed. Run it yourself "
                "before you finish and fix everything it reports.")
    if pattern is Pattern.PERMISSION_DENIED:
        tools = _listing(details) if details else "some tools"
        return (f"These tools were denied in earlier runs: {tools}. Do not use them; find "
                "another way, or say in your final message which permission the task needs.")
    if pattern is Pattern.MISSING_TOOL:
        tools = _listing(details) if details else "some commands"
        return (f"These commands are not installed where tasks run: {tools}. Do not rely on "
                "them; use what the project already has.")
    if pattern is Pattern.MERGE_CONFLICT:
        return (f"Earlier runs hit merge conflicts{seen}. Start from the latest base branch, keep "
                "the change focused, and do not reformat code you do not need to touch.")
    if pattern is Pattern.TIMEOUT:
        return ("Earlier runs ran out of time. Work in small complete steps, commit as you go, "
                "and stop at the first working version instead of polishing.")
    if pattern is Pattern.MAX_TURNS:
        return ("Earlier runs ran out of turns. Plan first, then make few, larger edits, and do "
                "not explore code unrelated to the task.")
    if pattern is Pattern.BUDGET:
        return ("Earlier runs ran out of budget. Read only the files you need and run the "
                "narrowest tests that cover your change before the full suite.")
    raise ValueError(f"no lesson for pattern {pattern.value}")


def lessons_for(task: Task, lessons: Iterable[Lesson]) -> list[str]:
    """Accepted lessons whose tag or repo matches the task, oldest first, without repeats."""
    texts = [
        lesson.text
        for lesson in sorted(lessons, key=lambda item: item.id)
        if lesson.status is LessonStatus.ACCEPTED and lesson.scope.matches(task.tags, task.repo)
    ]
    return list(dict.fromkeys(texts))
