"""The weekly retrospective: `brain/retros/YYYY-Www.md`, and a message to the owner.

It puts one ISO week (Monday 00:00 to Monday 00:00 in the owner's zone) beside the week
before: the day-one metrics (from `core.metrics`), what the loop itself tracks (run
success by the check, estimate error, prompt styles), every automatic change with its
reason, and the failure patterns still open. It is written from the database, so running
it twice gives the same note; the message is sent once per week.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

from core.abc import Notification, Notifier
from core.errors import InvalidInput
from core.improve.adjustments import Adjustment
from core.improve.analysis import NEUTRAL_OUTCOMES, Pattern
from core.improve.bayes import Posterior
from core.improve.estimates import mape
from core.improve.learning import write_private
from core.improve.lessons import Lesson, LessonStatus
from core.improve.storage import ImproveStore
from core.log import event
from core.metrics import GroupMetrics, compute_metrics
from core.metrics.report import human, number, percent, seconds
from core.models import Outcome, iso
from core.settings import Settings
from core.store.store import Store

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
SENT_KEY = "improve.retro_sent"


@dataclass(frozen=True, slots=True, order=True)
class IsoWeek:
    year: int
    week: int

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        match = _WEEK.match(text.strip())
        if not match:
            raise InvalidInput(f"week must look like 2026-W07, not {text!r}")
        year, week = int(match.group(1)), int(match.group(2))
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            raise InvalidInput(f"{year} has no ISO week {week}") from None
        return cls(year, week)

    @classmethod
    def of(cls, moment: datetime, tz: tzinfo) -> IsoWeek:
        year, week, _ = moment.astimezone(tz).date().isocalendar()
        return cls(year, week)

    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    def bounds(self, tz: tzinfo) -> tuple[datetime, datetime]:
        """[Monday 00:00, next Monday 00:00) as local wall times in `tz` (DST-safe)."""
        start = datetime.combine(self.monday(), time(0), tzinfo=tz)
        end = datetime.combine(self.monday() + timedelta(days=7), time(0), tzinfo=tz)
        return start, end

    def previous(self) -> IsoWeek:
        year, week, _ = (self.monday() - timedelta(days=7)).isocalendar()
        return IsoWeek(year, week)


@dataclass(frozen=True)
class WeekNumbers:
    """One week's figures: the day-one metrics plus what the loop tracks itself."""

    metrics: GroupMetrics
    run_successes: int
    run_failures: int
    mape_tokens: float | None
    mape_minutes: float | None
    styles: dict[str, tuple[int, int]]
    """style -> (successes, failures) among this week's runs."""
    patterns: Counter[str]

    @property
    def run_success_rate(self) -> float | None:
        total = self.run_successes + self.run_failures
        return self.run_successes / total if total else None


@dataclass(frozen=True)
class Retro:
    week: IsoWeek
    start: datetime
    end: datetime
    this: WeekNumbers
    last: WeekNumbers
    adjustments: tuple[Adjustment, ...]
    new_lessons: tuple[Lesson, ...]
    open_lessons: tuple[Lesson, ...]
    posteriors: dict[str, Posterior] = field(default_factory=dict)
    style_runs: dict[str, int] = field(default_factory=dict)
    retired: frozenset[str] = frozenset()

    def as_json(self) -> dict[str, Any]:
        def numbers(n: WeekNumbers) -> dict[str, Any]:
            return {
                "metrics": n.metrics.as_json(),
                "run_successes": n.run_successes,
                "run_failures": n.run_failures,
                "run_success_rate": n.run_success_rate,
                "mape_tokens": n.mape_tokens,
                "mape_minutes": n.mape_minutes,
                "styles": {k: {"successes": s, "failures": f} for k, (s, f) in n.styles.items()},
                "patterns": dict(n.patterns),
            }

        return {
            "week": str(self.week),
            "start": iso(self.start),
            "end": iso(self.end),
            "this_week": numbers(self.this),
            "last_week": numbers(self.last),
            "adjustments": [a.as_json() for a in self.adjustments],
            "new_lessons": [lesson.as_json() for lesson in self.new_lessons],
            "open_lessons": [lesson.as_json() for lesson in self.open_lessons],
        }


async def _numbers(
    store: Store, improve: ImproveStore, start: datetime, end: datetime, now: datetime,
    capacity: int | None, tz: tzinfo,
) -> WeekNumbers:
    report = await compute_metrics(store, since=start, until=end, now=now,
                                   capacity_tokens=capacity, tz=tz)
    successes = failures = 0
    styles: dict[str, tuple[int, int]] = {}
    patterns: Counter[str] = Counter()
    for _run_id, outcome, findings, variant in await improve.analyses_between(start, end):
        if outcome in NEUTRAL_OUTCOMES:
            for finding in findings:
                if finding.pattern is Pattern.LIMIT:
                    patterns[finding.pattern.value] += 1
            continue
        ok = outcome is Outcome.SUCCESS
        successes += ok
        failures += not ok
        if variant:
            s, f = styles.get(variant, (0, 0))
            styles[variant] = (s + ok, f + (not ok))
        for finding in findings:
            patterns[finding.pattern.value] += 1
    samples = await improve.estimate_samples(start, end)
    return WeekNumbers(
        metrics=report.overall,
        run_successes=successes,
        run_failures=failures,
        mape_tokens=mape((s.predicted_tokens, s.tokens) for s in samples),
        mape_minutes=mape((s.predicted_minutes, s.minutes) for s in samples),
        styles=styles,
        patterns=patterns,
    )


