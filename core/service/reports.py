"""What the owner reads back: metrics, charts, and the learning loop's numbers and lessons.

Everything here reads the store (and draws off the event loop); the one change it makes
is the owner's decision on a lesson, which later prompts of matching tasks follow.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.service.context import ServiceContext

if TYPE_CHECKING:
    from core.metrics.report import MetricsReport
    from core.usage.monitor import UsageMonitor


class Reports:
    def __init__(self, ctx: ServiceContext, usage_monitor: UsageMonitor | None = None) -> None:
        """`usage_monitor`: the daemon's, whose last endpoint reading the weekly chart shows."""
        self.ctx = ctx
        self.usage_monitor = usage_monitor

    async def metrics(self, since: datetime | None = None) -> MetricsReport:
        """Day-one metrics since `since` (all time without it), days cut in the owner's zone."""
        from core.metrics import compute_metrics

        settings = self.ctx.settings
        return await compute_metrics(
            self.ctx.store,
            since=since,
            now=self.ctx.now(),
            capacity_tokens=settings.window_capacity_tokens or None,
            tz=settings.local_tz,
        )

    async def learning_summary(self, since: datetime | None = None) -> dict[str, Any]:
        """The learning loop's numbers: each prompt style's record and the estimate error."""
        from core.improve.reports import estimate_error, experiment_report, experiments_text

        styles = await experiment_report(self.ctx.store, self.ctx.settings, self.ctx.now())
        error = await estimate_error(self.ctx.store, since)
        return {
            "experiments": [r.as_json() for r in styles],
            "estimate_error": error.as_json(),
            "text": experiments_text(styles) + "\n" + error.as_text(),
        }

    async def lessons(self) -> list[dict[str, Any]]:
        """Lessons the loop proposed, with the owner's decisions, oldest first."""
        from core.improve.storage import ImproveStore

        return [lesson.as_json() for lesson in await ImproveStore(self.ctx.store.db).lessons()]

    async def decide_lesson(self, lesson_id: int, accept: bool) -> dict[str, Any]:
        """Accept a lesson (later prompts of matching tasks include it) or dismiss it for good."""
        from core.improve.learning import decide_lesson
        from core.improve.lessons import LessonStatus

        status = LessonStatus.ACCEPTED if accept else LessonStatus.DISMISSED
        lesson = await decide_lesson(self.ctx.store, self.ctx.settings, lesson_id, status, self.ctx.now())
        return lesson.as_json()

    async def chart(self, kind: str, report: MetricsReport, *, name: str | None = None) -> Path:
        """Draw chart `kind` as `charts/<name or kind>.png` in the state directory.

        Drawn in a thread (matplotlib takes a while); one file per name, replaced each time.
        """
        from core.metrics.charts import render_chart
        from core.store.db import ensure_private_dir

        out = ensure_private_dir(self.ctx.settings.home_dir / "charts") / f"{name or kind}.png"
        if kind == "weekly":
            from core.metrics.pictures import monitor_weekly_used

            used = monitor_weekly_used(self.usage_monitor, self.ctx.now())
            return await asyncio.to_thread(render_chart, kind, report, out, weekly_limit_used=used)
        return await asyncio.to_thread(render_chart, kind, report, out)
