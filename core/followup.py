"""Follow-ups: the owner's next instruction for a task that has run, as its next iteration.

A follow-up is stored in `kv` (`follow_up:<task>`) and the task goes back to `ready`, so it
waits in the queue like any work (budget, reset times, priority). When it starts, the
executor resumes the task's Claude session in the task's worktree with the owner's words as
the prompt, byte for byte, and only then deletes the stored follow-up: a run that could not
start keeps it for the next attempt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.attachments import prompt_with_files, save_file, task_folder
from core.errors import InvalidInput, ReviewRefused
from core.models import RunKind, Task, TaskState, iso
from core.store.store import Store

if TYPE_CHECKING:
    from core.service import Service

FOLLOW_UP_KEY = "follow_up:{}"
MAX_FOLLOW_UP_CHARS = 20_000
CAN_FOLLOW_UP = frozenset({TaskState.DONE, TaskState.FAILED, TaskState.CANCELLED})
FRESH_HEADER = "Follow-up from the owner, after an earlier attempt at the task above:"


def follow_up_key(task_id: int) -> str:
    return FOLLOW_UP_KEY.format(task_id)


async def pending_follow_up(store: Store, task_id: int) -> str | None:
    """The follow-up waiting for the task's next run, if any."""
    value = await store.kv.get(follow_up_key(task_id))
    return str(value["text"]) if isinstance(value, dict) and value.get("text") else None


async def follow_up_started(store: Store, task_id: int) -> None:
    """The run that carries the follow-up has started: it is no longer pending."""
    await store.kv.delete(follow_up_key(task_id))


def fresh_follow_up_prompt(task_prompt: str, follow_up: str) -> str:
    """For a task whose session cannot be resumed: the task, then the owner's follow-up."""
    return f"{task_prompt}\n\n{FRESH_HEADER}\n{follow_up}"


async def request_follow_up(
    service: Service, task_id: int, text: str, *, attachment: tuple[str, bytes] | None = None
) -> Task:
    """Queue `text` as the task's next iteration (same session, same worktree)."""
    if not text.strip():
        raise InvalidInput("say what Claude should do next (the follow-up is empty)")
    if len(text) > MAX_FOLLOW_UP_CHARS:
        raise InvalidInput(f"the follow-up is longer than {MAX_FOLLOW_UP_CHARS:,} characters")
    task = await service.get(task_id)
    if task.state not in CAN_FOLLOW_UP:
        raise ReviewRefused(
            f"task #{task_id} is {task.state.value}; a follow-up continues a task whose run has"
            " ended (send it again when its finished message arrives)"
        )
    runs = [r for r in await service.store.runs.for_task(task_id) if r.kind is RunKind.WORK]
    if not runs:
        raise ReviewRefused(f"task #{task_id} has not run yet, so there is nothing to follow up")
    prompt = text
    if attachment is not None:
        name, data = attachment
        saved = save_file(task_folder(service.settings, task_id), name, data, service.settings)
        prompt = prompt_with_files(text, [saved])
    value: dict[str, Any] = {"text": prompt, "at": iso(service.clock()), "after_run": runs[-1].id}
    # Stored before the task is ready, so the run that takes it always finds it.
    await service.store.kv.set(follow_up_key(task_id), value)
    try:
        task = await service.store.tasks.transition(
            task_id,
            TaskState.READY,
            reason=f"follow-up from the owner: {text.strip()[:200]}",
            expect=tuple(CAN_FOLLOW_UP),
            action="follow it up",
            fields={"attempts": 0},
            now=service.clock(),
        )
    except BaseException:
        await service.store.kv.delete(follow_up_key(task_id))
        raise
    service.changed("task_follow_up", task_id)
    return task