async def build_retro(
    store: Store, settings: Settings, week: IsoWeek, now: datetime, tz: tzinfo | None = None
) -> Retro:
    zone = tz or settings.local_tz
    improve = ImproveStore(store.db)
    start, end = week.bounds(zone)
    last_start, last_end = week.previous().bounds(zone)
    capacity = settings.window_capacity_tokens or None
    lessons = await improve.lessons()
    from core.improve.adjustments import Knobs  # local: keeps the module graph shallow

    return Retro(
        week=week,
        start=start,
        end=end,
        this=await _numbers(store, improve, start, end, now, capacity, zone),
        last=await _numbers(store, improve, last_start, last_end, now, capacity, zone),
        adjustments=tuple(await improve.adjustments(start, end)),
        new_lessons=tuple(item for item in lessons if start <= item.created_at < end),
        open_lessons=tuple(item for item in lessons if item.status is LessonStatus.PROPOSED
                           and item.created_at < end),
        posteriors=await improve.style_stats(),
        style_runs=await improve.style_runs(),
        retired=Knobs.from_log(await improve.adjustments()).retired_styles,
    )


# --- rendering ------------------------------------------------------------------------------

Fmt = Callable[[float | None], str]


def _delta(this: float | None, last: float | None, fmt: Fmt, *, pp: bool = False) -> str:
    if this is None or last is None:
        return "-"
    diff = this - last
    if pp:
        return f"{diff * 100:+.0f} pp"
    return ("+" if diff >= 0 else "-") + fmt(abs(diff))


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def metric_rows(this: WeekNumbers, last: WeekNumbers) -> list[tuple[str, str, str, str]]:
    t, p = this.metrics, last.metrics
    rows: list[tuple[str, float | None, float | None, Fmt, bool]] = [
        ("tasks done", t.tasks_done, p.tasks_done, _count, False),
        ("tasks failed", t.tasks_failed, p.tasks_failed, _count, False),
        ("completion rate", t.completion_rate, p.completion_rate, percent, True),
        ("runs", t.runs, p.runs, _count, False),
        ("run success (check passing)", this.run_success_rate, last.run_success_rate, percent, True),
        ("tokens", t.tokens.total, p.tokens.total, human, False),
        ("tokens per completed task", t.tokens_per_completed_task, p.tokens_per_completed_task,
         human, False),
        ("completed tasks per window", t.completed_per_window, p.completed_per_window, number,
         False),
        ("retries per task", t.retry_rate, p.retry_rate, number, False),
        ("plan revisions per approved plan", t.revisions_per_approved_plan,
         p.revisions_per_approved_plan, number, False),
        ("window utilization", t.utilization, p.utilization, percent, True),
        ("reset-to-start latency (median)", t.latency.median_s, p.latency.median_s, seconds, False),
        ("estimate error, tokens (MAPE)", this.mape_tokens, last.mape_tokens, percent, True),
        ("estimate error, minutes (MAPE)", this.mape_minutes, last.mape_minutes, percent, True),
    ]
    return [(name, fmt(a), fmt(b), _delta(a, b, fmt, pp=pp)) for name, a, b, fmt, pp in rows]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out.extend("| " + " | ".join(row) + " |" for row in rows)
    return out


