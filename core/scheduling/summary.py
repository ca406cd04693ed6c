"""The message after a reset-triggered batch: what ran, how it ended, tokens against capacity."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo

from core.models import Run, Task, TaskState

MAX_LISTED = 20
"""Tasks listed one per line; a bigger batch is summed up in the counts only."""

_ENDED = {
    TaskState.DONE: "done",
    TaskState.FAILED: "failed",
    TaskState.PAUSED_LIMIT: "paused by the limit",
    TaskState.CANCELLED: "cancelled",
}


def window_summary_text(
    trigger: str,
    scheduled_for: datetime,
    tz: tzinfo,
    entries: Sequence[tuple[Task, Run | None]],
    capacity_tokens: int | None,
    picture: str = "",
    waits: Mapping[int, str] | None = None,
) -> str:
    """Plain text (the delivering front formats it); `entries` are the batch's tasks, in start order.

    `picture` is the timeline's text twin (limit hit, idle stretches, reserve): it joins the
    tokens line, so the lines after it stay one per task. `waits` says why the budget held
    ready tasks back ("task 12 waits: needs ~180,000 tokens; 60,000 left before …")."""
    local = scheduled_for.astimezone(tz)
    when = local.strftime("%Y-%m-%d %H:%M")
    count = len(entries)
    lines = [f"Window summary: {trigger} at {when}, {count} task{'s' if count != 1 else ''} started"]
    counts = Counter(_ENDED.get(task.state, "back in the queue") for task, _ in entries)
    order = ["done", "failed", "paused by the limit", "cancelled", "back in the queue"]
    lines.append(" · ".join(f"{name} {counts[name]}" for name in order if counts[name]))
    tokens = sum(run.tokens.total for _, run in entries if run is not None)
    if capacity_tokens:
        share = tokens / capacity_tokens * 100
        lines.append(f"tokens {tokens:,} of ~{capacity_tokens:,} ({share:.1f} % of the window)")
    else:
        lines.append(f"tokens {tokens:,} (window capacity not known yet)")
    if picture:
        lines[-1] += f" · {picture}"
    for task, run in entries[:MAX_LISTED]:
        state = _ENDED.get(task.state, task.state.value)
        detail = ""
        if run is not None:
            minutes = f", {run.duration_s / 60:.1f} min" if run.duration_s is not None else ""
            detail = f" ({run.tokens.total:,} tokens{minutes})"
        lines.append(f"task {task.id} {state}: {task.title}{detail}")
    if count > MAX_LISTED:
        lines.append(f"… and {count - MAX_LISTED} more")
    held = sorted((waits or {}).items())
    for task_id, reason in held[:MAX_LISTED]:
        lines.append(f"task {task_id} waits: {reason}")
    if len(held) > MAX_LISTED:
        lines.append(f"… and {len(held) - MAX_LISTED} more waiting")
    return "\n".join(lines)
