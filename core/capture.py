"""Capture from the phone: nothing the owner sends is dropped.

Plain text becomes a *draft* (kept in the database, so a restart keeps it) that the owner
queues, sends without a plan, points at a repo alias, or discards. A photo or document
becomes a draft with the file, or is added to the task it answers. Drafts live in the `kv`
table under `draft:<id>`; taking one is one transaction, so a double tap queues it once.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.attachments import (
    ATTACHMENTS_HEADER,
    draft_folder,
    list_files,
    move_folder,
    prompt_with_files,
    remove_folder,
    save_file,
    task_folder,
)
from core.errors import DraftGone, InvalidInput, ReviewRefused
from core.models import Task, TaskState, iso, parse_iso
from core.store.port import Database, Tx

if TYPE_CHECKING:
    from core.service import Service

DRAFT_KEY = "draft:{}"
DRAFT_SEQ_KEY = "draft_seq"
MEDIA_GROUP_KEY = "draft_media_group:{}"
ATTACHMENT_ONLY_TEXT = "Look at the attached file(s) and do what they show."
NOT_STARTED = frozenset({TaskState.QUEUED, TaskState.PLANNING, TaskState.AWAITING_APPROVAL,
                         TaskState.READY})
"""States in which a task's prompt may still change: nothing has run yet."""


@dataclass(frozen=True, slots=True)
class Draft:
    id: int
    text: str
    repo: str | None
    """A repo alias (never a path: drafts come from the phone)."""
    created_at: datetime
    files: tuple[str, ...] = field(default=())
    """Names of the files waiting in the draft's folder."""

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "repo": self.repo,
                "created_at": iso(self.created_at), "files": list(self.files)}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Draft:
        created = parse_iso(value.get("created_at"))
        assert created is not None
        return cls(int(value["id"]), str(value["text"]), value.get("repo"), created,
                   tuple(str(f) for f in value.get("files") or ()))


def without_file_list(prompt: str, folder: Path) -> str:
    """The prompt without the file list nightshift appended (only if it lists `folder`'s files)."""
    head, sep, tail = prompt.rpartition("\n\n" + ATTACHMENTS_HEADER + "\n")
    if not sep:
        return prompt
    lines = tail.split("\n")
    ours = all(line.startswith(f"- {folder}{os.sep}") for line in lines)
    return head if ours else prompt


