"""What the owner is told when a run ends: one notification, plain text, with the buttons it needs.

Kinds: `run_finished` (most ends), `limit_hit` (the queue waits for a reset), `login_needed`
(the queue holds until Claude Code is logged in again), `api_overloaded` (the queue backs
off) and `permission_denied` (Claude was refused tool calls; the owner may allow them).

Buttons of a refusal (callback data, at most 64 bytes; the bot decodes them):

- `al:<run id>:<n>` — allow the rules offered for refusal n of that run, for its task, and
  retry the task in the same session (`Service.allow_refused(run, n, scope="task")`);
- `ar:<run id>:<n>` — the same for every task of the task's repository (`scope="repo"`);
- `rt:<task id>`, `lg:<task id>` — retry as it is, show the logs (the bot's task buttons).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from core.abc import Button, Notification
from core.execution.outcome import Verdict
from core.models import Outcome, Run, Task, TaskState

DENIAL_BUTTONS = 3
"""Refusals that get their own buttons; the rest are named in the text (`nightshift allow`)."""
BUTTON_TEXT_CHARS = 40
WINDOW_WORDS = {"session": "5-hour", "weekly": "weekly", "opus": "weekly Opus", "sonnet": "weekly Sonnet",
                "extra": "extra usage"}


def allow_data(run_id: int, index: int, *, repo: bool = False) -> str:
    return f"{'ar' if repo else 'al'}:{run_id}:{index}"


def _short(text: str, limit: int = BUTTON_TEXT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def until_text(moment: datetime, now: datetime, tz: tzinfo) -> str:
    """`Fri 4 Dec 15:42 CET (in 3 days)`: when, and how far that is."""
    local = moment.astimezone(tz)
    left = max(0.0, (moment - now).total_seconds())
    if left >= 36 * 3600:
        span = f"in {left / 86400:.0f} days"
    elif left >= 3600:
        span = f"in {left / 3600:.0f} h"
    else:
        span = f"in {left / 60:.0f} min"
    return f"{local:%a %d %b %H:%M %Z} ({span})"


def denial_buttons(task: Task, run: Run) -> tuple[tuple[Button, ...], ...]:
    refused = run.extra.get("refused")
    rows: list[tuple[Button, ...]] = []
    for index, item in enumerate(refused if isinstance(refused, list) else []):
        if index >= DENIAL_BUTTONS or not isinstance(item, dict) or not item.get("rules"):
            continue
        label = _short(str(item.get("detail") or item.get("tool") or "it"))
        row = [Button(f"Allow {label} & retry", allow_data(run.id, index))]
        if task.repo:
            row.append(Button("…for the repo", allow_data(run.id, index, repo=True)))
        rows.append(tuple(row))
    rows.append((Button("↻ Retry as is", f"rt:{task.id}"), Button("📜 Logs", f"lg:{task.id}")))
    return tuple(rows)


def finished_note(task: Task, run: Run, verdict: Verdict, *, now: datetime, tz: tzinfo,
                  attach: str | None, data: dict[str, Any] | None = None) -> Notification:
    """`data` adds facts for the front (the review's, for Diff / Merge buttons)."""
    duration = f"{run.duration_s / 60:.1f} min" if run.duration_s is not None else "?"
    lines = [
        f"Task {task.id} {task.state.value}: {task.title}",
        f"{verdict.outcome.value} · {verdict.reason}",
        f"{duration} · {run.tokens.total:,} tokens · ${run.cost_usd:.2f} · iteration {run.iteration}",
    ]
    stat = run.extra.get("diffstat")
    if run.branch:
        files = f" · {stat['files']} files, +{stat['insertions']} -{stat['deletions']}" if stat else ""
        lines.append(f"branch {run.branch}{files}")
    committed = run.extra.get("autocommit")
    if isinstance(committed, dict) and committed.get("sha"):
        lines.append(f"nightshift committed {committed.get('files')} file(s) Claude left uncommitted "
                     f"({str(committed['sha'])[:10]})")
    elif isinstance(committed, dict) and committed.get("error"):
        lines.append(f"uncommitted changes left in the worktree: {committed['error']}")
    kind = "run_finished"
    buttons: tuple[tuple[Button, ...], ...] = ()
    facts: dict[str, Any] = {"outcome": verdict.outcome.value, "state": task.state.value,
                             "reason": verdict.reason, "run": run.as_json(), **(data or {})}
    if task.state is TaskState.PAUSED_LIMIT and task.resume_after:
        kind = "limit_hit"
        window = WINDOW_WORDS.get(verdict.limit.kind if verdict.limit else "", "usage")
        lines.append(f"The {window} limit is reached: the queue holds until "
                     f"{until_text(task.resume_after, now, tz)}, then this task resumes its session.")
    elif verdict.outcome is Outcome.LOGGED_OUT:
        kind = "login_needed"
        lines.append("Nothing runs until Claude Code is logged in again; the queue resumes by itself "
                     "when the login changes (or on /resume). No attempt was counted.")
    elif verdict.outcome is Outcome.OVERLOADED and task.resume_after:
        kind = "api_overloaded"
        lines.append(f"The queue backs off until {until_text(task.resume_after, now, tz)}; "
                     "no attempt was counted.")
    elif verdict.outcome is Outcome.PERMISSION_DENIED:
        kind = "permission_denied"
        buttons = denial_buttons(task, run)
        lines += _refusal_lines(task, run)
    if attach:
        lines.append(f"attach: {attach}")
    return Notification(kind, "\n".join(lines), task_id=task.id, run_id=run.id, buttons=buttons, data=facts)


def _refusal_lines(task: Task, run: Run) -> list[str]:
    refused = run.extra.get("refused")
    items = [i for i in (refused if isinstance(refused, list) else []) if isinstance(i, dict)]
    if not items:
        return []
    lines = ["Refused:"]
    for index, item in enumerate(items):
        what = item.get("detail") or item.get("tool")
        rules = ", ".join(item.get("rules") or []) or "no rule offered"
        lines.append(f"  {index}. {item.get('tool')}: {what} (allow: {rules})")
    lines.append(f"Allow one and retry in the same session: nightshift allow {task.id} RULE"
                 + (" [--repo]" if task.repo else ""))
    return lines
