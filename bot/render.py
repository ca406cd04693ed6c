"""What each reply looks like: Telegram HTML built from core values, every user string escaped.

Pure functions of their arguments (the owner's time zone included), so tests can check
the exact text without a bot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from bot.text import esc, truncate
from core.models import Plan, Run, Task, TaskState
from core.service import TaskDetail

STATE_ICONS = {
    TaskState.QUEUED: "⏳",
    TaskState.PLANNING: "🧠",
    TaskState.AWAITING_APPROVAL: "📝",
    TaskState.READY: "▶️",
    TaskState.RUNNING: "⚙️",
    TaskState.PAUSED_LIMIT: "⏸",
    TaskState.DONE: "✅",
    TaskState.FAILED: "❌",
    TaskState.REJECTED: "🗑",
    TaskState.CANCELLED: "✖",
}
PROMPT_PREVIEW_CHARS = 1500
QUEUE_PAGE_SIZE = 8

COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("add", "[-p P] [-r REPO] [--after ID] [--no-plan] [--check CMD] [--tag T] [--at TIME]"
     " [--max-usd USD] TEXT", "queue a task (or just send the text)"),
    ("queue", "", "tasks waiting or running"),
    ("task", "ID", "one task: state, plan, runs"),
    ("plan", "ID", "the task's plan (asks for one if it has none)"),
    ("approve", "ID", "approve the latest plan"),
    ("revise", "ID COMMENT", "ask for a new plan version"),
    ("reject", "ID [REASON]", "reject the plan"),
    ("cancel", "ID", "cancel a task (stops its run)"),
    ("retry", "ID", "try a failed or cancelled task again"),
    ("usage", "", "the usage window and when it resets"),
    ("stats", "", "metrics, prompt styles and a chart"),
    ("lessons", "[accept|dismiss ID]", "lessons from repeated failures"),
    ("pause", "[REASON]", "pause the whole queue"),
    ("resume", "", "resume the queue"),
    ("logs", "ID", "the tail of the task's latest run log"),
    ("repos", "", "repo aliases for /add -r"),
    ("budget", "[task|night|reserve VALUE]", "caps, reserve and tonight's spend"),
    ("help", "", "this list"),
)
"""(command, arguments, what it does): the /help text and the phone's command menu."""


def when(moment: datetime | None, tz: tzinfo) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(tz).strftime("%a %d %b %H:%M %Z").strip()


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def tokens(count: int | None) -> str:
    if count is None:
        return "-"
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f}M"
    if count >= 1_000:
        return f"{count / 1_000:.0f}k"
    return str(count)


def help_text() -> str:
    lines = ["<b>nightshift</b> queues Claude Code tasks and runs them when your window resets.", ""]
    for name, args, what in COMMANDS:
        usage = f"/{name} {esc(args)}".rstrip()
        lines.append(f"{usage} — {esc(what)}")
    return "\n".join(lines)


def start_text() -> str:
    return "Hi! Send <code>/add TEXT</code> to queue a task.\n\n" + help_text()


def task_line(task: Task) -> str:
    icon = STATE_ICONS.get(task.state, "•")
    return (
        f"<code>#{task.id}</code> {icon} {esc(truncate(task.title, 60))} "
        f"<i>{esc(task.state.value)} · {esc(task.priority.label)}</i>"
    )


def task_added(task: Task, tz: tzinfo | None = None) -> str:
    plan = "a plan comes first" if task.needs_plan else "no plan needed"
    details = [f"{task.priority.label} priority", plan]
    if task.depends_on:
        details.append(f"after #{', #'.join(map(str, task.depends_on))}")
    if task.repo:
        details.append(f"in {Path(task.repo).name}")
    if task.check_cmd:
        details.append(f"check: {task.check_cmd}")
    if task.tags:
        details.append("tags " + ", ".join(task.tags))
    if task.max_budget_usd:
        details.append(f"cap ${task.max_budget_usd:.2f}")
    if task.resume_after and tz is not None:
        details.append(f"held until {when(task.resume_after, tz)}")
    return f"Queued <code>#{task.id}</code> {esc(task.title)}\n<i>{esc(', '.join(details))}</i>"


