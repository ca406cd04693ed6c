"""The optional meta-task: queued near a window's end with budget left, once a week, as a plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.improve.meta import maybe_queue_meta_task
from core.models import Priority, TaskState
from core.service import Service
from core.settings import Settings, load_settings
from core.store.store import Store

NOW = datetime(2026, 10, 7, 4, 30, tzinfo=UTC)  # a Wednesday, week 2026-W41


async def test_queued_once_a_week_as_a_plan_for_approval(store: Store, settings: Settings) -> None:
    on = load_settings(env_file=None, meta_task=True, tz="UTC")
    on.brain_dir.mkdir(parents=True, exist_ok=True)
    service = Service(on, store, clock=lambda: NOW)
    end = NOW + timedelta(minutes=30)
    task = await maybe_queue_meta_task(service, now=NOW, window_end=end, budget_left_tokens=5_000_000)
    assert task is not None
    assert task.needs_plan and task.state is TaskState.QUEUED
    assert task.tags == ("meta",) and task.priority is Priority.LOW and task.source == "meta"
    assert task.repo == str(on.brain_dir.resolve())
    assert "logs/2026-10-05.jsonl" in task.prompt and "logs/2026-10-11.jsonl" in task.prompt
    assert "prompts/" in task.prompt and "2026-W41" in task.title
    assert await maybe_queue_meta_task(service, now=NOW + timedelta(hours=5), window_end=end
                                       + timedelta(hours=5), budget_left_tokens=5_000_000) is None
    next_week = NOW + timedelta(days=7)
    assert await maybe_queue_meta_task(service, now=next_week, window_end=next_week + timedelta(minutes=10),
                                       budget_left_tokens=5_000_000) is not None


async def test_not_queued_when_off_early_or_short_of_budget(store: Store, settings: Settings) -> None:
    settings.brain_dir.mkdir(parents=True, exist_ok=True)
    off = Service(settings, store)
    end = NOW + timedelta(minutes=30)
    assert await maybe_queue_meta_task(off, now=NOW, window_end=end, budget_left_tokens=10**8) is None
    on = Service(load_settings(env_file=None, meta_task=True), store)
    assert await maybe_queue_meta_task(on, now=NOW, window_end=NOW + timedelta(hours=3),
                                       budget_left_tokens=10**8) is None
    assert await maybe_queue_meta_task(on, now=NOW, window_end=end, budget_left_tokens=1000) is None
    assert await maybe_queue_meta_task(on, now=NOW, window_end=None, budget_left_tokens=10**8) is None
    assert await store.tasks.count() == 0