def render_retro(retro: Retro, now: datetime) -> str:
    week = str(retro.week)
    last = str(retro.week.previous())
    lines = [
        "---",
        "kind: retro",
        f"week: {week}",
        f"from: {retro.start.date().isoformat()}",
        f"to: {(retro.end - timedelta(days=1)).date().isoformat()}",
        f"generated: {now.isoformat(timespec='seconds')}",
        f"tasks_done: {retro.this.metrics.tasks_done}",
        "completion_rate: " + ("null" if retro.this.metrics.completion_rate is None
                               else f"{retro.this.metrics.completion_rate:.3f}"),
        "tags: [nightshift, retro]",
        "---",
        "",
        f"# Retrospective {week}",
        "",
        f"Week {week} ({retro.start.date().isoformat()} to "
        f"{(retro.end - timedelta(days=1)).date().isoformat()}) against {last}.",
        "",
        "## Metrics",
        "",
        *_table(("metric", week, last, "change"), metric_rows(retro.this, retro.last)),
        "",
        "## Prompt styles",
        "",
    ]
    names = sorted(set(retro.posteriors) | set(retro.this.styles))
    if names:
        rows = []
        for name in names:
            s, f = retro.this.styles.get(name, (0, 0))
            post = retro.posteriors.get(name, Posterior())
            low, high = post.interval()
            rows.append((
                name, f"{s}/{s + f}" if s + f else "-", str(retro.style_runs.get(name, 0)),
                percent(post.rate), f"{low * 100:.0f}–{high * 100:.0f}%",
                "retired" if name in retro.retired else "active",
            ))
        lines.extend(_table(("style", "this week", "runs (all time)", "success rate",
                             "95% interval", "status"), rows))
    else:
        lines.append("_no runs with a prompt style yet_")
    lines.extend(["", "## What changed automatically", ""])
    changes = [f"- {a.at.astimezone(retro.start.tzinfo).strftime('%a %H:%M')} · "
               f"{a.knob.value} `{a.scope}`: {a.reason}" for a in retro.adjustments]
    changes.extend(f"- proposed lesson L{item.id} ({item.pattern.label}, {item.scope}) from "
                   + ", ".join(f"[[run-{r}]]" for r in item.evidence) for item in retro.new_lessons)
    lines.extend(changes or ["_nothing changed on its own this week_"])
    lines.extend(["", "## Open failure patterns", ""])
    patterns = sorted(set(retro.this.patterns) | set(retro.last.patterns))
    if patterns:
        lines.extend(_table(("pattern", week, last), [
            (name.replace("_", " "), str(retro.this.patterns.get(name, 0)),
             str(retro.last.patterns.get(name, 0))) for name in patterns
        ]))
    else:
        lines.append("_no failure patterns this week or last_")
    if retro.open_lessons:
        lines.extend(["", "Lessons waiting for a decision (see [[lessons]]):", ""])
        lines.extend(f"- L{item.id} · {item.pattern.label} · {item.scope}: {item.text}"
                     for item in retro.open_lessons)
    return "\n".join(lines).rstrip() + "\n"


def retro_path(settings: Settings, week: IsoWeek) -> Path:
    return settings.brain_dir / "retros" / f"{week}.md"


async def _weekly_chart(
    store: Store, settings: Settings, retro: Retro, now: datetime, tz: tzinfo
) -> tuple[Path | None, str]:
    """The week by day (`weekly` chart) beside the note, and its text twin; a chart that
    cannot be drawn leaves the retro without one rather than without a retro."""
    import asyncio
    import logging

    from core.metrics.charts import chart_series, draw
    from core.metrics.style import write_png
    from core.metrics.weekly import weekly_text
    from core.store.db import ensure_private_dir

    report = await compute_metrics(store, since=retro.start, until=retro.end, now=now,
                                   capacity_tokens=settings.window_capacity_tokens or None, tz=tz)
    series = chart_series("weekly", report)
    out = ensure_private_dir(settings.brain_dir / "retros") / f"{retro.week}-weekly.png"
    try:
        await asyncio.to_thread(write_png, await asyncio.to_thread(draw, series), out)
    except Exception as exc:
        event("weekly chart not drawn", logging.WARNING, logger="improve", error=repr(exc))
        return None, weekly_text(series)
    return out, weekly_text(series)


def summary_text(retro: Retro) -> str:
    t, p = retro.this.metrics, retro.last.metrics
    parts = [
        f"Week {retro.week}: {t.tasks_done} done, {t.tasks_failed} failed "
        f"(last week {p.tasks_done} / {p.tasks_failed}).",
        f"Completion {percent(t.completion_rate)} (was {percent(p.completion_rate)}), "
        f"run success {percent(retro.this.run_success_rate)}, "
        f"estimate error {percent(retro.this.mape_tokens)}.",
    ]
    if retro.adjustments:
        parts.append(f"{len(retro.adjustments)} automatic change"
                     f"{'s' if len(retro.adjustments) != 1 else ''}: "
                     + "; ".join(a.reason for a in retro.adjustments[:3]))
    if retro.open_lessons:
        parts.append(f"{len(retro.open_lessons)} lesson(s) wait for your decision (/lessons).")
    return "\n".join(parts)


async def write_retro(
    store: Store,
    settings: Settings,
    now: datetime,
    *,
    week: IsoWeek | None = None,
    notifier: Notifier | None = None,
    tz: tzinfo | None = None,
) -> tuple[Retro, Path, bool]:
    """Write the retro of `week` (default: the last finished week); notify once per week.

    Returns the retro, the note's path and whether a notification went out now.
    """
    zone = tz or settings.local_tz
    chosen = week or IsoWeek.of(now, zone).previous()
    retro = await build_retro(store, settings, chosen, now, zone)
    path = retro_path(settings, chosen)
    chart, week_text = await _weekly_chart(store, settings, retro, now, zone)
    note = render_retro(retro, now)
    if chart is not None:
        note = note.replace("\n## Prompt styles\n", f"\n![[{chart.name}]]\n\n## Prompt styles\n", 1)
    write_private(path, note)
    sent = False
    if notifier is not None:
        already = await store.kv.get(SENT_KEY, [])
        if str(chosen) not in already:
            await notifier.notify(Notification(
                "retro", summary_text(retro) + (f"\n\n{week_text}" if week_text else ""),
                photo=str(chart) if chart is not None else None,
                data={"week": str(chosen), "path": str(path)},
            ))
            await store.kv.set(SENT_KEY, sorted([*already, str(chosen)])[-60:])
            sent = True
    return retro, path, sent
