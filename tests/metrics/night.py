"""One night of nightshift, built through the real Store: two windows, every kind of ending.

Times are UTC; read in Europe/Berlin (UTC+2 in October) the first window is 00:00–05:00.

Window 1 (id 2026-10-04T22:00:00.000Z, reset 03:00 UTC):
- task 1 "Fix the flaky login test": plan run [1] (success), check_failed [2], success [3]; done.
- task 2 "Add dark mode to the settings page": error [4], timeout [5]; failed (timeout).
- idle 23:40–00:30
- task 3 "Upgrade the payment SDK": [6] hits the limit at 01:25 (reset 03:00, exact).
- task 4 "Write the release notes": [7] hits the limit at 01:25 too.
Window 2 (id 2026-10-05T03:00:00.000Z): task 3 resumes [8] success, done; task 4 [9] success,
done. Task 5 "Migrate to Postgres 17" waits for approval of plan v2.
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.models import Outcome, RunKind, TaskState, Tokens
from core.store.store import Store
from core.store.task_rows import NewTask
from tests.metrics.history import move, work_run

W1 = "2026-10-04T22:00:00.000Z"
W2 = "2026-10-05T03:00:00.000Z"


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=UTC)


W1_START = t(4, 22)
W1_RESET = t(5, 3)
W2_START = t(5, 3)


def k(thousands: int) -> Tokens:
    """A run's tokens, mostly cache reads as real runs are."""
    total = thousands * 1000
    return Tokens(total // 20, total // 20, total // 10, total - total // 20 * 2 - total // 10)


async def build_night(store: Store) -> dict[str, int]:
    tasks = store.tasks
    ids: dict[str, int] = {}

    t1 = await tasks.add(NewTask(prompt="Fix the flaky login test", title="Fix the flaky login test"),
                         now=t(4, 20))
    ids["login"] = t1.id
    await move(store, t1.id, TaskState.PLANNING, t(4, 22), "planning")
    plan_run = await store.runs.create(t1.id, kind=RunKind.PLAN, now=t(4, 22), started_at=t(4, 22),
                                       window_id=W1)
    await store.runs.finish(plan_run.id, Outcome.SUCCESS, now=t(4, 22, 4), tokens=k(60),
                            cost_usd=0.1)
    await store.plans.add(t1.id, "1. find the race", size="S", run_id=plan_run.id, now=t(4, 22, 4))
    await move(store, t1.id, TaskState.AWAITING_APPROVAL, t(4, 22, 4), "plan v1 ready")
    plan = await store.plans.latest(t1.id)
    assert plan is not None
    await store.plans.set_status(plan.id, "approved")
    await move(store, t1.id, TaskState.READY, t(4, 22, 4), "auto-approved")
    await move(store, t1.id, TaskState.RUNNING, t(4, 22, 5), "claimed")
    r = await work_run(store, t1.id, 1, started=t(4, 22, 5), finished=t(4, 22, 50),
                       outcome=Outcome.CHECK_FAILED, tokens=k(900), cost=0.9, window=W1)
    await move(store, t1.id, TaskState.READY, t(4, 22, 51), "check failed; continuing", r)
    await move(store, t1.id, TaskState.RUNNING, t(4, 22, 52), "claimed")
    r = await work_run(store, t1.id, 2, started=t(4, 22, 52), finished=t(4, 23, 30),
                       outcome=Outcome.SUCCESS, tokens=k(700), cost=0.7, window=W1)
    await move(store, t1.id, TaskState.DONE, t(4, 23, 31), "check passed", r)

    t2 = await tasks.add(NewTask(prompt="Add dark mode", title="Add dark mode to the settings page",
                                 needs_plan=False), now=t(4, 20, 5))
    ids["dark"] = t2.id
    await move(store, t2.id, TaskState.RUNNING, t(4, 22, 6), "claimed")
    r = await work_run(store, t2.id, 1, started=t(4, 22, 6), finished=t(4, 23, 10),
                       outcome=Outcome.ERROR, tokens=k(1200), cost=1.2, window=W1)
    await move(store, t2.id, TaskState.READY, t(4, 23, 11), "error; retrying", r)
    await move(store, t2.id, TaskState.RUNNING, t(4, 23, 12), "claimed")
    r = await work_run(store, t2.id, 2, started=t(4, 23, 12), finished=t(4, 23, 40),
                       outcome=Outcome.TIMEOUT, tokens=k(500), cost=0.5, window=W1)
    await move(store, t2.id, TaskState.FAILED, t(4, 23, 41), "timed out", r)

    limit = {"limit": {"kind": "session", "resets_at": W1_RESET.isoformat(), "text": "limit",
                       "estimated": False, "exact": True}}
    for name, title, tokens in (("sdk", "Upgrade the payment SDK", 1500),
                                ("notes", "Write the release notes", 400)):
        task = await tasks.add(NewTask(prompt=title, title=title, needs_plan=False), now=t(4, 21))
        ids[name] = task.id
        await move(store, task.id, TaskState.RUNNING, t(5, 0, 30 if name == "sdk" else 35), "claimed")
        r = await work_run(store, task.id, 1, started=t(5, 0, 30 if name == "sdk" else 35),
                           finished=t(5, 1, 25), outcome=Outcome.LIMIT, tokens=k(tokens),
                           cost=tokens / 1000, window=W1, extra=limit)
        await move(store, task.id, TaskState.PAUSED_LIMIT, t(5, 1, 25), "usage limit", r)

    for name, minutes, tokens in (("sdk", 50, 800), ("notes", 29, 300)):
        task_id = ids[name]
        await move(store, task_id, TaskState.READY, t(5, 3), "window reset")
        await move(store, task_id, TaskState.RUNNING, t(5, 3, 1), "claimed")
        r = await work_run(store, task_id, 2, started=t(5, 3, 1), finished=t(5, 3, minutes),
                           outcome=Outcome.SUCCESS, tokens=k(tokens), cost=tokens / 1000,
                           window=W2, scheduled=t(5, 3))
        await move(store, task_id, TaskState.DONE, t(5, 3, minutes + 1), "done", r)

    t5 = await tasks.add(NewTask(prompt="Migrate to Postgres 17", title="Migrate to Postgres 17"),
                         now=t(4, 21, 30))
    ids["pg"] = t5.id
    await move(store, t5.id, TaskState.PLANNING, t(5, 4), "planning")
    await store.plans.add(t5.id, "1. dump\n2. restore", size="L", now=t(5, 4, 5))
    await move(store, t5.id, TaskState.AWAITING_APPROVAL, t(5, 4, 5), "plan v1 ready")
    await move(store, t5.id, TaskState.PLANNING, t(5, 4, 10), "revision requested")
    await store.plans.add(t5.id, "1. dump\n2. restore\n3. verify", size="L", now=t(5, 4, 20))
    await move(store, t5.id, TaskState.AWAITING_APPROVAL, t(5, 4, 20), "plan v2 ready")
    return ids
