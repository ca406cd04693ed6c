"""Metrics over the fixture history equal the values worked out by hand in the comments."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.metrics import compute_metrics, load_history
from core.metrics.compute import compute
from core.models import Tokens
from tests.metrics.history import Fixture, at

BERLIN = ZoneInfo("Europe/Berlin")
NOW = at(2, 12)
CAPACITY = 40_000


async def test_overall_metrics_equal_hand_computed_values(history: Fixture) -> None:
    report = await compute_metrics(history.store, now=NOW, capacity_tokens=CAPACITY, tz=BERLIN)
    o = report.overall
    assert (o.tasks_done, o.tasks_failed, o.tasks_cancelled, o.tasks_rejected) == (2, 1, 1, 1)
    assert o.completion_rate == 2 / 3  # tasks 1 and 3 done, task 2 failed
    assert o.runs == 6
    assert o.outcomes == {"check_failed": 1, "success": 3, "limit": 1, "error": 1}
    # 10000 + 10000 + 20000 + 5000 + 1000 + 1000
    assert o.tokens == Tokens(4900, 8400, 3300, 30400)
    assert o.tokens.total == 47_000
    assert o.cost_usd == pytest.approx(2.1)
    # windows 10:00, 15:00, 20:00 (ids), 22:00 (fallback for run 5), 2 Oct 09:00
    assert o.windows == 5
    assert o.tokens_per_completed_task == 23_500
    assert o.completed_per_window == 2 / 5
    # attempts: task 1 two (check_failed, success); task 2 one (the limit run burns none);
    # task 3 one; the plan run of task 4 is no attempt -> (1 + 0 + 0) / 3
    assert o.tasks_attempted == 3
    assert o.retry_rate == 1 / 3
    # task 1 approved at v2 (one revision), task 2 at v1; task 4 rejected
    assert o.plans_approved == 2
    assert o.revisions_per_approved_plan == 0.5
    assert o.plans_never_approved == 1
    # 20000, 20000, 5000, 1000, 1000 tokens of 40000
    assert o.utilization == pytest.approx((0.5 + 0.5 + 0.125 + 0.025 + 0.025) / 5)
    # runs 1, 3, 4 were scheduled: 60 s, 120 s, 60 s late
    assert (o.latency.count, o.latency.mean_s, o.latency.median_s, o.latency.max_s) == (
        3, 80.0, 60.0, 120.0)


async def test_days_are_cut_in_the_owners_zone(history: Fixture) -> None:
    report = await compute_metrics(history.store, now=NOW, capacity_tokens=CAPACITY, tz=BERLIN)
    assert [g.key for g in report.by_day] == ["2026-10-01", "2026-10-02"]
    first, second = report.by_day
    assert (first.tasks_done, first.tasks_failed, first.completion_rate) == (1, 1, 0.5)
    assert (first.runs, first.tokens.total, first.windows) == (4, 45_000, 3)
    assert first.retry_rate == 0.5  # task 1: 2 attempts, task 2: 1
    assert (first.plans_approved, first.revisions_per_approved_plan) == (2, 0.5)
    assert first.utilization == pytest.approx((0.5 + 0.5 + 0.125) / 3)
    # run 5 started 23:00 UTC = 01:00 on 2 October in Berlin; task 3 ended there too
    assert (second.tasks_done, second.tasks_rejected, second.tasks_cancelled) == (1, 1, 1)
    assert (second.runs, second.tokens.total, second.completion_rate) == (2, 2000, 1.0)
    assert (second.retry_rate, second.plans_never_approved) == (0.0, 1)
    assert second.latency.count == 0
    assert [g.key for g in report.by_week] == ["2026-W40"]
    utc = await compute_metrics(history.store, now=NOW, tz=UTC)
    assert [(g.key, g.runs, g.tasks_done) for g in utc.by_day] == [
        ("2026-10-01", 5, 2), ("2026-10-02", 1, 0)]


async def test_tags_and_repos(history: Fixture) -> None:
    report = await compute_metrics(history.store, now=NOW, tz=BERLIN)
    tags = {g.key: g for g in report.by_tag}
    assert sorted(tags) == ["(no tag)", "auth", "big", "ui"]
    assert (tags["auth"].tasks_done, tags["auth"].runs, tags["auth"].retry_rate) == (1, 2, 1.0)
    assert (tags["ui"].tasks_failed, tags["ui"].tasks_rejected, tags["ui"].runs) == (1, 1, 3)
    assert tags["ui"].completion_rate == 0.0
    assert tags["big"].plans_never_approved == 1
    assert (tags["(no tag)"].tasks_done, tags["(no tag)"].tasks_cancelled) == (1, 1)
    repos = {g.key: g for g in report.by_repo}
    assert sorted(repos) == ["(no repo)", "/srv/code/shop"]
    shop = repos["/srv/code/shop"]
    assert (shop.tasks_done, shop.tasks_failed, shop.tokens.total, shop.windows) == (1, 1, 45_000, 3)
    assert repos["(no repo)"].tokens.total == 2000
    assert report.overall.utilization is None  # no capacity given: unknown, not 0


async def test_windows_and_fallback_block(history: Fixture) -> None:
    report = await compute_metrics(
        history.store, now=at(1, 23, 45), capacity_tokens={"2026-10-01T10:00:00.000Z": 80_000},
        tz=BERLIN)
    keys = [(w.key, w.runs, w.tokens.total, w.tasks_completed) for w in report.windows]
    assert keys == [
        ("2026-10-01T10:00:00.000Z", 2, 20_000, 1),
        ("2026-10-01T15:00:00.000Z", 1, 20_000, 0),
        ("2026-10-01T20:00:00.000Z", 1, 5_000, 0),
        ("2026-10-01T22:00:00.000Z", 1, 1_000, 1),  # run 5 had no window id
        ("2026-10-02T09:00:00.000Z", 1, 1_000, 0),
    ]
    assert [w.utilization for w in report.windows] == [0.25, None, None, None, None]
    assert report.overall.utilization == 0.25
    # at 23:45 both the 20:00 block and the 22:00 fallback block are still running
    assert [w.open for w in report.windows] == [False, False, True, True, False]
    assert report.capacity_tokens is None  # per-window estimates are shown per window


async def test_since_until_cut_a_half_open_interval(history: Fixture) -> None:
    report = await compute_metrics(history.store, since=at(1, 15), until=at(1, 23, 31), now=NOW)
    o = report.overall
    # runs 3, 4, 5 started inside; task 2 failed inside; task 3 ended exactly at `until`
    assert (o.runs, o.tasks_failed, o.tasks_done) == (3, 1, 0)
    assert o.completion_rate == 0.0
    assert o.plans_approved == 0  # the plans were written before 15:00


async def test_text_and_json_forms(history: Fixture) -> None:
    report = await compute_metrics(history.store, now=NOW, capacity_tokens=CAPACITY, tz=BERLIN)
    data = report.as_json()
    assert data["overall"]["completion_rate"] == 2 / 3
    assert data["overall"]["tokens"]["total"] == 47_000
    assert data["windows"][0]["start"] == "2026-10-01T10:00:00.000000+00:00"
    assert data["timezone"] == "Europe/Berlin"
    text = report.as_text()
    assert "completion rate: 67% (done / finished)" in text
    assert "tokens per completed task: 24k" in text  # 23,500
    assert "window utilization: 24% on average, capacity 40k" in text
    assert "reset-to-start latency: mean 80s, max 120s (3 runs)" in text
    assert "  2026-10-02  1 done, 0 failed, 2 runs, 2.0k tokens" in text
    assert "by repo:\n  shop  1 done, 1 failed, completion 50%, 45k tokens\n" in text
    assert "by tag:\n  ui  0 done, 1 failed, completion 0%, 26k tokens\n" in text
    assert text.startswith("nightshift stats, all time\n")
    since = await compute_metrics(history.store, since=at(1, 22), now=NOW, tz=BERLIN)
    assert since.as_text().startswith("nightshift stats, since 2026-10-02\n")  # Berlin midnight


async def test_an_empty_database_has_no_ratios(store) -> None:  # type: ignore[no-untyped-def]
    report = await compute_metrics(store, now=datetime(2026, 1, 1, tzinfo=UTC), capacity_tokens=1)
    o = report.overall
    assert (o.runs, o.tasks_done, o.windows) == (0, 0, 0)
    assert o.completion_rate is None and o.tokens_per_completed_task is None
    assert o.retry_rate is None and o.utilization is None and o.latency.mean_s is None
    assert "completion rate: -" in report.as_text()


async def test_pure_compute_equals_the_store_entry_point(history: Fixture) -> None:
    loaded = await load_history(history.store)
    direct = compute(loaded, now=NOW, capacity_tokens=CAPACITY, tz=BERLIN)
    via_store = await compute_metrics(history.store, now=NOW, capacity_tokens=CAPACITY, tz=BERLIN)
    assert direct.as_json() == via_store.as_json()
