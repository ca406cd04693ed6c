"""The scanned usage data of one database: scan, then blocks, in one place for every caller.

The CLI (`usage`, `usage blocks`), its fast path and the monitor all do the same two steps;
keeping them here means they cannot disagree about what a refresh is.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple, Protocol

from core.usage.config import UsageConfig
from core.usage.db import open_scan_db
from core.usage.prices import PriceTable, load_prices
from core.usage.report import BlockView, load_blocks
from core.usage.scanner import ScanReport, UsageScanner, Walked
from core.usage.stored import ZONE_KEY
from core.usage.tree import ProgressHook


class LimitLine(NamedTuple):
    """The newest synthetic limit line in the logs (Claude Code's own refusal, interactive too)."""

    ts_ms: int
    text: str


class Handover(Walked, Protocol):
    """What the `usage blocks` lean path did before it handed over (core.usage.lean.Seen)."""

    db_path: str
    conn: sqlite3.Connection | None
    values: Mapping[str, str]
    """The settings it read before connecting (read_config(values=...))."""


class UsageIndex:
    def __init__(self, conn: sqlite3.Connection, projects: list[Path], prices: PriceTable,
                 scratch: Path | None = None, price_file: Path | None = None,
                 walked: Walked | None = None) -> None:
        self.conn = conn
        self.projects = projects
        self.prices = prices
        self.scratch = scratch
        """Private folder for reader processes' staging files (the database's)."""
        self.price_file = price_file
        self.walked = walked
        """The log files as just listed, for the next scan only."""

    @classmethod
    def open(cls, config: UsageConfig, handover: Handover | None = None) -> UsageIndex:
        """`handover`: the lean path's connection and walk, used when it is of this database."""
        from core.store.names import database_inodes

        prices = load_prices(config.price_file, database_inodes(str(config.db_path)))
        conn = None
        if handover is not None and handover.conn is not None:
            if handover.db_path == str(config.db_path):
                conn = handover.conn
            else:
                handover.conn.close()
                handover = None
        return cls(open_scan_db(config.db_path, conn), config.projects, prices,
                   scratch=config.db_path.parent, price_file=config.price_file, walked=handover)

    def close(self) -> None:
        self.conn.close()

    def scan(self, progress: ProgressHook | None = None) -> ScanReport:
        walked, self.walked = self.walked, None
        return UsageScanner(self.conn, self.projects, self.prices, progress, scratch=self.scratch,
                            price_file=self.price_file).scan(walked)

    def blocks(self, now_ms: int, bodies: bool = True, closed: bool = False) -> BlockView:
        return load_blocks(self.conn, now_ms, bodies=bodies, closed=closed)

    def refresh(self, now_ms: int, progress: ProgressHook | None = None) -> tuple[ScanReport, BlockView]:
        report = self.scan(progress)
        return report, self.blocks(now_ms)

    def remember_zone(self, tz: str) -> None:
        """Note that `tz` was accepted as a zone: the lean path answers for it without
        importing `zoneinfo` to check it again (core.usage.lean)."""
        row = self.conn.execute("SELECT value FROM usage_state WHERE key = ?", (ZONE_KEY,)).fetchone()
        if row is None or row[0] != tz:
            self.conn.execute("INSERT OR REPLACE INTO usage_state (key, value) VALUES (?, ?)", (ZONE_KEY, tz))

    def hourly_use(self, since_ms: int) -> list[tuple[str, int, int]]:
        """Tokens per log file and UTC hour since `since_ms`: (path, hour start ms, tokens).

        Each session keeps its own file, so the caller can tell the owner's own use apart
        from nightshift's runs by the session a path names."""
        rows = self.conn.execute(
            "SELECT f.path, e.ts_ms / 3600000 * 3600000 AS hour,"
            " SUM(e.input_tokens + e.output_tokens + e.cache_creation_tokens + e.cache_read_tokens)"
            " FROM usage_entries e JOIN usage_files f ON f.id = e.file_id"
            " WHERE e.winner = 1 AND e.ts_ms >= ? GROUP BY f.path, hour",
            (since_ms,),
        ).fetchall()
        return [(str(path), int(hour), int(tokens)) for path, hour, tokens in rows]

    def latest_limit_line(self) -> LimitLine | None:
        row = self.conn.execute(
            "SELECT ts_ms, limit_text FROM usage_entries WHERE limit_text IS NOT NULL"
            " ORDER BY ts_ms DESC LIMIT 1").fetchone()
        return LimitLine(int(row[0]), str(row[1])) if row else None
