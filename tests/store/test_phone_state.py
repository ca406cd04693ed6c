"""The phone's state on both engines: drafts (ids, one take), budgets and the night's spend."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.budgets import load_budgets, night_spend, set_budget
from core.errors import DraftGone
from core.models import Outcome
from core.service import Service
from core.settings import Settings
from core.store.store import Store


async def test_drafts_get_distinct_ids_and_are_taken_once(settings: Settings, store: Store) -> None:
    service = Service(settings, store)
    drafts = await asyncio.gather(*(service.capture.create(f"draft {i}") for i in range(5)))
    assert sorted(d.id for d in drafts) == [1, 2, 3, 4, 5]
    album = await service.capture.create("album", media_group="g7")
    assert (await service.capture.for_media_group("g7")) == album
    taps = await asyncio.gather(service.capture.queue(album.id), service.capture.queue(album.id),
                                return_exceptions=True)
    assert sum(isinstance(t, DraftGone) for t in taps) == 1
    assert [t.prompt for t in await service.list()] == ["album"]
    with pytest.raises(DraftGone):
        await service.capture.discard(album.id)


async def test_budgets_and_the_nights_spend(settings: Settings, store: Store) -> None:
    await set_budget(store, settings, "night", "8")
    assert (await load_budgets(store, settings)).nightly_usd == 8.0
    service = Service(settings, store)
    task = await service.add("work", plan=False)
    started = datetime(2025, 6, 1, 20, 0, tzinfo=UTC)
    run = await store.runs.create(task.id, now=started, started_at=started)
    await store.runs.finish(run.id, Outcome.SUCCESS, now=started, cost_usd=1.5)
    spend = await night_spend(store, datetime(2025, 6, 2, 1, 0, tzinfo=UTC), ZoneInfo("Europe/Berlin"))
    assert (spend.night_usd, spend.runs) == (1.5, 1)
