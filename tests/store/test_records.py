"""Runs, plans and the key-value state: the same answers from both adapters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import InvalidInput, RunNotFound
from core.models import Outcome, RunKind, Tokens
from core.store.store import Store
from core.store.task_rows import NewTask

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


async def test_a_run_is_created_updated_and_finished_once(store: Store) -> None:
    task = await store.tasks.add(NewTask(prompt="x", needs_plan=False), now=T0)
    run = await store.runs.create(task.id, kind=RunKind.WORK, now=T0, started_at=T0, branch="ns/1")
    assert (run.task_id, run.kind, run.branch, run.started_at) == (task.id, RunKind.WORK, "ns/1", T0)
    assert [r.id for r in await store.runs.unfinished()] == [run.id]
    updated = await store.runs.update(run.id, tokens=Tokens(10, 20, 30, 2**40), extra={"k": [1]})
    assert updated.tokens == Tokens(10, 20, 30, 2**40) and updated.extra == {"k": [1]}
    first = await store.runs.finish(run.id, Outcome.SUCCESS, now=T0 + timedelta(minutes=5), cost_usd=1.5)
    second = await store.runs.finish(run.id, Outcome.ERROR, now=T0 + timedelta(minutes=9))
    assert second == first and first.outcome is Outcome.SUCCESS and first.cost_usd == 1.5
    finished = [e for e in await store.tasks.events(task.id) if e.kind == "run_finished"]
    assert len(finished) == 1 and finished[0].reason == "success"
    assert await store.runs.unfinished() == []
    with pytest.raises(RunNotFound):
        await store.runs.update(999, branch="x")


async def test_runs_between_is_half_open_and_either_end_may_be_open(store: Store) -> None:
    task = await store.tasks.add(NewTask(prompt="x", needs_plan=False), now=T0)
    ids = [
        (await store.runs.create(task.id, iteration=i + 1, started_at=T0 + timedelta(hours=i))).id
        for i in range(3)
    ]
    assert [r.id for r in await store.runs.between()] == ids
    assert [r.id for r in await store.runs.between(T0 + timedelta(hours=1))] == ids[1:]
    assert [r.id for r in await store.runs.between(until=T0 + timedelta(hours=1))] == ids[:1]
    assert [r.id for r in await store.runs.between(T0, T0 + timedelta(hours=2))] == ids[:2]


async def test_plan_versions_supersede_drafts(store: Store) -> None:
    task = await store.tasks.add(NewTask(prompt="x"), now=T0)
    one = await store.plans.add(task.id, "first", size="S", estimate_tokens=10**12, now=T0)
    two = await store.plans.add(task.id, "second", now=T0)
    assert (one.version, two.version) == (1, 2)
    assert [p.status for p in await store.plans.for_task(task.id)] == ["superseded", "draft"]
    assert (await store.plans.for_task(task.id))[0].estimate_tokens == 10**12
    await store.plans.set_status(two.id, "approved")
    approved = await store.plans.approved(task.id)
    assert approved is not None and approved.body == "second"
    assert await store.plans.latest(999) is None


async def test_kv_round_trips_json_and_deletes(store: Store) -> None:
    assert await store.kv.get("paused", "default") == "default"
    await store.kv.set("paused", {"until": "2026-01-01", "n": [1, 2.5, None, "é"]})
    await store.kv.set("paused", {"until": "2026-01-02"})
    assert await store.kv.get("paused") == {"until": "2026-01-02"}
    await store.kv.delete("paused")
    assert await store.kv.get("paused") is None


async def test_a_number_past_64_bits_is_bad_input_and_nothing_is_written(store: Store) -> None:
    task = await store.tasks.add(NewTask(prompt="x", needs_plan=False), now=T0)
    with pytest.raises(InvalidInput, match="too large"):
        await store.tasks.update_fields(task.id, attempts=2**70)
    assert (await store.tasks.get(task.id)).attempts == 0
