"""The self-improvement loop: learn from finished runs, and what the rest of nightshift reads.

`learn()` is the one writer: it analyses new runs, folds done tasks into the estimates,
turns recurring failures into proposed lessons, and makes the automatic adjustments. It
is idempotent (every fold is marked in the same transaction), so the daemon may call it
after every run and the CLI before every report.

`Learned` is a read-only snapshot the executor and the planner use synchronously:
`choose_style`, `lessons_for`, `estimate_tokens`, `time_limit_minutes`, `max_parallel`.
Its methods are pure given the snapshot, so they can sit inside pure scheduling code.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from core import safefs
from core.brain_logs import LogBook
from core.errors import UnsafeFile
from core.improve import adjustments as adjust
from core.improve.analysis import analyze_run_files
from core.improve.bandit import Pin, candidates, choose
from core.improve.bayes import Posterior
from core.improve.estimates import EstimateBook, task_keys
from core.improve.lessons import (
    RECUR_WINDOW,
    Lesson,
    LessonStatus,
    lessons_for,
    recurring,
)
from core.improve.lessons_file import parse_lessons_file, render_lessons_file
from core.improve.storage import DoneTask, ImproveStore
from core.improve.styles import PromptStyle, StyleSet, install_default_styles, load_styles
from core.models import Task, iso, parse_iso
from core.settings import Settings
from core.store.db import ensure_private_dir
from core.store.store import Store

PIN_KEY = "improve.pinned_style"
MAX_LESSONS_BYTES = 4 * 1024 * 1024


def lessons_path(settings: Settings) -> Path:
    return settings.brain_dir / "lessons.md"


def prompts_dir(settings: Settings) -> Path:
    return settings.brain_dir / "prompts"


def write_private(path: Path, text: str) -> None:
    """Write a vault file 0600 (its folder 0700), replacing it atomically."""
    ensure_private_dir(path.parent)
    safefs.write_atomic(path, text.encode("utf-8"))


# --- pins -----------------------------------------------------------------------------------


async def get_pin(store: Store, settings: Settings) -> Pin | None:
    """The owner's pin (`nightshift styles pin`), else `NIGHTSHIFT_PROMPT_STYLE`, else none."""
    value = await store.kv.get(PIN_KEY)
    if isinstance(value, dict) and value.get("name"):
        return Pin(str(value["name"]), parse_iso(value.get("until")))
    if settings.prompt_style.strip():
        return Pin(settings.prompt_style.strip().lower())
    return None


async def set_pin(store: Store, name: str | None, until: datetime | None = None) -> None:
    if name is None:
        await store.kv.delete(PIN_KEY)
    else:
        await store.kv.set(PIN_KEY, {"name": name, "until": iso(until)})


# --- the snapshot ---------------------------------------------------------------------------


@dataclass
class Learned:
    styles: StyleSet
    stats: dict[str, Posterior]
    retired: frozenset[str]
    pin: Pin | None
    floor: float
    lessons: list[Lesson]
    book: EstimateBook
    plan_sizes: dict[int, str]
    knobs: adjust.Knobs

    def choose_style(self, task: Task, now: datetime, rng: random.Random) -> PromptStyle:
        """The style for one run of `task` (`task` is accepted so per-task rules can come later)."""
        del task
        return choose(self.styles.styles, self.stats, rng, now=now, retired=self.retired,
                      pin=self.pin, floor=self.floor)

    def lessons_for(self, task: Task) -> list[str]:
        return lessons_for(task, self.lessons)

    def _keys(self, task: Task) -> list[tuple[str, str]]:
        return task_keys(task.tags, task.repo, self.plan_sizes.get(task.id))

    def estimate_tokens(self, task: Task) -> int | None:
        """Learned tokens for `task`; None with no history (the planner uses its default)."""
        value = self.book.predict(self._keys(task), "tokens")
        return None if value is None else max(1, round(value))

    def estimate_minutes(self, task: Task) -> float | None:
        value = self.book.predict(self._keys(task), "minutes")
        return None if value is None else round(value, 1)

    def time_limit_minutes(self, task: Task, default: float) -> float:
        """The run time limit for `task`: a task's own limit wins, else the learned tag limit."""
        if task.max_minutes is not None:
            return task.max_minutes
        return self.knobs.time_limit_minutes(task.tags, default)

    def max_parallel(self, now: datetime, window_end: datetime | None, default: int) -> int:
        return self.knobs.max_parallel(now, window_end, default)


async def load_learned(store: Store, settings: Settings) -> Learned:
    improve = ImproveStore(store.db)
    styles = load_styles(prompts_dir(settings))
    log = await improve.adjustments()
    knobs = adjust.Knobs.from_log(log)
    rows = await store.db.fetchall(
        "SELECT p.task_id, p.size FROM plans p JOIN tasks t ON t.id = p.task_id"
        " WHERE p.status = 'approved' AND p.size IS NOT NULL"
        " AND t.state NOT IN ('done', 'failed', 'rejected', 'cancelled')"
        " ORDER BY p.task_id, p.version"
    )
    return Learned(
        styles=styles,
        stats=await improve.style_stats(),
        retired=knobs.retired_styles,
        pin=await get_pin(store, settings),
        floor=settings.style_exploration,
        lessons=await improve.lessons(),
        book=await improve.estimate_book(),
        plan_sizes={int(r[0]): str(r[1]) for r in rows},
        knobs=knobs,
    )


