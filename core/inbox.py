"""`brain/inbox/*.md` -> tasks.

A file leaves the inbox only after its task is committed; the task carries the file's
name and content hash as `source_ref`, so a crash between the commit and the move imports
the same file again as the same task, never as a duplicate.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import InvalidInput
from core.models import Priority
from core.store.tasks import NewTask

MAX_INBOX_FILE_BYTES = 256 * 1024
_KNOWN_KEYS = {"title", "repo", "priority", "after", "check", "plan", "tags"}


@dataclass
class InboxReport:
    imported: list[tuple[str, int]] = field(default_factory=list)  # (file name, task id)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file name, problem)

    def as_json(self) -> dict[str, Any]:
        return {
            "imported": [{"file": f, "task_id": t} for f, t in self.imported],
            "rejected": [{"file": f, "error": e} for f, e in self.rejected],
        }


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """YAML between leading `---` lines, then the body; no front matter is fine."""
    if not text.startswith("---"):
        return {}, text
    lines = text.splitlines(keepends=True)
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            header = "".join(lines[1:index])
            body = "".join(lines[index + 1 :])
            try:
                meta = yaml.safe_load(header) or {}
            except yaml.YAMLError as exc:
                raise InvalidInput(f"front matter is not valid YAML: {exc}") from None
            if not isinstance(meta, dict):
                raise InvalidInput("front matter must be a mapping of key: value")
            return meta, body
    raise InvalidInput("front matter starts with --- but never ends")


def _int_list(value: Any, key: str) -> tuple[int, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else str(value).replace(",", " ").split()
    try:
        return tuple(int(v) for v in items)
    except (TypeError, ValueError):
        raise InvalidInput(f"{key}: task ids must be numbers, got {value!r}") from None


def parse_inbox_file(name: str, raw: bytes, *, plan_default: bool = True) -> NewTask:
    """Turn one inbox file into a task description, or raise InvalidInput saying why not."""
    if len(raw) > MAX_INBOX_FILE_BYTES:
        raise InvalidInput(f"file is {len(raw):,} bytes; the limit is {MAX_INBOX_FILE_BYTES:,}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("file is not UTF-8 text") from None
    meta, body = split_front_matter(text.lstrip("\ufeff"))
    unknown = sorted(set(map(str, meta)) - _KNOWN_KEYS)
    if unknown:
        raise InvalidInput(
            f"unknown front matter key{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}"
            f" (known: {', '.join(sorted(_KNOWN_KEYS))})"
        )
    plan = meta.get("plan", plan_default)
    if not isinstance(plan, bool):
        raise InvalidInput(f"plan: expected true or false, got {plan!r}")
    tags = meta.get("tags") or []
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    elif not isinstance(tags, list):
        raise InvalidInput(f"tags: expected a list or comma-separated words, got {tags!r}")
    priority = Priority.parse(str(meta.get("priority", "normal")))
    title = meta.get("title")
    repo = meta.get("repo")
    check = meta.get("check")
    digest = hashlib.sha256(raw).hexdigest()[:16]
    return NewTask(
        prompt=body,
        title=str(title) if title is not None else None,
        repo=str(repo) if repo is not None else None,
        priority=priority,
        depends_on=_int_list(meta.get("after"), "after"),
        check_cmd=str(check) if check is not None else None,
        needs_plan=plan,
        tags=tuple(str(t) for t in tags),
        source="inbox",
        source_ref=f"inbox:{name}:{digest}",
    )


def move_aside(path: Path, folder: Path) -> Path:
    """Move `path` into `folder` without overwriting an earlier file of the same name."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    counter = 1
    while target.exists():
        target = folder / f"{path.stem}.{counter}{path.suffix}"
        counter += 1
    os.replace(path, target)
    return target


def inbox_files(inbox: Path) -> list[Path]:
    if not inbox.is_dir():
        return []
    return sorted(p for p in inbox.glob("*.md") if p.is_file() and not p.name.startswith("."))
