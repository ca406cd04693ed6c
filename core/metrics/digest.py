"""The morning digest: every window since the last digest, in one message and one picture.

What the owner wants at wake-up, in this order: what finished, what waits for them (plans
to approve), what failed and why in a word, how much was spent against the caps, and the
night's windows as lanes. `build_digest_data()` is a pure function of a `History`;
`build_morning_digest()` loads the history, draws the picture and returns the
`Notification` with its buttons. The daily note embeds the same picture (`digest_png`).

Buttons carry the callback data the Telegram front already parses (`bot/buttons.py`:
`ap:<task>:<version>` approves that plan version, `pl:<task>` shows the plan, `tk:<task>`
opens the task with its runs, `rt:<task>` retries); the core cannot import the bot, so the
formats are spelled here and a test decodes them with the bot's own parser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, TypedDict, Unpack

from core.abc import Button, Notification
from core.metrics.history import History, load_history
from core.metrics.report import human
from core.metrics.timeline import TimelineData, build_timeline, short_title, timeline_text
from core.metrics.windows import window_key, window_start
from core.models import Outcome, Run, RunKind, TaskState, iso
from core.store.store import Store

MAX_WINDOWS = 3
"""Windows drawn; older ones are counted in the text. More and Telegram shrinks the picture
below what a phone can read."""
DIGEST_LANES = 6
MAX_LISTED = 8
MAX_BUTTON_ROWS = 8
CAP_WARN = 0.8
"""A task whose spend passed this share of its own cost cap is named in the spend lines."""

FAILURE_WORDS = {
    Outcome.CHECK_FAILED: "check",
    Outcome.ERROR: "error",
    Outcome.MAX_TURNS: "turns",
    Outcome.BUDGET: "budget",
    Outcome.TIMEOUT: "timeout",
    Outcome.LIMIT: "limit",
    Outcome.CRASHED: "crash",
    Outcome.CANCELLED: "cancelled",
    Outcome.PERMISSION_DENIED: "permission",
    Outcome.INTERRUPTED: "interrupted",
    Outcome.LOGGED_OUT: "logged out",
    Outcome.OVERLOADED: "overloaded",
}


def approve_data(task_id: int, version: int) -> str:
    return f"ap:{task_id}:{version}"


def plan_data(task_id: int) -> str:
    return f"pl:{task_id}"


def review_data(task_id: int) -> str:
    """The task's change as a .patch with its first lines inline (the morning review's Diff)."""
    return f"df:{task_id}"


def retry_data(task_id: int) -> str:
    return f"rt:{task_id}"


@dataclass(frozen=True, slots=True)
class DigestTask:
    task_id: int
    label: str
    """`#12 Short title`."""
    word: str
    """done, `plan v2`, or why it failed in a word."""
    version: int | None = None


@dataclass(frozen=True)
class DigestData:
    since: datetime
    until: datetime
    since_label: str
    """`Sun 22:00`: the start of the digest, in the owner's zone."""
    title: str
    windows: tuple[TimelineData, ...]
    earlier_windows: int
    finished: tuple[DigestTask, ...]
    awaiting: tuple[DigestTask, ...]
    failed: tuple[DigestTask, ...]
    runs: int
    tokens_total: int
    cost_usd: float
    spend: tuple[str, ...]

    @property
    def empty(self) -> bool:
        """Nothing ran, ended or waits: no digest worth a message."""
        return not (self.windows or self.finished or self.awaiting or self.failed)

    def texts(self) -> set[str]:
        out = {self.title}
        for window in self.windows:
            out |= window.texts()
        return out

    def as_json(self) -> dict[str, Any]:
        def tasks(items: Sequence[DigestTask]) -> list[dict[str, Any]]:
            return [{"task_id": t.task_id, "label": t.label, "word": t.word, "version": t.version}
                    for t in items]

        return {
            "since": iso(self.since), "until": iso(self.until), "title": self.title,
            "windows": [w.as_json() for w in self.windows],
            "earlier_windows": self.earlier_windows, "finished": tasks(self.finished),
            "awaiting": tasks(self.awaiting), "failed": tasks(self.failed), "runs": self.runs,
            "tokens_total": self.tokens_total, "cost_usd": self.cost_usd,
            "spend": list(self.spend),
        }


def failure_word(runs: Sequence[Run], reason: str | None) -> str:
    """Why a task failed, in a word: its last finished work run's outcome, else its reason."""
    for run in reversed(runs):
        if run.kind is RunKind.WORK and run.outcome is not None and run.outcome is not Outcome.SUCCESS:
            return FAILURE_WORDS.get(run.outcome, run.outcome.value)
    words = (reason or "").split()
    return words[0].strip(".,:;").lower() if words else "failed"


