"""The scanned usage data of one database: scan, then blocks, in one place for every caller.

The CLI (`usage`, `usage blocks`), its fast path and the monitor all do the same two steps;
keeping them here means they cannot disagree about what a refresh is.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import NamedTuple

from core.usage.config import UsageConfig
from core.usage.db import open_scan_db
from core.usage.prices import PriceTable, load_prices
from core.usage.report import BlockView, load_blocks
from core.usage.scanner import ScanReport, UsageScanner
from core.usage.tree import ProgressHook


class LimitLine(NamedTuple):
    """The newest synthetic limit line in the logs (Claude Code's own refusal, interactive too)."""

    ts_ms: int
    text: str


class UsageIndex:
    def __init__(self, conn: sqlite3.Connection, projects: list[Path], prices: PriceTable,
                 scratch: Path | None = None, price_file: Path | None = None) -> None:
        self.conn = conn
        self.projects = projects
        self.prices = prices
        self.scratch = scratch
        """Private folder for reader processes' staging files (the database's)."""
        self.price_file = price_file

    @classmethod
    def open(cls, config: UsageConfig) -> UsageIndex:
        prices = load_prices(config.price_file)
        return cls(open_scan_db(config.db_path), config.projects, prices,
                   scratch=config.db_path.parent, price_file=config.price_file)

    def close(self) -> None:
        self.conn.close()

    def scan(self, progress: ProgressHook | None = None) -> ScanReport:
        return UsageScanner(self.conn, self.projects, self.prices, progress, scratch=self.scratch,
                            price_file=self.price_file).scan()

    def blocks(self, now_ms: int, bodies: bool = True) -> BlockView:
        return load_blocks(self.conn, now_ms, bodies=bodies)

    def refresh(self, now_ms: int, progress: ProgressHook | None = None) -> tuple[ScanReport, BlockView]:
        report = self.scan(progress)
        return report, self.blocks(now_ms)

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
