"""The optional meta-task: Claude reviews the week and proposes better prompt templates.

With `NIGHTSHIFT_META_TASK=true`, budget left near a window's end is worth more spent on
improving nightshift than lost at the reset. The task always goes through a plan that the
owner approves (it edits the templates every later run is built from), is queued at most
once per ISO week (its `source_ref` makes a second request the same task), and never
unless the budget left covers it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from core.improve.retro import IsoWeek
from core.models import Task
from core.service import Service

META_TAG = "meta"
NEAR_END = timedelta(minutes=60)
"""Only in the last hour of a window: earlier, the queue's own work may still need the budget."""


def meta_prompt(week: IsoWeek, start: datetime, end: datetime) -> str:
    days = [(start + timedelta(days=i)).date().isoformat() for i in range((end - start).days)]
    logs = ", ".join(f"logs/{d}.jsonl" for d in days)
    return (
        f"Review how nightshift's runs went in week {week} and propose changes to its prompt "
        "templates. This folder is nightshift's vault. Read:\n\n"
        f"- the structured logs {logs} (whichever exist),\n"
        "- the run notes under runs/ for those days and the latest note in retros/,\n"
        "- lessons.md (recurring failures and the owner's decisions on them),\n"
        "- every template in prompts/ (front matter, then the text; placeholders such as "
        "$prompt, $plan_section, $lessons_section, $check_section, $verify must stay valid).\n\n"
        "Then propose concrete edits to the templates in prompts/, or one new template, that "
        "address the failures you found. Say for each edit which runs it would have helped and "
        "why. Keep each template's `name` so the prompt experiment keeps its history; a new "
        "style gets a new file and name. Change nothing outside prompts/."
    )


async def maybe_queue_meta_task(
    service: Service,
    *,
    now: datetime,
    window_end: datetime | None,
    budget_left_tokens: int | None,
    tz: tzinfo | None = None,
) -> Task | None:
    """Queue this week's meta-task if the setting is on and the window's end has budget left.

    Returns the new task, or None when nothing was queued (setting off, not near the end,
    too little budget, or this week's task already exists).
    """
    settings = service.settings
    if not settings.meta_task or window_end is None or budget_left_tokens is None:
        return None
    if not timedelta(0) <= window_end - now <= NEAR_END:
        return None
    if budget_left_tokens < settings.default_task_tokens:
        return None
    zone = tz or settings.local_tz
    week = IsoWeek.of(now, zone)
    ref = f"meta:{week}"
    existing = await service.store.db.fetchone("SELECT id FROM tasks WHERE source_ref = ?", (ref,))
    if existing is not None:
        return None
    brain = settings.brain_dir
    if not brain.is_dir():
        return None
    start, end = week.bounds(zone)
    return await service.add(
        meta_prompt(week, start, end),
        title=f"Review week {week} and propose prompt template changes",
        repo=str(brain),
        priority="low",
        plan=True,
        tags=(META_TAG,),
        source="meta",
        source_ref=ref,
    )
