"""`nightshift usage blocks --json` answered from the database when no log file changed.

Status lines poll this command every few seconds, and most polls find nothing new. Every
refresh leaves what the answer needs in the database: the closed blocks as their final
text (core.usage.report), the open block's totals (`stored.LIVE_KEY`) and the stat of every
log file it read (`usage_files`). So when a stat of every log file finds each as stored,
the answer is those texts in order, with the open block rendered for `now`: what the full
path prints, to the byte (tests/usage/test_lean.py holds the two equal). This module is
imported before anything else of nightshift and imports only `os`, `sys`, `time`,
`sqlite3` and light modules of its own, so such a poll costs little more than the
interpreter's start and the stats.

While the daemon runs, it is asked first (core.usage.ask): it watches the log files and
has the answer at hand, also after new lines, which this process would have to read.

Anything it does not fully understand (other options, no database yet, an older schema, a
changed or new file, another price table, entries in the future, any error) goes to the
full path, with what was done here handed over (`Seen`: the walk, the stored file states,
the connection): a poll after a few appended lines does not walk the logs twice.

Safety is the full path's: the walk skips the database's own files (even behind a link),
no log file is opened, and the database is read only through the one SQLite connection.
"""

from __future__ import annotations

import os
import sys
import time

from core.store.names import database_inodes
from core.usage import stored
from core.usage.ask import ask, encode_request
from core.usage.lean_config import LeanConfig, read_lean
from core.usage.paths import project_roots
from core.usage.render import SESSION_MS, active_at, document, render_block, total_tokens
from core.usage.walk import log_files

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Collection, Mapping, Sequence
    from typing import Any

BUSY_TIMEOUT_S = 10.0
BUNDLED_PRICES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "prices.json")
_FLAGS = {"--json": "json", "--active": "active", "-a": "active", "--recent": "recent", "-r": "recent"}


class Seen:
    """What the lean path did before it handed over, for the full path to carry on from."""

    __slots__ = ("conn", "db_path", "known", "listing", "only", "roots", "skip", "values")

    def __init__(self, db_path: str, roots: list[str], skip: frozenset[tuple[int, int]],
                 listing: list[tuple[str, os.stat_result]], values: Mapping[str, str]) -> None:
        self.db_path = db_path
        self.values = values
        """The settings as read before connecting: the full path must not open a settings
        file again while this process holds `conn` (a `.env` linked to the database would
        drop this process's locks when closed, see core.store.files)."""
        self.roots = roots
        """The `projects/` dirs walked, as `str(Path)` writes them."""
        self.skip = skip
        self.listing = listing
        """Every log file with its stat, as `core.usage.walk.log_files` gave them."""
        self.conn: sqlite3.Connection | None = None
        """An autocommit connection to `db_path`, no transaction open, pragmas not yet set."""
        self.known: list[tuple[Any, ...]] | None = None
        """`usage_files` as (path, dev, inode, size, mtime_ns) rows, when read."""
        self.only: Collection[str] | None = None
        """Not known here: the scanner compares every file."""


def flags_of(argv: Sequence[str]) -> set[str] | None:
    """The options of `usage blocks --json [--active] [--recent]`, or None for anything else."""
    if len(argv) < 3 or argv[0] != "usage" or argv[1] != "blocks":
        return None
    flags = set()
    for arg in argv[2:]:
        flag = _FLAGS.get(arg)
        if flag is None:
            return None
        flags.add(flag)
    return flags if "json" in flags else None


def answer(argv: Sequence[str]) -> Seen | None:
    """Print the answer and end the process if nothing changed; else what was done so far
    (None: not this command, no database yet, or settings that need the full path)."""
    flags = flags_of(argv)
    if flags is None:
        return None
    config = read_lean()
    if config is None:
        return None
    now_ms = time.time_ns() // 1_000_000
    roots = project_roots(config.claude_config_dirs or None)
    request = encode_request(sorted(flags - {"json"}), now_ms, config.tz, config.price_file, roots)
    asked = ask(config.db_path, request)  # the daemon's answer, when one runs
    if asked is None:
        text, seen = lean_document(config, flags, now_ms, roots)
        if text is None:
            return seen
        write_pieces(text)
    else:
        write_pieces([asked])
    # Closing the connection would checkpoint the WAL (an fsync); nothing is left to write.
    os._exit(0)


def write_pieces(pieces: list[bytes | memoryview]) -> None:
    """Write UTF-8 `pieces` to stdout as they are (no decoding and encoding 1.5 MB again),
    unless stdout has another encoding."""
    if sys.stdout.encoding.replace("-", "").lower() == "utf8":
        sys.stdout.flush()
        sys.stdout.buffer.writelines(pieces)
        sys.stdout.buffer.flush()
    else:
        sys.stdout.write(b"".join(pieces).decode())
        sys.stdout.flush()


