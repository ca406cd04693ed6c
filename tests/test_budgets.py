"""Budgets the owner sets: per-task cap, nightly cap, reserve share; and the night's spend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.agent.argv import ClaudeCall, build_command
from core.budgets import (
    budget_lines,
    load_budgets,
    night_spend,
    night_start,
    parse_knob,
    reset_budget,
    set_budget,
)
from core.errors import InvalidInput
from core.models import Outcome
from core.service import Service
from core.settings import load_settings
from core.store.store import Store

ZONES = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"])


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),
       ZONES)
def test_a_night_starts_at_the_latest_local_noon(now: datetime, zone: str) -> None:
    tz = ZoneInfo(zone)
    start = night_start(now, tz)
    assert start <= now < start + timedelta(hours=25)
    assert start.astimezone(tz).hour == 12 and start.astimezone(tz).minute == 0
    assert night_start(start, tz) == start  # noon itself opens the night
    assert night_start(start - timedelta(microseconds=1), tz) < start


@pytest.mark.parametrize(("knob", "value", "expected"), [
    ("task", "2.50", 2.5), ("task", "$3", 3.0), ("night", "10", 10.0), ("night", "off", None),
    ("task", "0", None), ("reserve", "20%", 0.2), ("reserve", "0.25", 0.25), ("reserve", "30", 0.3),
    ("reserve", "0%", 0.0), ("reserve", "off", None), ("NIGHT", "5", 5.0),
])
def test_knob_values(knob: str, value: str, expected: float | None) -> None:
    assert parse_knob(knob, value) == expected


@pytest.mark.parametrize(("knob", "value", "message"), [
    ("weekly", "5", "say which budget"), ("task", "lots", "not a number of dollars"),
    ("reserve", "95%", "from 0% to 90%"), ("task", "-1", "not a number"), ("night", "1e9", "not a number"),
    ("task", "٣", "not a number"), ("task", "200000", "positive number of dollars"),
])
def test_bad_knob_values_are_refused(knob: str, value: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_knob(knob, value)


async def test_phone_overrides_beat_the_environment_and_reset_to_it(store: Store) -> None:
    settings = load_settings(env_file=None, max_budget_usd=4, nightly_budget_usd=20, reserve="9-18:30")
    found = await load_budgets(store, settings)
    assert (found.task_usd, found.nightly_usd, found.reserve_share) == (4, 20, None)
    assert found.reserve_by_hour(settings)[9] == 0.3 and 20 not in found.reserve_by_hour(settings)
    found = await set_budget(store, settings, "reserve", "25%")
    assert found.reserve_by_hour(settings) == dict.fromkeys(range(24), 0.25)
    found = await set_budget(store, settings, "night", "off")
    assert found.nightly_usd is None and found.set_on_phone == {"reserve", "night"}
    found = await reset_budget(store, settings, "night")
    assert found.nightly_usd == 20 and found.set_on_phone == {"reserve"}


async def test_a_task_cap_set_on_the_phone_reaches_new_tasks_and_claude(store: Store) -> None:
    settings = load_settings(env_file=None, max_budget_usd=4)
    service = Service(settings, store)
    before = await service.add("before", plan=False)
    assert before.max_budget_usd is None  # the executor applies the environment's 4 itself
    await set_budget(store, settings, "task", "1.5")
    capped = await service.add("capped", plan=False)
    own = await service.add("own cap", plan=False, max_usd=9)
    await set_budget(store, settings, "task", "off")
    uncapped = await service.add("uncapped", plan=False)
    assert (capped.max_budget_usd, own.max_budget_usd, uncapped.max_budget_usd) == (1.5, 9, 0.0)

    def flag(cap: float | None) -> list[str]:
        argv = list(build_command(settings, ClaudeCall("x", max_budget_usd=cap), executable="claude").argv)
        return argv[argv.index("--max-budget-usd"):][:2] if "--max-budget-usd" in argv else []

    assert flag(capped.max_budget_usd) == ["--max-budget-usd", "1.5"]
    assert flag(before.max_budget_usd) == ["--max-budget-usd", "4"]
    assert flag(uncapped.max_budget_usd) == []  # off on the phone means off


async def test_spend_tonight_counts_runs_since_noon(store: Store) -> None:
    tz = ZoneInfo("Europe/Berlin")
    now = datetime(2025, 6, 2, 1, 0, tzinfo=UTC)  # 03:00 local: the night began at 12:00 yesterday
    service = Service(load_settings(env_file=None, nightly_budget_usd=10), store)
    task = await service.add("work", plan=False)
    for started, cost in ((datetime(2025, 6, 1, 9, 0, tzinfo=UTC), 5.0),  # 11:00 local: the day before
                          (datetime(2025, 6, 1, 10, 0, tzinfo=UTC), 1.25),
                          (datetime(2025, 6, 2, 0, 30, tzinfo=UTC), 2.5)):
        run = await store.runs.create(task.id, now=started, started_at=started)
        await store.runs.finish(run.id, Outcome.SUCCESS, now=started, cost_usd=cost)
    spend = await night_spend(store, now, tz)
    assert spend.night_started_at == datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
    assert (spend.night_usd, spend.runs) == (3.75, 2)
    lines = budget_lines(await load_budgets(store, service.settings), spend, service.settings)
    assert lines[0] == "$3.75 spent tonight by 2 runs, of the $10.00 nightly cap (38%)"
    assert lines[1:] == ["no per-task cap", "no reserve: the whole window may be used"]
