"""Failure analysis: what went wrong in one run, from its outcome, log and check output.

The outcome class says *that* a run failed; the patterns say *why* in terms a prompt can
act on (a test that keeps failing, a tool that is never allowed, a command that is not
installed). Patterns are matched on what the tools printed, not on what the model said,
so a model that claims "all tests pass" does not hide a failing check.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.models import Outcome
from core.usage.rate_limit_event import API_KEY_RATE_LIMIT, NOT_A_USAGE_LIMIT


class Pattern(enum.StrEnum):
    FAILING_TESTS = "failing_tests"
    CHECK_FAILED = "check_failed"
    PERMISSION_DENIED = "permission_denied"
    MISSING_TOOL = "missing_tool"
    MERGE_CONFLICT = "merge_conflict"
    TIMEOUT = "timeout"
    LIMIT = "limit"
    MAX_TURNS = "max_turns"
    BUDGET = "budget"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


NEUTRAL_OUTCOMES = frozenset({Outcome.LIMIT, Outcome.CANCELLED, Outcome.INTERRUPTED, Outcome.LOGGED_OUT,
                              Outcome.OVERLOADED})
"""Outcomes that say nothing about the prompt: they count neither for nor against a style."""

MAX_DETAILS = 5
MAX_LOG_BYTES = 32 * 1024 * 1024
"""Only the last 32 MiB of a run log are scanned: what ended a run is at its end."""
MAX_TEXT_CHARS = 200_000
"""Each tool result is cut to this before matching, so one huge output cannot stall the scan."""


@dataclass(frozen=True, slots=True)
class Finding:
    pattern: Pattern
    details: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"pattern": self.pattern.value, "details": list(self.details)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        return cls(Pattern(data["pattern"]), tuple(str(d) for d in data.get("details", ())))


@dataclass(frozen=True, slots=True)
class RunAnalysis:
    outcome: Outcome
    findings: tuple[Finding, ...] = ()

    @property
    def success(self) -> bool:
        return self.outcome is Outcome.SUCCESS

    @property
    def neutral(self) -> bool:
        return self.outcome in NEUTRAL_OUTCOMES

    @property
    def patterns(self) -> frozenset[Pattern]:
        return frozenset(f.pattern for f in self.findings)


# --- matchers on tool output ---------------------------------------------------------------

_FAILED_TEST_IDS = [
    re.compile(r"^FAILED (?!\()(\S+)", re.M),  # pytest short summary (not unittest's "FAILED (")
    re.compile(r"^FAIL: (\S+)", re.M),  # unittest
    re.compile(r"^\s*--- FAIL: (\S+)", re.M),  # go test
    re.compile(r"^test (\S+) \.\.\. FAILED", re.M),  # cargo test
    re.compile(r"^\s*[✕×] (.+?)(?: \(\d+ ?ms\))?$", re.M),  # jest / vitest
]
_FAILED_COUNTS = [
    re.compile(r"\b(\d+) failed\b"),  # pytest "1 failed, 12 passed", jest "Tests: 2 failed"
    re.compile(r"\bFAILED \((?:failures|errors)=(\d+)"),  # unittest
    re.compile(r"\btest result: FAILED\. \d+ passed; (\d+) failed"),  # cargo
]
_FAILED_BARE = re.compile(r"^FAIL\s+\S+\s+[\d.]+s$|\btest result: FAILED\b", re.M)  # go, cargo
_PASS_SUMMARY = re.compile(r"\b\d+ passed\b|\bOK\b|\btest result: ok\b|^ok\s+\S+", re.M)

_MISSING = [
    re.compile(r"(?:^|\s)(?:[\w/.-]*sh: )?(?:line \d+: )?(?:\d+: )?([\w.+-]+): (?:command )?not found(?!:)",
               re.M),
    re.compile(r"(?:zsh|fish): (?:command )?not found: ([\w.+-]+)"),
    re.compile(r"env: '?([\w.+-]+)'?: No such file or directory"),
    re.compile(r"No module named '?([\w.]+)'?"),
    re.compile(r"Cannot find module '([^']+)'"),
]
_CONFLICT = [
    re.compile(r"CONFLICT \([^)]*\): (?:Merge conflict in )?(\S+)"),
    re.compile(r"error: could not apply ([0-9a-f]{7,})"),
]
_CONFLICT_BARE = re.compile(r"Automatic merge failed|Resolve all conflicts manually|needs merge")
_DENIED_TEXT = [
    re.compile(r"Claude requested permissions to (?:use )?(\w+)"),
    re.compile(r"[Pp]ermission to use (\w+) (?:has been|was) denied"),
    re.compile(r"(\w+) (?:command )?requires approval"),
]
_TIMED_OUT = re.compile(r"\btimed out\b|\bTimeoutExpired\b|\bdeadline exceeded\b", re.I)
_NOT_A_TOOL = frozenset({"a", "the", "file", "it", "this", "that", "page", "key", "match", "pattern"})


def _dedupe(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i.strip() for i in items if i and i.strip()))[:MAX_DETAILS]


def failing_tests(text: str) -> tuple[bool, tuple[str, ...]]:
    """(any test failed, ids of failed tests) from test-runner output."""
    ids = [m.group(1) for rx in _FAILED_TEST_IDS for m in rx.finditer(text)]
    failed = bool(ids) or bool(_FAILED_BARE.search(text))
    failed = failed or any(int(m.group(1)) > 0 for rx in _FAILED_COUNTS for m in rx.finditer(text))
    return failed, _dedupe(ids)


def missing_tools(text: str) -> tuple[str, ...]:
    names = []
    for rx in _MISSING:
        for m in rx.finditer(text):
            name = m.group(1)
            if name.lower() not in _NOT_A_TOOL:
                names.append(name)
    return _dedupe(names)


def merge_conflicts(text: str) -> tuple[bool, tuple[str, ...]]:
    where = [m.group(1) for rx in _CONFLICT for m in rx.finditer(text)]
    return bool(where) or bool(_CONFLICT_BARE.search(text)), _dedupe(where)


def denied_in_text(text: str) -> tuple[str, ...]:
    return _dedupe(m.group(1) for rx in _DENIED_TEXT for m in rx.finditer(text))


# --- reading a stream-json log -------------------------------------------------------------


@dataclass
class LogFacts:
    """What a run's stream-json log shows, gathered in one bounded pass."""

    denied: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    conflict_seen: bool = False
    last_test_failed: bool | None = None
    last_failed_ids: tuple[str, ...] = ()
    limited: bool = False
    result_subtype: str | None = None
    bad_lines: int = 0


