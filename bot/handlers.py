"""Slash commands and plain messages: each parses, calls `core.service`, renders.

Errors are handled at the edge (`guarded`): a `NightshiftError` becomes a reply with its
message, anything else a generic reply and a log line without the update's content.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

from bot import render
from bot.budget import budget
from bot.buttons import Keyboard, plan_buttons, queue_buttons, task_buttons
from bot.deps import deps
from bot.parse import command_args, parse_add, parse_page, parse_task_id
from bot.reply import reply
from bot.text import esc, visible_len
from core.accounts import usage_total
from core.errors import InvalidInput, NightshiftError, NoPlan
from core.log import event
from core.metrics.charts import chart_series
from core.metrics.pictures import weekly_limit_used
from core.metrics.weekly import weekly_text
from core.models import Run, TaskState
from core.scheduling.hold import parse_hold_time
from core.usage.monitor import LimitState

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]

GENERIC_FAILURE = "Something went wrong on my side; it is in the log. Try again in a moment."
STATS_CHART = "weekly"
LOG_LINES = 40
LOG_TAIL_BYTES = 64 << 10
LOG_TEXT_LIMIT = 3000
"""A log tail longer than this (visible characters) goes as a document instead of a message."""

REVISE_PROMPT = "Revise plan v{version} of task #{task_id}: reply to this message with what should change."
REVISE_PROMPT_RE = re.compile(r"Revise plan v(?P<version>[0-9]{1,19}) of task #(?P<task>[0-9]{1,19})")


def guarded(handler: Handler) -> Handler:
    """Turn errors into replies: the owner sees why, the log sees the rest."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await handler(update, context)
        except NightshiftError as exc:
            await reply(update, context, esc(exc.message))
        except Exception:
            event("handler failed", logging.ERROR, logger="bot", exc_info=True, handler=handler.__name__)
            await reply(update, context, GENERIC_FAILURE)

    return wrapper


def _args(update: Update) -> str:
    message = update.effective_message
    return command_args(message.text if message else "")


# --- views shared by commands and buttons ------------------------------------------------


async def task_view(context: ContextTypes.DEFAULT_TYPE, task_id: int) -> tuple[str, Keyboard]:
    d = deps(context)
    detail = await d.service.show(task_id)
    latest = detail.plans[-1] if detail.plans else None
    waiting = latest is not None and detail.task.state is TaskState.AWAITING_APPROVAL
    text = render.task_detail(detail, d.settings.local_tz, d.settings.tmux_socket)
    return text, task_buttons(task_id, plan_version=latest.version if waiting and latest else None)


async def plan_view(context: ContextTypes.DEFAULT_TYPE, task_id: int) -> tuple[str, Keyboard]:
    service = deps(context).service
    task = await service.get(task_id)
    plan = await service.latest_plan(task_id)
    awaiting = task.state is TaskState.AWAITING_APPROVAL and plan.status == "draft"
    return render.plan_text(task, plan), plan_buttons(task_id, plan.version) if awaiting else ()


async def queue_view(context: ContextTypes.DEFAULT_TYPE, page: int) -> tuple[str, Keyboard]:
    service = deps(context).service
    active = [t for t in await service.list() if not t.state.terminal]
    shown = render.queue_page(active, page, await service.queue_paused())
    keyboard = queue_buttons([(t.id, t.title) for t in shown.shown], shown.page, shown.pages)
    return shown.text, keyboard


def _read_tail(path: Path, max_bytes: int, lines: int) -> tuple[list[str], int]:
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(max(0, size - max_bytes))
        data = handle.read()
    text = data.decode("utf-8", errors="replace")
    return text.splitlines()[-lines:], size


