"""`nightshift usage blocks` without the full CLI: what both the typer command and the fast
path run, and the fast path itself.

Status lines and scripts poll `usage blocks --json` every few seconds. When no log changed,
core.usage.lean answers before anything here is imported; otherwise it hands its walk and
connection to `main()` here, which imports only the scanner (an incremental scan takes a
few milliseconds, importing typer, pydantic-settings and the service several hundred).
`core.cli.main` hands exactly this command line (and nothing it does not fully understand)
to these two; any other form, `--help` included, goes through typer, which calls the same
`blocks_text()`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from core.errors import NightshiftError
from core.store.files import corrupt, is_corruption
from core.usage.blocks import to_ms
from core.usage.config import UsageConfig, read_config
from core.usage.index import Handover, UsageIndex
from core.usage.lean import write_pieces
from core.usage.report import BlocksQuery, blocks_document, plain_pieces
from core.usage.tree import ProgressHook

_FLAGS = {"--json", "--active", "--recent", "-a", "-r"}
_VALUED = {"--token-limit", "--since", "--until", "-t"}


CHECKPOINT_PAGES = 16_384
"""WAL pages (64 MB) before a commit of this command's connection checkpoints by itself: a
backstop only, see WAL_KEEP_BYTES."""
WAL_KEEP_BYTES = 8 << 20
"""Past this much WAL, the command empties it (a checkpoint, two fsyncs) before it ends.

When no other process has the database open (no daemon), the next process to open it
rebuilds the WAL's index by reading the whole WAL: about 0.35 ms per MB on every poll,
13 ms after a cold scan's 40 MB, and up to 22 ms at 64 MB; so a poll that leaves more than
8 MB (every few polls after 1,000 appended lines each, every hundred or so in real use)
pays one checkpoint (some 25 ms on a busy disk), and every later poll starts cheap."""


def _keep_wal_small(conn: sqlite3.Connection, db_path: Path) -> None:
    """Checkpoint and truncate a big WAL; skipped at once (no waiting) if anyone is busy."""
    try:
        size = os.stat(f"{db_path}-wal").st_size  # by path: never a descriptor of our own
    except OSError:
        return
    if size > WAL_KEEP_BYTES:
        conn.execute("PRAGMA busy_timeout = 0")
        with contextlib.suppress(sqlite3.OperationalError):  # busy: the next poll tries again
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def blocks_output(config: UsageConfig, query: BlocksQuery, now: datetime,
                  progress: ProgressHook | None = None, close: bool = True,
                  handover: Handover | None = None) -> list[bytes | memoryview]:
    """Scan (incrementally); `ccusage blocks --json`'s document and its line end, as UTF-8
    pieces (without options, the stored closed blocks' text is written out as it is)."""
    index = UsageIndex.open(config, handover)
    index.conn.execute(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES}")
    try:
        index.scan(progress)
        pieces = index_output(index, query, to_ms(now), config)
        _keep_wal_small(index.conn, config.db_path)
    finally:
        if close:
            index.close()
    return pieces


def index_output(index: UsageIndex, query: BlocksQuery, now_ms: int,
                 config: UsageConfig) -> list[bytes | memoryview]:
    """The document of a just scanned index, as `blocks_output` gives it (the daemon's
    answer to `usage blocks --json` is this too: core.usage.serve)."""
    view = index.blocks(now_ms, bodies=not query.plain, closed=query.plain)
    pieces = plain_pieces(view)
    if pieces is None:
        if query.plain:
            view = index.blocks(now_ms)
        pieces = [(blocks_document(view, query, config.zone) + "\n").encode()]
    if config.tz:
        index.remember_zone(config.tz)
    return pieces


def blocks_text(config: UsageConfig, query: BlocksQuery, now: datetime,
                progress: ProgressHook | None = None, close: bool = True,
                handover: Handover | None = None) -> str:
    """Scan (incrementally) and give `ccusage blocks --json`'s document."""
    return b"".join(blocks_output(config, query, now, progress, close, handover)).decode().removesuffix("\n")


def parse_args(argv: Sequence[str]) -> BlocksQuery | None:
    """The query for `usage blocks --json …`, or None for anything else (typer handles it)."""
    if len(argv) < 2 or argv[0] != "usage" or argv[1] != "blocks":
        return None
    flags: set[str] = set()
    values: dict[str, str] = {}
    rest = list(argv[2:])
    while rest:
        arg = rest.pop(0)
        name, eq, value = arg.partition("=")
        if not eq and arg in _FLAGS:
            flags.add({"-a": "--active", "-r": "--recent"}.get(arg, arg))
        elif name in _VALUED and (eq or rest):
            values[{"-t": "--token-limit"}.get(name, name)] = value if eq else rest.pop(0)
        else:
            return None
    if "--json" not in flags:
        return None
    return BlocksQuery(active="--active" in flags, recent="--recent" in flags,
                       token_limit=values.get("--token-limit"), since=values.get("--since"),
                       until=values.get("--until"))


def main(argv: Sequence[str], hard_exit: bool = False, handover: Handover | None = None) -> int | None:
    """Run `usage blocks --json …` if that is what `argv` is; None: not handled here.

    `hard_exit` (the CLI entry point) ends the process right after the output: closing the
    last connection to the database checkpoints its WAL with an fsync, the slowest part of
    a re-scan on a busy disk. Skipping it is safe (every change is committed; the next
    open carries on from the WAL, as after any exit) and the daemon checkpoints anyway.
    """
    try:
        query = parse_args(argv)
    except NightshiftError:
        return None  # let typer report bad values the usual way
    if query is None:
        return None
    # With the lean path's connection open, no settings file is opened again: its values.
    config = read_config(values=handover.values if handover is not None else None)
    if config is None:
        return None
    try:
        pieces = blocks_output(config, query, datetime.now(UTC), close=not hard_exit, handover=handover)
    except NightshiftError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return exc.exit_code
    except sqlite3.DatabaseError as exc:
        if not is_corruption(exc):
            raise
        error = corrupt(config.db_path, exc)
        sys.stderr.write(f"error: {error.message}\n")
        return error.exit_code
    write_pieces(pieces)
    if hard_exit:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0
