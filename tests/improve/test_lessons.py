"""Recurring failures become lessons; the lessons note round-trips the owner's edits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.improve.analysis import Finding, Pattern
from core.improve.lessons import (
    Lesson,
    LessonStatus,
    Observation,
    Scope,
    lesson_text,
    lessons_for,
    recurring,
)
from core.improve.lessons_file import parse_lessons_file, render_lessons_file
from core.models import Priority, Task, TaskState

NOW = datetime(2026, 10, 9, 8, 0, tzinfo=UTC)
TESTS = Finding(Pattern.FAILING_TESTS, ("tests/test_login.py::test_retry",))
RG = Finding(Pattern.MISSING_TOOL, ("rg",))


def obs(run_id: int, days_ago: float, *findings: Finding, tags: tuple[str, ...] = ("auth",),
        repo: str | None = None) -> Observation:
    return Observation(run_id, NOW - timedelta(days=days_ago), findings, tags, repo, "make test")


def test_three_runs_of_one_tag_in_seven_days_recur() -> None:
    found = recurring([obs(1, 6, TESTS), obs(2, 3, TESTS), obs(3, 0.5, TESTS)], NOW)
    assert [(r.pattern, r.scope, r.run_ids) for r in found] == [
        (Pattern.FAILING_TESTS, Scope("tag", "auth"), (1, 2, 3))
    ]
    assert found[0].details == ("tests/test_login.py::test_retry",)
    assert found[0].first_seen == NOW - timedelta(days=6)


def test_two_runs_or_an_old_third_do_not_recur() -> None:
    assert recurring([obs(1, 3, TESTS), obs(2, 1, TESTS)], NOW) == []
    assert recurring([obs(1, 8, TESTS), obs(2, 3, TESTS), obs(3, 1, TESTS)], NOW) == []


def test_the_same_repo_counts_across_tags_and_patterns_stay_apart() -> None:
    runs = [obs(1, 2, RG, tags=("a",), repo="/code/shop"), obs(2, 2, RG, tags=("b",), repo="/code/shop"),
            obs(3, 1, RG, TESTS, tags=("c",), repo="/code/shop"), obs(4, 1, TESTS, tags=("d",))]
    found = recurring(runs, NOW)
    assert [(r.pattern, r.scope) for r in found] == [(Pattern.MISSING_TOOL, Scope("repo", "/code/shop"))]


def test_limits_never_become_lessons() -> None:
    limit = Finding(Pattern.LIMIT)
    assert recurring([obs(i, 1, limit) for i in range(1, 6)], NOW) == []


def test_every_lesson_pattern_has_advice() -> None:
    for pattern in Pattern:
        if pattern is Pattern.LIMIT:
            continue
        assert len(lesson_text(pattern, ("x",), "make test")) > 40
    assert "`rg`, `pnpm`" in lesson_text(Pattern.MISSING_TOOL, ("rg", "pnpm"))
    assert "(`make test`)" in lesson_text(Pattern.CHECK_FAILED, (), "make test")


def lesson(lesson_id: int, status: LessonStatus, scope: Scope, text: str = "Run the tests.") -> Lesson:
    return Lesson(lesson_id, Pattern.FAILING_TESTS, scope, status, text, (4, 9, 12),
                  NOW - timedelta(days=3), NOW, NOW, NOW)


def task(tags: tuple[str, ...], repo: str | None) -> Task:
    return Task(id=1, title="t", prompt="p", state=TaskState.READY, priority=Priority.NORMAL,
                repo=repo, depends_on=(), created_at=NOW, updated_at=NOW, tags=tags)


def test_only_accepted_lessons_of_a_matching_tag_or_repo_reach_a_task() -> None:
    book = [
        lesson(1, LessonStatus.ACCEPTED, Scope("tag", "auth"), "A"),
        lesson(2, LessonStatus.PROPOSED, Scope("tag", "auth"), "B"),
        lesson(3, LessonStatus.DISMISSED, Scope("tag", "auth"), "C"),
        lesson(4, LessonStatus.ACCEPTED, Scope("repo", "/code/shop"), "D"),
        lesson(5, LessonStatus.ACCEPTED, Scope("tag", "ui"), "E"),
        lesson(6, LessonStatus.ACCEPTED, Scope("repo", "/code/shop"), "A"),
    ]
    assert lessons_for(task(("Auth",), "/code/shop"), book) == ["A", "D"]
    assert lessons_for(task((), "/code/api"), book) == []


def test_the_note_links_evidence_and_round_trips_the_owners_edits() -> None:
    book = [lesson(1, LessonStatus.PROPOSED, Scope("tag", "auth")),
            lesson(2, LessonStatus.ACCEPTED, Scope("repo", "/code/shop"), "Line one.\nLine two.")]
    note = render_lessons_file(book)
    assert note.startswith("---\nkind: lessons\n")
    assert "- evidence: [[run-4]], [[run-9]], [[run-12]]" in note
    assert "### L1: failing tests · tag auth" in note
    parsed = parse_lessons_file(note)
    assert parsed.problems == []
    assert parsed.edits[1].status is LessonStatus.PROPOSED and parsed.edits[1].text == "Run the tests."
    assert parsed.edits[2].text == "Line one. Line two."
    edited = note.replace("- status: proposed", "- status: Accepted").replace(
        "> Run the tests.", "> Run `make test` before finishing.")
    again = parse_lessons_file(edited)
    assert again.edits[1].status is LessonStatus.ACCEPTED
    assert again.edits[1].text == "Run `make test` before finishing."


def test_an_unknown_status_is_reported_and_left_alone() -> None:
    note = render_lessons_file([lesson(3, LessonStatus.PROPOSED, Scope("tag", "auth"))])
    parsed = parse_lessons_file(note.replace("- status: proposed", "- status: maybe"))
    assert parsed.edits[3].status is None
    assert parsed.problems == ["L3: status 'maybe' is not proposed, accepted or dismissed; left unchanged"]
