"""What each vault note says: pure functions of the catalog (`core.vault.catalog`), so the
same snapshot always gives the same bytes and the writer rewrites only what changed.

Front matter keys are fixed per note type (TASK_KEYS, RUN_KEYS, DAILY_KEYS); a value that
is unknown is null, never a missing key, so Dataview tables line up.
"""

from __future__ import annotations

from typing import Any

from core.metrics.report import GroupMetrics, human, number, percent, seconds
from core.models import Run, RunKind
from core.redact import redact
from core.vault.catalog import NoteSpec, VaultCatalog
from core.vault.markdown import block, code, escape, fenced, front_matter, link, one_line, tail

TASK_KEYS = ("type", "id", "title", "state", "priority", "repo", "created", "finished", "tags",
             "plan_version", "plan_status", "depends_on", "check", "runs", "tokens", "cost_usd",
             "outcome")
RUN_KEYS = ("type", "id", "task", "task_id", "kind", "iteration", "outcome", "tokens_input",
            "tokens_output", "tokens_cache_creation", "tokens_cache_read", "tokens_total",
            "cost_usd", "duration_s", "turns", "prompt_style", "window", "branch", "scheduled",
            "started", "finished", "latency_s", "day")
DAILY_KEYS = ("type", "date", "runs", "tasks_added", "tasks_done", "tasks_failed", "tokens",
              "cost_usd", "completion_rate", "windows")

CHECK_TAIL_LINES = 40


def _money(value: float) -> float:
    return round(value, 4)


def render(c: VaultCatalog, spec: NoteSpec) -> str:
    if spec.kind == "task":
        return task_note(c, int(spec.key))
    if spec.kind == "run":
        return run_note(c, int(spec.key))
    if spec.kind == "daily":
        return daily_note(c, spec.key)
    raise ValueError(f"{spec.name} is not a note")


def _run_line(c: VaultCatalog, run: Run, *, with_task: bool = False) -> str:
    parts = [link(c.run_name(run.id))]
    if with_task:
        parts.append(link(c.task_name(run.task_id)))
    detail = [f"{run.kind.value} {run.iteration}",
              run.outcome.value if run.outcome else "running",
              f"{human(run.tokens.total)} tokens", f"${run.cost_usd:.2f}"]
    return f"- {c.clock(c.run_moment(run))} " + " ".join(parts) + " · " + " · ".join(detail)


def task_note(c: VaultCatalog, task_id: int) -> str:
    task = c.h.tasks[task_id]
    runs = c.runs_by_task.get(task_id, [])
    plans = c.plans_by_task.get(task_id, [])
    approved = [p for p in plans if p.status == "approved"]
    shown = max(approved or plans, key=lambda p: p.version) if plans else None
    end = c.h.ends.get(task_id)
    work = [r for r in runs if r.kind is RunKind.WORK and r.outcome is not None]
    tokens = sum(r.tokens.total for r in runs)
    cost = sum(r.cost_usd for r in runs)
    meta: dict[str, Any] = {
        "type": "task",
        "id": task.id,
        "title": escape(c.title(task)),
        "state": task.state.value,
        "priority": task.priority.label,
        "repo": task.repo,
        "created": c.local(task.created_at),
        "finished": c.local(end.at) if end else None,
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
    lines = [f"# {one_line(c.title(task))}", ""]
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
    when = f"- Added: {link(c.day_of(task.created_at))} {c.clock(task.created_at)[11:]}"
    if end:
        when += f" · Ended: {link(c.day_of(end.at))} {c.clock(end.at)[11:]}"
    lines.append(when)
    deps = [d for d in task.depends_on if d in c.h.tasks]
    if deps:
        lines.append("- Waits for: " + ", ".join(link(c.task_name(d)) for d in deps))
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
    lines += [_run_line(c, r) for r in runs] or ["No runs yet."]
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
        lines += ["", f"Last run ({link(c.run_name(last.id))}): {one_line(text, limit=500)}"]
    return front_matter(meta) + "\n" + "\n".join(lines) + "\n"


def run_note(c: VaultCatalog, run_id: int) -> str:
    run = c.runs_by_id[run_id]
    task = c.h.tasks[run.task_id]
    siblings = c.runs_by_task[run.task_id]
    index = siblings.index(run)
    day = c.run_day(run)
    meta: dict[str, Any] = {
        "type": "run",
        "id": run.id,
        "task": link(c.task_name(task.id)),
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
        "scheduled": c.local(run.scheduled_for),
        "started": c.local(run.started_at),
        "finished": c.local(run.finished_at),
        "latency_s": None if run.latency_s is None else round(run.latency_s, 1),
        "day": link(day),
    }
    outcome = run.outcome.value if run.outcome else "running"
    lines = [
        f"# Run {run.id}: {one_line(c.title(task))}, iteration {run.iteration}",
        "",
        f"- Task: {link(c.task_name(task.id))}",
        f"- Day: {link(day)}",
        f"- Outcome: **{outcome}** · {run.kind.value} run · {run.num_turns} turns"
        f" · {seconds(run.duration_s)} · {run.tokens.total:,} tokens · ${run.cost_usd:.2f}",
        f"- Tokens: input {run.tokens.input:,} · output {run.tokens.output:,}"
        f" · cache creation {run.tokens.cache_creation:,} · cache read {run.tokens.cache_read:,}",
    ]
    timing = f"- Started: {c.clock(run.started_at)}"
    if run.scheduled_for is not None:
        timing += f" (scheduled {c.clock(run.scheduled_for)}, {seconds(run.latency_s)} late)"
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
        nav.append(f"Previous run: {link(c.run_name(siblings[index - 1].id))}")
    if index + 1 < len(siblings):
        nav.append(f"Next run: {link(c.run_name(siblings[index + 1].id))}")
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


def daily_note(c: VaultCatalog, day: str) -> str:
    runs = sorted((r for r in c.runs_by_id.values() if c.run_day(r) == day),
                  key=lambda r: (c.run_moment(r), r.id))
    added = [t for t in c.h.tasks.values() if c.day_of(t.created_at) == day]
    ended = sorted((e for e in c.h.ends.values()
                    if e.task_id in c.h.tasks and c.day_of(e.at) == day),
                   key=lambda e: (e.at, e.task_id))
    report = c.day_report(day)
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
    position = c.days.index(day)
    nav = []
    if position > 0:
        nav.append(f"← {link(c.days[position - 1])}")
    if position + 1 < len(c.days):
        nav.append(f"{link(c.days[position + 1])} →")
    if nav:
        lines += [" · ".join(nav), ""]
    lines += ["## Runs", ""]
    lines += [_run_line(c, r, with_task=True) for r in runs] or ["No runs."]
    lines += ["", "## Tasks added", ""]
    lines += [f"- {link(c.task_name(t.id))} {one_line(c.title(t))} ({t.state.value})"
              for t in sorted(added, key=lambda t: t.id)] or ["None."]
    lines += ["", "## Tasks ended", ""]
    lines += [f"- {link(c.task_name(e.task_id))} {one_line(c.title(c.h.tasks[e.task_id]))}"
              f" **{e.state.value}** at {c.clock(e.at)[11:]}" for e in ended] or ["None."]
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
    lines += [f"![[{chart}]]" for chart in c.day_charts(day)]
    return front_matter(meta) + "\n" + "\n".join(lines) + "\n"
