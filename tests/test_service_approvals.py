"""Approve, revise and reject through the service: versions are checked, nothing stale wins."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput, InvalidTransition, NoPlan, StalePlan
from core.models import TaskState
from core.service import Service
from core.store.store import Store
from tests.fakes.notifier import RecordingNotifier


async def awaiting(service: Service, body: str = "1. do it", check: str | None = None) -> int:
    task = await service.add("do the thing")
    await service.store.tasks.transition(task.id, TaskState.PLANNING)
    await service.store.plans.add(task.id, body, size="small", suggested_check=check)
    await service.store.tasks.transition(task.id, TaskState.AWAITING_APPROVAL)
    return task.id


async def test_approve_latest_adopts_suggested_check(settings, store: Store) -> None:  # type: ignore[no-untyped-def]
    notifier = RecordingNotifier()
    service = Service(settings, store, notifier=notifier)
    task_id = await awaiting(service, check="make test")
    task = await service.approve(task_id, version=1)
    assert task.state is TaskState.READY and task.check_cmd == "make test"
    assert (await store.plans.approved(task_id)).version == 1  # type: ignore[union-attr]
    assert [n.kind for n in notifier.sent] == ["plan_approved"]


async def test_stale_version_refused(service: Service) -> None:
    task_id = await awaiting(service)
    await service.revise(task_id, "smaller steps")
    assert await service.plan_request(task_id) == {"comment": "smaller steps", "previous_version": 1}
    await service.store.plans.add(task_id, "1. smaller", comment="smaller steps")
    await service.store.tasks.transition(task_id, TaskState.AWAITING_APPROVAL)
    with pytest.raises(StalePlan, match="plan v1 of task 1 was replaced by v2"):
        await service.approve(task_id, version=1)
    assert (await service.get(task_id)).state is TaskState.AWAITING_APPROVAL
    with pytest.raises(StalePlan):
        await service.reject(task_id, version=1)
    assert (await service.approve(task_id, version=2)).state is TaskState.READY


async def test_revise_needs_a_comment_and_the_right_state(service: Service) -> None:
    task_id = await awaiting(service)
    with pytest.raises(InvalidInput, match="comment is empty"):
        await service.revise(task_id, "  ")
    await service.approve(task_id)
    with pytest.raises(InvalidTransition, match="only a plan awaiting approval can be revised"):
        await service.revise(task_id, "more")


async def test_reject_ends_the_task(service: Service) -> None:
    task_id = await awaiting(service)
    task = await service.reject(task_id, "not worth it")
    assert task.state is TaskState.REJECTED and task.state_reason == "not worth it"
    assert (await service.store.plans.latest(task_id)).status == "rejected"  # type: ignore[union-attr]
    with pytest.raises(InvalidTransition):
        await service.approve(task_id)


async def test_plan_of_a_task_without_one(service: Service) -> None:
    task = await service.add("x")
    with pytest.raises(NoPlan, match="task 1 has no plan yet"):
        await service.latest_plan(task.id)
