"""Where the next run of a task starts, read from the task's history so a restart never starts over.

A run either starts fresh, resumes the session a stopped run left (telling Claude why it
stopped), continues after a failed check, retries a finished attempt the owner sent back, or
carries the owner's follow-up. Only a session that really started on the account that holds
it is resumed; anything else starts fresh with the task's prompt (and its approved plan).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.agent.prompts import continuation_prompt, resume_prompt, work_prompt
from core.execution.context import AccountFor, ExecOptions
from core.execution.outcome import BUDGET_STOP_REASON, CONTINUABLE
from core.execution.permissions import allowed_rules
from core.followup import fresh_follow_up_prompt, pending_follow_up
from core.models import Outcome, Run, Task
from core.settings import HARD_MAX_ITERATIONS, Settings
from core.store.store import Store


@dataclass(frozen=True, slots=True)
class Step:
    iteration: int
    prompt: str
    resume: str | None
    """The session to resume, or None for a new one."""
    kind: str  # initial | continuation | resume | retry | follow_up | plan


RESUME_REASONS = {
    Outcome.LIMIT: "the usage limit was reached; it has reset now",
    Outcome.INTERRUPTED: "nightshift was restarted",
    Outcome.CRASHED: "the Claude CLI crashed",
    Outcome.ERROR: "the Claude CLI reported an error",
    Outcome.TIMEOUT: "the run hit its time limit",
    Outcome.LOGGED_OUT: "Claude Code was not logged in; it is again now",
    Outcome.OVERLOADED: "the API was overloaded",
}


def max_iterations(settings: Settings, task: Task) -> int:
    wanted = task.max_iterations or settings.max_iterations
    return max(1, min(wanted, HARD_MAX_ITERATIONS))


def session_usable(run: Run) -> bool:
    """A session id is recorded before the CLI starts; only one the CLI confirmed can be resumed."""
    return bool(run.session_id and run.extra.get("session_started"))


def continuation(task: Task, last: Run, session: str, max_iter: int) -> Step:
    """The next iteration after `last` failed its check (or ended without the marker)."""
    return Step(
        last.iteration + 1,
        continuation_prompt(task.check_cmd, last.extra.get("check_exit"),
                            last.check_output or "", last.iteration + 1, max_iter),
        session,
        "continuation",
    )


def in_session_account(task: Task, options: ExecOptions, account_for: AccountFor) -> bool:
    """Can this run resume the task's session? Only on the account that holds it."""
    key, _ = account_for(options.account or task.account)
    return task.account is None or task.account == key


async def next_step(store: Store, task: Task, runs: list[Run], options: ExecOptions, max_iter: int,
                    account_for: AccountFor) -> Step:
    """Where this attempt starts, given the task's work runs so far (oldest first)."""
    plan = await store.plans.approved(task.id)
    fresh_prompt = work_prompt(options.prompt or task.prompt, plan.body if plan else None)
    last = runs[-1] if runs else None
    session: str | None = None
    if task.session_id and in_session_account(task, options, account_for):
        using = [r for r in runs if r.session_id == task.session_id]
        if using and using[-1].extra.get("session_started"):
            session = task.session_id
    if last is None:
        return Step(1, fresh_prompt, None, "initial")
    follow_up = await pending_follow_up(store, task.id)
    if follow_up is not None:  # the owner's next instruction, in the same session if it lives
        prompt = follow_up if session else fresh_follow_up_prompt(fresh_prompt, follow_up)
        return Step(last.iteration + 1, prompt, session, "follow_up")
    if last.extra.get("attempt_end"):
        if session:
            why = f"the previous attempt ended ({last.outcome}) and the owner asked to try again"
            if last.outcome is Outcome.PERMISSION_DENIED:
                rules = await allowed_rules(store, task)
                if rules:
                    why += "; you may now also use " + ", ".join(rules)
            return Step(1, resume_prompt(why), session, "retry")
        return Step(1, fresh_prompt, None, "initial")
    if session and last.outcome in CONTINUABLE and last.iteration < max_iter:
        return continuation(task, last, session, max_iter)
    if session:
        if last.extra.get("reason") == BUDGET_STOP_REASON:
            reason = "nightshift paused it to leave the owner their share of the usage window"
        else:
            reason = RESUME_REASONS.get(last.outcome or Outcome.INTERRUPTED, "it stopped early")
        return Step(last.iteration, resume_prompt(reason), session, "resume")
    return Step(last.iteration, fresh_prompt, None, "initial")
