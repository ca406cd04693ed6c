"""The self-improvement tables: run analyses, lessons, estimates, style stats, adjustments.

Each fold (a run into the analyses and style stats, a finished task into the estimates)
happens in one transaction together with the row that marks it done, so a crash or a
second process can never count the same run or task twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from core.errors import InvalidInput
from core.improve.adjustments import Adjustment, Knob, RunFact
from core.improve.analysis import Finding, RunAnalysis
from core.improve.bayes import Posterior
from core.improve.estimates import Cell, EstimateBook, Key, Metric
from core.improve.lessons import Lesson, LessonStatus, Observation, Recurrence, Scope, lesson_text
from core.models import Outcome, dumps, iso, parse_iso
from core.store.port import Database, Row
from core.store.where import time_range


def _when(text: str | None) -> datetime:
    moment = parse_iso(text)
    if moment is None:
        raise ValueError("missing timestamp")
    return moment


def row_to_lesson(row: Row) -> Lesson:
    return Lesson(
        id=row["id"],
        pattern=Finding.from_json({"pattern": row["pattern"]}).pattern,
        scope=Scope(row["scope_kind"], row["scope"]),
        status=LessonStatus(row["status"]),
        text=row["text"],
        evidence=tuple(int(r) for r in json.loads(row["evidence"])),
        first_seen=_when(row["first_seen"]),
        last_seen=_when(row["last_seen"]),
        created_at=_when(row["created_at"]),
        updated_at=_when(row["updated_at"]),
    )


def _value(text: str | None) -> float | str | None:
    if text is None:
        return None
    value = json.loads(text)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None if value is None else str(value)


def row_to_adjustment(row: Row) -> Adjustment:
    return Adjustment(
        knob=Knob(row["knob"]),
        scope=row["scope"],
        old=_value(row["old_value"]),
        new=_value(row["new_value"]),
        reason=row["reason"],
        at=_when(row["at"]),
        evidence=tuple(int(r) for r in json.loads(row["evidence"])),
    )


@dataclass(frozen=True, slots=True)
class PendingRun:
    """A finished work run not analysed yet, with what the analysis needs from its task."""

    run_id: int
    task_id: int
    outcome: Outcome
    log_path: str | None
    check_output: str | None
    prompt_variant: str | None
    started_at: datetime | None
    finished_at: datetime
    tags: tuple[str, ...]
    repo: str | None


@dataclass(frozen=True, slots=True)
class DoneTask:
    """A task that reached DONE and is not folded into the estimates yet."""

    task_id: int
    finished_at: datetime
    tags: tuple[str, ...]
    repo: str | None
    plan_size: str | None
    tokens: int
    minutes: float


@dataclass(frozen=True, slots=True)
class EstimateSample:
    task_id: int
    finished_at: datetime
    tokens: int
    minutes: float
    predicted_tokens: float | None
    predicted_minutes: float | None


class ImproveStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- run analyses and style stats ------------------------------------------------------

    async def pending_runs(self, limit: int = 500) -> list[PendingRun]:
        rows = await self.db.fetchall(
            "SELECT r.id, r.task_id, r.outcome, r.log_path, r.check_output, r.prompt_variant,"
            " r.started_at, r.finished_at, t.tags, t.repo"
            " FROM runs r JOIN tasks t ON t.id = r.task_id"
            " LEFT JOIN run_analyses a ON a.run_id = r.id"
            " WHERE a.run_id IS NULL AND r.kind = 'work' AND r.outcome IS NOT NULL"
            " AND r.finished_at IS NOT NULL ORDER BY r.id LIMIT ?",
            (limit,),
        )
        return [
            PendingRun(
                run_id=r[0], task_id=r[1], outcome=Outcome(r[2]), log_path=r[3],
                check_output=r[4], prompt_variant=r[5], started_at=parse_iso(r[6]),
                finished_at=_when(r[7]), tags=tuple(json.loads(r[8])), repo=r[9],
            )
            for r in rows
        ]

    async def save_analysis(self, run: PendingRun, analysis: RunAnalysis, now: datetime) -> bool:
        """Record the analysis and count it for its style; False if another process did it."""
        async with self.db.transaction() as conn:
            changed = await conn.execute(
                "INSERT INTO run_analyses (run_id, task_id, outcome, findings, tags,"
                " repo, prompt_variant, started_at, finished_at, analyzed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (run.run_id, run.task_id, analysis.outcome.value,
                 dumps([f.as_json() for f in analysis.findings]), dumps(list(run.tags)),
                 run.repo, run.prompt_variant, iso(run.started_at), iso(run.finished_at),
                 iso(now)),
            )
            if changed != 1:
                return False
            if run.prompt_variant:
                success = int(analysis.success)
                failure = int(not analysis.success and not analysis.neutral)
                await conn.execute(
                    "INSERT INTO style_stats (style, runs, successes, failures, updated_at)"
                    " VALUES (?, 1, ?, ?, ?) ON CONFLICT(style) DO UPDATE SET"
                    " runs = style_stats.runs + 1,"
                    " successes = style_stats.successes + excluded.successes,"
                    " failures = style_stats.failures + excluded.failures,"
                    " updated_at = excluded.updated_at",
                    (run.prompt_variant, success, failure, iso(now)),
                )
            return True

    async def observations(self, since: datetime) -> list[Observation]:
        """Failed runs analysed since `since` (with their task's check command)."""
        rows = await self.db.fetchall(
            "SELECT a.run_id, a.finished_at, a.findings, a.tags, a.repo, t.check_cmd"
            " FROM run_analyses a JOIN tasks t ON t.id = a.task_id"
            " WHERE a.finished_at > ? AND a.findings != '[]' ORDER BY a.run_id",
            (iso(since),),
        )
        return [
            Observation(
                run_id=r[0], at=_when(r[1]),
                findings=tuple(Finding.from_json(f) for f in json.loads(r[2])),
                tags=tuple(json.loads(r[3])), repo=r[4], check_cmd=r[5],
            )
            for r in rows
        ]

    async def run_facts(self, since: datetime) -> list[RunFact]:
        rows = await self.db.fetchall(
            "SELECT run_id, outcome, tags, started_at, finished_at FROM run_analyses"
            " WHERE finished_at > ? AND started_at IS NOT NULL ORDER BY run_id",
            (iso(since),),
        )
        return [
            RunFact(r[0], Outcome(r[1]), tuple(json.loads(r[2])), _when(r[3]), _when(r[4]))
            for r in rows
        ]

    async def analyses_between(
        self, since: datetime, until: datetime
    ) -> list[tuple[int, Outcome, tuple[Finding, ...], str | None]]:
        """(run id, outcome, findings, prompt variant) of runs finished in [since, until)."""
        rows = await self.db.fetchall(
            "SELECT run_id, outcome, findings, prompt_variant FROM run_analyses"
            " WHERE finished_at >= ? AND finished_at < ? ORDER BY run_id",
            (iso(since), iso(until)),
        )
        return [
            (r[0], Outcome(r[1]), tuple(Finding.from_json(f) for f in json.loads(r[2])), r[3])
            for r in rows
        ]

    async def style_stats(self) -> dict[str, Posterior]:
        rows = await self.db.fetchall("SELECT style, successes, failures FROM style_stats")
        return {r[0]: Posterior(int(r[1]), int(r[2])) for r in rows}

    async def style_runs(self) -> dict[str, int]:
        rows = await self.db.fetchall("SELECT style, runs FROM style_stats")
        return {r[0]: int(r[1]) for r in rows}

    # --- lessons ---------------------------------------------------------------------------

    async def lessons(self) -> list[Lesson]:
        rows = await self.db.fetchall("SELECT * FROM lessons ORDER BY id")
        return [row_to_lesson(r) for r in rows]

    async def lesson(self, lesson_id: int) -> Lesson:
        row = await self.db.fetchone("SELECT * FROM lessons WHERE id = ?", (lesson_id,))
        if row is None:
            raise InvalidInput(f"no lesson with id {lesson_id} (see `nightshift lessons`)")
        return row_to_lesson(row)

    async def record_recurrence(self, found: Recurrence, now: datetime) -> tuple[Lesson, bool]:
        """Propose a lesson for a recurring pattern, or add new evidence to the existing one.

        Returns the lesson and whether it is new. A dismissed lesson keeps its status: the
        owner said no, and the same pattern does not ask again.
        """
        text = lesson_text(found.pattern, found.details, found.check_cmd)
        async with self.db.transaction() as conn:
            row = await conn.fetchone(
                "SELECT * FROM lessons WHERE pattern = ? AND scope_kind = ? AND scope = ?",
                (found.pattern.value, found.scope.kind, found.scope.value),
            )
            if row is None:
                new_id = await conn.insert(
                    "INSERT INTO lessons (pattern, scope_kind, scope, status, text, evidence,"
                    " first_seen, last_seen, created_at, updated_at)"
                    " VALUES (?, ?, ?, 'proposed', ?, ?, ?, ?, ?, ?)",
                    (found.pattern.value, found.scope.kind, found.scope.value, text,
                     dumps(list(found.run_ids)), iso(found.first_seen), iso(found.last_seen),
                     iso(now), iso(now)),
                )
                created = await conn.fetchone("SELECT * FROM lessons WHERE id = ?", (new_id,))
                assert created is not None
                return row_to_lesson(created), True
            lesson = row_to_lesson(row)
            evidence = tuple(sorted(set(lesson.evidence) | set(found.run_ids)))
            if evidence != lesson.evidence and lesson.status is not LessonStatus.DISMISSED:
                await conn.execute(
                    "UPDATE lessons SET evidence = ?, last_seen = ?, updated_at = ? WHERE id = ?",
                    (dumps(list(evidence)), iso(max(lesson.last_seen, found.last_seen)),
                     iso(now), lesson.id),
                )
                updated = await conn.fetchone("SELECT * FROM lessons WHERE id = ?", (lesson.id,))
                assert updated is not None
                lesson = row_to_lesson(updated)
            return lesson, False

    async def update_lesson(
        self, lesson_id: int, now: datetime, *, status: LessonStatus | None = None,
        text: str | None = None,
    ) -> Lesson:
        lesson = await self.lesson(lesson_id)
        sets, params = ["updated_at = ?"], [iso(now)]
        if status is not None and status is not lesson.status:
            sets.append("status = ?")
            params.append(status.value)
        if text is not None and text.strip() and text.strip() != lesson.text:
            sets.append("text = ?")
            params.append(text.strip())
        if len(sets) > 1:
            async with self.db.transaction() as conn:
                await conn.execute(f"UPDATE lessons SET {', '.join(sets)} WHERE id = ?",
                                   (*params, lesson_id))
        return await self.lesson(lesson_id)

    # --- estimates -------------------------------------------------------------------------

    async def done_tasks(self, limit: int = 500) -> list[DoneTask]:
        minutes = self.db.dialect.minutes_between("r.started_at", "r.finished_at")
        rows = await self.db.fetchall(
            "SELECT t.id, t.tags, t.repo,"
            " (SELECT p.size FROM plans p WHERE p.task_id = t.id AND p.status = 'approved'"
            "  ORDER BY p.version DESC LIMIT 1),"
            " SUM(r.tokens_input + r.tokens_output + r.tokens_cache_creation + r.tokens_cache_read),"
            f" SUM({minutes}),"
            " MAX(r.finished_at)"
            " FROM tasks t JOIN runs r ON r.task_id = t.id AND r.kind = 'work'"
            "  AND r.started_at IS NOT NULL AND r.finished_at IS NOT NULL"
            " LEFT JOIN estimate_samples s ON s.task_id = t.id"
            " WHERE t.state = 'done' AND s.task_id IS NULL"
            " GROUP BY t.id ORDER BY MAX(r.finished_at), t.id LIMIT ?",
            (limit,),
        )
        return [
            DoneTask(
                task_id=r[0], tags=tuple(json.loads(r[1])), repo=r[2], plan_size=r[3],
                tokens=int(r[4] or 0), minutes=max(0.0, float(r[5] or 0.0)),
                finished_at=_when(r[6]),
            )
            for r in rows
        ]

    async def estimate_book(self, alpha: float | None = None) -> EstimateBook:
        book = EstimateBook() if alpha is None else EstimateBook(alpha=alpha)
        rows = await self.db.fetchall(
            "SELECT dimension, key, metric, value, samples, variance FROM estimates"
        )
        for r in rows:
            metric: Metric = "tokens" if r[2] == "tokens" else "minutes"
            book.cells[(r[0], r[1], metric)] = Cell(float(r[3]), int(r[4]), float(r[5]))
        return book

    async def fold_tasks(
        self,
        tasks: Sequence[DoneTask],
        keys_of: Callable[[DoneTask], list[Key]],
        now: datetime,
    ) -> list[EstimateSample]:
        """Fold finished tasks into the estimates, in finish order, in one transaction."""
        if not tasks:
            return []
        folded: list[EstimateSample] = []
        async with self.db.transaction() as conn:
            book = EstimateBook()
            for r in await conn.fetchall(
                "SELECT dimension, key, metric, value, samples, variance FROM estimates"
            ):
                metric: Metric = "tokens" if r[2] == "tokens" else "minutes"
                book.cells[(r[0], r[1], metric)] = Cell(float(r[3]), int(r[4]), float(r[5]))
            for task in tasks:
                if await conn.fetchone("SELECT 1 FROM estimate_samples WHERE task_id = ?",
                                       (task.task_id,)) is not None:
                    continue  # another process folded it first
                keys = keys_of(task)
                predicted = book.observe(keys, {"tokens": float(task.tokens),
                                                "minutes": task.minutes})
                await conn.execute(
                    "INSERT INTO estimate_samples (task_id, finished_at, tokens, minutes,"
                    " predicted_tokens, predicted_minutes, keys) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (task.task_id, iso(task.finished_at), task.tokens, task.minutes,
                     predicted["tokens"], predicted["minutes"], dumps([list(k) for k in keys])),
                )
                folded.append(EstimateSample(task.task_id, task.finished_at, task.tokens,
                                             task.minutes, predicted["tokens"],
                                             predicted["minutes"]))
            await conn.executemany(
                "INSERT INTO estimates (dimension, key, metric, value, variance, samples,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(dimension, key, metric) DO UPDATE SET value = excluded.value,"
                " variance = excluded.variance, samples = excluded.samples,"
                " updated_at = excluded.updated_at",
                [(d, k, m, c.value, c.variance, c.samples, iso(now))
                 for (d, k, m), c in book.cells.items()],
            )
        return folded

    async def estimate_samples(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[EstimateSample]:
        where, params = time_range("finished_at", since, until)
        rows = await self.db.fetchall(
            "SELECT task_id, finished_at, tokens, minutes, predicted_tokens, predicted_minutes"
            f" FROM estimate_samples WHERE {where} ORDER BY finished_at, task_id",
            params,
        )
        return [EstimateSample(r[0], _when(r[1]), int(r[2]), float(r[3]), r[4], r[5]) for r in rows]

    async def estimate_cells(self) -> list[tuple[str, str, str, float, int]]:
        rows = await self.db.fetchall(
            "SELECT dimension, key, metric, value, samples FROM estimates"
            " ORDER BY dimension, key, metric"
        )
        return [(r[0], r[1], r[2], float(r[3]), int(r[4])) for r in rows]

    # --- adjustments -----------------------------------------------------------------------

    async def adjustments(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[Adjustment]:
        where, params = time_range("at", since, until)
        rows = await self.db.fetchall(f"SELECT * FROM adjustments WHERE {where} ORDER BY at, id", params)
        return [row_to_adjustment(r) for r in rows]

    async def add_adjustments(self, items: Iterable[Adjustment]) -> None:
        batch = list(items)
        if not batch:
            return
        async with self.db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO adjustments (at, knob, scope, old_value, new_value, reason, evidence)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(iso(a.at), a.knob.value, a.scope, json.dumps(a.old), json.dumps(a.new),
                  a.reason, dumps(list(a.evidence))) for a in batch],
            )

