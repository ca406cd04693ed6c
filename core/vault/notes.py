"""What each vault note says, as pure functions of a `History` snapshot.

Names are the link targets (Obsidian resolves `[[name]]` by file name anywhere in the
vault), so each is unique: tasks `<id>-<slug>`, runs `run-<id>`, days `YYYY-MM-DD`,
charts `YYYY-MM-DD-<kind>.png`. Days are the owner's local days.

Front matter keys are fixed per note type (TASK_KEYS, RUN_KEYS, DAILY_KEYS); a value that
is unknown is null, never a missing key, so Dataview tables line up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from functools import cached_property
from pathlib import PurePosixPath
from typing import Any

from core.metrics.compute import Capacity, compute
from core.metrics.history import History
from core.metrics.report import GroupMetrics, MetricsReport, human, number, percent, seconds
from core.models import Plan, Run, RunKind, Task
from core.redact import redact
from core.vault.markdown import (
    block,
    code,
    escape,
    fenced,
    front_matter,
    link,
    one_line,
    slugify,
    tail,
)
from core.vault.nights import DIGEST_CHART, Nights

TASK_KEYS = ("type", "id", "title", "state", "priority", "repo", "created", "finished", "tags",
             "plan_version", "plan_status", "depends_on", "check", "runs", "tokens", "cost_usd",
             "outcome")
RUN_KEYS = ("type", "id", "task", "task_id", "kind", "iteration", "outcome", "tokens_input",
            "tokens_output", "tokens_cache_creation", "tokens_cache_read", "tokens_total",
            "cost_usd", "duration_s", "turns", "prompt_style", "window", "branch", "scheduled",
            "started", "finished", "latency_s", "day")
DAILY_KEYS = ("type", "date", "runs", "tasks_added", "tasks_done", "tasks_failed", "tokens",
              "cost_usd", "completion_rate", "windows")

CHART_DAYS = 14
"""Days of history on a daily note's completion and outcome charts."""
CHECK_TAIL_LINES = 40


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


def _money(value: float) -> float:
    return round(value, 4)