# --- the loop -------------------------------------------------------------------------------


@dataclass
class LearnReport:
    analyzed: int = 0
    folded: int = 0
    proposed: list[Lesson] = field(default_factory=list)
    adjustments: list[adjust.Adjustment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.analyzed or self.folded or self.proposed or self.adjustments)


async def sync_lessons_file(store: Store, settings: Settings, now: datetime) -> list[str]:
    """Apply the owner's edits of `brain/lessons.md` to the database; return any problems."""
    path = lessons_path(settings)
    try:
        text = safefs.read_regular(path, limit_bytes=MAX_LESSONS_BYTES).decode("utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, UnsafeFile) as exc:
        return [f"{path}: cannot read ({exc}); edits in it were not applied"]
    parsed = parse_lessons_file(text)
    improve = ImproveStore(store.db)
    known = {lesson.id: lesson for lesson in await improve.lessons()}
    problems = list(parsed.problems)
    for edit in parsed.edits.values():
        lesson = known.get(edit.id)
        if lesson is None:
            problems.append(f"L{edit.id} in {path.name} is not a known lesson; ignored")
            continue
        status = edit.status if edit.status is not lesson.status else None
        text_change = edit.text if edit.text and edit.text != lesson.text else None
        if status is not None or text_change is not None:
            await improve.update_lesson(edit.id, now, status=status, text=text_change)
    return problems


async def write_lessons_file(store: Store, settings: Settings, now: datetime) -> Path:
    lessons = await ImproveStore(store.db).lessons()
    path = lessons_path(settings)
    text = render_lessons_file(lessons)
    try:
        unchanged = safefs.read_regular(path, limit_bytes=MAX_LESSONS_BYTES) == text.encode("utf-8")
    except (OSError, UnsafeFile):
        unchanged = False
    if not unchanged:
        write_private(path, text)
    return path


async def decide_lesson(
    store: Store, settings: Settings, lesson_id: int, status: LessonStatus, now: datetime
) -> Lesson:
    """Accept or dismiss a lesson (CLI, bot); the owner's pending file edits are kept."""
    await sync_lessons_file(store, settings, now)
    lesson = await ImproveStore(store.db).update_lesson(lesson_id, now, status=status)
    await write_lessons_file(store, settings, now)
    return lesson


def _keys_of(task: DoneTask) -> list[tuple[str, str]]:
    return task_keys(task.tags, task.repo, task.plan_size)


async def learn(
    store: Store, settings: Settings, now: datetime, *, logbook: LogBook | None = None
) -> LearnReport:
    """Fold everything new into what nightshift knows; safe to call any time, any number of times.

    Every automatic adjustment is also an `adjustment` line in `brain/logs` (`logbook`,
    default the one under `settings.brain_dir`), whoever asked for the learning."""
    report = LearnReport()
    improve = ImproveStore(store.db)
    install_default_styles(prompts_dir(settings))

    # 1. failure analysis of every finished work run not analysed yet
    while pending := await improve.pending_runs():
        for run in pending:
            analysis = await asyncio.to_thread(
                analyze_run_files, run.outcome, run.log_path, run.check_output
            )
            if await improve.save_analysis(run, analysis, now):
                report.analyzed += 1
        if len(pending) < 500:
            break

    # 2. learned estimates from tasks that are done
    while done := await improve.done_tasks():
        report.folded += len(await improve.fold_tasks(done, _keys_of, now))
        if len(done) < 500:
            break

    # 3. recurring failures -> proposed lessons (after taking in the owner's file edits)
    report.problems.extend(await sync_lessons_file(store, settings, now))
    observations = await improve.observations(now - RECUR_WINDOW)
    for found in recurring(observations, now):
        lesson, new = await improve.record_recurrence(found, now)
        if new:
            report.proposed.append(lesson)
    await write_lessons_file(store, settings, now)

    # 4. automatic adjustments within bounds
    if settings.auto_adjust:
        knobs = adjust.Knobs.from_log(await improve.adjustments())
        styles = load_styles(prompts_dir(settings))
        report.problems.extend(f"{path}: {problem}" for path, problem in styles.problems)
        pin = await get_pin(store, settings)
        live = [s.name for s in candidates(styles.styles, knobs.retired_styles)]
        changes = adjust.propose(
            knobs,
            await improve.run_facts(now - adjust.LOOKBACK),
            now=now,
            default_minutes=settings.max_minutes,
            default_parallel=settings.max_parallel,
            style_stats=await improve.style_stats(),
            live_styles=live,
            pinned_style=pin.name if pin and pin.active(now) else None,
        )
        await improve.add_adjustments(changes)
        report.adjustments.extend(changes)
        book = logbook or LogBook(settings.brain_dir)
        for change in changes:
            fields = {k: v for k, v in change.as_json().items() if k != "at"}
            await book.record("adjustment", at=change.at, **fields)
    return report

