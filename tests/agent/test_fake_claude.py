"""The fake CLI looks like the real one: flags, stream-json shapes, exit codes, usage logs."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.agent.prompts import COMPLETION_MARKER
from core.demo.fake_files import project_dir
from core.demo.fake_stream import USAGE_PER_MESSAGE, expected_usage
from core.usage.limits import parse_limit_message
from tests.support import git, make_repo

FAKE = str(Path(sys.executable).parent / "nightshift-fake-claude")
SAMPLES = Path(__file__).with_name("samples")
STREAM = ["-p", "--output-format", "stream-json", "--verbose"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def fake(cwd: Path, *args: str, env: dict[str, str] | None = None,
         stdin: Any = subprocess.DEVNULL) -> tuple[int, list[dict[str, Any]], str, str]:
    done = subprocess.run([FAKE, *args], cwd=cwd, env={**os.environ, **(env or {})}, stdin=stdin,
                          capture_output=True, text=True, timeout=60)
    events = []
    for line in done.stdout.splitlines():
        with contextlib.suppress(ValueError):
            events.append(json.loads(line))
    return done.returncode, events, done.stdout, done.stderr


def sample_events(name: str) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in (SAMPLES / name).read_text().splitlines()]


def by_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def test_success_has_the_shapes_of_the_real_stream(repo: Path) -> None:
    code, events, _, _ = fake(repo, *STREAM, "--", "fix the login test")
    assert code == 0
    real = sample_events("stream-success.jsonl")
    assert events[0]["type"] == "system" and events[-1]["type"] == "result"
    for kind in ("system", "assistant", "user", "result"):
        want = by_type(real, kind)[0]
        got = by_type(events, kind)
        assert got, kind
        for event in got:
            assert set(want) <= set(event), (kind, set(want) - set(event))
            if kind in ("assistant", "user"):
                assert set(want["message"]) <= set(event["message"])
    result = events[-1]
    assert set(result["usage"]) == set(by_type(real, "result")[0]["usage"])
    assert result["subtype"] == "success" and result["is_error"] is False
    assert COMPLETION_MARKER in result["result"].splitlines()
    messages = {e["message"]["id"] for e in by_type(events, "assistant")}
    assert {k: result["usage"][k] for k in USAGE_PER_MESSAGE} == expected_usage(len(messages))
    assert result["num_turns"] == 3
    assert len(by_type(events, "assistant")) > len(messages)  # one line per content block
    assert "FAKE_WORK.md" in git(repo, "show", "--stat", "HEAD")


def test_usage_lines_are_written_like_the_real_cli(repo: Path, tmp_path: Path) -> None:
    session = str(uuid.uuid4())
    fake(repo, *STREAM, "--session-id", session, "--", "work")
    log = project_dir(str(repo)) / f"{session}.jsonl"
    assert log.parent.parent == tmp_path / "claude" / "projects"
    assert log.parent.name == re.sub(r"[^A-Za-z0-9-]", "-", str(repo))
    lines = [json.loads(ln) for ln in log.read_text().splitlines()]
    raw = log.read_text().splitlines()
    assert all(", " not in ln[:40] and ": " not in ln[:40] for ln in raw)  # compact, as ccusage reads
    real = json.loads((SAMPLES / "log-lines.jsonl").read_text().splitlines()[1])
    usage_lines = [ln for ln in lines if ln.get("type") == "assistant"]
    for line in usage_lines:
        assert set(real) <= set(line) | {"isApiErrorMessage", "error", "apiErrorStatus"}
        assert line["sessionId"] == session and line["cwd"] == str(repo)
        assert line["timestamp"].endswith("Z")
    keys = [(ln["message"]["id"], ln["requestId"]) for ln in usage_lines]
    assert len(set(keys)) == 4 and len(keys) == 5  # the two-block message is written twice


def test_limit_refuses_with_event_text_and_exit_1(repo: Path) -> None:
    before = time.time()
    code, events, _, _ = fake(repo, *STREAM, "--", "big job\n[fake: limit reset_in=120]")
    assert code == 1
    event = by_type(events, "rate_limit_event")[0]["rate_limit_info"]
    assert event["status"] == "rejected" and event["rateLimitType"] == "five_hour"
    assert before + 120 <= event["resetsAt"] <= time.time() + 121
    synthetic = by_type(events, "assistant")[0]
    assert synthetic["message"]["model"] == "<synthetic>" and synthetic["error"] == "rate_limit"
    result = events[-1]
    assert result["is_error"] is True and result["api_error_status"] == 429
    hit = parse_limit_message(result["result"], datetime.now(UTC), UTC)
    assert hit is not None
    assert event["resetsAt"] <= hit.resets_at.timestamp() < event["resetsAt"] + 60
    # The account is limited, not the prompt: another session is refused until the reset.
    code, events, _, _ = fake(repo, *STREAM, "--", "unrelated")
    assert code == 1 and by_type(events, "rate_limit_event")[0]["rate_limit_info"]["status"] == "rejected"


def test_limit_passes_once_reset_and_the_session_resumes(repo: Path) -> None:
    session = str(uuid.uuid4())
    code, _, _, _ = fake(repo, *STREAM, "--session-id", session, "--", "job [fake: limit reset_in=0]")
    assert code == 1
    code, events, _, _ = fake(repo, *STREAM, "--resume", session, "--", "continue")
    assert code == 0 and events[-1]["session_id"] == session
    assert COMPLETION_MARKER in events[-1]["result"]


def test_needs_iterations_counts_per_session_across_resume(repo: Path) -> None:
    session = str(uuid.uuid4())
    code, events, _, _ = fake(repo, *STREAM, "--session-id", session, "--",
                              "task [fake: needs_iterations=3]")
    texts = [events[-1]["result"]]
    assert (repo / "fake-status.txt").read_text() == "incomplete 1/3\n"
    for _ in range(2):
        code, events, _, _ = fake(repo, *STREAM, "--resume", session, "--", "again")
        texts.append(events[-1]["result"])
    assert code == 0
    assert [COMPLETION_MARKER in t for t in texts] == [False, False, True]
    assert (repo / "fake-status.txt").read_text() == "done\n"
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "4"
    # Another session starts its own count.
    fake(repo, *STREAM, "--", "other [fake: needs_iterations=2]")
    assert (repo / "fake-status.txt").read_text() == "incomplete 1/2\n"


def test_hang_never_finishes(repo: Path) -> None:
    proc = subprocess.Popen([FAKE, *STREAM, "--", "x [fake: hang]"], cwd=repo,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["type"] == "system"
        assert json.loads(proc.stdout.readline())["type"] == "assistant"
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_crash_dies_mid_line_without_a_result(repo: Path) -> None:
    code, events, stdout, stderr = fake(repo, *STREAM, "--", "x [fake: crash]")
    assert code == 1
    assert not stdout.endswith("\n") and not by_type(events, "result")
    assert "TypeError" in stderr


@pytest.mark.parametrize(("args", "prompt", "subtype", "reason"), [
    ((), "x [fake: fail]", "error_during_execution", "api_error"),
    ((), "x [fake: max_turns]", "error_max_turns", "max_turns"),
    (("--max-turns", "1"), "x", "error_max_turns", "max_turns"),
    (("--max-budget-usd", "0.01"), "x", "error_max_budget_usd", "budget_exhausted"),
])
def test_error_results(repo: Path, args: tuple[str, ...], prompt: str, subtype: str, reason: str) -> None:
    code, events, _, _ = fake(repo, *STREAM, *args, "--", prompt)
    assert code == 1
    assert events[-1]["subtype"] == subtype and events[-1]["is_error"] is True
    assert events[-1]["terminal_reason"] == reason


def test_disallowed_bash_is_a_permission_denial(repo: Path) -> None:
    code, events, _, _ = fake(repo, *STREAM, "--disallowedTools", "Bash", "--", "x")
    assert code == 0
    assert "Bash" not in events[0]["tools"]
    assert events[-1]["permission_denials"][0]["tool_name"] == "Bash"
    assert COMPLETION_MARKER not in events[-1]["result"]


def test_plan_mode_changes_nothing_and_answers_with_a_parseable_plan(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")
    code, events, _, _ = fake(repo, *STREAM, "--permission-mode", "plan", "--", "add a cache")
    assert code == 0
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == ""
    text = events[-1]["result"]
    block = re.search(r"```nightshift-plan\n(.*?)\n```", text, re.S)
    assert block is not None
    plan = json.loads(block.group(1))
    assert set(plan) == {"steps", "files", "risks", "check", "size"} and plan["steps"]


def test_record_has_argv_and_prompt_byte_for_byte(repo: Path, tmp_path: Path) -> None:
    record = tmp_path / "record.jsonl"
    prompt = "it's \"q\" $(touch pwned) `id` $HOME\nline 2 ünï 🎉 \\ ; | &"
    fake(repo, *STREAM, "--", prompt, env={"FAKE_CLAUDE_RECORD": str(record), "CLAUDECODE": "1"})
    entry = json.loads(record.read_text())
    assert entry["prompt"] == prompt
    assert entry["argv"] == [*STREAM, "--", prompt]
    assert entry["stdin_devnull"] is True and entry["claudecode"] == "1"
    assert not (repo / "pwned").exists()
    assert record.stat().st_mode & 0o777 == 0o600


def test_prompt_from_stdin(repo: Path, tmp_path: Path) -> None:
    source = tmp_path / "prompt.txt"
    source.write_text("from stdin [fake: needs_iterations=1]")
    with source.open("rb") as fh:
        code, events, _, _ = fake(repo, *STREAM, stdin=fh)
    assert code == 0 and events[-1]["subtype"] == "success"


@pytest.mark.parametrize(("args", "message"), [
    (["-p", "--output-format", "stream-json", "x"], "requires --verbose"),
    (STREAM, "Input must be provided"),
    ([*STREAM, "--allowedTools", "Edit", "x"], "Input must be provided"),
    ([*STREAM, "--resume", "4d1e0a51-0000-4000-8000-000000000000", "x"], "No conversation found"),
    ([*STREAM, "--session-id", "not-a-uuid", "x"], "Invalid session ID"),
])
def test_refusals_like_the_real_cli(repo: Path, args: list[str], message: str) -> None:
    code, _, _, stderr = fake(repo, *args)
    assert code == 1 and message in stderr


def test_a_session_id_cannot_be_reused(repo: Path) -> None:
    session = str(uuid.uuid4())
    assert fake(repo, *STREAM, "--session-id", session, "--", "a")[0] == 0
    code, _, _, stderr = fake(repo, *STREAM, "--session-id", session, "--", "b")
    assert code == 1 and "already in use" in stderr


def test_version_and_other_output_formats(repo: Path) -> None:
    assert fake(repo, "--version")[2].strip().endswith("(Claude Code)")
    _, _, out, _ = fake(repo, "-p", "--output-format", "json", "--", "x")
    assert json.loads(out)["type"] == "result"
    _, _, out, _ = fake(repo, "-p", "--output-format", "json", "--verbose", "--", "x")
    assert json.loads(out)[-1]["type"] == "result" and json.loads(out)[0]["subtype"] == "init"
    _, _, out, _ = fake(repo, "-p", "--", "x")
    assert COMPLETION_MARKER in out


def test_environment_scenario_applies_to_every_prompt(repo: Path) -> None:
    code, events, _, _ = fake(repo, *STREAM, "--", "plain", env={"FAKE_CLAUDE_SCENARIO": "fail"})
    assert code == 1 and events[-1]["subtype"] == "error_during_execution"


def test_a_deep_working_folder_gets_a_bounded_project_folder_as_claude_code_names_it() -> None:
    from core.demo.fake_files import project_dir

    deep = "/tmp/" + "very-deep-folder/" * 30
    other = deep + "x"
    name = project_dir(deep).name
    assert len(name) == 200 + 1 + len(name.rsplit("-", 1)[1]) and len(name) < 255
    assert project_dir(other).name != name, "two deep folders do not share one project folder"
    assert project_dir("/tmp/short.dir_x").name == "-tmp-short-dir-x"