async def send_logs(update: Update, context: ContextTypes.DEFAULT_TYPE, task_id: int) -> None:
    detail = await deps(context).service.show(task_id)
    run: Run | None = next((r for r in reversed(detail.runs) if r.log_path), None)
    if run is None or run.log_path is None:
        await reply(update, context, f"Task <code>#{task_id}</code> has no run log yet.")
        return
    path = Path(run.log_path)
    try:
        lines, size = await asyncio.to_thread(_read_tail, path, LOG_TAIL_BYTES, LOG_LINES)
    except OSError:
        await reply(update, context, f"The log of run {run.id} ({esc(path.name)}) is gone.")
        return
    text = render.log_tail(run, lines)
    if visible_len(text) <= LOG_TEXT_LIMIT:
        await reply(update, context, text)
        return
    caption = f"Log of run {run.id} (task #{task_id}), {size / 1024:.0f} KB"
    await reply(update, context, esc(caption), document=str(path), filename=f"run-{run.id}.log")


# --- commands ------------------------------------------------------------------------------


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet the owner and list the commands."""
    await reply(update, context, render.start_text())


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the commands."""
    await reply(update, context, render.help_text())


async def add(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Queue a task with every option `nightshift add` has (see ADD_USAGE)."""
    d = deps(context)
    request = parse_add(_args(update))
    hold = None
    if request.at is not None:
        hold = parse_hold_time(request.at, d.service.now(), d.settings.local_tz)
    task = await d.service.add(
        request.text,
        title=request.title,
        priority=request.priority or "normal",
        repo=request.repo,
        after=request.after,
        plan=request.plan,
        check=request.check,
        tags=request.tags,
        hold_until=hold,
        max_usd=request.max_usd,
        source="telegram",
    )
    await reply(update, context, render.task_added(task, d.settings.local_tz), task_buttons(task.id))


async def queue(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the tasks waiting or running, a page at a time."""
    text, keyboard = await queue_view(context, parse_page(_args(update)))
    await reply(update, context, text, keyboard)


async def task(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show one task: state, plans, runs."""
    task_id, _ = parse_task_id(_args(update), "usage: /task ID")
    text, keyboard = await task_view(context, task_id)
    await reply(update, context, text, keyboard)


async def plan(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show a task's latest plan with its buttons, or ask for a plan if it has none."""
    task_id, _ = parse_task_id(_args(update), "usage: /plan ID")
    try:
        text, keyboard = await plan_view(context, task_id)
    except NoPlan:
        await deps(context).service.request_plan(task_id)
        await reply(update, context, f"Asked for a plan for <code>#{task_id}</code>; it comes here.")
        return
    await reply(update, context, text, keyboard)


def _version(rest: str) -> int | None:
    token = rest.split()[0].lstrip("v") if rest.split() else ""
    if not token:
        return None
    if not (token.isascii() and token.isdigit()):
        raise InvalidInput("usage: /approve ID [VERSION]")
    return int(token)


async def approve(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Approve a task's latest plan: /approve ID."""
    task_id, rest = parse_task_id(_args(update), "usage: /approve ID")
    # No reply of our own: the service notifies "approved" (through the outbox), and a
    # second message saying the same would be noise.
    await deps(context).service.approve(task_id, _version(rest))


async def revise(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Ask for a new plan version: /revise ID COMMENT (without a comment, ask for one)."""
    task_id, comment = parse_task_id(_args(update), "usage: /revise ID COMMENT")
    service = deps(context).service
    if not comment:
        latest = await service.latest_plan(task_id)
        await ask_for_revision(update, context, task_id, latest.version)
        return
    revised = await service.revise(task_id, comment)
    await reply(update, context, render.task_changed(revised, "Asked for a new plan for"))


async def ask_for_revision(
    update: Update, context: ContextTypes.DEFAULT_TYPE, task_id: int, version: int
) -> None:
    # The prompt itself carries task and version: the owner's reply can arrive after a
    # restart, and the bot keeps no conversation state.
    prompt = REVISE_PROMPT.format(version=version, task_id=task_id)
    await reply(update, context, esc(prompt), force_reply="what should change?")


async def reject(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reject a task's plan: /reject ID [REASON]."""
    task_id, reason = parse_task_id(_args(update), "usage: /reject ID [REASON]")
    await deps(context).service.reject(task_id, reason or None)  # the service notifies


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Cancel a task (its run is stopped): /cancel ID."""
    task_id, _ = parse_task_id(_args(update), "usage: /cancel ID")
    cancelled = await deps(context).service.cancel(task_id, "cancelled from Telegram")
    await reply(update, context, render.task_changed(cancelled, "Cancelled"))


async def retry(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Give a failed or cancelled task another go: /retry ID."""
    task_id, _ = parse_task_id(_args(update), "usage: /retry ID")
    retried = await deps(context).service.retry(task_id)
    await reply(update, context, render.task_changed(retried, "Retrying"))


async def usage(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the usage window, its limit state and when it resets (in the owner's zone)."""
    d = deps(context)
    states = await d.service.usage_by_account()
    primes = [p.describe(d.settings.local_tz) for p in await d.service.planned_primes()]
    paces = await d.service.weekly_paces()

    def shown(name: str, state: LimitState) -> dict[str, Any]:
        pace = paces.get(name)
        return {**state.as_json(), "weekly_pace": pace.text() if pace is not None else None}

    if len(states) == 1:
        await reply(update, context, render.usage_text(shown(*states[0]), d.settings.local_tz, primes))
        return
    total = usage_total(states, d.service.now())
    await reply(update, context, render.usage_accounts_text(
        [(name, shown(name, state)) for name, state in states], total, d.settings.local_tz))


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the metrics and a chart."""
    service = deps(context).service
    report = await service.metrics()
    learning = await service.learning_summary()
    path = await service.chart(STATS_CHART, report)
    week = weekly_text(chart_series(STATS_CHART, report,
                                    weekly_limit_used=weekly_limit_used(service, service.now())))
    text = f"<b>Stats</b>\n{esc(report.as_text())}\n\n{esc(week)}\n\n{esc(learning['text'])}"
    await reply(update, context, text, photo=str(path))


async def lessons(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List lessons from repeated failures; /lessons accept ID or /lessons dismiss ID decides."""
    service = deps(context).service
    words = _args(update).split()
    if words:
        if len(words) != 2 or words[0] not in ("accept", "dismiss") or not (
            words[1].isascii() and words[1].isdigit()
        ):
            await reply(update, context, "usage: /lessons [accept|dismiss ID]")
            return
        lesson = await service.decide_lesson(int(words[1]), accept=words[0] == "accept")
        await reply(update, context, f"Lesson {lesson['id']} {esc(lesson['status'])}: {esc(lesson['text'])}")
        return
    found = await service.lessons()
    if not found:
        await reply(update, context, "No lessons yet: they appear when the same failure repeats.")
        return
    lines = [
        f"<b>{item['id']}</b> [{esc(item['status'])}] {esc(item['text'])} ({len(item['evidence'])} runs)"
        for item in found[-20:]
    ]
    await reply(
        update,
        context,
        "<b>Lessons</b>\n" + "\n".join(lines) + "\n\n/lessons accept ID · /lessons dismiss ID",
    )


async def pause(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Pause the whole queue: nothing new starts until /resume."""
    reason = _args(update).strip() or "paused from Telegram"
    await deps(context).service.pause_queue(reason)
    await reply(update, context, f"⏸ Queue paused ({esc(reason)}). /resume to start again.")


async def resume(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Resume the queue."""
    await deps(context).service.resume_queue()
    await reply(update, context, "▶️ Queue resumed.")


async def logs(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the tail of a task's latest run log (a document when it is long)."""
    task_id, _ = parse_task_id(_args(update), "usage: /logs ID")
    await send_logs(update, context, task_id)


async def repos(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the repo aliases from NIGHTSHIFT_REPOS."""
    await reply(update, context, render.repos_text(deps(context).settings.repos))


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a command nightshift does not have."""
    await reply(update, context, "I do not know that command; /help lists the ones I do.")


COMMAND_HANDLERS: dict[str, Handler] = {
    "start": start,
    "help": help_command,
    "add": add,
    "queue": queue,
    "task": task,
    "plan": plan,
    "approve": approve,
    "revise": revise,
    "reject": reject,
    "cancel": cancel,
    "retry": retry,
    "usage": usage,
    "stats": stats,
    "lessons": lessons,
    "pause": pause,
    "resume": resume,
    "logs": logs,
    "repos": repos,
    "budget": budget,
}