class VaultModel:
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

    # --- notes -----------------------------------------------------------------------------

    def render(self, spec: NoteSpec) -> str:
        if spec.kind == "task":
            return self.task_note(int(spec.key))
        if spec.kind == "run":
            return self.run_note(int(spec.key))
        if spec.kind == "daily":
            return self.daily_note(spec.key)
        raise ValueError(f"{spec.name} is not a note")

    def _run_line(self, run: Run, *, with_task: bool = False) -> str:
        parts = [link(self.run_name(run.id))]
        if with_task:
            parts.append(link(self.task_name(run.task_id)))
        detail = [f"{run.kind.value} {run.iteration}",
                  run.outcome.value if run.outcome else "running",
                  f"{human(run.tokens.total)} tokens", f"${run.cost_usd:.2f}"]
        return f"- {self.clock(self.run_moment(run))} " + " ".join(parts) + " · " + " · ".join(detail)

    def task_note(self, task_id: int) -> str:
        task = self.h.tasks[task_id]
        runs = self.runs_by_task.get(task_id, [])
        plans = self.plans_by_task.get(task_id, [])
        approved = [p for p in plans if p.status == "approved"]
        shown = max(approved or plans, key=lambda p: p.version) if plans else None
        end = self.h.ends.get(task_id)
        work = [r for r in runs if r.kind is RunKind.WORK and r.outcome is not None]
        tokens = sum(r.tokens.total for r in runs)
        cost = sum(r.cost_usd for r in runs)
        meta: dict[str, Any] = {
            "type": "task",
            "id": task.id,
            "title": escape(self.title(task)),
            "state": task.state.value,
            "priority": task.priority.label,
            "repo": task.repo,
            "created": self.local(task.created_at),
            "finished": self.local(end.at) if end else None,
            "tags": list(task.tags),
            "plan_version": shown.version if shown else None,
            "plan_status": shown.status if shown else None,
            "depends_on": list(task.depends_on),
            "check": escape(redact(task.check_cmd)) if task.check_cmd else None,
            "runs": len(runs),
            "tokens": tokens,
            "cost_usd": _money(cost),
            "outcome": work[-1].outcome.value if work and work[-1].outcome else None,
        }
        lines = [f"# {one_line(self.title(task))}", ""]
        state = f"- State: **{task.state.value}**"
        if task.state_reason:
            state += f" ({one_line(str(redact(task.state_reason)))})"
        lines.append(state)
        where = f"- Priority: {task.priority.label}"
        if task.repo:
            where += f" · Repo: {code(task.repo)}"
        lines.append(where)
        if task.check_cmd:
            lines.append(f"- Check: {code(str(redact(task.check_cmd)))}")
        when = f"- Added: {link(self.day_of(task.created_at))} {self.clock(task.created_at)[11:]}"
        if end:
            when += f" · Ended: {link(self.day_of(end.at))} {self.clock(end.at)[11:]}"
        lines.append(when)
        deps = [d for d in task.depends_on if d in self.h.tasks]
        if deps:
            lines.append("- Waits for: " + ", ".join(link(self.task_name(d)) for d in deps))
        lines += ["", "## Prompt", "", block(str(redact(task.prompt))), "", "## Plan", ""]
        if shown is None:
            lines.append("No plan." if not task.needs_plan else "No plan yet.")
        else:
            about = f"v{shown.version}, {shown.status}"
            if shown.size:
                about += f", size {one_line(shown.size)}"
            if shown.estimate_tokens:
                about += f", estimated {human(shown.estimate_tokens)} tokens"
            lines += [f"*{about}*", "", block(str(redact(shown.body)))]
            others = [p for p in plans if p.id != shown.id]
            if others:
                lines.append("")
                lines.append("Other versions: " + "; ".join(
                    f"v{p.version} {p.status}" + (f" (asked: {one_line(str(redact(p.comment)))})"
                                                  if p.comment else "")
                    for p in others))
        lines += ["", "## Runs", ""]
        lines += [self._run_line(r) for r in runs] or ["No runs yet."]
        lines += ["", "## Outcome", ""]
        if end:
            plural = "run" if len(runs) == 1 else "runs"
            summary = (f"**{end.state.value}** after {len(runs)} {plural}, {human(tokens)} tokens,"
                       f" ${cost:.2f}.")
        else:
            summary = f"Not finished: {task.state.value}."
        lines.append(summary)
        last = next((r for r in reversed(runs) if r.summary or r.final_text), None)
        if last:
            text = str(redact(last.summary or last.final_text or ""))
            lines += ["", f"Last run ({link(self.run_name(last.id))}): {one_line(text, limit=500)}"]
        return front_matter(meta) + "\n" + "\n".join(lines) + "\n"

    def run_note(self, run_id: int) -> str:
        run = self.runs_by_id[run_id]
        task = self.h.tasks[run.task_id]
        siblings = self.runs_by_task[run.task_id]
        index = siblings.index(run)
        day = self.run_day(run)
        meta: dict[str, Any] = {
            "type": "run",
            "id": run.id,
            "task": link(self.task_name(task.id)),
            "task_id": task.id,
            "kind": run.kind.value,
            "iteration": run.iteration,
            "outcome": run.outcome.value if run.outcome else None,
            "tokens_input": run.tokens.input,
            "tokens_output": run.tokens.output,
            "tokens_cache_creation": run.tokens.cache_creation,
            "tokens_cache_read": run.tokens.cache_read,
            "tokens_total": run.tokens.total,
            "cost_usd": _money(run.cost_usd),
            "duration_s": None if run.duration_s is None else round(run.duration_s, 1),
            "turns": run.num_turns,
            "prompt_style": run.prompt_variant,
            "window": run.window_id,
            "branch": run.branch,
            "scheduled": self.local(run.scheduled_for),
            "started": self.local(run.started_at),
            "finished": self.local(run.finished_at),
            "latency_s": None if run.latency_s is None else round(run.latency_s, 1),
            "day": link(day),
        }
        outcome = run.outcome.value if run.outcome else "running"
        lines = [
            f"# Run {run.id}: {one_line(self.title(task))}, iteration {run.iteration}",
            "",
            f"- Task: {link(self.task_name(task.id))}",
            f"- Day: {link(day)}",
            f"- Outcome: **{outcome}** · {run.kind.value} run · {run.num_turns} turns"
            f" · {seconds(run.duration_s)} · {run.tokens.total:,} tokens · ${run.cost_usd:.2f}",
            f"- Tokens: input {run.tokens.input:,} · output {run.tokens.output:,}"
            f" · cache creation {run.tokens.cache_creation:,} · cache read {run.tokens.cache_read:,}",
        ]
        timing = f"- Started: {self.clock(run.started_at)}"
        if run.scheduled_for is not None:
            timing += f" (scheduled {self.clock(run.scheduled_for)}, {seconds(run.latency_s)} late)"
        if run.window_id:
            timing += f" · window {code(run.window_id)}"
        lines.append(timing)
        where = [f"{label.capitalize()}: {code(str(value))}" for label, value in
                 (("branch", run.branch), ("tmux", run.tmux_session),
                  ("session", run.session_id), ("prompt style", run.prompt_variant))
                 if value]
        if where:
            lines.append("- " + " · ".join(where))
        if run.log_path:
            lines.append(f"- Log: {code(run.log_path)}")
        nav = []
        if index > 0:
            nav.append(f"Previous run: {link(self.run_name(siblings[index - 1].id))}")
        if index + 1 < len(siblings):
            nav.append(f"Next run: {link(self.run_name(siblings[index + 1].id))}")
        if nav:
            lines.append("- " + " · ".join(nav))
        summary = run.summary or run.final_text
        lines += ["", "## Summary", "",
                  block(str(redact(summary))) if summary else "No summary."]
        diffstat = run.extra.get("diffstat")
        if isinstance(diffstat, str) and diffstat.strip():
            lines += ["", "## Diffstat", "", fenced(str(redact(diffstat))).rstrip()]
        if run.check_output:
            lines += ["", f"## Check output (last {CHECK_TAIL_LINES} lines)", "",
                      fenced(tail(str(redact(run.check_output)), CHECK_TAIL_LINES)).rstrip()]
        return front_matter(meta) + "\n" + "\n".join(lines) + "\n"

    def daily_note(self, day: str) -> str:
        runs = sorted((r for r in self.runs_by_id.values() if self.run_day(r) == day),
                      key=lambda r: (self.run_moment(r), r.id))
        added = [t for t in self.h.tasks.values() if self.day_of(t.created_at) == day]
        ended = sorted((e for e in self.h.ends.values()
                        if e.task_id in self.h.tasks and self.day_of(e.at) == day),
                       key=lambda e: (e.at, e.task_id))
        report = self.day_report(day)
        g = report.day(day) or GroupMetrics(day)
        meta: dict[str, Any] = {
            "type": "daily",
            "date": day,
            "runs": len(runs),
            "tasks_added": len(added),
            "tasks_done": g.tasks_done,
            "tasks_failed": g.tasks_failed,
            "tokens": sum(r.tokens.total for r in runs),
            "cost_usd": _money(sum(r.cost_usd for r in runs)),
            "completion_rate": None if g.completion_rate is None else round(g.completion_rate, 4),
            "windows": g.windows,
        }
        lines = [f"# {day}", ""]
        position = self.days.index(day)
        nav = []
        if position > 0:
            nav.append(f"← {link(self.days[position - 1])}")
        if position + 1 < len(self.days):
            nav.append(f"{link(self.days[position + 1])} →")
        if nav:
            lines += [" · ".join(nav), ""]
        lines += ["## Runs", ""]
        lines += [self._run_line(r, with_task=True) for r in runs] or ["No runs."]
        lines += ["", "## Tasks added", ""]
        lines += [f"- {link(self.task_name(t.id))} {one_line(self.title(t))} ({t.state.value})"
                  for t in sorted(added, key=lambda t: t.id)] or ["None."]
        lines += ["", "## Tasks ended", ""]
        lines += [f"- {link(self.task_name(e.task_id))} {one_line(self.title(self.h.tasks[e.task_id]))}"
                  f" **{e.state.value}** at {self.clock(e.at)[11:]}" for e in ended] or ["None."]
        lines += ["", "## Metrics", ""]
        lines += [
            f"- Completion rate: {percent(g.completion_rate)}"
            f" ({g.tasks_done} done / {g.tasks_finished} finished)",
            f"- Runs: {g.runs} · tokens {human(g.tokens.total)} · cost ${g.cost_usd:.2f}"
            f" · windows {g.windows}",
            f"- Tokens per completed task: {human(g.tokens_per_completed_task)}"
            f" · completed tasks per window: {number(g.completed_per_window)}",
            f"- Retries per task: {number(g.retry_rate)}"
            f" · plan revisions per approved plan: {number(g.revisions_per_approved_plan)}",
            f"- Window utilization: {percent(g.utilization) if g.utilization is not None else 'unknown'}",
            f"- Reset-to-start latency: mean {seconds(g.latency.mean_s)}, max {seconds(g.latency.max_s)}",
        ]
        lines += ["", "## Charts", ""]
        lines += [f"![[{chart}]]" for chart in self.day_charts(day)]
        return front_matter(meta) + "\n" + "\n".join(lines) + "\n"
