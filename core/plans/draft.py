"""What a plan run is asked for, and how its answer is read.

The model is asked for a fenced `nightshift-plan` JSON block; formats drift and models
improvise, so the reader is lenient: a missing or broken block still yields a plan (the
prose), only without size, estimate or suggested check.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

SIZES = ("small", "medium", "large")
SIZE_FACTORS = {"small": 0.25, "medium": 1.0, "large": 2.5}
"""Plan size -> multiple of the default task estimate, until history knows better."""

MAX_PLAN_CHARS = 20_000

_BLOCK = re.compile(r"```[ \t]*nightshift-plan[ \t]*\n(.*?)\n[ \t]*```", re.S)


@dataclass(frozen=True)
class DraftPlan:
    body: str
    steps: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    risks: tuple[str, ...] = ()
    check: str | None = None
    size: str | None = None
    estimate_tokens: int | None = None
    problems: tuple[str, ...] = field(default=())
    """What was wrong with the structured block, for the owner to see next to the plan."""


def plan_prompt(task_prompt: str, *, previous: str | None = None, comment: str | None = None) -> str:
    """The prompt of a plan run (Claude runs with --permission-mode plan: it cannot change files)."""
    parts = [
        task_prompt,  # verbatim: the owner's words reach Claude byte for byte
        "---\nDraft a plan for the task above. Do not change any files: read what you need, then "
        "answer with the plan only.",
    ]
    if previous:
        parts.append("Your previous plan:\n\n" + previous.strip())
    if comment:
        parts.append("The owner asked for this revision:\n\n" + comment.strip())
    parts.append(
        "Write the plan as short numbered steps, then end with exactly one fenced block:\n\n"
        "```nightshift-plan\n"
        '{"steps": ["..."], "files": ["paths likely touched"], "risks": ["..."], '
        '"check": "a shell command that passes only when the task is done, or null", '
        '"size": "small | medium | large"}\n'
        "```"
    )
    return "\n\n".join(parts)


def _strings(value: Any, key: str, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return tuple(str(v).strip() for v in value if str(v).strip())
    problems.append(f"{key} is not a list of strings")
    return ()


def read_plan(text: str, default_task_tokens: int) -> DraftPlan:
    """Split a plan run's final text into the readable plan and its structured facts."""
    text = (text or "").strip()
    matches = list(_BLOCK.finditer(text))
    problems: list[str] = []
    if not matches:
        body = text[:MAX_PLAN_CHARS] or "(the plan run returned no text)"
        return DraftPlan(body=body, problems=("no nightshift-plan block",))
    block = matches[-1]
    prose = (text[: block.start()] + text[block.end() :]).strip()
    try:
        data = json.loads(block.group(1))
    except json.JSONDecodeError as exc:
        return DraftPlan(
            body=(prose or text)[:MAX_PLAN_CHARS], problems=(f"the plan block is not JSON: {exc.msg}",)
        )
    if not isinstance(data, dict):
        return DraftPlan(body=(prose or text)[:MAX_PLAN_CHARS], problems=("the plan block is not an object",))
    steps = _strings(data.get("steps"), "steps", problems)
    files = _strings(data.get("files"), "files", problems)
    risks = _strings(data.get("risks"), "risks", problems)
    check = data.get("check")
    if check is not None and not isinstance(check, str):
        problems.append("check is not a string")
        check = None
    check = (check or "").strip() or None
    size = str(data.get("size") or "").strip().lower() or None
    if size is not None and size not in SIZES:
        problems.append(f"size {size!r} is not one of {', '.join(SIZES)}")
        size = None
    estimate = int(default_task_tokens * SIZE_FACTORS[size]) if size else None
    body = render_body(prose, steps, files, risks, check, size)
    return DraftPlan(
        body=body[:MAX_PLAN_CHARS],
        steps=steps,
        files=files,
        risks=risks,
        check=check,
        size=size,
        estimate_tokens=estimate,
        problems=tuple(problems),
    )


def render_body(
    prose: str,
    steps: tuple[str, ...],
    files: tuple[str, ...],
    risks: tuple[str, ...],
    check: str | None,
    size: str | None,
) -> str:
    """The plan as the owner reads it (and as the execution prompt quotes it)."""
    lines = [prose.strip()] if prose.strip() else []
    if steps and not prose.strip():
        lines.append("\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1)))
    if files:
        lines.append("Files likely touched: " + ", ".join(files))
    if risks:
        lines.append("Risks:\n" + "\n".join(f"- {r}" for r in risks))
    if check:
        lines.append(f"Suggested check: {check}")
    if size:
        lines.append(f"Size: {size}")
    return "\n\n".join(lines)
