"""`brain/lessons.md`: the lessons as a note the owner reads and may edit.

The database is the truth, but the owner may accept, dismiss or reword a lesson by
editing this file. Every writer therefore reads the file first (`parse_lessons_file`),
applies the owner's edits to the database, and only then renders the file again; a
difference between the file and the database can only be an edit by the owner.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from core.improve.lessons import Lesson, LessonStatus

_HEADING = re.compile(r"^###\s+L(\d+)\b.*$", re.M)
_STATUS = re.compile(r"^\s*[-*]\s*status:\s*(\S+)\s*$", re.M | re.I)
_QUOTE = re.compile(r"^>\s?(.*)$")

INTRO = """\
Recurring failure patterns nightshift found in its own runs (the same pattern in 3 runs of
one tag or repo within 7 days). Accepted lessons are added to the prompts of tasks with
the same tag or repo. To decide, change `status:` below to `accepted` or `dismissed`, or
run `nightshift lessons accept ID` / `nightshift lessons dismiss ID`. You may reword the
quoted text; your wording is what prompts will carry. Evidence links go to the run notes.
"""


@dataclass(frozen=True, slots=True)
class LessonEdit:
    id: int
    status: LessonStatus | None
    text: str | None


@dataclass
class ParsedLessons:
    edits: dict[int, LessonEdit] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def parse_lessons_file(text: str) -> ParsedLessons:
    """Each `### L<id>` section's status and quoted text; problems name the lesson and line."""
    parsed = ParsedLessons()
    heads = list(_HEADING.finditer(text))
    for index, head in enumerate(heads):
        lesson_id = int(head.group(1))
        end = heads[index + 1].start() if index + 1 < len(heads) else len(text)
        body = text[head.end():end]
        # A level-2 heading ends the section (the next status group starts there).
        body = re.split(r"^##\s", body, maxsplit=1, flags=re.M)[0]
        status: LessonStatus | None = None
        match = _STATUS.search(body)
        if match:
            word = match.group(1).strip().strip("`*_").lower()
            try:
                status = LessonStatus(word)
            except ValueError:
                parsed.problems.append(
                    f"L{lesson_id}: status {word!r} is not proposed, accepted or dismissed; "
                    "left unchanged"
                )
        quoted = [m.group(1) for line in body.splitlines() if (m := _QUOTE.match(line.strip()))]
        lesson_text = " ".join(q.strip() for q in quoted if q.strip()) or None
        parsed.edits[lesson_id] = LessonEdit(lesson_id, status, lesson_text)
    return parsed


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


def render_lessons_file(lessons: Sequence[Lesson]) -> str:
    """The note. `updated` is the newest lesson change (not the time of writing), so an unchanged
    database renders the same bytes and the file is not rewritten for nothing."""
    newest = max((item.updated_at for item in lessons), default=None)
    stamp = [f"updated: {newest.isoformat(timespec='seconds')}"] if newest else []
    lines = ["---", "kind: lessons", *stamp,
             f"proposed: {sum(1 for item in lessons if item.status is LessonStatus.PROPOSED)}",
             f"accepted: {sum(1 for item in lessons if item.status is LessonStatus.ACCEPTED)}",
             "---", "", "# Lessons", "", INTRO]
    for status in LessonStatus:
        group = sorted((item for item in lessons if item.status is status), key=lambda item: item.id)
        lines.append(f"## {status.value.capitalize()}")
        lines.append("")
        if not group:
            lines.extend(["_none_", ""])
            continue
        for lesson in group:
            links = ", ".join(f"[[run-{r}]]" for r in lesson.evidence)
            lines.extend([
                f"### L{lesson.id}: {lesson.pattern.label} · {lesson.scope}",
                "",
                f"- status: {lesson.status.value}",
                f"- pattern: {lesson.pattern.value}",
                f"- scope: {lesson.scope}",
                f"- seen: {len(lesson.evidence)} runs, {_day(lesson.first_seen)} → "
                f"{_day(lesson.last_seen)}",
                f"- evidence: {links}",
                "",
                *(f"> {line}" for line in lesson.text.splitlines()),
                "",
            ])
    return "\n".join(lines).rstrip() + "\n"
