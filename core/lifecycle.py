"""The task state machine: the one place that says which state may follow which.

Every state change in the store goes through `check_transition`, so an illegal move is
refused before anything is written, and the event log matches the transitions one to one.
"""

from __future__ import annotations

from core.errors import InvalidTransition
from core.models import TaskState as S

TRANSITIONS: dict[S, frozenset[S]] = {
    S.QUEUED: frozenset({S.PLANNING, S.READY, S.CANCELLED}),
    S.PLANNING: frozenset({S.AWAITING_APPROVAL, S.QUEUED, S.PAUSED_LIMIT, S.FAILED, S.CANCELLED}),
    S.AWAITING_APPROVAL: frozenset({S.READY, S.PLANNING, S.REJECTED, S.CANCELLED}),
    S.READY: frozenset({S.RUNNING, S.PLANNING, S.CANCELLED}),
    # running -> ready: an interrupted or continuing run goes back to the queue to resume.
    S.RUNNING: frozenset({S.DONE, S.FAILED, S.PAUSED_LIMIT, S.READY, S.CANCELLED}),
    # A paused task goes back to whatever it was doing: planning or running.
    S.PAUSED_LIMIT: frozenset({S.READY, S.QUEUED, S.CANCELLED}),
    # done -> ready: the owner's follow-up continues the same session as the next iteration.
    S.DONE: frozenset({S.READY}),
    S.FAILED: frozenset({S.QUEUED, S.READY}),
    S.REJECTED: frozenset(),
    S.CANCELLED: frozenset({S.QUEUED, S.READY}),
}

ACTIONS: dict[S, str] = {
    S.CANCELLED: "cancel it",
    S.READY: "make it ready",
    S.RUNNING: "start it",
    S.REJECTED: "reject it",
    S.PLANNING: "plan it",
}


def can_transition(current: S, target: S) -> bool:
    return target in TRANSITIONS[current]


def check_transition(task_id: int, current: S, target: S, action: str | None = None) -> None:
    """Raise `InvalidTransition` unless `current -> target` is a legal move."""
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(task_id, current.value, target.value, action or ACTIONS.get(target))
