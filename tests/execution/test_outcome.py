"""Outcome classes as pure functions of what a run left behind."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.abc import ProcessExit
from core.agent.prompts import COMPLETION_MARKER, has_completion_marker
from core.agent.stream import ResultInfo, StreamState
from core.execution.check import CheckResult
from core.execution.outcome import agent_verdict, work_verdict
from core.models import Outcome

SAMPLES = Path(__file__).parents[1] / "agent" / "samples"
NOW = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
INIT = {"type": "system", "subtype": "init", "session_id": "s"}


def stream(*events: dict[str, object]) -> StreamState:
    state = StreamState()
    for event in events:
        state.feed(json.dumps(event))
    return state


def result(**fields: object) -> dict[str, object]:
    return {"type": "result", "subtype": "success", "is_error": False, "num_turns": 2,
            "result": "ok", "session_id": "s", "total_cost_usd": 0.1, **fields}


def verdict(state: StreamState, code: int | None = 0, stopped: str | None = None,
            stderr: str = "") -> Outcome | None:
    found = agent_verdict(state, ProcessExit(code), stopped=stopped, stderr=stderr, now=NOW,
                          local_tz=UTC)
    return found.outcome if found else None


def passed(ok: bool, timed_out: bool = False) -> CheckResult:
    return CheckResult(ok, 0 if ok else 1, "", timed_out, 0.1)


def test_what_we_stopped_wins_over_anything_in_the_stream() -> None:
    limited = stream(*[json.loads(ln) for ln in (SAMPLES / "stream-limited.jsonl").read_text().splitlines()])
    assert verdict(limited, None, stopped="cancel") is Outcome.CANCELLED
    assert verdict(limited, None, stopped="timeout") is Outcome.TIMEOUT
    assert verdict(limited, 1) is Outcome.LIMIT


def test_ends_without_a_result() -> None:
    assert verdict(stream(INIT), None) is Outcome.INTERRUPTED
    assert verdict(stream(INIT), 1, stderr="boom\nTypeError: x\n    at y") is Outcome.CRASHED
    found = agent_verdict(stream(), ProcessExit(1), stopped=None,
                          stderr="No conversation found with session ID: abc", now=NOW, local_tz=UTC)
    assert found is not None and found.outcome is Outcome.ERROR
    assert "No conversation found" in found.reason


@pytest.mark.parametrize(("fields", "outcome"), [
    ({"subtype": "error_max_turns", "is_error": True}, Outcome.MAX_TURNS),
    ({"terminal_reason": "max_turns"}, Outcome.MAX_TURNS),
    ({"subtype": "error_max_budget_usd", "is_error": True}, Outcome.BUDGET),
    ({"subtype": "error_during_execution", "is_error": True}, Outcome.ERROR),
    ({"is_error": True, "result": "API Error: 500"}, Outcome.ERROR),
    ({"is_error": True, "api_error_status": 429, "result": "rate limited"}, Outcome.LIMIT),
    ({}, None),
])
def test_result_classes(fields: dict[str, object], outcome: Outcome | None) -> None:
    assert verdict(stream(INIT, result(**fields)), 1 if fields else 0) is outcome


def test_the_work_is_judged_by_the_check_when_there_is_one() -> None:
    done = ResultInfo.parse(result(result=f"all good\n{COMPLETION_MARKER}"))
    assert work_verdict(done, "make test", passed(True)).outcome is Outcome.SUCCESS
    assert work_verdict(done, "make test", passed(False)).outcome is Outcome.CHECK_FAILED
    timed = work_verdict(done, "make test", passed(False, timed_out=True))
    assert timed.outcome is Outcome.CHECK_FAILED and "timed out" in timed.reason
    denied = ResultInfo.parse(result(permission_denials=[{"tool_name": "Bash"}]))
    assert work_verdict(denied, "make test", passed(False)).outcome is Outcome.PERMISSION_DENIED
    # A refusal is never a plain success (issue 15), even when the check passed: the owner
    # hears what was refused and can allow it.
    passed_anyway = work_verdict(denied, "make test", passed(True))
    assert passed_anyway.outcome is Outcome.PERMISSION_DENIED
    assert "the check passed" in passed_anyway.reason


def test_without_a_check_only_the_marker_line_counts() -> None:
    ok = ResultInfo.parse(result(result=f"Done.\n\n**{COMPLETION_MARKER}**"))
    assert work_verdict(ok, None, None).outcome is Outcome.SUCCESS
    claimed = ResultInfo.parse(result(result=f"I will write {COMPLETION_MARKER} when done."))
    assert work_verdict(claimed, None, None).outcome is Outcome.CHECK_FAILED
    assert work_verdict(claimed, None, None).continuable


def test_marker_detection() -> None:
    assert has_completion_marker(f"x\n  {COMPLETION_MARKER}  \n")
    assert has_completion_marker(f"`{COMPLETION_MARKER}`")
    assert not has_completion_marker(f"say {COMPLETION_MARKER} please")
    assert not has_completion_marker(None) and not has_completion_marker("")