def _label(history: History, task_id: int) -> str:
    task = history.tasks.get(task_id)
    return short_title(task_id, task.title if task else "(deleted task)")


def night_windows(history: History, since: datetime, until: datetime) -> list[datetime]:
    """Starts of the windows that runs started in during [since, until), oldest first."""
    firsts: dict[str, datetime] = {}
    for run in history.runs:
        if run.started_at is None or not since <= run.started_at < until:
            continue
        key = window_key(run)
        if key is not None and (key not in firsts or run.started_at < firsts[key]):
            firsts[key] = run.started_at
    return sorted({window_start(key, first) for key, first in firsts.items()})


class DigestOptions(TypedDict, total=False):
    """What the digest weighs the night against, when known."""

    capacity_tokens: int | None
    reserve_by_hour: Mapping[int, float] | None
    nightly_cap_usd: float | None
    default_task_cap_usd: float | None
    """The per-task cost cap of tasks without their own (NIGHTSHIFT_MAX_BUDGET_USD)."""


def build_digest_data(
    history: History, *, since: datetime, now: datetime, tz: tzinfo,
    **options: Unpack[DigestOptions],
) -> DigestData:
    """Everything since `since` as of `now`: the picture's windows, the lists, the spend."""
    capacity_tokens = options.get("capacity_tokens")
    reserve_by_hour = options.get("reserve_by_hour")
    starts = night_windows(history, since, now)
    windows = [build_timeline(history, start=s, now=now, tz=tz, capacity_tokens=capacity_tokens,
                              reserve_by_hour=reserve_by_hour, max_lanes=DIGEST_LANES)
               for s in starts]
    shown = windows[-MAX_WINDOWS:]
    runs_by_task: dict[int, list[Run]] = {}
    for run in history.runs:
        runs_by_task.setdefault(run.task_id, []).append(run)
    ends = sorted((e for e in history.ends.values() if since <= e.at < now),
                  key=lambda e: (e.at, e.task_id))
    finished = tuple(DigestTask(e.task_id, _label(history, e.task_id), "done")
                     for e in ends if e.state is TaskState.DONE)
    failed = tuple(
        DigestTask(e.task_id, _label(history, e.task_id),
                   failure_word(runs_by_task.get(e.task_id, []),
                                history.tasks[e.task_id].state_reason
                                if e.task_id in history.tasks else None))
        for e in ends if e.state is TaskState.FAILED)
    latest_plan: dict[int, int] = {}
    for plan in history.plans:
        if plan.status == "draft":
            latest_plan[plan.task_id] = max(plan.version, latest_plan.get(plan.task_id, 0))
    awaiting = tuple(
        DigestTask(task.id, _label(history, task.id), f"plan v{latest_plan[task.id]}",
                   latest_plan[task.id])
        for task in sorted(history.tasks.values(), key=lambda t: t.id)
        if task.state is TaskState.AWAITING_APPROVAL and task.id in latest_plan)
    period = [r for r in history.runs if r.started_at is not None and since <= r.started_at < now]
    cost = sum(r.cost_usd for r in period)
    spend = _spend_lines(windows, history, period, cost, options.get("nightly_cap_usd"),
                         options.get("default_task_cap_usd"))
    since_label = f"{since.astimezone(tz):%a %H:%M}"
    count = len(windows)
    title = (f"Since {since_label}: {count} window{'s' if count != 1 else ''},"
             f" {len(finished)} done, {len(failed)} failed"
             + (f", {len(awaiting)} to approve" if awaiting else ""))
    return DigestData(
        since=since, until=now, since_label=since_label, title=title, windows=tuple(shown),
        earlier_windows=len(windows) - len(shown), finished=finished, awaiting=awaiting,
        failed=failed, runs=len(period), tokens_total=sum(r.tokens.total for r in period),
        cost_usd=round(cost, 4), spend=spend,
    )


