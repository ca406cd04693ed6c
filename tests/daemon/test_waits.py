"""Why a ready task waits, with several accounts: each account's reasons reach `show`.

Through the production assembly with two accounts (each its own config directory, as
Claude Code keeps a login's logs) and the fake CLI. A window of 20,000 tokens with half
kept for the owner, and a task estimated at 15,000: on an idle account 10,000 are left
before the owner's share; on an account whose owner already used 14,000 of its window,
6,000. Neither lets it start, each for its own reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from core.daemon import LIMIT_PAUSE_KEY
from core.daemon.model_limits import HOLDS_KEY
from core.models import Task, TaskState, iso, utcnow
from core.scheduling.resets import LimitPause
from core.service import Service
from core.store.store import Store
from core.waits import WAITS_KEY
from tests.daemon.test_budget import ALL_DAY_HALF

from .conftest import Running, claude_log

Start = Callable[..., Awaitable[Running]]
WINDOW = {"reserve": ALL_DAY_HALF, "window_capacity_tokens": 20_000, "default_task_tokens": 15_000}
IDLE = "needs ~15,000 tokens; 10,000 left before what is kept for you (your reserve of 50% "
USED = "needs ~15,000 tokens; 6,000 left before what is kept for you (your reserve of 50% "


def _owner_used(config_dir: Path, tokens: int) -> None:
    """The owner's own session on this account, ten minutes ago: its window is open."""
    claude_log(config_dir, "owner-session", utcnow() - timedelta(minutes=10), tokens)


async def _why(service: Service, task: Task, *parts: str) -> str:
    """`show`'s why-not-running once it holds every one of `parts` (the daemon's rounds)."""
    why = ""
    for _ in range(400):
        why = (await service.show(task.id)).why_not_running or ""
        if all(part in why for part in parts):
            return why
        await asyncio.sleep(0.05)
    raise AssertionError(f"never said {parts}: {why!r}")


def _accounts_said(why: str) -> list[tuple[str, str]]:
    """`account work: …; account home: …` as (account, what it says), in order."""
    body = why.split(" waits: ", 1)[1]
    chunks = body.split("account ")[1:]
    return [(name, text.removesuffix("; ")) for name, text in (c.split(": ", 1) for c in chunks)]


async def test_each_accounts_reason_reaches_show_and_a_look_with_nothing_ready_clears_them(
    dservice: Service, dstore: Store, start_daemon: Start, config_dirs: dict[str, Path],
) -> None:
    _owner_used(config_dirs["work"], 14_000)
    task = await dservice.add("too big for either window")
    running = await start_daemon(accounts=config_dirs, **WINDOW)
    why = await _why(running.service, task, "account work: ", "account home: ")
    said = _accounts_said(why)
    assert [name for name, _ in said] == ["work", "home"], why  # in the order they are named
    assert said[0][1].startswith(USED) and said[1][1].startswith(IDLE), why
    assert (await dstore.tasks.get(task.id)).state is TaskState.READY
    assert await dstore.runs.for_task(task.id) == []
    record = await dstore.kv.get(WAITS_KEY)
    assert set(record["by_account"]) == {"work", "home"}
    # Nothing ready any more: the next look clears every account's reasons.
    await running.service.cancel(task.id)
    for _ in range(400):
        record = await dstore.kv.get(WAITS_KEY)
        if not record["waits"]:
            break
        await asyncio.sleep(0.05)
    assert record["waits"] == {} and record["by_account"] == {}


async def test_one_accounts_later_look_leaves_the_others_reasons(
    dservice: Service, dstore: Store, start_daemon: Start, config_dirs: dict[str, Path],
) -> None:
    task = await dservice.add("too big for either window")
    running = await start_daemon(accounts=config_dirs, **WINDOW)
    first = await _why(running.service, task, "account work: ", "account home: ")
    assert [text[:len(IDLE)] for _, text in _accounts_said(first)] == [IDLE, IDLE]
    await running.stop()
    # The home account meets its limit: only work looks from now on, and its window has
    # filled meanwhile with the owner's own use.
    now = utcnow()
    await dstore.kv.set(LIMIT_PAUSE_KEY + "/home",
                        LimitPause(now + timedelta(hours=2), now + timedelta(hours=2)).as_json())
    _owner_used(config_dirs["work"], 14_000)
    running = await start_daemon(accounts=config_dirs, **WINDOW)
    why = await _why(running.service, task, f"account work: {USED}")
    home = running.daemon.lanes.get("home")
    assert home.account.name == "home" and (await home.gate.check(utcnow())).closed
    said = dict(_accounts_said(why))
    assert said["work"].startswith(USED)
    assert said["home"] == dict(_accounts_said(first))["home"], "home's reason is kept as it said it"


async def test_a_model_limit_on_one_account_and_the_budget_on_the_other_both_say_why(
    dservice: Service, dstore: Store, start_daemon: Start, config_dirs: dict[str, Path],
) -> None:
    until = utcnow() + timedelta(days=2)
    await dstore.kv.set(HOLDS_KEY + "/work", {"opus": iso(until)})
    task = await dservice.add("needs opus", tags=["model:opus"])
    running = await start_daemon(accounts=config_dirs, **WINDOW)
    why = await _why(running.service, task, "account work: ", "account home: ")
    said = dict(_accounts_said(why))
    assert said["work"].startswith("it needs Opus, whose weekly limit holds until "), why
    assert said["home"].startswith(IDLE), why
    # Work looks first in a round (both idle: the order they are named), so home's budget
    # plan came after work's model limit was noted, and left it.
    lanes = running.daemon.lanes
    assert [lane.account.name for lane in await lanes.by_owner_use(utcnow())] == ["work", "home"]
    record = await dstore.kv.get(WAITS_KEY)
    assert set(record["by_account"]["work"]) == {"budget", "models"}, "the model's reason beats the budget's"


async def test_a_record_from_before_accounts_is_read_and_then_replaced(
    dservice: Service, dstore: Store, start_daemon: Start,
) -> None:
    task = await dservice.add("too big for the window")
    await dstore.kv.set(WAITS_KEY, {"at": iso(utcnow()), "waits": {str(task.id): "an older daemon's reason"}})
    assert (await dservice.show(task.id)).why_not_running == f"task {task.id} waits: an older daemon's reason"
    running = await start_daemon(**WINDOW)
    why = await _why(running.service, task, IDLE)
    assert why.startswith(f"task {task.id} waits: {IDLE}"), "one account: no account named"
    record = await dstore.kv.get(WAITS_KEY)
    assert set(record["by_account"]) == {"default"}
