"""The words nightshift adds around a task's prompt.

Kept free of imports beyond the standard library: the fake CLI reads `COMPLETION_MARKER`
from here and must start fast.
"""

from __future__ import annotations

COMPLETION_MARKER = "NIGHTSHIFT-TASK-COMPLETE"
"""A line the model writes only when it is finished; without a check command this is the
only signal, and "I'm done" prose is not trusted (reference section 6)."""

CHECK_TAIL_CHARS = 4000
"""How much of a failing check's output goes back to the model: the end is where errors are."""


def completion_instruction() -> str:
    return (
        "When the task is completely finished and verified, end your final message with a line "
        f"that contains only {COMPLETION_MARKER}. If anything is left undone, say what instead "
        "and do not write that line."
    )


def has_completion_marker(text: str | None) -> bool:
    """True when a line of `text` is exactly the marker (quoted or mentioned prose does not count)."""
    if not text:
        return False
    return any(line.strip().strip("*`") == COMPLETION_MARKER for line in text.splitlines())


def work_prompt(prompt: str, plan: str | None = None) -> str:
    """The first prompt of an attempt: the owner's words verbatim, then the approved plan."""
    parts = [prompt]
    if plan and plan.strip():
        parts.append("An approved plan for this task (follow it):\n\n" + plan.strip())
    parts.append(completion_instruction())
    return "\n\n".join(parts)


def tail(text: str, limit: int = CHECK_TAIL_CHARS) -> str:
    if len(text) <= limit:
        return text
    return "…" + text[-limit:]


def continuation_prompt(
    check_cmd: str | None, exit_code: int | None, output: str, iteration: int, max_iterations: int
) -> str:
    """Sent with `--resume` when the check failed or the marker was missing."""
    if check_cmd:
        head = (
            f"The check `{check_cmd}` failed"
            + (f" with exit code {exit_code}" if exit_code is not None else "")
            + ". The end of its output:\n\n```\n"
            + tail(output).rstrip("\n")
            + "\n```\n\nFix the cause so that the check passes."
        )
    else:
        head = "Your last message did not say the task is complete. Continue until it is."
    return (
        f"{head}\n\nThis is iteration {iteration} of at most {max_iterations}.\n\n"
        + completion_instruction()
    )


def resume_prompt(reason: str) -> str:
    """Sent with `--resume` after an interruption (usage limit, restart, crash)."""
    return (
        f"You were interrupted ({reason}). Continue the task from where you left off; "
        "check the working tree first, some of your changes may already be there.\n\n"
        + completion_instruction()
    )
