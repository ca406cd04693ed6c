"""A small but complete fixture history, built through the real Store and Service APIs.

Times are UTC; the tests read them in Europe/Berlin (UTC+2 in October), so task 3, which
ends at 23:31 UTC on 1 October, belongs to 2 October there: day cutting is exercised.

What happens (run ids in brackets):
- task 1 "Fix the flaky login test" (shop, #auth, high): plan v1, revised to v2, approved;
  [1] check_failed in window 10:00, [2] success in the same window; done.
- task 2 "Add dark mode" (shop, #ui): plan v1 approved; [3] hits the limit in window
  15:00; [4] error in window 20:00; failed.
- task 3 "Refactor billing" (no repo, no tag, no plan): [5] success with no window id
  (falls back to the 22:00 UTC block); done at 23:31 UTC.
- task 4 "Rewrite everything in Rust" (#ui #big): a plan run [6], plan v1, rejected.
- task 5 "Queued idea": still queued.
- task 6 "Try the new linter" (no plan): cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from core.models import Outcome, Priority, RunKind, TaskState, Tokens
from core.service import Service
from core.settings import Settings
from core.store.store import Store
from core.store.task_rows import NewTask

SHOP = "/srv/code/shop"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = at(1, 0)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Fixture:
    store: Store
    service: Service
    clock: Clock


async def move(store: Store, task_id: int, state: TaskState, when: datetime, reason: str,
               run_id: int | None = None) -> None:
    await store.tasks.transition(task_id, state, reason=reason, now=when, run_id=run_id)


async def work_run(store: Store, task_id: int, iteration: int, *, started: datetime,
                   finished: datetime, outcome: Outcome, tokens: Tokens, cost: float,
                   window: str | None, scheduled: datetime | None = None,
                   **fields: object) -> int:
    run = await store.runs.create(
        task_id, iteration=iteration, now=started, started_at=started, scheduled_for=scheduled,
        window_id=window, branch=f"nightshift/{task_id}-branch", tmux_session=f"ns-{task_id}",
        session_id=f"sess-{task_id}", log_path=f"/state/runs/{task_id}.jsonl",
    )
    await store.runs.finish(run.id, outcome, now=finished, tokens=tokens, cost_usd=cost,
                            num_turns=5, **fields)
    return run.id


async def build_history(store: Store, settings: Settings) -> Fixture:
    clock = Clock()
    service = Service(settings, store, clock=clock)
    tasks = store.tasks

    # task 1: plan, revision, approval, two iterations, done
    t1 = await tasks.add(NewTask(prompt="Fix the flaky login test.\nIt fails one run in ten.",
                                 title="Fix the flaky login test", repo=SHOP,
                                 priority=Priority.HIGH, tags=("auth",)), now=at(1, 8))
    await move(store, t1.id, TaskState.PLANNING, at(1, 8, 1), "planning")
    await store.plans.add(t1.id, "1. Find the race\n2. Fix it", size="M", now=at(1, 8, 5))
    await move(store, t1.id, TaskState.AWAITING_APPROVAL, at(1, 8, 5), "plan v1 ready")
    await move(store, t1.id, TaskState.PLANNING, at(1, 8, 10), "revision requested")
    await store.plans.add(t1.id, "1. Add a retry-free wait\n2. Run the test 50 times",
                          size="S", comment="smaller please", now=at(1, 8, 15))
    await move(store, t1.id, TaskState.AWAITING_APPROVAL, at(1, 8, 15), "plan v2 ready")
    clock.now = at(1, 8, 20)
    await service.approve(t1.id)
    await move(store, t1.id, TaskState.RUNNING, at(1, 10, 1), "claimed")
    r1 = await work_run(store, t1.id, 1, started=at(1, 10, 1), finished=at(1, 10, 20),
                        outcome=Outcome.CHECK_FAILED, tokens=Tokens(1000, 2000, 3000, 4000),
                        cost=0.5, window="2026-10-01T10:00:00.000Z", scheduled=at(1, 10),
                        check_output="collected 3 items\nFAILED tests/test_login.py::test_login")
    await move(store, t1.id, TaskState.READY, at(1, 10, 21), "check failed; continuing", r1)
    await move(store, t1.id, TaskState.RUNNING, at(1, 10, 22), "claimed")
    r2 = await work_run(store, t1.id, 2, started=at(1, 10, 22), finished=at(1, 10, 40),
                        outcome=Outcome.SUCCESS, tokens=Tokens(500, 1500, 0, 8000), cost=0.25,
                        window="2026-10-01T10:00:00.000Z", summary="Fixed the race in login.",
                        check_output="3 passed",
                        extra={"diffstat": " tests/test_login.py | 4 ++--\n 1 file changed"})
    await move(store, t1.id, TaskState.DONE, at(1, 10, 41), "check passed", r2)

    # task 2: approved at v1, limit, error, failed
    t2 = await tasks.add(NewTask(prompt="Add a dark mode toggle.", title="Add dark mode",
                                 repo=SHOP, tags=("ui",)), now=at(1, 9))
    await move(store, t2.id, TaskState.PLANNING, at(1, 9, 1), "planning")
    await store.plans.add(t2.id, "Toggle in settings", size="M", now=at(1, 9, 5))
    await move(store, t2.id, TaskState.AWAITING_APPROVAL, at(1, 9, 5), "plan v1 ready")
    clock.now = at(1, 9, 10)
    await service.approve(t2.id, version=1)
    await move(store, t2.id, TaskState.RUNNING, at(1, 15, 2), "claimed")
    r3 = await work_run(store, t2.id, 1, started=at(1, 15, 2), finished=at(1, 15, 30),
                        outcome=Outcome.LIMIT, tokens=Tokens(2000, 3000, 0, 15000), cost=1.0,
                        window="2026-10-01T15:00:00.000Z", scheduled=at(1, 15))
    await move(store, t2.id, TaskState.PAUSED_LIMIT, at(1, 15, 30), "usage limit", r3)
    await move(store, t2.id, TaskState.READY, at(1, 20, 1), "window reset")
    await move(store, t2.id, TaskState.RUNNING, at(1, 20, 1), "claimed")
    r4 = await work_run(store, t2.id, 2, started=at(1, 20, 1), finished=at(1, 20, 30),
                        outcome=Outcome.ERROR, tokens=Tokens(1000, 1000, 0, 3000), cost=0.2,
                        window="2026-10-01T20:00:00.000Z", scheduled=at(1, 20))
    await move(store, t2.id, TaskState.FAILED, at(1, 20, 31), "error", r4)

    # task 3: no plan, no repo, no window id, done after midnight Berlin time
    t3 = await tasks.add(NewTask(prompt="Refactor the billing module.",
                                 title="Refactor billing", needs_plan=False), now=at(1, 22))
    await move(store, t3.id, TaskState.RUNNING, at(1, 23), "claimed")
    r5 = await work_run(store, t3.id, 1, started=at(1, 23), finished=at(1, 23, 30),
                        outcome=Outcome.SUCCESS, tokens=Tokens(100, 200, 300, 400), cost=0.1,
                        window=None, summary="Split billing into three modules.")
    await move(store, t3.id, TaskState.DONE, at(1, 23, 31), "done", r5)

    # task 4: a plan run, then the plan is rejected
    t4 = await tasks.add(NewTask(prompt="Rewrite everything in Rust.",
                                 title="Rewrite everything in Rust", tags=("ui", "big")),
                         now=at(2, 8, 55))
    await move(store, t4.id, TaskState.PLANNING, at(2, 9), "planning")
    plan_run = await store.runs.create(t4.id, kind=RunKind.PLAN, now=at(2, 9),
                                       started_at=at(2, 9), window_id="2026-10-02T09:00:00.000Z")
    await store.runs.finish(plan_run.id, Outcome.SUCCESS, now=at(2, 9, 2),
                            tokens=Tokens(300, 700, 0, 0), cost_usd=0.05, num_turns=2)
    await store.plans.add(t4.id, "Rewrite [[everything]] in Rust", size="XL",
                          run_id=plan_run.id, now=at(2, 9, 2))
    await move(store, t4.id, TaskState.AWAITING_APPROVAL, at(2, 9, 2), "plan v1 ready")
    clock.now = at(2, 9, 30)
    await service.reject(t4.id, "too big")

    # task 5: still queued; task 6: cancelled
    await tasks.add(NewTask(prompt="An idea for later", title="Queued idea"), now=at(2, 10))
    t6 = await tasks.add(NewTask(prompt="Try the new linter", title="Try the new linter",
                                 needs_plan=False), now=at(2, 11))
    clock.now = at(2, 11, 5)
    await service.cancel(t6.id)
    clock.now = at(2, 12)
    return Fixture(store, service, clock)
