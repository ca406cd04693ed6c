"""The budget in the running daemon: what waits and why, the stop line, the nightly cap.

Through the production assembly with the fake CLI, whose every message spends 7,692 tokens
in Claude's logs (`USAGE_PER_MESSAGE`), so a window of 20,000 tokens with half kept for the
owner fills its queue share within two messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.budgets import set_budget
from core.daemon.owner import OwnerUseSource
from core.models import Outcome, Priority, TaskState
from core.scheduling.hours import parse_hour_ranges
from core.scheduling.protect import SAFETY, horizon
from core.service import Service
from core.store.store import Store
from core.usage.monitor import UsageMonitor
from tests.daemon.conftest import Running, claude_log, wait_for_states
from tests.support import Record

Start = Callable[..., Awaitable[Running]]

ALL_DAY_HALF = "0-23:50"


async def test_a_task_that_does_not_fit_before_the_owners_share_waits_and_says_why(
    dservice: Service, dstore: Store, start_daemon: Start,
) -> None:
    task = await dservice.add("too big for what is left")
    running = await start_daemon(reserve=ALL_DAY_HALF, window_capacity_tokens=20_000,
                                 default_task_tokens=15_000)
    for _ in range(200):  # the first round plans at once; its reasons are recorded
        detail = await running.service.show(task.id)
        if detail.budget_wait:
            break
        await asyncio.sleep(0.05)
    assert (await dstore.tasks.get(task.id)).state is TaskState.READY
    assert await dstore.runs.for_task(task.id) == []
    why = detail.why_not_running or ""
    assert why.startswith(f"task {task.id} waits: needs ~15,000 tokens; 10,000 left before what is "
                          "kept for you (your reserve of 50% until "), why
    assert detail.as_json()["why_not_running"] == detail.why_not_running


async def test_a_run_that_reaches_the_owners_share_pauses_and_resumes_its_session_later(
    dservice: Service, dstore: Store, start_daemon: Start, record: Record,
) -> None:
    task = await dservice.add("grows beyond its estimate [fake: slow delay=0.25 turns=8]")
    running = await start_daemon(reserve=ALL_DAY_HALF, window_capacity_tokens=20_000,
                                 default_task_tokens=1_000)
    await wait_for_states(dstore, [task.id], {TaskState.RUNNING})
    for _ in range(400):  # two messages (15,384 tokens) cross the line at 10,000
        runs = await dstore.runs.for_task(task.id)
        if runs and runs[-1].tokens.total >= 15_000:
            break
        await asyncio.sleep(0.05)
    running.daemon.timers.fire_now("usage")
    (paused,) = await wait_for_states(dstore, [task.id], {TaskState.READY})
    (run,) = await dstore.runs.for_task(task.id)
    assert run.outcome is Outcome.INTERRUPTED and "keep what you need of this window" in (run.summary or "")
    assert paused.attempts == 0 and paused.session_id == run.session_id, "the session is kept"
    for _ in range(200):
        detail = await running.service.show(task.id)
        if detail.budget_wait:
            break
        await asyncio.sleep(0.05)
    assert detail.why_not_running is not None and "left before what is kept for you" in detail.why_not_running
    assert len(await dstore.runs.for_task(task.id)) == 1, "it does not start again into the owner's share"
    await running.stop()
    # With room again (a bigger window), the same session resumes and Claude hears why it stopped.
    await start_daemon(reserve=ALL_DAY_HALF, window_capacity_tokens=10_000_000, default_task_tokens=1_000)
    await wait_for_states(dstore, [task.id], {TaskState.DONE})
    resumed = record()[-1]
    argv = resumed["argv"]
    assert argv[argv.index("--resume") + 1] == run.session_id
    assert "to leave the owner their share of the usage window" in resumed["prompt"]


async def test_a_task_larger_than_any_window_resumes_in_its_turn_after_a_limit(
    dservice: Service, dstore: Store, start_daemon: Start, record: Record,
) -> None:
    """The reset releases a task the limit stopped, and it goes before everything, save one
    larger than any window: it would only hold the lane until the next limit. An urgent task
    queued meanwhile goes first; then it resumes its session (both are larger than the
    100,000-token window here, so each starts alone in a window mostly free)."""
    big = await dservice.add("larger than any window [fake: limit reset_in=3]")
    running = await start_daemon(window_capacity_tokens=100_000, default_task_tokens=150_000)
    await wait_for_states(dstore, [big.id], {TaskState.PAUSED_LIMIT})
    urgent = await running.service.add("urgent", priority=Priority.URGENT)
    await wait_for_states(dstore, [big.id, urgent.id], {TaskState.DONE})
    calls = record()
    assert ["resume" if c["resume"] is not None else str(c["prompt"]).splitlines()[0].split(" [")[0]
            for c in calls] == ["larger than any window", "urgent", "resume"], calls
    runs = await dstore.runs.for_task(big.id)
    assert [r.outcome for r in runs] == [Outcome.LIMIT, Outcome.SUCCESS]
    assert calls[2]["resume"] == runs[0].session_id


async def test_tasks_tagged_anytime_run_on_in_the_owners_share(
    dservice: Service, dstore: Store, start_daemon: Start,
) -> None:
    task = await dservice.add("urgent for the owner", tags=["anytime"])
    await start_daemon(reserve=ALL_DAY_HALF, window_capacity_tokens=20_000, default_task_tokens=15_000)
    await wait_for_states(dstore, [task.id], {TaskState.DONE})


async def test_the_nightly_cap_holds_new_work_and_says_so(
    dservice: Service, dstore: Store, start_daemon: Start,
) -> None:
    first = await dservice.add("spends a little")
    running = await start_daemon()
    await wait_for_states(dstore, [first.id], {TaskState.DONE})
    await set_budget(dstore, dservice.settings, "night", "0.01")
    second = await running.service.add("would spend more")
    for _ in range(200):
        detail = await running.service.show(second.id)
        if detail.budget_wait:
            break
        await asyncio.sleep(0.05)
    assert (await dstore.tasks.get(second.id)).state is TaskState.READY
    assert await dstore.runs.for_task(second.id) == []
    assert detail.budget_wait is not None and "reached your nightly cap $0.01" in detail.budget_wait


async def test_the_owners_own_evening_use_is_learned_from_the_logs_and_kept(
    dservice: Service, dstore: Store, start_daemon: Start, isolated_env: Path,
) -> None:
    thursday_6pm = datetime(2026, 1, 8, 18, tzinfo=UTC)
    config = isolated_env / "claude"
    ours = await dservice.add("a nightshift task")
    started = thursday_6pm - timedelta(days=3)
    run = await dstore.runs.create(ours.id, now=started, started_at=started)
    await dstore.runs.update(run.id, session_id="nightshift-session")
    for day in (1, 2, 3):  # Monday to Wednesday evenings: the owner, and a nightshift run beside
        evening = thursday_6pm - timedelta(days=day) + timedelta(hours=2, minutes=30)
        claude_log(config, "owner-session", evening, 2_000_000)
        claude_log(config, "nightshift-session", evening, 9_000_000)
    await dservice.cancel(ours.id)
    running = await start_daemon(tz="UTC", window_capacity_tokens=6_000_000, clock=lambda: thursday_6pm)
    picture, _ = await running.daemon.budget.horizon(thursday_6pm, running.daemon.lanes.first)
    # 2,000,000 expected between 18:00 and 23:00 (nightshift's 9,000,000 are not the owner's),
    # padded by the safety factor.
    assert picture.keep_tokens == round(2_000_000 * SAFETY)
    assert picture.reason.startswith("~2,300,000 tokens of your own use expected until 23:00")


async def test_the_owner_at_the_keyboard_is_seen_within_a_minute_not_at_the_next_rebuild(
    dservice: Service, dstore: Store, isolated_env: Path,
) -> None:
    """The owner's use per hour is rebuilt hourly; the last two hours are read again each
    minute, so an evening session tells the budget they are at the keyboard at once."""
    config = isolated_env / "claude"
    thursday_7pm = datetime(2026, 1, 8, 19, tzinfo=UTC)
    for day in (1, 2, 3):  # Monday to Wednesday, 14:00: the owner's days
        claude_log(config, "owner-days", thursday_7pm - timedelta(days=day, hours=5), 400_000)
    task = await dservice.add("a nightshift task")
    run = await dstore.runs.create(task.id, now=thursday_7pm, started_at=thursday_7pm)
    await dstore.runs.update(run.id, session_id="nightshift-evening")
    claude_log(config, "owner-evening", thursday_7pm - timedelta(minutes=10), 40_000)  # a glance at 18:50
    monitor = UsageMonitor(dservice.settings, dstore)
    try:
        await monitor.refresh(thursday_7pm)
        source = OwnerUseSource(monitor, dstore, UTC)
        book = await source(thursday_7pm)
        assert book is not None and book.use_lately(thursday_7pm) == 40_000
        assert book.peak_per_hour(thursday_7pm) == 400_000
        claude_log(config, "owner-evening", thursday_7pm + timedelta(minutes=20), 300_000)
        claude_log(config, "nightshift-evening", thursday_7pm + timedelta(minutes=20), 5_000_000)
        later = thursday_7pm + timedelta(minutes=21)
        await monitor.refresh(later)
        book = await source(later)
        assert book is not None
        assert book.use_lately(later) == 340_000, "the owner's evening, once, not nightshift's run"
        assert book.peak_per_hour(later) == 400_000, "the days before are kept"
        picture = horizon(later, window_start=thursday_7pm, capacity_tokens=6_000_000,
                          reserve=parse_hour_ranges("9-17:50"), owner_need=None, tz=UTC,
                          owner_used_tokens=300_000, owner_peak_tokens_per_hour=book.peak_per_hour(later),
                          owner_recent_tokens=book.use_lately(later))
        assert picture.reason.startswith("you are using Claude now")
    finally:
        await monitor.close()