def _spend_lines(
    windows: Sequence[TimelineData],
    history: History,
    period: Sequence[Run],
    cost: float,
    nightly_cap_usd: float | None,
    default_task_cap_usd: float | None,
) -> tuple[str, ...]:
    lines = []
    for w in windows:
        head = f"{w.title[len('Window '):]}: {human(w.tokens_total)} tokens"
        if w.capacity_tokens and w.capacity_known:
            lines.append(f"{head} of {human(w.capacity_tokens)}"
                         f" ({w.tokens_total / w.capacity_tokens * 100:.0f}%)")
        elif w.capacity_tokens:
            lines.append(f"{head} (capacity unknown, learned ~{human(w.capacity_tokens)})")
        else:
            lines.append(f"{head} (capacity unknown)")
    if nightly_cap_usd:
        lines.append(f"cost ${cost:.2f} of the ${nightly_cap_usd:.2f} nightly cap"
                     f" ({cost / nightly_cap_usd * 100:.0f}%)")
    else:
        lines.append(f"cost ${cost:.2f} (no nightly cap set)")
    by_task: dict[int, float] = {}
    for run in period:
        by_task[run.task_id] = by_task.get(run.task_id, 0.0) + run.cost_usd
    for task_id, spent in sorted(by_task.items()):
        task = history.tasks.get(task_id)
        cap = (task.max_budget_usd if task and task.max_budget_usd else None) or default_task_cap_usd
        if cap and spent >= CAP_WARN * cap:
            lines.append(f"#{task_id} spent ${spent:.2f} of its ${cap:.2f} cap")
    return tuple(lines)


# --- the message ---------------------------------------------------------------------------


def _listed(items: Sequence[DigestTask], *, word: bool) -> list[str]:
    out = [f"  {t.label}" + (f" ({t.word})" if word else "") for t in items[:MAX_LISTED]]
    if len(items) > MAX_LISTED:
        out.append(f"  … and {len(items) - MAX_LISTED} more")
    return out


def digest_text(data: DigestData) -> str:
    """The message: the lists first (what needs the owner), then the windows' text twins."""
    lines = [f"Morning digest · {data.title}",
             f"{data.runs} runs, {human(data.tokens_total)} tokens, ${data.cost_usd:.2f}"]
    if data.awaiting:
        lines += [f"Waiting for you ({len(data.awaiting)}):"]
        lines += [f"  {t.label}: {t.word} to approve" for t in data.awaiting[:MAX_LISTED]]
    if data.finished:
        lines += [f"Done ({len(data.finished)}):", *_listed(data.finished, word=False)]
    if data.failed:
        lines += [f"Failed ({len(data.failed)}):", *_listed(data.failed, word=True)]
    lines += ["Spend:", *(f"  {line}" for line in data.spend)]
    if data.earlier_windows:
        lines.append(f"{data.earlier_windows} earlier window"
                     f"{'s' if data.earlier_windows != 1 else ''} not drawn")
    for window in data.windows:
        lines += ["", timeline_text(window)]
    if data.empty:
        lines = [f"Morning digest: nothing ran since {data.since_label}, nothing waits for you"]
    return "\n".join(lines)


def digest_buttons(data: DigestData) -> tuple[tuple[Button, ...], ...]:
    """Plans to read and approve first, then the finished tasks to review, then retries."""
    rows: list[tuple[Button, ...]] = []
    for t in data.awaiting:
        assert t.version is not None
        rows.append((Button(f"📝 Plan #{t.task_id}", plan_data(t.task_id)),
                     Button(f"✅ Approve #{t.task_id} v{t.version}",
                            approve_data(t.task_id, t.version))))
    rows += [(Button(f"Diff {t.label}"[:60], review_data(t.task_id)),) for t in data.finished]
    rows += [(Button(f"↻ Retry {t.label}"[:60], retry_data(t.task_id)),) for t in data.failed]
    return tuple(rows[:MAX_BUTTON_ROWS])


def digest_png(data: DigestData) -> bytes | None:
    """The picture: the windows stacked, oldest on top; None when no window ran."""
    if not data.windows:
        return None
    from core.metrics.timeline_draw import timeline_png

    return timeline_png(data.windows, data.title, compact=True)


async def build_morning_digest(
    store: Store, since: datetime, now: datetime, *, tz: tzinfo, chart_path: Path | None = None,
    **options: Unpack[DigestOptions],
) -> Notification:
    """The digest of [since, now) as a Notification; the picture is written to `chart_path`
    (atomically) when one is given and a window ran."""
    history = await load_history(store)
    data = build_digest_data(history, since=since, now=now, tz=tz, **options)
    photo: str | None = None
    if chart_path is not None and data.windows:
        import asyncio

        from core.metrics.style import write_png

        png = await asyncio.to_thread(digest_png, data)
        if png is not None:
            photo = str(await asyncio.to_thread(write_png, png, chart_path))
    return Notification(
        "morning_digest", digest_text(data), buttons=digest_buttons(data), photo=photo,
        data={"since": iso(since), "until": iso(now), "empty": data.empty,
              "windows": len(data.windows),
              "done": [t.task_id for t in data.finished],
              "failed": [t.task_id for t in data.failed],
              "awaiting": [t.task_id for t in data.awaiting]},
    )