def _block_text(content: Any) -> str:
    if isinstance(content, str):
        return content[:MAX_TEXT_CHARS]
    if isinstance(content, list):
        parts = [c.get("text", "") for c in content if isinstance(c, dict)]
        return "\n".join(p for p in parts if isinstance(p, str))[:MAX_TEXT_CHARS]
    return ""


def _tool_results(event: dict[str, Any]) -> Iterator[tuple[str, bool]]:
    message = event.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            yield _block_text(block.get("content")), bool(block.get("is_error"))


def _denial_name(denial: Any) -> str | None:
    if not isinstance(denial, dict):
        return None
    tool = str(denial.get("tool_name") or "").strip()
    if not tool:
        return None
    tool_input = denial.get("tool_input")
    if tool == "Bash" and isinstance(tool_input, dict):
        command = str(tool_input.get("command") or "").split()
        if command:
            return f"Bash({command[0]})"
    return tool


def scan_log_lines(lines: Iterable[str]) -> LogFacts:
    facts = LogFacts()
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            facts.bad_lines += 1
            continue
        if not isinstance(event, dict):
            continue
        kind = event.get("type")
        if kind == "user":
            for text, is_error in _tool_results(event):
                failed, ids = failing_tests(text)
                if failed or _PASS_SUMMARY.search(text):
                    facts.last_test_failed, facts.last_failed_ids = failed, ids
                if is_error:
                    facts.missing.extend(missing_tools(text))
                    facts.denied.extend(denied_in_text(text))
                    seen, where = merge_conflicts(text)
                    facts.conflict_seen |= seen
                    facts.conflicts.extend(where)
        elif kind == "rate_limit_event":
            info = event.get("rate_limit_info")
            # A refusal naming no window is the server throttling, not a usage limit.
            if isinstance(info, dict) and info.get("status") == "rejected" and (
                    info.get("rateLimitType") or info.get("resetsAt")):
                facts.limited = True
        elif kind == "result":
            facts.result_subtype = str(event.get("subtype") or "") or None
            said = event.get("result")
            said = said if isinstance(said, str) else ""
            throttled = NOT_A_USAGE_LIMIT in said or said.startswith(API_KEY_RATE_LIMIT)
            if event.get("api_error_status") == 429 and not throttled:
                facts.limited = True
            denials = event.get("permission_denials")
            if isinstance(denials, list):
                facts.denied.extend(n for d in denials if (n := _denial_name(d)))
    return facts


