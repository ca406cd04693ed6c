"""The real CLI's stream-json, captured from Claude Code 2.1.332 against tests/fakes/messages_api.py
(`samples/cli-2.1.332/`, paths replaced): every variant is parsed and classed as nightshift must.

These run without the CLI installed; tests/realcli drives the CLI itself. Captured with
`TZ=Europe/Berlin`; resets at 1796140800 (2026-12-01 16:00 UTC) and days after it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from core.abc import ProcessExit
from core.agent.stream import StreamState
from core.execution.outcome import Verdict, agent_verdict, work_verdict
from core.models import Outcome

SAMPLES = Path(__file__).parent / "samples" / "cli-2.1.332"
RESET = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 1, 14, 51, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def read(name: str) -> StreamState:
    state = StreamState()
    for line in (SAMPLES / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
        assert state.feed(line) is not None
    assert state.bad_lines == 0 and state.result is not None
    return state


def judge(name: str, code: int) -> Verdict | None:
    return agent_verdict(read(name), ProcessExit(code), stopped=None, stderr="", now=NOW, local_tz=BERLIN)


def test_every_captured_variant_is_here() -> None:
    assert {p.stem for p in SAMPLES.glob("*.jsonl")} == {
        "success-tools", "denied-bash", "limit-five-hour", "limit-weekly", "limit-opus",
        "near-limit-warning", "allowed-utilization", "logged-out-oauth", "not-logged-in",
        "unknown-model", "overloaded-final", "overloaded-retried", "server-limited-429",
        "api-key-429", "plan-mode"}


def test_a_finished_run_is_judged_by_its_work() -> None:
    state = read("success-tools")
    assert judge("success-tools", 0) is None
    assert state.cli_version == "2.1.332" and state.model == "claude-sonnet-5-5"
    assert state.permission_mode == "acceptEdits"
    assert state.turns == 3 and state.tokens.input == 360  # the result's totals, three replies
    assert state.result is not None
    assert work_verdict(state.result, None, None).outcome is Outcome.SUCCESS


def test_refused_bash_calls_are_named_with_their_commands() -> None:
    state = read("denied-bash")
    assert state.result is not None and not state.result.is_error  # "success", exit 0
    assert [d.text for d in state.result.denials] == [
        "Bash: git add -A && git commit -m work", "Bash: pytest -q"]
    found = work_verdict(state.result, None, None)
    assert found.outcome is Outcome.PERMISSION_DENIED
    assert "`git add -A && git commit -m work`, `pytest -q`" in found.reason


@pytest.mark.parametrize(("name", "kind", "resets_at"), [
    ("limit-five-hour", "session", RESET),
    ("limit-weekly", "weekly", RESET + timedelta(days=3)),
    ("limit-opus", "opus", RESET + timedelta(days=2)),
])
def test_subscription_limits_are_exact_from_the_rate_limit_event(name: str, kind: str,
                                                                  resets_at: datetime) -> None:
    found = judge(name, 1)
    assert found is not None and found.outcome is Outcome.LIMIT and found.limit is not None
    assert (found.limit.kind, found.limit.resets_at, found.limit.estimated) == (kind, resets_at, False)
    state = read(name)
    assert state.result is not None and state.result.api_error == "usage_limit_reached"
    assert state.api_error == "rate_limit" and state.limit_texts[0].startswith("You've hit your limit")


def test_the_limit_text_alone_gives_the_same_reset_to_the_minute() -> None:
    """The rate-limit event is exact; the text ("resets 5pm (Europe/Berlin)") agrees with it."""
    from core.usage.limits import parse_limit_message

    text = read("limit-five-hour").limit_texts[0]
    hit = parse_limit_message(text, NOW, BERLIN)
    assert hit is not None and hit.resets_at == RESET


@pytest.mark.parametrize(("name", "utilization", "warning"), [
    ("near-limit-warning", 0.9, True),
    ("allowed-utilization", 0.42, False),  # utilization only inside `unifiedWindows`
])
def test_rate_limit_events_on_normal_replies(name: str, utilization: float, warning: bool) -> None:
    state = read(name)
    info = state.rate_limit
    assert info is not None and not info.rejected
    assert (info.window, info.utilization, info.warning, info.resets_at) == ("five_hour", utilization,
                                                                            warning, RESET)
    assert judge(name, 0) is None


@pytest.mark.parametrize("name", ["logged-out-oauth", "not-logged-in"])
def test_a_refused_or_missing_login_is_logged_out(name: str) -> None:
    found = judge(name, 1)
    assert found is not None and found.outcome is Outcome.LOGGED_OUT
    assert "/login" in found.reason


def test_an_unknown_model_is_an_error_not_worth_retrying() -> None:
    found = judge("unknown-model", 1)
    assert found is not None and found.outcome is Outcome.ERROR and not found.retryable
    assert "'claude-sonnet-5-5' does not exist" in found.reason


@pytest.mark.parametrize("name", ["overloaded-final", "server-limited-429", "api-key-429"])
def test_an_unavailable_api_backs_off_and_is_never_a_five_hour_limit(name: str) -> None:
    """A 429 without the subscription's headers is the server throttling (or an API key's
    per-minute limit): reading it as a usage limit would pause the queue for five hours."""
    found = judge(name, 1)
    assert found is not None and found.outcome is Outcome.OVERLOADED
    assert read(name).limit_hit(NOW, BERLIN) is None


def test_the_clis_own_retries_are_counted_and_described() -> None:
    state = read("overloaded-retried")
    assert state.retries == 2 and state.last_retry is not None
    retry = state.last_retry
    assert (retry.attempt, retry.status, retry.error) == (2, 529, "overloaded")
    assert "attempt 2 of 10" in state.last_retry.text
    assert judge("overloaded-retried", 0) is None


def test_plan_mode_answers_with_the_plan_as_text() -> None:
    state = read("plan-mode")
    assert state.permission_mode == "plan"
    assert state.final_text.startswith("## Plan") and "Size: small" in state.final_text
    assert judge("plan-mode", 0) is None


@pytest.mark.parametrize(("name", "limited"), [
    ("limit-five-hour", True), ("server-limited-429", False), ("api-key-429", False)])
def test_the_learning_loop_counts_only_usage_limits_as_limits(name: str, limited: bool) -> None:
    from core.improve.analysis import scan_log_lines

    lines = (SAMPLES / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    assert scan_log_lines(lines).limited is limited


def test_a_token_in_a_refused_command_never_reaches_the_owner() -> None:
    from core.agent.stream import Denial

    token = "sk-ant-api03-" + "x" * 40
    denial = Denial.parse({"tool_name": "Bash", "tool_input": {"command": f"curl -H 'x-api-key: {token}' x"}})
    assert token not in denial.detail and denial.detail.startswith("curl -H")
