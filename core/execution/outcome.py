"""How a run ended, as one outcome class: pure functions of what the run left behind.

Two steps, because the check only runs when the CLI itself finished normally:
`agent_verdict` judges the CLI's end (stopped by us, limit, crash, error result);
when it returns None, `work_verdict` judges the work (check command, else the marker).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from core.abc import ProcessExit
from core.agent.prompts import has_completion_marker
from core.agent.stream import Denial, ResultInfo, StreamState
from core.execution.check import CheckResult
from core.models import Outcome
from core.usage.limits import LimitHit
from core.usage.rate_limit_event import API_KEY_RATE_LIMIT, NOT_A_USAGE_LIMIT

CONTINUABLE = frozenset({Outcome.CHECK_FAILED})
"""Outcomes after which the continuation loop resumes the session for another iteration."""

OVERLOAD_STATUSES = frozenset({500, 502, 503, 504, 529})
LOGIN_FIX = ("run `claude` as the user nightshift runs as and log in with /login (or give the "
             "daemon a valid CLAUDE_CODE_OAUTH_TOKEN or ANTHROPIC_API_KEY)")
DENIALS_SHOWN = 5


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    reason: str
    limit: LimitHit | None = None
    retryable: bool = True
    """False when running it again cannot help (an unknown model): the task fails at once."""

    @property
    def continuable(self) -> bool:
        return self.outcome in CONTINUABLE


def _tail_line(text: str) -> str:
    """The line that says what went wrong: the last one naming an error, not a stack frame."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    named = [ln for ln in lines if "error" in ln.lower() and not ln.startswith("at ")]
    chosen = named[-1] if named else (lines[-1] if lines else "")
    return chosen[:300]


BUDGET_STOP_REASON = "paused to keep what you need of this window; it resumes its session when there is room"


def agent_verdict(
    stream: StreamState,
    exit: ProcessExit | None,
    *,
    stopped: str | None,
    stderr: str,
    now: datetime,
    local_tz: tzinfo,
) -> Verdict | None:
    """The outcome decided by the CLI's end alone, or None when the work itself must be judged.

    `stopped` is why nightshift ended the process ("cancel", "timeout", "budget"), if it did.
    `exit.code` None means the process vanished without a recorded exit (killed from outside).
    """
    if stopped == "cancel":
        return Verdict(Outcome.CANCELLED, "cancelled while running")
    if stopped == "timeout":
        return Verdict(Outcome.TIMEOUT, "stopped at its time limit")
    if stopped == "budget":
        # Not the run's fault and no attempt spent: it resumes its session when there is room.
        return Verdict(Outcome.INTERRUPTED, BUDGET_STOP_REASON)
    if stopped == "logged_out":
        return Verdict(Outcome.LOGGED_OUT, "the API refused the login (401); stopped the CLI's "
                       f"retries. Fix: {LOGIN_FIX}")
    hit = stream.limit_hit(now, local_tz)
    if hit is not None:
        return Verdict(Outcome.LIMIT, hit.summary(local_tz), limit=hit)  # the owner's clock
    result = stream.result
    if result is None:
        if exit is None or exit.code is None:
            return Verdict(Outcome.INTERRUPTED, "the run's process ended without a trace (killed "
                           "or lost with its tmux session)")
        detail = _tail_line(stderr)
        if not stream.started:
            return Verdict(Outcome.ERROR, f"the CLI did not start (exit {exit.code})"
                           + (f": {detail}" if detail else ""))
        return Verdict(Outcome.CRASHED, f"the CLI ended without a result (exit {exit.code})"
                       + (f": {detail}" if detail else ""))
    return api_verdict(stream, result) or result_verdict(result)


def api_verdict(stream: StreamState, result: ResultInfo) -> Verdict | None:
    """A failed API call that ended the run, classed by what nightshift should do about it."""
    if not result.is_error:
        return None
    status, error, text = result.api_error_status, stream.api_error, result.text
    if status == 401 or error == "authentication_failed" or "Please run /login" in text:
        said = _tail_line(text) or "401"
        return Verdict(Outcome.LOGGED_OUT, f"Claude Code is not logged in ({said}). Fix: {LOGIN_FIX}")
    if status == 404 or error == "model_not_found" or "issue with the selected model" in text:
        model = f" {stream.model!r}" if stream.model else ""
        return Verdict(Outcome.ERROR, f"the model{model} does not exist or this account cannot use it;"
                       " set NIGHTSHIFT_MODEL to one it can use (e.g. sonnet), then retry the task",
                       retryable=False)
    throttled = status == 429 and (NOT_A_USAGE_LIMIT in text or text.startswith(API_KEY_RATE_LIMIT))
    if status in OVERLOAD_STATUSES or error in ("server_error", "overloaded") or throttled:
        said = _tail_line(text) or f"HTTP {status}"
        return Verdict(Outcome.OVERLOADED, f"the API stayed unavailable through the CLI's retries ({said})")
    return None


def denial_list(denials: tuple[Denial, ...]) -> str:
    """The refused calls, each once, for a reason line: `git add -A`, `pytest -q`, and 2 more."""
    seen = list(dict.fromkeys(f"`{d.detail}`" if d.detail else d.tool for d in denials))
    shown = ", ".join(seen[:DENIALS_SHOWN])
    return shown + (f" and {len(seen) - DENIALS_SHOWN} more" if len(seen) > DENIALS_SHOWN else "")


def result_verdict(result: ResultInfo) -> Verdict | None:
    if result.subtype == "error_max_turns" or result.terminal_reason == "max_turns":
        return Verdict(Outcome.MAX_TURNS, f"stopped at the turn limit after {result.num_turns} turns")
    if result.subtype == "error_max_budget_usd" or result.terminal_reason == "budget_exhausted":
        return Verdict(Outcome.BUDGET, f"stopped at the budget limit (${result.cost_usd:.2f} spent)")
    if result.is_error:
        detail = _tail_line(result.text) or result.subtype or "error"
        return Verdict(Outcome.ERROR, f"the CLI reported an error: {detail}")
    return None


def work_verdict(result: ResultInfo, check_cmd: str | None, check: CheckResult | None) -> Verdict:
    """The CLI finished normally: did the work get done?

    A run that was refused a tool call is never a plain success, even when the check passed:
    the owner hears what was refused and can allow it (see `core.execution.permissions`).
    """
    if result.denials:
        if check_cmd:
            judged = "the check passed" if check is not None and check.passed else "the check failed"
        else:
            judged = "it said it finished" if has_completion_marker(result.text) else "it did not finish"
        return Verdict(Outcome.PERMISSION_DENIED,
                       f"Claude was refused {denial_list(result.denials)}; {judged}")
    if check_cmd:
        if check is not None and check.passed:
            return Verdict(Outcome.SUCCESS, "the check passed")
        if check is not None and check.timed_out:
            return Verdict(Outcome.CHECK_FAILED, "the check timed out")
        code = check.exit_code if check is not None else None
        return Verdict(Outcome.CHECK_FAILED, f"the check failed (exit {code})")
    if has_completion_marker(result.text):
        return Verdict(Outcome.SUCCESS, "finished (completion marker)")
    return Verdict(Outcome.CHECK_FAILED, "the final message lacks the completion marker")
