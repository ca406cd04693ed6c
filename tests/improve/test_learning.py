"""The loop against a real SQLite store and vault: lessons with evidence, estimates, styles."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.improve.adjustments import Knob
from core.improve.learning import decide_lesson, learn, lessons_path, load_learned, set_pin
from core.improve.lessons import LessonStatus
from core.improve.reports import estimate_error, experiment_report
from core.improve.storage import ImproveStore
from core.models import Outcome, TaskState, iso
from core.settings import Settings
from core.store.store import Store
from tests.improve import logs
from tests.improve.history import add_run, add_task, end_task

MONDAY = datetime(2026, 10, 5, 1, 0, tzinfo=UTC)
CHECK_OUT = "FAILED tests/test_login.py::test_retry - AssertionError\n1 failed, 9 passed in 0.3s\n"


async def failing_night(store: Store, tmp_path: Path, day: int, *, tag: str = "auth") -> int:
    at = MONDAY + timedelta(days=day)
    task = await add_task(store, at, tags=[tag], repo=None, check="make test")
    return await add_run(store, task.id, at, minutes=20, outcome=Outcome.CHECK_FAILED, tokens=1000,
                         variant="direct", log_dir=tmp_path,
                         log_lines=[logs.init(), logs.tool_use("make test"), logs.result()],
                         check_output=CHECK_OUT)


async def test_recurring_fixture_failures_become_a_lesson_with_evidence_links(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    runs = [await failing_night(store, tmp_path, day) for day in (0, 2, 4)]
    now = MONDAY + timedelta(days=4, hours=2)

    report = await learn(store, settings, now)
    assert report.analyzed == 3
    assert [(item.pattern.value, str(item.scope), item.evidence) for item in report.proposed] == [
        ("failing_tests", "tag auth", tuple(runs))
    ]
    note = lessons_path(settings).read_text()
    assert "### L1: failing tests · tag auth" in note
    assert ", ".join(f"[[run-{r}]]" for r in runs) in note
    assert "- status: proposed" in note
    assert lessons_path(settings).stat().st_mode & 0o777 == 0o600

    # Learning again changes nothing: no second analysis, no second lesson, no rewrite.
    before = lessons_path(settings).stat().st_mtime_ns
    again = await learn(store, settings, now + timedelta(minutes=1))
    assert again.analyzed == 0 and again.proposed == []
    assert lessons_path(settings).stat().st_mtime_ns == before
    assert len(await ImproveStore(store.db).lessons()) == 1

    # Proposed lessons do not reach prompts; accepted ones reach matching tasks only.
    auth_task = await add_task(store, now, tags=["auth"])
    other = await add_task(store, now, tags=["ui"])
    assert (await load_learned(store, settings)).lessons_for(auth_task) == []
    accepted = await decide_lesson(store, settings, 1, LessonStatus.ACCEPTED, now)
    learned = await load_learned(store, settings)
    assert learned.lessons_for(auth_task) == [accepted.text]
    assert "tests/test_login.py::test_retry" in accepted.text
    assert learned.lessons_for(other) == []
    assert "- status: accepted" in lessons_path(settings).read_text()


async def test_the_owner_decides_and_rewords_by_editing_the_note(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    for day in (0, 1, 2):
        await failing_night(store, tmp_path, day)
    now = MONDAY + timedelta(days=3)
    await learn(store, settings, now)
    path = lessons_path(settings)
    edited = path.read_text().replace("- status: proposed", "- status: accepted")
    lines = edited.splitlines()
    quote = next(i for i, line in enumerate(lines) if line.startswith("> "))
    lines[quote] = "> Always run `make test` and read the failures before you stop."
    path.write_text("\n".join(lines) + "\n")

    report = await learn(store, settings, now + timedelta(minutes=5))
    assert report.problems == []
    lesson = (await ImproveStore(store.db).lessons())[0]
    assert lesson.status is LessonStatus.ACCEPTED
    assert lesson.text == "Always run `make test` and read the failures before you stop."
    task = await add_task(store, now, tags=["auth"])
    assert (await load_learned(store, settings)).lessons_for(task) == [lesson.text]

    # Dismissed in the file: gone from prompts, and more failures do not bring it back.
    path.write_text(path.read_text().replace("- status: accepted", "- status: dismissed"))
    await failing_night(store, tmp_path, 3)
    await learn(store, settings, now + timedelta(days=1))
    lessons = await ImproveStore(store.db).lessons()
    assert [(item.status, len(item.evidence)) for item in lessons] == [(LessonStatus.DISMISSED, 3)]
    assert (await load_learned(store, settings)).lessons_for(task) == []


async def test_an_unknown_lesson_in_the_note_is_reported(store: Store, settings: Settings) -> None:
    lessons_path(settings).parent.mkdir(parents=True, exist_ok=True)
    lessons_path(settings).write_text("### L42: something\n- status: accepted\n> text\n")
    report = await learn(store, settings, MONDAY)
    assert report.problems == ["L42 in lessons.md is not a known lesson; ignored"]


async def test_done_tasks_teach_estimates_and_the_error_is_tracked(
    store: Store, settings: Settings
) -> None:
    rng = random.Random(3)
    at = MONDAY
    for i in range(40):
        kind = "docs" if i % 2 else "feature"
        cost = (100_000 if kind == "docs" else 2_000_000) * rng.uniform(0.9, 1.1)
        task = await add_task(store, at, tags=[kind])
        await add_run(store, task.id, at, minutes=10 if kind == "docs" else 60,
                      outcome=Outcome.SUCCESS, tokens=int(cost), variant="direct")
        await end_task(store, task.id, TaskState.DONE, at + timedelta(minutes=61))
        at += timedelta(hours=2)
    failed = await add_task(store, at, tags=["docs"])
    await add_run(store, failed.id, at, minutes=5, outcome=Outcome.ERROR, tokens=9_999_999)
    await end_task(store, failed.id, TaskState.FAILED, at + timedelta(minutes=6))

    report = await learn(store, settings, at + timedelta(hours=1))
    assert report.folded == 40  # the failed task does not teach what a task costs
    learned = await load_learned(store, settings)
    docs, feature = await add_task(store, at, tags=["docs"]), await add_task(store, at, tags=["feature"])
    assert learned.estimate_tokens(docs) == pytest.approx(100_000, rel=0.12)
    assert learned.estimate_tokens(feature) == pytest.approx(2_000_000, rel=0.12)
    assert learned.estimate_minutes(feature) == pytest.approx(60.0)
    error = await estimate_error(store)
    assert error.samples == 40 and error.predicted == 39
    assert error.mape_tokens is not None and error.mape_tokens < 1.0
    late = await estimate_error(store, since=MONDAY + timedelta(hours=40))
    assert late.mape_tokens is not None and late.mape_tokens < 0.15
    assert (await learn(store, settings, at + timedelta(hours=2))).folded == 0


async def test_style_stats_count_successes_and_ignore_limits(
    store: Store, settings: Settings
) -> None:
    at = MONDAY
    outcomes = {"direct": [Outcome.SUCCESS, Outcome.CHECK_FAILED, Outcome.LIMIT, Outcome.ERROR],
                "plan-test-verify": [Outcome.SUCCESS, Outcome.SUCCESS, Outcome.CANCELLED]}
    for variant, ends in outcomes.items():
        for outcome in ends:
            task = await add_task(store, at)
            await add_run(store, task.id, at, minutes=5, outcome=outcome, variant=variant)
            at += timedelta(minutes=10)
    await learn(store, settings, at)
    reports = {r.name: r for r in await experiment_report(store, settings, at)}
    assert (reports["direct"].runs, reports["direct"].successes, reports["direct"].failures) == (4, 1, 2)
    ptv = reports["plan-test-verify"]
    assert (ptv.runs, ptv.successes, ptv.failures, ptv.status) == (3, 2, 0, "active")
    assert 0.0 <= ptv.low < ptv.mean < ptv.high <= 1.0
    await set_pin(store, "direct")
    pinned = {r.name: r.status for r in await experiment_report(store, settings, at)}
    assert pinned == {"direct": "pinned", "plan-test-verify": "active"}
    learned = await load_learned(store, settings)
    task = await add_task(store, at)
    assert {learned.choose_style(task, at, random.Random(i)).name for i in range(20)} == {"direct"}


async def test_a_style_that_keeps_losing_is_retired_and_no_longer_chosen(
    store: Store, settings: Settings
) -> None:
    at = MONDAY
    for variant, wins in (("direct", 3), ("plan-test-verify", 15)):
        for i in range(20):
            task = await add_task(store, at)
            await add_run(store, task.id, at, minutes=5, variant=variant,
                          outcome=Outcome.SUCCESS if i < wins else Outcome.CHECK_FAILED)
            at += timedelta(minutes=1)
    report = await learn(store, settings, at)
    assert [(a.knob, a.scope) for a in report.adjustments] == [(Knob.RETIRE_STYLE, "direct")]
    assert "P(direct is worse)" in report.adjustments[0].reason
    learned = await load_learned(store, settings)
    task = await add_task(store, at)
    assert {learned.choose_style(task, at, random.Random(i)).name for i in range(30)} == {"plan-test-verify"}
    assert (await learn(store, settings, at)).adjustments == []


async def test_timeouts_of_a_tag_raise_its_time_limit_for_the_executor(
    store: Store, settings: Settings
) -> None:
    at = MONDAY
    for _ in range(2):
        task = await add_task(store, at, tags=["migrations"])
        await add_run(store, task.id, at, minutes=60, outcome=Outcome.TIMEOUT)
        at += timedelta(hours=2)
    report = await learn(store, settings, at)
    assert [(a.knob, a.scope, a.old, a.new) for a in report.adjustments] == [
        (Knob.TIME_LIMIT, "migrations", 60.0, 90.0)
    ]
    logged = await ImproveStore(store.db).adjustments()
    assert [a.reason for a in logged] == [report.adjustments[0].reason]
    # ...and a line in brain/logs, as every automatic adjustment
    lines = [json.loads(raw) for path in (settings.brain_dir / "logs").glob("*.jsonl")
             for raw in path.read_text().splitlines()]
    (line,) = [line for line in lines if line["event"] == "adjustment"]
    assert line["time"] == iso(at)
    assert line["fields"] | {"reason": "", "evidence": []} == {
        "knob": "time_limit", "scope": "migrations", "old": 60.0, "new": 90.0, "reason": "", "evidence": [],
    }
    assert line["fields"]["reason"] == report.adjustments[0].reason
    learned = await load_learned(store, settings)
    assert learned.time_limit_minutes(await add_task(store, at, tags=["migrations"]), 60.0) == 90.0
    assert learned.time_limit_minutes(await add_task(store, at, tags=["docs"]), 60.0) == 60.0


async def test_adjustments_can_be_switched_off(store: Store, tmp_path: Path) -> None:
    from core.settings import load_settings

    quiet = load_settings(env_file=None, auto_adjust=False)
    at = MONDAY
    for _ in range(3):
        task = await add_task(store, at, tags=["migrations"])
        await add_run(store, task.id, at, minutes=60, outcome=Outcome.TIMEOUT)
        at += timedelta(hours=1)
    assert (await learn(store, quiet, at)).adjustments == []
