"""Which notes the vault holds and where, from a `History` snapshot.

Names are the link targets (Obsidian resolves `[[name]]` by file name anywhere in the
vault), so each is unique: tasks `<id>-<slug>`, runs `run-<id>`, days `YYYY-MM-DD`,
charts `YYYY-MM-DD-<kind>.png`. Days are the owner's local days. Kept apart from what the
notes say (`core.vault.notes`) because the writer needs only this part to decide what to
write after one run, and every note's links are made from these names.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from functools import cached_property
from pathlib import PurePosixPath

from core.metrics.compute import Capacity, compute
from core.metrics.history import History
from core.metrics.report import MetricsReport
from core.models import Plan, Run, Task
from core.redact import redact
from core.vault.markdown import slugify
from core.vault.nights import DIGEST_CHART, Nights

CHART_DAYS = 14
"""Days of history on a daily note's completion and outcome charts."""


@dataclass(frozen=True, slots=True)
class NoteSpec:
    name: str
    path: PurePosixPath
    """Relative to the vault."""
    kind: str  # task | run | daily | chart
    key: str
    """Task or run id, or the day; for charts `<day>:<chart kind>`."""
    stale_glob: str | None = None
    """Other paths this note may have had (the title or day changed): moved, then removed."""


class VaultCatalog:
    def __init__(
        self,
        history: History,
        *,
        tz: tzinfo,
        capacity: Capacity = None,
        wake: time | None = None,
        reserve_by_hour: Mapping[int, float] | None = None,
    ) -> None:
        """`wake` is the owner's wake-up time (NIGHTSHIFT_WAKE_TIME): with it, each day's note
        embeds the morning digest's picture of the night before it (None: no digest)."""
        self.h = history
        self.tz = tz
        self.capacity = capacity
        self.nights = Nights(history, tz=tz, wake=wake,
                             capacity=capacity if isinstance(capacity, int) else None,
                             reserve_by_hour=reserve_by_hour or {})

    # --- names and places ------------------------------------------------------------------

    def local(self, moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(self.tz).isoformat(timespec="seconds")

    def clock(self, moment: datetime | None) -> str:
        return "-" if moment is None else moment.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")

    def day_of(self, moment: datetime) -> str:
        return moment.astimezone(self.tz).date().isoformat()

    def title(self, task: Task) -> str:
        return str(redact(task.title))

    def task_name(self, task_id: int) -> str:
        task = self.h.tasks[task_id]
        return f"{task.id}-{slugify(self.title(task))}"

    def run_name(self, run_id: int) -> str:
        return f"run-{run_id}"

    def run_moment(self, run: Run) -> datetime:
        for moment in (run.started_at, run.scheduled_for, run.finished_at,
                       self.h.run_created.get(run.id)):
            if moment is not None:
                return moment
        return self.h.tasks[run.task_id].created_at

    def run_day(self, run: Run) -> str:
        return self.day_of(self.run_moment(run))

    @cached_property
    def runs_by_id(self) -> dict[int, Run]:
        return {r.id: r for r in self.h.runs if r.task_id in self.h.tasks}

    @cached_property
    def runs_by_task(self) -> dict[int, list[Run]]:
        out: dict[int, list[Run]] = defaultdict(list)
        for run in self.runs_by_id.values():
            out[run.task_id].append(run)
        return out

    @cached_property
    def plans_by_task(self) -> dict[int, list[Plan]]:
        out: dict[int, list[Plan]] = defaultdict(list)
        for plan in self.h.plans:
            out[plan.task_id].append(plan)
        return out

    @cached_property
    def days(self) -> list[str]:
        found = {self.run_day(r) for r in self.runs_by_id.values()}
        found |= {self.day_of(t.created_at) for t in self.h.tasks.values()}
        found |= {self.day_of(e.at) for e in self.h.ends.values() if e.task_id in self.h.tasks}
        return sorted(found | self.nights.days)

    def day_charts(self, day: str) -> list[str]:
        """The chart files a day's note embeds, in order."""
        night = [f"{day}-{DIGEST_CHART}.png"] if day in self.nights.days else []
        return [*night, *(f"{day}-{kind}.png" for kind in self.chart_kinds)]

    @property
    def chart_kinds(self) -> tuple[str, ...]:
        kinds = ("completion", "outcomes", "tokens")
        return (*kinds, "utilization") if self.capacity else kinds

    def specs(self) -> dict[str, NoteSpec]:
        out: dict[str, NoteSpec] = {}
        for task_id in sorted(self.h.tasks):
            name = self.task_name(task_id)
            out[name] = NoteSpec(name, PurePosixPath("tasks", f"{name}.md"), "task",
                                 str(task_id), f"tasks/{task_id}-*.md")
        for run_id, run in sorted(self.runs_by_id.items()):
            name = self.run_name(run_id)
            out[name] = NoteSpec(name, PurePosixPath("runs", self.run_day(run), f"{name}.md"),
                                 "run", str(run_id), f"runs/*/{name}.md")
        for day in self.days:
            out[day] = NoteSpec(day, PurePosixPath("daily", f"{day}.md"), "daily", day)
            for chart in self.day_charts(day):
                kind = chart.removeprefix(f"{day}-").removesuffix(".png")
                out[chart] = NoteSpec(chart, PurePosixPath("daily", "charts", chart), "chart",
                                      f"{day}:{kind}")
        return out

    # --- metrics for days ------------------------------------------------------------------

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.tz)

    def day_report(self, day: str, *, span_days: int = 1, now: datetime | None = None) -> MetricsReport:
        first = date.fromisoformat(day) - timedelta(days=span_days - 1)
        until = self._midnight(date.fromisoformat(day) + timedelta(days=1))
        return compute(self.h, now=now or until, since=self._midnight(first), until=until,
                       capacity_tokens=self.capacity, tz=self.tz)

    def chart_input(self, spec: NoteSpec, now: datetime) -> tuple[str, MetricsReport]:
        day, kind = spec.key.split(":", 1)
        span = CHART_DAYS if kind in ("completion", "outcomes") else 1
        return kind, self.day_report(day, span_days=span, now=now)
