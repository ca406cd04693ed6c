"""UsageMonitor: the sources combined by DESIGN's precedence, state that survives a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.settings import Settings
from core.store.store import Store
from core.usage.endpoint import UsageEndpoint, credentials_paths
from core.usage.limits import LimitHit, parse_limit_message
from core.usage.monitor import UsageMonitor
from core.usage.rate_limit_event import RateLimitInfo
from tests.usage.logtree import Tree, assistant, synthetic
from tests.usage.test_endpoint import write_credentials
from tests.usage.usage_server import Reply, usage_body, usage_server

NOW = datetime(2026, 11, 30, 22, 40, tzinfo=UTC)


def logs(settings: Settings) -> Tree:
    """An old finished block (the capacity) and an active one that started at 20:00."""
    tree = Tree(settings.claude_config_dir[0])
    old = NOW - timedelta(days=1)
    tree.add("p/old.jsonl", *(assistant(old + timedelta(minutes=10 * n), msg=f"o{n}", req=f"o{n}",
                                        tokens=(0, 1000, 0, 0)) for n in range(9)))
    tree.add("p/now.jsonl", *(assistant(NOW - timedelta(minutes=150 - 30 * n), msg=f"n{n}", req=f"n{n}",
                                        tokens=(0, 600, 0, 0)) for n in range(5)))
    return tree


async def test_figures_from_the_logs(settings: Settings, store: Store) -> None:
    logs(settings)
    monitor = UsageMonitor(settings, store)
    state = await monitor.refresh(NOW)
    assert not state.limited
    assert state.window_start == datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
    assert state.resets_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert state.tokens_used == 3000
    assert state.burn_rate_per_min == 3000 / 120
    assert state.projection == 3000 + 25 * 140
    assert state.capacity_tokens == 9000
    assert state.utilization == 3000 / 9000
    sources = dict(state.sources)
    assert sources["tokens_used"] == "logs" and sources["resets_at"] == "logs"
    assert monitor.predict_next_reset(NOW) == state.resets_at
    assert state.as_json()["window_start"] == "2026-11-30T20:00:00.000000+00:00"
    await monitor.close()


async def test_noted_limit_survives_a_restart(settings: Settings, store: Store) -> None:
    logs(settings)
    resets = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    first = UsageMonitor(settings, store)
    await first.note_limit(LimitHit("session", resets, "You've hit your session limit · resets 3am"),
                           "stream", NOW)
    await first.close()
    second = UsageMonitor(settings, store)  # a new process: only the store remembers
    state = await second.state(NOW)
    assert state.limited and state.kind == "session" and state.source == "stream"
    assert state.resets_at == resets
    assert second.predict_next_reset(NOW) == resets
    after = await second.state(resets + timedelta(seconds=1))
    assert not after.limited
    await second.close()


async def test_rejected_rate_limit_event(settings: Settings, store: Store) -> None:
    monitor = UsageMonitor(settings, store)
    resets = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    await monitor.note_limit(RateLimitInfo("allowed", resets, "five_hour", 0.41), "stream", NOW)
    state = await monitor.refresh(NOW)
    assert not state.limited and state.utilization == 0.41 and dict(state.sources)["utilization"] == "stream"
    await monitor.note_limit(RateLimitInfo("rejected", resets, "seven_day", None), "stream", NOW)
    state = await monitor.state(NOW)
    assert state.limited and state.kind == "weekly" and state.resets_at == resets
    await monitor.close()


async def test_estimated_limit_takes_the_block_end(settings: Settings, store: Store) -> None:
    logs(settings)
    monitor = UsageMonitor(settings, store)
    await monitor.refresh(NOW)
    await monitor.note_limit(LimitHit("unknown", NOW + timedelta(hours=5), "HTTP 429", estimated=True),
                             "result", NOW)
    state = await monitor.state(NOW)
    assert state.limited and state.resets_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    await monitor.close()


async def test_a_long_limit_keeps_its_own_reset(settings: Settings, store: Store) -> None:
    """A weekly limit dated days away, or an organisation's limit, is no 5-hour guess: the
    logs' current block does not replace its reset; the org's says it will not lift."""
    logs(settings)
    monitor = UsageMonitor(settings, store)
    await monitor.refresh(NOW)
    org = parse_limit_message("You've hit your org's monthly usage limit", NOW, UTC)
    assert org is not None and org.estimated
    await monitor.note_limit(org, "result", NOW)
    state = await monitor.state(NOW)
    assert state.limited and state.kind == "org"
    assert state.resets_at == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # not the block's end at 01:00
    assert state.text is not None and "does not lift by itself" in state.text
    weekly = parse_limit_message("Opus weekly limit reached ∙ resets Dec 4", NOW, UTC)
    assert weekly is not None
    await monitor.note_limit(weekly, "result", NOW)
    state = await monitor.state(NOW)
    assert state.kind == "opus" and state.resets_at == datetime(2026, 12, 4, 0, 0, tzinfo=UTC)
    await monitor.close()


async def test_limit_line_in_the_logs(settings: Settings, store: Store) -> None:
    tree = logs(settings)
    tree.add("p/now.jsonl", synthetic(NOW - timedelta(minutes=5),
                                      "You've hit your session limit · resets 1am (UTC)"))
    monitor = UsageMonitor(settings, store)
    state = await monitor.refresh(NOW)
    assert state.limited and state.source == "message"
    assert state.resets_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    later = await monitor.state(datetime(2026, 12, 1, 1, 0, 1, tzinfo=UTC))
    assert not later.limited
    await monitor.close()


async def test_endpoint_figures_and_limits(settings: Settings, store: Store, tmp_path: Path) -> None:
    logs(settings)
    write_credentials(tmp_path)
    with usage_server() as server:
        server.answer(Reply(200, usage_body(five_hour=55.0, resets="2026-12-01T01:30:00Z")))
        client = UsageEndpoint(server.url, credentials_paths([], tmp_path))
        monitor = UsageMonitor(settings, store, endpoint=client)
        state = await monitor.refresh(NOW)
        assert not state.limited
        assert state.utilization == 0.55 and dict(state.sources)["utilization"] == "endpoint"
        assert state.resets_at == datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
        # a full window on the endpoint is a limit (source 3) ...
        server.answer(Reply(200, usage_body(five_hour=100.0, resets="2026-12-01T01:30:00Z")))
        state = await monitor.refresh(NOW + timedelta(seconds=61))
        assert state.limited and state.source == "endpoint"
        # ... and our own run's limit outranks it at the same reset time
        await monitor.note_limit(LimitHit("session", datetime(2026, 12, 1, 1, 30, tzinfo=UTC), "x"),
                                 "stream", NOW)
        state = await monitor.state(NOW + timedelta(seconds=62))
        assert state.limited and state.source == "stream"
        await monitor.close()


async def test_endpoint_failure_falls_back_to_logs(settings: Settings, store: Store, tmp_path: Path) -> None:
    logs(settings)
    write_credentials(tmp_path)
    with usage_server() as server:
        server.answer(Reply(401, {"error": "expired"}))
        monitor = UsageMonitor(settings, store,
                               endpoint=UsageEndpoint(server.url, credentials_paths([], tmp_path)))
        state = await monitor.refresh(NOW)
        assert monitor.endpoint.status.state == "unauthorized"
        assert not state.limited and state.tokens_used == 3000
        assert dict(state.sources)["utilization"].startswith("logs")
        await monitor.close()


async def test_later_limit_binds(settings: Settings, store: Store) -> None:
    monitor = UsageMonitor(settings, store)
    soon = NOW + timedelta(hours=1)
    late = NOW + timedelta(days=2)
    await monitor.note_limit(LimitHit("session", soon, "a"), "stream", NOW)
    await monitor.note_limit(LimitHit("weekly", late, "b"), "message", NOW)
    state = await monitor.state(NOW)
    assert state.limited and state.kind == "weekly" and state.resets_at == late
    await monitor.clear_limits()
    assert not (await monitor.state(NOW)).limited
    await monitor.close()


async def test_an_allowed_event_ends_a_noted_session_limit(settings: Settings, store: Store) -> None:
    monitor = UsageMonitor(settings, store)
    resets = NOW + timedelta(hours=2)
    await monitor.note_limit(LimitHit("unknown", resets, "HTTP 429", estimated=True), "result", NOW)
    await monitor.note_limit(LimitHit("weekly", NOW + timedelta(days=3), "weekly"), "stream", NOW)
    assert (await monitor.state(NOW)).limited
    later = NOW + timedelta(minutes=30)
    await monitor.note_limit(RateLimitInfo("allowed", resets, "five_hour", 0.2), "stream", later)
    state = await monitor.state(later)
    assert state.limited and state.kind == "weekly"  # the weekly limit is another window
    assert set(await store.kv.get("usage.limits")) == {"weekly"}
    restarted = UsageMonitor(settings, store)
    assert (await restarted.state(later)).kind == "weekly"
    await monitor.close()
    await restarted.close()


async def test_close_waits_for_a_cancelled_scan(settings: Settings, store: Store) -> None:
    import asyncio

    logs(settings)
    monitor = UsageMonitor(settings, store)
    task = asyncio.create_task(monitor.refresh(NOW))
    await asyncio.sleep(0)  # the scan has started on its thread
    task.cancel()
    await monitor.close()  # must not close the connection under the running scan
    assert not monitor.worker.busy
    again = UsageMonitor(settings, store)
    assert (await again.refresh(NOW)).tokens_used == 3000
    await again.close()


async def test_a_projects_folder_created_after_start_is_read(settings: Settings, store: Store) -> None:
    monitor = UsageMonitor(settings, store)
    first = await monitor.refresh(NOW)
    assert first.tokens_used == 0  # no Claude data yet: Claude Code has never run here
    logs(settings)  # now it has (the folder did not exist at the first refresh)
    second = await monitor.refresh(NOW)
    assert second.tokens_used == 3000 and second.capacity_tokens == 9000
    await monitor.close()