def read_log_tail(path: Path, max_bytes: int = MAX_LOG_BYTES) -> Iterator[str]:
    """Lines of the last `max_bytes` of a log (the first, possibly cut, line dropped)."""
    try:
        handle = path.open("rb")
    except OSError:
        return
    with handle:
        size = handle.seek(0, 2)
        start = max(0, size - max_bytes)
        handle.seek(start)
        if start:
            handle.readline()
        for raw in handle:
            yield raw.decode("utf-8", errors="replace")


# --- the analysis ---------------------------------------------------------------------------

_OUTCOME_PATTERN = {
    Outcome.TIMEOUT: Pattern.TIMEOUT,
    Outcome.LIMIT: Pattern.LIMIT,
    Outcome.MAX_TURNS: Pattern.MAX_TURNS,
    Outcome.BUDGET: Pattern.BUDGET,
    Outcome.PERMISSION_DENIED: Pattern.PERMISSION_DENIED,
}


def analyze(
    outcome: Outcome,
    *,
    log_lines: Iterable[str] = (),
    check_output: str | None = None,
) -> RunAnalysis:
    """Outcome class plus patterns. A successful run has no findings, whatever its log says."""
    if outcome is Outcome.SUCCESS:
        return RunAnalysis(outcome)
    facts = scan_log_lines(log_lines)
    found: dict[Pattern, list[str]] = {}

    def add(pattern: Pattern, details: Iterable[str] = ()) -> None:
        found.setdefault(pattern, []).extend(details)

    if outcome in _OUTCOME_PATTERN:
        add(_OUTCOME_PATTERN[outcome])
    if facts.limited:
        add(Pattern.LIMIT)
    if facts.result_subtype == "error_max_turns":
        add(Pattern.MAX_TURNS)
    if facts.result_subtype == "error_max_budget_usd":
        add(Pattern.BUDGET)
    if facts.denied:
        add(Pattern.PERMISSION_DENIED, facts.denied)
    if facts.missing:
        add(Pattern.MISSING_TOOL, facts.missing)
    if facts.conflict_seen or facts.conflicts:
        add(Pattern.MERGE_CONFLICT, facts.conflicts)
    check = (check_output or "")[-MAX_TEXT_CHARS:]
    if check:
        failed, ids = failing_tests(check)
        if failed:
            add(Pattern.FAILING_TESTS, ids)
        tools = missing_tools(check)
        if tools:
            add(Pattern.MISSING_TOOL, tools)
        seen, where = merge_conflicts(check)
        if seen:
            add(Pattern.MERGE_CONFLICT, where)
        if outcome is Outcome.CHECK_FAILED and _TIMED_OUT.search(check):
            add(Pattern.TIMEOUT, ["check"])
    elif facts.last_test_failed:
        add(Pattern.FAILING_TESTS, facts.last_failed_ids)
    if outcome is Outcome.CHECK_FAILED and not found:
        add(Pattern.CHECK_FAILED)
    findings = tuple(Finding(p, _dedupe(d)) for p, d in found.items())
    return RunAnalysis(outcome, findings)


def analyze_run_files(outcome: Outcome, log_path: str | None, check_output: str | None) -> RunAnalysis:
    lines: Iterable[str] = read_log_tail(Path(log_path)) if log_path else ()
    return analyze(outcome, log_lines=lines, check_output=check_output)