class Capture:
    """Drafts and attachments; the service's `capture` attribute."""

    def __init__(self, service: Service) -> None:
        self.service = service

    @property
    def _db(self) -> Database:
        return self.service.store.db

    def default_repo(self) -> str | None:
        """With exactly one alias configured, that alias; otherwise no repo until picked."""
        aliases = self.service.settings.repos
        return next(iter(aliases)) if len(aliases) == 1 else None

    async def _read(self, conn: Tx, draft_id: int) -> Draft:
        row = await conn.fetchone("SELECT value FROM kv WHERE key = ?", (DRAFT_KEY.format(draft_id),))
        if row is None:
            raise DraftGone(draft_id)
        return Draft.from_json(json.loads(row[0]))

    async def _write(self, conn: Tx, draft: Draft) -> None:
        await conn.execute(
            "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE"
            " SET value = excluded.value, updated_at = excluded.updated_at",
            (DRAFT_KEY.format(draft.id), json.dumps(draft.as_json()), iso(self.service.clock())),
        )

    async def create(self, text: str, *, media_group: str | None = None) -> Draft:
        """A new draft of `text` (the owner's words, kept as sent)."""
        if not text.strip():
            raise InvalidInput("the message has no text to make a task of")
        now = iso(self.service.clock())
        async with self._db.transaction() as conn:
            # One statement takes the next id, so two fronts (or machines) never share one.
            row = await conn.fetchone(
                "INSERT INTO kv (key, value, updated_at) VALUES (?, '1', ?) ON CONFLICT(key) DO UPDATE"
                " SET value = CAST(CAST(kv.value AS INTEGER) + 1 AS TEXT), updated_at = excluded.updated_at"
                " RETURNING value",
                (DRAFT_SEQ_KEY, now),
            )
            assert row is not None
            draft = Draft(int(row[0]), text, self.default_repo(), self.service.clock())
            await self._write(conn, draft)
            if media_group:
                await conn.execute(
                    "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE"
                    " SET value = excluded.value, updated_at = excluded.updated_at",
                    (MEDIA_GROUP_KEY.format(media_group), json.dumps(draft.id), now),
                )
        return draft

    async def get(self, draft_id: int) -> Draft:
        async with self._db.transaction() as conn:
            return await self._read(conn, draft_id)

    async def for_media_group(self, media_group: str) -> Draft | None:
        """The draft an album's first photo made, so the album's other photos join it."""
        found = await self.service.store.kv.get(MEDIA_GROUP_KEY.format(media_group))
        if found is None:
            return None
        try:
            return await self.get(int(found))
        except DraftGone:
            return None

    async def set_repo(self, draft_id: int, alias: str | None) -> Draft:
        if alias is not None and alias not in self.service.settings.repos:
            raise InvalidInput("that repo alias is no longer configured; /repos lists them")
        async with self._db.transaction() as conn:
            draft = await self._read(conn, draft_id)
            draft = Draft(draft.id, draft.text, alias, draft.created_at, draft.files)
            await self._write(conn, draft)
        return draft

    async def attach_to_draft(self, draft_id: int, name: str, data: bytes) -> Draft:
        """Keep a file with the draft until it is queued (or discarded)."""
        await self.get(draft_id)  # refuse before writing anything for a draft that is gone
        path = save_file(draft_folder(self.service.settings, draft_id), name, data,
                         self.service.settings)
        async with self._db.transaction() as conn:
            draft = await self._read(conn, draft_id)
            draft = Draft(draft.id, draft.text, draft.repo, draft.created_at,
                          (*draft.files, path.name))
            await self._write(conn, draft)
        return draft

    async def _take(self, draft_id: int) -> Draft:
        """Remove and return the draft in one statement: of two taps, only one gets it."""
        async with self._db.transaction() as conn:
            row = await conn.fetchone("DELETE FROM kv WHERE key = ? RETURNING value",
                                      (DRAFT_KEY.format(draft_id),))
        if row is None:
            raise DraftGone(draft_id)
        return Draft.from_json(json.loads(row[0]))

    async def queue(self, draft_id: int, *, plan: bool | None = None) -> Task:
        """Queue the draft as a task (once: a second tap finds it gone)."""
        draft = await self._take(draft_id)
        settings = self.service.settings
        try:
            task = await self.service.add(draft.text, repo=draft.repo, plan=plan, source="telegram")
        except BaseException:
            async with self._db.transaction() as conn:  # nothing lost: the draft comes back
                await self._write(conn, draft)
            raise
        files = move_folder(draft_folder(settings, draft.id), task_folder(settings, task.id))
        if files:
            task = await self.service.store.tasks.update_fields(
                task.id, prompt=prompt_with_files(task.prompt, files)
            )
        return task

    async def discard(self, draft_id: int) -> Draft:
        draft = await self._take(draft_id)
        remove_folder(draft_folder(self.service.settings, draft.id))
        return draft

    async def attach_to_task(self, task_id: int, name: str, data: bytes) -> tuple[Task, Path]:
        """Add a file to a task that has not started: saved in its folder, named in its prompt."""
        task = await self.service.get(task_id)
        if task.state not in NOT_STARTED:
            raise ReviewRefused(
                f"task #{task_id} is {task.state.value}; a file can join a task before it runs,"
                " or come with a follow-up (reply to its finished message with the file and a caption)"
            )
        folder = task_folder(self.service.settings, task_id)
        path = save_file(folder, name, data, self.service.settings)
        prompt = prompt_with_files(without_file_list(task.prompt, folder), list_files(folder))
        task = await self.service.store.tasks.update_fields(task_id, prompt=prompt)
        self.service.changed("task_changed", task_id)
        return task, path

    def task_files(self, task_id: int) -> list[Path]:
        return list_files(task_folder(self.service.settings, task_id))
