"""Writes the vault from the database: idempotent, and never losing the owner's text.

The database is the truth; notes are regenerated from it whole. A file is only rewritten
when its bytes change (so Obsidian, git and sync tools see no churn), the owner's text
below the marker line is carried over verbatim, and every wikilink in a note we write
points at a note or chart that exists once the write is over.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from core import safefs
from core.abc import Clock
from core.errors import DiskWriteError, RunNotFound
from core.metrics.charts import chart_series, draw
from core.metrics.compute import Capacity
from core.metrics.digest import digest_png
from core.metrics.history import load_history
from core.models import utcnow
from core.settings import Settings
from core.store.db import ensure_private_dir
from core.store.store import Store
from core.vault.catalog import NoteSpec, VaultCatalog
from core.vault.markdown import MARKER, compose, split_owner_text, wikilinks
from core.vault.nights import DIGEST_CHART
from core.vault.notes import render

CHART_HASHES_KEY = "vault.chart_hashes"
"""KV: hash of the data each chart file was drawn from, so unchanged charts are not redrawn."""
CHART_STYLE = "2"
"""Bump when the drawing code changes, to redraw every chart once."""


@dataclass
class VaultReport:
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {"written": self.written, "unchanged": self.unchanged, "removed": self.removed}


MAX_NOTE_BYTES = 16 * 1024 * 1024
"""A note (with the owner's text below the marker) larger than this is not read: an error."""


def _current(path: Path) -> bytes | None:
    """What a regular file at `path` holds; None when there is none (a link, a FIFO or a hard
    link there counts as none: it is replaced by a fresh note, never followed)."""
    return safefs.read_or_none(path, limit_bytes=MAX_NOTE_BYTES)


def _write_atomic(path: Path, data: bytes) -> bool:
    """Replace `path` with `data` unless it already holds exactly that; True if written.
    Temp file + rename: a link planted at `path` is replaced, its target never touched."""
    if _current(path) == data:
        return False
    try:
        ensure_private_dir(path.parent)
        safefs.write_atomic(path, data)  # disk full: the old note stays whole
    except OSError as exc:
        raise DiskWriteError(path, exc) from None
    return True


class VaultWriter:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        capacity_tokens: Capacity = None,
        clock: Clock = utcnow,
    ) -> None:
        """`capacity_tokens` is the usage monitor's window estimate when it has one; else the
        configured NIGHTSHIFT_WINDOW_CAPACITY_TOKENS (0 means unknown)."""
        self.root = settings.brain_dir
        self.tz = settings.local_tz
        self.store = store
        self.clock = clock
        self.capacity: Capacity = (capacity_tokens if capacity_tokens is not None
                                   else settings.window_capacity_tokens or None)
        self.wake = settings.wake_at
        self.reserve_by_hour = settings.reserve_by_hour

    async def _catalog(self) -> VaultCatalog:
        return VaultCatalog(await load_history(self.store), tz=self.tz, capacity=self.capacity,
                            wake=self.wake, reserve_by_hour=self.reserve_by_hour)

    async def sync(self, now: datetime | None = None) -> VaultReport:
        """Regenerate every note and chart; a second call with the same data writes nothing."""
        catalog = await self._catalog()
        return await self._write(catalog, None, now or self.clock())

    async def write_run(self, run_id: int) -> VaultReport:
        """Write one run's note, its task's note and its day's note (plus any note they link
        to that does not exist yet). Falls back to a full sync when a note must move."""
        catalog = await self._catalog()
        specs = catalog.specs()
        name = catalog.run_name(run_id)
        if name not in specs:
            raise RunNotFound(run_id)
        run = catalog.runs_by_id[run_id]
        day = catalog.run_day(run)
        wanted = [name, catalog.task_name(run.task_id), day, *catalog.day_charts(day)]
        night = catalog.nights.night_of(run.started_at) if run.started_at is not None else None
        if night is not None and night != day:
            wanted += [night, *catalog.day_charts(night)]
        if any(self._stale_copies(specs[n]) for n in wanted):
            return await self.sync()
        return await self._write(catalog, wanted, self.clock())

    async def _write(self, catalog: VaultCatalog, names: list[str] | None, now: datetime) -> VaultReport:
        hashes = dict(await self.store.kv.get(CHART_HASHES_KEY, {}) or {})
        before = dict(hashes)
        report = await asyncio.to_thread(self._apply, catalog, names, now, hashes)
        if hashes != before:
            await self.store.kv.set(CHART_HASHES_KEY, hashes)
        return report

    def _stale_copies(self, spec: NoteSpec) -> list[Path]:
        """Earlier copies of this note under another name. Only files carrying our marker
        count: a note of the owner's that happens to match the pattern is left alone."""
        if spec.stale_glob is None:
            return []
        target = self.root / spec.path
        return sorted(p for p in self.root.glob(spec.stale_glob)
                      if p != target and MARKER in (self._read(p) or ""))

    def _apply(
        self, catalog: VaultCatalog, names: list[str] | None, now: datetime, hashes: dict[str, str]
    ) -> VaultReport:
        specs = catalog.specs()
        queue = deque(specs if names is None else names)
        done: set[str] = set()
        report = VaultReport()
        while queue:
            name = queue.popleft()
            if name in done:
                continue
            done.add(name)
            spec = specs[name]
            path = self.root / spec.path
            if spec.kind == "chart":
                changed = self._chart(catalog, spec, now, hashes)
            else:
                stale = self._stale_copies(spec)
                owner = split_owner_text(self._read(path))
                for old in stale:
                    extra = split_owner_text(self._read(old))
                    if extra.strip() and extra not in owner:
                        owner += extra if not owner or owner.endswith("\n") else "\n" + extra
                generated = render(catalog, spec)
                changed = _write_atomic(path, compose(generated, owner).encode("utf-8"))
                for old in stale:
                    old.unlink(missing_ok=True)
                    report.removed.append(str(old.relative_to(self.root)))
                # Whatever this note links to must exist when we are done.
                # Whatever this note links to must exist when we are done (a full sync
                # writes everything anyway).
                if names is not None:
                    queue.extend(t for t in wikilinks(generated)
                                 if t in specs and t not in done
                                 and not (self.root / specs[t].path).exists())
            if changed:
                report.written.append(str(spec.path))
            else:
                report.unchanged += 1
        return report

    @staticmethod
    def _read(path: Path) -> str | None:
        raw = _current(path)
        return None if raw is None else raw.decode("utf-8")

    def _chart(self, catalog: VaultCatalog, spec: NoteSpec, now: datetime, hashes: dict[str, str]) -> bool:
        day, kind = spec.key.split(":", 1)
        drawing: Callable[[], bytes | None]
        if kind == DIGEST_CHART:
            digest = catalog.nights.digest(day, now)
            data: dict[str, Any] = digest.as_json()
            drawing = partial(digest_png, digest)
        else:
            chart_kind, report = catalog.chart_input(spec, now)
            series = chart_series(chart_kind, report)
            data = series.as_json()
            drawing = partial(draw, series)
        data_hash = hashlib.sha256(json.dumps([CHART_STYLE, data], sort_keys=True).encode()).hexdigest()
        path = self.root / spec.path
        key = str(spec.path)
        if hashes.get(key) == data_hash and safefs.is_regular(path):  # a link there is redrawn over
            return False
        png = drawing()
        if png is None:
            return False
        changed = _write_atomic(path, png)
        hashes[key] = data_hash
        return changed