def task_changed(task: Task, verb: str) -> str:
    reason = f"\n<i>{esc(task.state_reason)}</i>" if task.state_reason else ""
    return f"{verb} <code>#{task.id}</code> {esc(task.title)} — now {esc(task.state.value)}{reason}"


def run_line(run: Run, tz: tzinfo, tmux_socket: str) -> str:
    outcome = run.outcome.value if run.outcome else "running"
    parts = [f"run {run.id} ({esc(run.kind.value)}, iteration {run.iteration}): <b>{esc(outcome)}</b>"]
    details = [f"{tokens(run.tokens.total)} tokens"]
    if run.cost_usd:
        details.append(f"${run.cost_usd:.2f}")
    if run.duration_s is not None:
        details.append(duration(run.duration_s))
    elif run.started_at is not None:
        details.append(f"started {when(run.started_at, tz)}")
    parts.append(", ".join(details))
    if run.branch:
        parts.append(f"branch <code>{esc(run.branch)}</code>")
    if run.tmux_session and run.outcome is None:
        parts.append(f"watch: <code>tmux -L {esc(tmux_socket)} attach -t {esc(run.tmux_session)}</code>")
    return "\n  ".join(parts)


def task_detail(detail: TaskDetail, tz: tzinfo, tmux_socket: str) -> str:
    task = detail.task
    state = esc(task.state.value) + (f" — {esc(task.state_reason)}" if task.state_reason else "")
    lines = [
        f"<b>#{task.id} {esc(task.title)}</b>",
        f"{STATE_ICONS.get(task.state, '•')} {state}",
        f"priority {esc(task.priority.label)}"
        + (f" · repo <code>{esc(task.repo)}</code>" if task.repo else ""),
    ]
    if task.depends_on:
        lines.append("after " + ", ".join(f"#{d}" for d in task.depends_on))
    if task.check_cmd:
        lines.append(f"check <code>{esc(task.check_cmd)}</code>")
    if task.resume_after:
        lines.append(f"resumes after {esc(when(task.resume_after, tz))}")
    if detail.why_not_running:
        lines.append(f"<i>{esc(detail.why_not_running)}</i>")
    lines.append(f"created {esc(when(task.created_at, tz))}, attempts {task.attempts}")
    lines += ["", esc(truncate(task.prompt, PROMPT_PREVIEW_CHARS))]
    if detail.plans:
        lines += ["", "plans: " + ", ".join(f"v{p.version} {esc(p.status)}" for p in detail.plans)]
    if detail.runs:
        lines.append("")
        lines += [run_line(r, tz, tmux_socket) for r in detail.runs[-3:]]
    return "\n".join(lines)


def plan_text(task: Task, plan: Plan) -> str:
    meta = [f"status {esc(plan.status)}"]
    if plan.size:
        meta.append(f"size {esc(plan.size)}")
    if plan.estimate_tokens:
        meta.append(f"about {tokens(plan.estimate_tokens)} tokens")
    lines = [
        f"<b>Plan v{plan.version} for #{task.id} {esc(task.title)}</b>",
        "<i>" + ", ".join(meta) + "</i>",
    ]
    if plan.suggested_check:
        lines.append(f"check <code>{esc(plan.suggested_check)}</code>")
    if plan.comment:
        lines.append(f"<i>revised for: {esc(plan.comment)}</i>")
    lines += ["", esc(plan.body.strip())]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class QueuePage:
    text: str
    shown: list[Task]
    page: int
    pages: int


