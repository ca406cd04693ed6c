"""Inbox import: good files become tasks, bad files are set aside with a note, nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.inbox import parse_inbox_file
from core.models import Priority, TaskState
from core.service import Service
from core.store.task_rows import NewTask

GOOD = """---
title: Fix the login test
priority: high
check: make test
plan: false
tags: [ci, flaky]
---
The login test fails one run in ten. Find out why and fix it.
"""


def inbox_dir(service: Service) -> Path:
    path = service.settings.brain_dir / "inbox"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def test_good_file_is_imported_and_moved(service: Service) -> None:
    inbox = inbox_dir(service)
    (inbox / "login.md").write_text(GOOD)
    report = await service.import_inbox()
    assert report.imported == [("login.md", 1)]
    assert not (inbox / "login.md").exists()
    assert (inbox / "imported" / "login.md").read_text() == GOOD
    task = await service.get(1)
    assert task.title == "Fix the login test"
    assert task.priority is Priority.HIGH
    assert task.check_cmd == "make test"
    assert task.state is TaskState.READY
    assert task.tags == ("ci", "flaky")
    assert task.prompt == "The login test fails one run in ten. Find out why and fix it."
    assert task.source == "inbox"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("---\ntitle: [unclosed\n---\nbody", "not valid YAML"),
        ("---\ntitle: x\nbody without end", "never ends"),
        ("---\npriority: sometime\n---\nbody", "priority must be one of"),
        ("---\ncolour: blue\n---\nbody", "unknown front matter key: colour"),
        ("---\ntitle: x\n---\n   \n", "the prompt is empty"),
        ("---\nafter: 99\n---\nbody", "unknown task 99"),
        ("---\nafter: soon\n---\nbody", "task ids must be numbers"),
        ("---\nplan: maybe\n---\nbody", "expected true or false"),
    ],
)
async def test_malformed_file_is_rejected_with_a_note(service: Service, content: str, problem: str) -> None:
    inbox = inbox_dir(service)
    (inbox / "bad.md").write_text(content)
    report = await service.import_inbox()
    assert report.imported == []
    assert [name for name, _ in report.rejected] == ["bad.md"]
    assert problem in report.rejected[0][1]
    assert (inbox / "rejected" / "bad.md").read_text() == content  # nothing lost
    note = (inbox / "rejected" / "bad.md.error.txt").read_text()
    assert problem in note
    assert await service.store.tasks.count() == 0


async def test_non_utf8_file_rejected(service: Service) -> None:
    inbox = inbox_dir(service)
    (inbox / "binary.md").write_bytes(b"\xff\xfe\x00garbage")
    report = await service.import_inbox()
    assert report.rejected and "not UTF-8" in report.rejected[0][1]
    assert (inbox / "rejected" / "binary.md").exists()


async def test_crash_between_commit_and_move_does_not_duplicate(service: Service) -> None:
    inbox = inbox_dir(service)
    raw = GOOD.encode()
    (inbox / "login.md").write_bytes(raw)
    # Simulate the crash: the task was committed, the file was never moved.
    new = parse_inbox_file("login.md", raw)
    await service.store.tasks.add(new)
    report = await service.import_inbox()
    assert report.imported == [("login.md", 1)]
    assert await service.store.tasks.count() == 1
    assert (inbox / "imported" / "login.md").exists()


async def test_same_name_later_does_not_overwrite(service: Service) -> None:
    inbox = inbox_dir(service)
    (inbox / "a.md").write_text("first")
    await service.import_inbox()
    (inbox / "a.md").write_text("second")
    await service.import_inbox()
    imported = sorted(p.name for p in (inbox / "imported").iterdir())
    assert imported == ["a.1.md", "a.md"]
    assert [t.prompt for t in await service.list()] == ["first", "second"]


async def test_no_front_matter_uses_defaults(service: Service) -> None:
    (inbox_dir(service) / "plain.md").write_text("Just do the thing\nwith details")
    await service.import_inbox()
    task = await service.get(1)
    assert task.title == "Just do the thing"
    assert task.needs_plan is True and task.state is TaskState.QUEUED


def test_parse_rejects_oversized_file() -> None:
    from core.errors import InvalidInput
    from core.inbox import MAX_INBOX_FILE_BYTES

    with pytest.raises(InvalidInput, match="limit"):
        parse_inbox_file("big.md", b"x" * (MAX_INBOX_FILE_BYTES + 1))
    assert isinstance(parse_inbox_file("ok.md", b"body"), NewTask)
