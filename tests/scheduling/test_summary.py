from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from core.models import Outcome, Priority, Run, RunKind, Task, TaskState, Tokens
from core.scheduling.summary import MAX_LISTED, window_summary_text

NOW = datetime(2026, 12, 1, 2, 0, 1, tzinfo=UTC)


def _task(task_id: int, state: TaskState) -> Task:
    return Task(task_id, f"title {task_id}", "p", state, Priority.NORMAL, None, (), NOW, NOW)


def _run(task_id: int, tokens: int) -> Run:
    return Run(task_id, task_id, 1, RunKind.WORK, Outcome.SUCCESS, None, Tokens(input=tokens), 0.0,
               1, None, None, None, None, None, None, NOW, NOW, NOW + timedelta(minutes=3))


def test_counts_tokens_against_capacity_and_lists_each_task() -> None:
    entries = [(_task(1, TaskState.DONE), _run(1, 1000)),
               (_task(2, TaskState.PAUSED_LIMIT), _run(2, 500)),
               (_task(3, TaskState.READY), None)]
    text = window_summary_text("reset", NOW, ZoneInfo("Europe/Berlin"), entries, 10_000)
    lines = text.splitlines()
    assert lines[0] == "Window summary: reset at 2026-12-01 03:00, 3 tasks started"
    assert lines[1] == "done 1 · paused by the limit 1 · back in the queue 1"
    assert lines[2] == "tokens 1,500 of ~10,000 (15.0 % of the window)"
    assert lines[3] == "task 1 done: title 1 (1,000 tokens, 3.0 min)"
    assert lines[5] == "task 3 ready: title 3"


def test_unknown_capacity_and_a_long_batch() -> None:
    entries = [(_task(i, TaskState.DONE), _run(i, 1)) for i in range(1, MAX_LISTED + 6)]
    text = window_summary_text("cron", NOW, UTC, entries, None)
    assert "(window capacity not known yet)" in text
    assert text.endswith("… and 5 more")
    assert text.count("\ntask ") == MAX_LISTED