def queue_page(tasks: Sequence[Task], page: int, paused: str | None) -> QueuePage:
    """One page of the active tasks; `page` is clamped to the pages there are."""
    pages = max(1, -(-len(tasks) // QUEUE_PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown = tasks[page * QUEUE_PAGE_SIZE : (page + 1) * QUEUE_PAGE_SIZE]
    lines = []
    if paused:
        lines.append(f"⏸ <b>queue paused</b>: {esc(paused)} — /resume")
    if not tasks:
        lines.append("The queue is empty. Send <code>/add TEXT</code> to queue a task.")
        return QueuePage("\n".join(lines), [], 0, 1)
    title = f"<b>Queue</b>: {len(tasks)} active"
    if pages > 1:
        title += f", page {page + 1}/{pages}"
    lines.append(title)
    lines += [task_line(t) for t in shown]
    return QueuePage("\n".join(lines), list(shown), page, pages)


def repos_text(repos: Mapping[str, Path]) -> str:
    if not repos:
        return (
            "No repo aliases yet. Set <code>NIGHTSHIFT_REPOS=shop=~/code/shop,api=~/code/api</code>"
            " and use <code>/add -r shop TEXT</code>."
        )
    lines = ["<b>Repos</b> (for <code>/add -r ALIAS</code>)"]
    lines += [f"<code>{esc(name)}</code> → {esc(path)}" for name, path in sorted(repos.items())]
    return "\n".join(lines)


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def usage_text(state: Mapping[str, Any], tz: tzinfo, primes: Iterable[str] = ()) -> str:
    """The usage window from a `LimitState.as_json()`: limit, reset time (owner's zone), figures,
    and the primes planned (plain lines, escaped here)."""
    kind = state.get("kind")
    window = f" ({esc(kind)} window)" if kind else ""
    resets = _moment(state.get("resets_at"))
    if state.get("limited"):
        until = f" until {esc(when(resets, tz))}" if resets else ""
        lines = [f"🔴 <b>limited</b>{window}{until}"]
    else:
        lines = [f"🟢 <b>not limited</b>{window}"]
        if resets:
            lines.append(f"window resets {esc(when(resets, tz))}")
    started = _moment(state.get("window_start"))
    if started:
        lines.append(f"window started {esc(when(started, tz))}")
    used = state.get("tokens_used")
    percent = state.get("percent_used")
    capacity = state.get("capacity_tokens")
    if used or percent is not None:
        figure = f"used {tokens(int(used or 0))} tokens"
        if isinstance(percent, int | float):
            figure += f" ({percent:.0f}%)"
        if capacity:
            figure += f" of about {tokens(int(capacity))}"
        lines.append(figure)
    rate = state.get("burn_rate_per_min")
    if isinstance(rate, int | float) and rate:
        projection = state.get("projection")
        ahead = f", {tokens(int(projection))} by the reset" if projection else ""
        lines.append(f"burning {tokens(int(rate))} tokens/min{ahead}")
    if state.get("weekly_pace"):
        lines.append(esc(str(state["weekly_pace"])))
    lines.append(f"<i>source: {esc(state.get('source') or 'none')}</i>")
    if state.get("text"):
        lines.append(f"<i>{esc(state['text'])}</i>")
    lines += [f"⏰ prime {esc(prime)}" for prime in primes]
    return "<b>Usage</b>\n" + "\n".join(lines)


def usage_accounts_text(
    states: Sequence[tuple[str, Mapping[str, Any]]], total: Mapping[str, Any], tz: tzinfo
) -> str:
    """`/usage` with several accounts: each account's window, then the total."""
    parts = [f"<b>Account {esc(name)}</b>\n" + usage_text(state, tz).removeprefix("<b>Usage</b>\n")
             for name, state in states]
    open_now = ", ".join(esc(name) for name in total.get("open", [])) or "none"
    parts.append(f"<b>Total</b>: used {tokens(int(total.get('tokens_used') or 0))} tokens"
                 f" in {total.get('accounts')} accounts; open now: {open_now}")
    return "<b>Usage</b>\n" + "\n\n".join(parts)


def log_tail(run: Run, lines: Iterable[str]) -> str:
    body = "\n".join(lines)
    return f"<b>Log of run {run.id}</b> (task #{run.task_id}), last lines:\n<pre>{esc(body)}</pre>"
