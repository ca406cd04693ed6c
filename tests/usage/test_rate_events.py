"""Rate-limit events the executor records as runs see them feed every monitor's window picture."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.settings import Settings
from core.store.store import Store
from core.usage.limits import LimitHit
from core.usage.monitor import UsageMonitor, record_rate_info
from core.usage.rate_limit_event import RateLimitInfo

NOW = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
RESET = NOW + timedelta(hours=2)


async def test_a_warning_recorded_by_a_run_reaches_a_monitor_that_is_already_running(
    settings: Settings, store: Store
) -> None:
    monitor = UsageMonitor(settings, store)  # the daemon's, started before the run
    try:
        before = await monitor.state(NOW)
        assert before.warning is None and before.utilization is None
        # The executor, in the same or another process, records what its run saw.
        await record_rate_info(store, RateLimitInfo("allowed_warning", RESET, "five_hour", 0.9, True), NOW)
        state = await monitor.state(NOW)
        assert state.utilization == 0.9 and dict(state.sources)["utilization"] == "stream"
        assert state.resets_at == RESET and not state.limited
        assert state.warning is not None and "session window nearly used up: 90% used" in state.warning
        # Past the window's reset the warning is history.
        assert (await monitor.state(RESET + timedelta(seconds=1))).warning is None
    finally:
        await monitor.close()


async def test_a_run_let_through_ends_the_limit_a_monitor_noted(settings: Settings, store: Store) -> None:
    monitor = UsageMonitor(settings, store)
    try:
        await monitor.note_limit(LimitHit("session", RESET, "You've hit your limit"), "daemon", NOW)
        assert (await monitor.state(NOW)).limited
        later = NOW + timedelta(minutes=5)
        await record_rate_info(store, RateLimitInfo("allowed", RESET, "five_hour", 0.1), later)
        assert not (await monitor.state(later)).limited
    finally:
        await monitor.close()
