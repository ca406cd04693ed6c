"""Structured logs: one JSON line per event in `brain/logs/YYYY-MM-DD.jsonl` (UTC days).

The `events` table already records every state change, run event and plan; `export_events`
copies it out incrementally, with a cursor in the KV store. Things that are not in the
table are written directly with `write()` (`record()` from the event loop): the limit gate's
pauses, resets and "window open again" (`limit_pause`, `window_reset`, `window_proven`) and
the learning loop's automatic adjustments (`adjustment`). Every line has
the same keys, so `jq` and Dataview-style tools can read them:

    {"time": "<UTC ISO-8601>", "event": "...", "task": 3 | null, "run": 7 | null,
     "id": 42 (exported table events only), "fields": {...}}

Nothing secret may reach a line: every string (keys included) goes through `redact()`.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from core import safefs
from core.abc import Clock
from core.errors import DiskWriteError, NightshiftError
from core.log import event as log_event
from core.models import Event, Run, iso, utcnow
from core.redact import REDACTED, env_secrets, redact
from core.store.db import ensure_private_dir
from core.store.events import row_to_event
from core.store.runs import row_to_run
from core.store.store import Store

CURSOR_KEY = "logbook.cursor"
"""KV key: id of the last table event written to the logs."""

def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date | Path):
        return str(value)
    if hasattr(value, "as_json"):
        return value.as_json()
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return str(value)


def encode_line(record: Mapping[str, Any]) -> str:
    """One redacted JSON line (no newline inside: json escapes them)."""
    clean = redact(json.loads(json.dumps(record, default=_jsonable, ensure_ascii=False)))
    line = json.dumps(clean, ensure_ascii=False, separators=(",", ":"))
    # Second guard: a secret that JSON escaping split or that hid in a number's text.
    for secret in env_secrets():
        if secret in line:
            line = line.replace(secret, REDACTED)
    return line


def event_record(event: Event, run: Run | None = None) -> dict[str, Any]:
    """The log line of a table event; a finished run's line also carries what it cost, so
    `jq` over the logs alone can add up tokens."""
    fields: dict[str, Any] = {}
    if event.from_state is not None:
        fields["from"] = event.from_state
    if event.to_state is not None:
        fields["to"] = event.to_state
    if event.reason is not None:
        fields["reason"] = event.reason
    fields.update(event.data)
    if run is not None and event.kind == "run_finished":
        fields.update({
            "kind": run.kind.value,
            "iteration": run.iteration,
            "tokens": run.tokens.as_dict(),
            "cost_usd": run.cost_usd,
            "num_turns": run.num_turns,
            "duration_s": run.duration_s,
            "window_id": run.window_id,
        })
    return {"time": iso(event.at.astimezone(UTC)), "event": event.kind, "task": event.task_id,
            "run": event.run_id, "id": event.id, "fields": fields}


class LogBook:
    def __init__(self, brain_dir: Path, *, clock: Clock = utcnow) -> None:
        self.dir = Path(brain_dir) / "logs"
        self.clock = clock

    def path_for(self, day: date) -> Path:
        return self.dir / f"{day.isoformat()}.jsonl"

    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        """Log an event that is not in the events table (a limit hit, a notification sent).

        `task`, `run` and `at` (a datetime, default now) are taken out of `fields`; the rest
        goes under "fields". Returns the record as written (redacted).
        """
        task = fields.pop("task", None)
        run = fields.pop("run", None)
        at = fields.pop("at", None) or self.clock()
        if not isinstance(at, datetime) or at.tzinfo is None:
            raise ValueError("`at` must be an aware datetime")
        record = {"time": iso(at.astimezone(UTC)), "event": event, "task": task, "run": run,
                  "fields": fields}
        line = encode_line(record)
        with self._locked():
            self._append(self.path_for(at.astimezone(UTC).date()), [line])
        parsed: dict[str, Any] = json.loads(line)
        return parsed

    async def record(self, event: str, **fields: Any) -> bool:
        """`write` off the event loop, for what the daemon does on its own. The log is a copy
        for the owner's tools: a failed write (a full disk, a link planted at the day's file)
        is one warning line, never the caller's error. False when it was not written."""
        try:
            await asyncio.to_thread(self.write, event, **fields)
        except (NightshiftError, OSError) as exc:
            log_event("logbook line not written", logging.WARNING, logger="logbook", line=event,
                      error=str(exc))
            return False
        return True

    async def export_events(self, store: Store, *, batch: int = 500) -> int:
        """Append table events not yet in the logs; return how many lines were written.

        Lines are appended and synced before the cursor moves, and events already present in
        a day's file are skipped, so a crash between the two writes no duplicate line.
        """
        written = 0
        while True:
            cursor = int(await store.kv.get(CURSOR_KEY, 0))
            rows = await store.db.fetchall(
                "SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?", (cursor, batch)
            )
            if not rows:
                return written
            events = [row_to_event(r) for r in rows]
            finished = sorted({e.run_id for e in events
                               if e.kind == "run_finished" and e.run_id is not None})
            runs: dict[int, Run] = {}
            if finished:
                marks = ",".join("?" * len(finished))
                runs = {r.id: r for r in map(row_to_run, await store.db.fetchall(
                    f"SELECT * FROM runs WHERE id IN ({marks})", finished))}
            written += await asyncio.to_thread(self._export, events, runs)
            await store.kv.set(CURSOR_KEY, events[-1].id)

    def _export(self, events: list[Event], runs: Mapping[int, Run]) -> int:
        by_day: dict[date, list[Event]] = {}
        for event in events:
            by_day.setdefault(event.at.astimezone(UTC).date(), []).append(event)
        written = 0
        with self._locked():
            for day, members in by_day.items():
                path = self.path_for(day)
                seen = self._max_id(path)
                lines = [encode_line(event_record(e, runs.get(e.run_id or 0)))
                         for e in members if e.id > seen]
                self._append(path, lines)
                written += len(lines)
        return written

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time across processes (the daemon and a CLI `notes` may overlap)."""
        self._ensure_dir()
        fd = safefs.open_lock(self.dir / ".lock")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _ensure_dir(self) -> None:
        ensure_private_dir(self.dir)

    @staticmethod
    def _max_id(path: Path) -> int:
        highest = 0
        try:
            with os.fdopen(safefs.open_regular(path), encoding="utf-8", errors="replace") as fh:
                for raw in fh:
                    try:
                        value = json.loads(raw).get("id")
                    except (json.JSONDecodeError, AttributeError):
                        continue  # a torn last line from a crash: ignore it, never fail on it
                    if isinstance(value, int) and value > highest:
                        highest = value
        except FileNotFoundError:
            return 0
        return highest

    @staticmethod
    def _append(path: Path, lines: list[str]) -> None:
        if not lines:
            return
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        try:
            LogBook._append_bytes(path, data)
        except OSError as exc:  # disk full: a torn last line is skipped by readers and writers
            raise DiskWriteError(path, exc) from None

    @staticmethod
    def _append_bytes(path: Path, data: bytes) -> None:
        """Append through a descriptor of a regular file (a link, FIFO or hard link planted at
        a day's log is refused: `UnsafeFile`), read back through the same descriptor."""
        fd = safefs.open_append(path)
        try:
            # A torn line (crash mid-write) would glue onto ours: start on a fresh line.
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
