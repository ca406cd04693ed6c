"""Failure analysis: outcome class plus the patterns found in a run's log and check output."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from core.improve.analysis import (
    Pattern,
    analyze,
    analyze_run_files,
    failing_tests,
    merge_conflicts,
    missing_tools,
    read_log_tail,
)
from core.models import Outcome
from tests.improve import logs


def patterns(
    outcome: Outcome, lines: Sequence[str] = (), check: str | None = None
) -> dict[Pattern, tuple[str, ...]]:
    found = analyze(outcome, log_lines=lines, check_output=check)
    assert found.outcome is outcome
    return {f.pattern: f.details for f in found.findings}


def test_a_successful_run_has_no_findings_whatever_it_printed() -> None:
    lines = [logs.tool_result("bash: rg: command not found", is_error=True), logs.result()]
    assert patterns(Outcome.SUCCESS, lines) == {}


def test_failing_tests_in_the_check_output_name_the_tests() -> None:
    check = ("============ short test summary info ============\n"
             "FAILED tests/test_login.py::test_session_closes - AssertionError\n"
             "FAILED tests/test_login.py::test_retry\n1 passed, 2 failed in 0.4s\n")
    assert patterns(Outcome.CHECK_FAILED, [logs.result()], check) == {
        Pattern.FAILING_TESTS: (
            "tests/test_login.py::test_session_closes", "tests/test_login.py::test_retry"
        ),
    }


@pytest.mark.parametrize(
    ("output", "ids"),
    [
        ("--- FAIL: TestLogin (0.00s)\nFAIL\tshop/auth\t0.012s\n", ("TestLogin",)),
        ("test auth::tests::login ... FAILED\ntest result: FAILED. 3 passed; 1 failed",
         ("auth::tests::login",)),
        ("  ✕ logs in (5 ms)\nTests:       1 failed, 4 passed, 5 total", ("logs in",)),
        ("FAIL: test_login (tests.test_auth.LoginTest)\nFAILED (failures=1)", ("test_login",)),
        ("1 failed, 12 passed in 3.1s", ()),
    ],
)
def test_test_runners_failures_are_recognised(output: str, ids: tuple[str, ...]) -> None:
    assert failing_tests(output) == (True, ids)


@pytest.mark.parametrize("output", ["13 passed in 2.0s", "0 failed, 3 passed", "ok  \tshop/auth\t0.01s"])
def test_passing_output_is_not_a_failure(output: str) -> None:
    assert failing_tests(output)[0] is False


def test_a_check_that_fails_without_test_output_is_a_plain_check_failure() -> None:
    assert patterns(Outcome.CHECK_FAILED, [logs.result()], "make: *** [lint] Error 1\n") == {
        Pattern.CHECK_FAILED: ()
    }


def test_permission_denials_come_from_the_result_and_denied_tool_results() -> None:
    lines = [
        logs.init(),
        logs.tool_use("npm install left-pad"),
        logs.tool_result("Claude requested permissions to use Bash, but you haven't granted it yet.",
                         is_error=True),
        logs.result(denials=[
            {"tool_name": "Bash", "tool_use_id": "toolu_1",
             "tool_input": {"command": "npm install left-pad"}},
            {"tool_name": "WebFetch", "tool_use_id": "toolu_2", "tool_input": {"url": "https://x"}},
        ]),
    ]
    found = patterns(Outcome.ERROR, lines)
    assert found == {Pattern.PERMISSION_DENIED: ("Bash", "Bash(npm)", "WebFetch")}


def test_missing_tools_are_named_from_failed_tool_results_only() -> None:
    lines = [
        logs.tool_result("bash: line 1: rg: command not found", is_error=True),
        logs.tool_result("/bin/sh: 1: pnpm: not found", is_error=True, as_blocks=True),
        # The same words in a file Claude merely read are not a missing tool.
        logs.tool_result('echo "fd: command not found"', is_error=False, tool_id="toolu_3"),
        logs.result("error_during_execution", is_error=True),
    ]
    assert patterns(Outcome.ERROR, lines) == {Pattern.MISSING_TOOL: ("rg", "pnpm")}


@pytest.mark.parametrize(
    ("output", "names"),
    [
        ("zsh: command not found: fd", ("fd",)),
        ("env: 'node': No such file or directory", ("node",)),
        ("ModuleNotFoundError: No module named 'yaml'", ("yaml",)),
        ("Error: Cannot find module 'left-pad'", ("left-pad",)),
        ("grep: pattern not found in file", ()),
    ],
)
def test_missing_tool_messages(output: str, names: tuple[str, ...]) -> None:
    assert missing_tools(output) == names


def test_merge_conflicts_name_the_files() -> None:
    lines = [logs.tool_result("Auto-merging src/app.py\nCONFLICT (content): Merge conflict in src/app.py\n"
                              "Automatic merge failed; fix conflicts and then commit the result.",
                              is_error=True)]
    assert patterns(Outcome.ERROR, lines) == {Pattern.MERGE_CONFLICT: ("src/app.py",)}
    assert merge_conflicts("error: could not apply 1a2b3c4... wip") == (True, ("1a2b3c4",))


def test_outcomes_that_are_patterns_themselves() -> None:
    assert patterns(Outcome.TIMEOUT) == {Pattern.TIMEOUT: ()}
    turns = [logs.result("error_max_turns", is_error=True)]
    assert patterns(Outcome.MAX_TURNS, turns) == {Pattern.MAX_TURNS: ()}
    assert patterns(Outcome.BUDGET) == {Pattern.BUDGET: ()}
    assert patterns(Outcome.CHECK_FAILED, [], "Command timed out after 600s") == {Pattern.TIMEOUT: ("check",)}


def test_a_limit_is_found_from_the_rejected_rate_limit_event() -> None:
    lines = [logs.init(), logs.rate_limit("allowed"), logs.rate_limit("rejected"),
             logs.result(is_error=True, api_error_status=429,
                         final="You've hit your session limit · resets 3am (Europe/Berlin)")]
    found = analyze(Outcome.LIMIT, log_lines=lines)
    assert found.patterns == {Pattern.LIMIT}
    assert found.neutral
    assert patterns(Outcome.ERROR, [logs.rate_limit("allowed_warning"), logs.result()]) == {}


def test_failing_tests_seen_last_in_the_log_count_when_there_is_no_check() -> None:
    lines = [logs.tool_result("FAILED tests/test_a.py::test_x\n1 failed, 3 passed"),
             logs.tool_result("4 passed in 1.0s", tool_id="toolu_2"),
             logs.tool_result("FAILED tests/test_b.py::test_y\n1 failed, 3 passed", tool_id="toolu_3"),
             logs.result()]
    assert patterns(Outcome.ERROR, lines) == {Pattern.FAILING_TESTS: ("tests/test_b.py::test_y",)}
    fixed = [*lines[:3], logs.tool_result("4 passed in 1.0s", tool_id="toolu_4"), logs.result()]
    assert patterns(Outcome.ERROR, fixed) == {}


def test_broken_lines_are_skipped_not_fatal() -> None:
    lines = ["not json", "{\"type\":", "[1, 2]", "",
             logs.tool_result("bash: rg: command not found", is_error=True), '{"type":"result","subtype":"su']
    assert patterns(Outcome.ERROR, lines) == {Pattern.MISSING_TOOL: ("rg",)}


def test_log_files_are_read_from_disk_and_only_their_tail(tmp_path: Path) -> None:
    log = tmp_path / "run-7.jsonl"
    log.write_text("\n".join([logs.tool_result("bash: rg: command not found", is_error=True)] * 3
                             + [logs.result()]) + "\n")
    found = analyze_run_files(Outcome.ERROR, str(log), None)
    assert {f.pattern for f in found.findings} == {Pattern.MISSING_TOOL}
    # The tail: the first (cut) line is dropped, the rest parse.
    tail = list(read_log_tail(log, max_bytes=len(logs.result()) + 10))
    assert len(tail) == 1 and '"type":"result"' in tail[0]
    assert analyze_run_files(Outcome.ERROR, str(tmp_path / "missing.jsonl"), None).findings == ()