def lean_document(config: LeanConfig, flags: set[str], now_ms: int,
                  roots: list[str] | None = None) -> tuple[list[bytes | memoryview] | None, Seen | None]:
    """(The `blocks --json` line at `now_ms` as UTF-8 pieces, or None; what was done).
    `roots`: the `projects/` folders, when already looked up."""
    db_path = config.db_path
    if not os.path.isfile(db_path):
        return None, None  # the full path creates it
    try:
        # Every file but the logs is read before connecting: no descriptor of our own can
        # touch the database while this process holds a connection to it.
        fingerprint = _price_fingerprint(config.price_file, database_inodes(db_path))
        conn = _connect(db_path)
    except Exception:
        return None, None  # the full path reports what is wrong
    # After connecting: the -wal and -shm exist now, and are skipped with the database
    # (the scanner compares, and walks again if its database's files differ).
    skip = database_inodes(db_path)
    if roots is None:
        roots = project_roots(config.claude_config_dirs or None)
    seen = Seen(db_path, roots, skip, list(log_files(roots, skip)), config.values)
    seen.conn = conn
    try:
        conn.execute("BEGIN")
        try:
            text = _read(conn, seen, config, flags, now_ms, fingerprint)
        finally:
            conn.execute("COMMIT")  # a read: nothing to keep or undo
    except Exception:
        return None, seen  # the full path reports what is wrong, if anything
    return text, seen


def _connect(db_path: str) -> sqlite3.Connection:
    """An autocommit connection to the existing database (never creating one)."""
    try:
        # The C module alone: `sqlite3` adds `datetime` and `collections.abc` to the import,
        # for adapters this path never uses (the full path imports it as usual).
        from _sqlite3 import connect
    except ImportError:  # pragma: no cover - an interpreter without the private module
        from sqlite3 import connect
    uri = "file:" + db_path.replace("%", "%25").replace("?", "%3f").replace("#", "%23") + "?mode=rw"
    conn: sqlite3.Connection = connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_S,
                                       check_same_thread=False)
    return conn


def _read(conn: sqlite3.Connection, seen: Seen, config: LeanConfig, flags: set[str], now_ms: int,
          fingerprint: str) -> list[bytes | memoryview] | None:
    """The answer from the database, in one read transaction; None if the full path must run."""
    version = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]
    if version < stored.USAGE_SCHEMA_VERSION:
        return None
    state = dict(conn.execute("SELECT key, value FROM usage_state WHERE key != ?",
                              (stored.CLOSED_KEY,)).fetchall())
    seen.known = conn.execute("SELECT path, dev, inode, size, mtime_ns FROM usage_files").fetchall()
    if (state.get("format") != stored.CACHE_FORMAT or state.get("session_ms") != str(SESSION_MS)
            or "dirty_from_ms" in state or (config.tz and state.get(stored.ZONE_KEY) != config.tz)
            or state.get("prices") != fingerprint):
        return None
    listed = {(path, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns) for path, info in seen.listing}
    if listed != set(seen.known):
        return None  # a file changed, came or went: the full path scans
    newest = conn.execute("SELECT MAX(ts_ms) FROM usage_entries WHERE winner = 1").fetchone()[0]
    live = stored.decode_live(state.get(stored.LIVE_KEY))
    if newest is None:
        empty = live is None and conn.execute("SELECT 1 FROM usage_blocks LIMIT 1").fetchone() is None
        return [b'{"blocks":[]}\n'] if empty else None
    if newest > now_ms or live is None or state.get("cut_ms") != str(live[2]):
        return None  # entries in the future are never cached (see core.usage.report)
    is_active = active_at(live[3], live[1], now_ms)
    body = render_block(live, False, is_active, now_ms)
    if flags == {"json"}:  # the closed blocks' text as stored, the open block in its place
        row = conn.execute("SELECT value FROM usage_state WHERE key = ?", (stored.CLOSED_KEY,)).fetchone()
        if row is None or type(row[0]) is not bytes:
            return None
        return stored.plain_document(row[0], state.get(stored.CLOSED_SPLIT_KEY), live[0], body.encode())
    items: list[tuple[Any, ...]] = []
    if flags != {"json", "active"}:  # with --active alone, only the open block can be shown
        items = [(start, gap, False, tokens, text, None) for start, gap, tokens, text in conn.execute(
            "SELECT start_ms, is_gap, total_tokens, body FROM usage_blocks ORDER BY seq")]
    items.append((live[0], False, is_active, total_tokens(live), body, None))
    items.sort(key=_start)  # ccusage's stable sort: a gap can start after the next block
    return [document(items, now_ms, active="active" in flags, recent="recent" in flags).encode() + b"\n"]


def _start(item: tuple[Any, ...]) -> int:
    start: int = item[0]
    return start


def _price_fingerprint(override: str, database: frozenset[tuple[int, int]]) -> str:
    """`core.usage.prices.load_prices(override).fingerprint`, without parsing any table
    (ValueError for a price file that is the database: the full path says so)."""
    with open(BUNDLED_PRICES, encoding="utf-8") as handle:
        texts = [handle.read()]
    if os.path.isfile(override):
        info = os.stat(override)
        if (info.st_dev, info.st_ino) in database:
            raise ValueError("the price file is the database")
        with open(override, encoding="utf-8") as handle:
            texts.append(handle.read())
    return stored.price_fingerprint(texts)
