"""`brain/inbox/*.md` -> tasks.

A file leaves the inbox only after its task is committed; the task carries the file's
name and content hash as `source_ref`, so a crash between the commit and the move imports
the same file again as the same task, never as a duplicate.

The inbox is a folder other programs write to, so what is in it is untrusted: only regular
files inside it are read (opened relative to the inbox's descriptor with `O_NOFOLLOW`,
checked with `fstat` after opening: no symlink, FIFO, device or hard link), the size limit
applies before reading, the front matter is read strictly (`core.frontmatter`), and the
reading and parsing run in a thread with a time bound, so the daemon keeps answering while
a hostile file is refused. A refused file is moved to `rejected/` with a note saying why.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import safefs
from core.errors import InvalidInput, UnsafeFile
from core.frontmatter import scalar, scalar_list, split_front_matter
from core.models import Priority
from core.store.task_rows import NewTask

__all__ = ["MAX_INBOX_FILE_BYTES", "Inbox", "InboxReport", "parse_inbox_file", "split_front_matter"]

MAX_INBOX_FILE_BYTES = 256 * 1024
LOAD_TIMEOUT_S = 30.0
"""Reading and parsing one file takes milliseconds; a file that takes this long is refused."""
_KNOWN_KEYS = {"title", "repo", "priority", "after", "check", "plan", "tags"}
_DIGITS = re.compile(r"[0-9]+")


@dataclass
class InboxReport:
    imported: list[tuple[str, int]] = field(default_factory=list)  # (file name, task id)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file name, problem)

    def as_json(self) -> dict[str, Any]:
        return {
            "imported": [{"file": f, "task_id": t} for f, t in self.imported],
            "rejected": [{"file": f, "error": e} for f, e in self.rejected],
        }


def _int_list(meta: dict[str, Any], key: str) -> tuple[int, ...]:
    raw = meta.get(key)
    items = scalar_list(meta, key)
    if len(items) == 1 and isinstance(items[0], str):
        items = items[0].replace(",", " ").split()
    ids = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool) and item >= 0:
            ids.append(item)
        elif isinstance(item, str) and _DIGITS.fullmatch(item.strip()) and len(item.strip()) <= 18:
            ids.append(int(item.strip()))
        else:
            raise InvalidInput(f"{key}: task ids must be numbers, got {raw!r}")
    return tuple(ids)


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
    raw_tags = meta.get("tags")
    tags = [str(t) for t in scalar_list(meta, "tags")]
    if isinstance(raw_tags, str):
        tags = [t.strip() for t in raw_tags.split(",") if t.strip()]
    priority = Priority.parse(scalar(meta, "priority") or "normal")
    digest = hashlib.sha256(raw).hexdigest()[:16]
    return NewTask(
        prompt=body,
        title=scalar(meta, "title"),
        repo=scalar(meta, "repo"),
        priority=priority,
        depends_on=_int_list(meta, "after"),
        check_cmd=scalar(meta, "check"),
        needs_plan=plan,
        tags=tuple(tags),
        source="inbox",
        source_ref=f"inbox:{name}:{digest}",
    )


class Inbox:
    """One pass over an inbox folder, through descriptors of the folder and its `rejected/`
    and `imported/` subfolders (which must be real folders, not links), so every file read
    or moved is the one in these folders."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd
        self._subdirs: dict[str, int] = {}

    @classmethod
    @contextmanager
    def open(cls, path: Path) -> Iterator[Inbox | None]:
        """The inbox at `path` (the folder itself may be a link the owner made), or None."""
        try:
            fd = safefs.open_dir(path, follow=True)
        except (FileNotFoundError, UnsafeFile):
            yield None
            return
        inbox = cls(path, fd)
        try:
            yield inbox
        finally:
            for sub in inbox._subdirs.values():
                os.close(sub)
            os.close(fd)

    def names(self) -> list[str]:
        """`*.md` entries that are not folders: links and FIFOs are listed too, to be refused
        with a note (skipping them silently would leave the owner guessing)."""
        found = []
        with os.scandir(self._fd) as entries:
            for entry in entries:
                if (entry.name.endswith(".md") and not entry.name.startswith(".")
                        and not entry.is_dir(follow_symlinks=False)):
                    found.append(entry.name)
        return sorted(found)

    def read(self, name: str) -> bytes:
        """The file's bytes, or InvalidInput saying why it is refused."""
        try:
            return safefs.read_regular(self.path / name, limit_bytes=MAX_INBOX_FILE_BYTES, dir_fd=self._fd)
        except UnsafeFile as exc:
            raise InvalidInput(f"file {exc.reason}") from None
        except PermissionError:
            raise InvalidInput("file cannot be read (permission denied)") from None

    def load(self, name: str, *, plan_default: bool) -> NewTask:
        return parse_inbox_file(name, self.read(name), plan_default=plan_default)

    async def load_async(
        self, name: str, *, plan_default: bool, timeout_s: float = LOAD_TIMEOUT_S
    ) -> NewTask:
        """`load` in a worker thread with a time bound: the event loop never waits on a file."""
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(self.load, name, plan_default=plan_default), timeout_s
            )
        except TimeoutError:
            raise InvalidInput(f"file took longer than {timeout_s:g}s to read; refused") from None

    def _subdir(self, name: str) -> int:
        if name not in self._subdirs:
            with suppress(FileExistsError):
                os.mkdir(name, 0o700, dir_fd=self._fd)
            try:
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=self._fd)
            except OSError:
                raise UnsafeFile(self.path / name, f"is {safefs.describe(self.path / name)}, not a "
                                 "folder; move it away so the inbox can be processed") from None
            self._subdirs[name] = fd
        return self._subdirs[name]

    def _free_name(self, folder_fd: int, name: str) -> str:
        stem, dot, suffix = name.rpartition(".")
        stem, suffix = (stem, dot + suffix) if dot else (name, "")
        candidate, counter = name, 1
        while True:
            try:
                os.lstat(candidate, dir_fd=folder_fd)
            except FileNotFoundError:
                return candidate
            candidate = f"{stem}.{counter}{suffix}"
            counter += 1

    def move_aside(self, name: str, folder: str) -> str:
        """Move the entry `name` (whatever it is: rename moves a link, never its target) into
        `folder`, under a name not taken yet; return that name."""
        folder_fd = self._subdir(folder)
        target = self._free_name(folder_fd, name)
        os.replace(name, target, src_dir_fd=self._fd, dst_dir_fd=folder_fd)
        return target

    def reject(self, name: str, problem: str) -> None:
        """Set the file aside in `rejected/` with a note beside it saying why."""
        moved = self.move_aside(name, "rejected")
        note = (f"{name} was not imported: {problem}\n"
                "Fix it and move it back into the inbox to try again.\n")
        safefs.write_atomic(self.path / "rejected" / f"{moved}.error.txt", note.encode("utf-8"),
                            dir_fd=self._subdir("rejected"))
