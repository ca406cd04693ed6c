"""Blocks from the scanned entries, with finished blocks cached, and `blocks --json` output.

A block that a later entry has closed can never change again unless an entry at or before
its end changes; the scanner records the earliest time any change touched
(`dirty_from_ms`). Closed blocks are stored once, already rendered as their JSON text, with
their first entry's time. A refresh runs the block algorithm only from the first entry of
the last open block (`cut_ms`) when every change is after it (appends: a few rows), and
otherwise from the last cached block that starts before the change (a late-synced file):
the blocks before it and the gap block that precedes it cannot have changed. A refresh
with nothing new writes nothing.

For `usage blocks --json` (core.usage.lean) a refresh also keeps the open block's totals
and every closed block's text joined in ccusage's order, so the answer is that text with
the open block rendered in its place: no row per block is read, sorted or joined.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator
from datetime import date, tzinfo
from typing import Any, NamedTuple

from core.errors import InvalidInput
from core.usage import render
from core.usage.blocks import (
    SESSION_MS,
    Block,
    BlockBuilder,
    from_ms,
)
from core.usage.render import render_block
from core.usage.stored import (
    CACHE_FORMAT,
    CLOSED_KEY,
    CLOSED_SPLIT_KEY,
    LIVE_KEY,
    closed_split,
    decode_live,
    encode_live,
    plain_document,
)

_ENTRY_COLUMNS = (
    "ts_ms, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens,"
    " cost, model, reset_ms, estimated"
)


class BlockItem(NamedTuple):
    """One block of the report: cached (closed, rendered) or live (with `block`)."""

    start_ms: int
    is_gap: bool
    is_active: bool
    total_tokens: float
    body: str | None = None
    block: Block | None = None


class BlockView:
    """Every block at `now_ms`, in ccusage's order."""

    __slots__ = ("closed", "from_cache", "items", "now_ms")

    def __init__(self, items: list[BlockItem], now_ms: int, from_cache: bool = False) -> None:
        self.items = items
        self.now_ms = now_ms
        self.from_cache = from_cache
        """The closed blocks came from the block cache (always, unless entries lie in the future)."""
        self.closed: tuple[object, str | None] | None = None
        """The stored closed blocks' text and where the open block goes, read with the view
        when asked for (`load_blocks(closed=True)`)."""

    def blocks(self) -> Iterator[BlockItem]:
        return iter(self.items)

    @property
    def active(self) -> Block | None:
        for item in reversed(self.items):
            if item.is_active and item.block is not None:
                return item.block
        return None

    @property
    def last(self) -> Block | None:
        """The most recent non-gap block (live: never served from the cache)."""
        for item in reversed(self.items):
            if item.block is not None and not item.is_gap:
                return item.block
        return None

    def largest_completed(self) -> float:
        """ccusage's `--token-limit max`: the largest finished, non-gap block (0 if none)."""
        best: float = 0
        for item in self.items:
            if not item.is_gap and not item.is_active and item.total_tokens > best:
                best = item.total_tokens
        return best


def _feed(conn: sqlite3.Connection, rows: Iterable[tuple[Any, ...]], builder: BlockBuilder) -> None:
    """Entries in time order; equal times in ccusage's file order (its sort is stable).

    SQLite returns the rows straight from the time index; only the rare runs of equal
    timestamps are fetched again with their file and offset and re-ordered by (file's
    earliest timestamp, path, offset): cheaper than carrying those for every row.
    """
    add = builder.add
    rank: dict[int, tuple[bool, int, str]] = {}

    def flush(ts: int) -> None:
        if not rank:
            rank.update({fid: (m is None, m or 0, path) for fid, m, path in
                         conn.execute("SELECT id, min_ts_ms, path FROM usage_files")})
        run = conn.execute(f"SELECT {_ENTRY_COLUMNS}, file_id, offset FROM usage_entries"
                           " WHERE winner = 1 AND ts_ms = ?", (ts,)).fetchall()
        run.sort(key=lambda r: (*rank[r[9]], r[10]))
        for item in run:
            add(item)

    held: tuple[Any, ...] | None = None
    tied = False
    for row in rows:
        if held is not None:
            if row[0] == held[0]:
                tied = True
            elif tied:
                flush(held[0])
                tied = False
            else:
                add(held)
        held = row
    if held is not None:
        if tied:
            flush(held[0])
        else:
            add(held)


def _state(conn: sqlite3.Connection) -> dict[str, str | None]:
    return {key: value for key, value in conn.execute("SELECT key, value FROM usage_state WHERE key != ?",
                                                      (CLOSED_KEY,))}


def _store_closed_text(conn: sqlite3.Connection, live_start: int | None) -> None:
    """Every closed block's text joined in ccusage's order, split where the open block goes:
    the `usage blocks --json` lean path prints it as it is (core.usage.lean)."""
    rows = conn.execute("SELECT start_ms, body FROM usage_blocks ORDER BY seq").fetchall()
    rows.sort(key=lambda row: int(row[0]))  # stable: ccusage's order
    head = ",\n".join(body for start, body in rows if live_start is None or start <= live_start).encode()
    tail = ",\n".join(body for start, body in rows if live_start is not None and start > live_start).encode()
    conn.execute("INSERT OR REPLACE INTO usage_state (key, value) VALUES (?, ?)", (CLOSED_KEY, head + tail))
    _set_state(conn, CLOSED_SPLIT_KEY, closed_split(live_start, len(head)))


def _set_state(conn: sqlite3.Connection, key: str, value: object) -> None:
    if value is None:
        conn.execute("DELETE FROM usage_state WHERE key = ?", (key,))
    else:
        conn.execute("INSERT OR REPLACE INTO usage_state (key, value) VALUES (?, ?)", (key, str(value)))


def render_closed(block: Block) -> str:
    """The stored text of a block that a later entry closed (never active: see `_load_blocks`)."""
    return render_block(block.state(), block.is_gap, block.is_active, block.end_ms)


def load_blocks(conn: sqlite3.Connection, now_ms: int, session_ms: int = SESSION_MS,
                bodies: bool = True, closed: bool = False) -> BlockView:
    """Every block at `now_ms`, reusing and extending the cache of closed blocks.

    First read-only (a refresh with nothing new takes no write lock); if the cache must
    change, again under the write lock (another scanner may have changed it meanwhile).
    `bodies=False` leaves the rendered JSON of cached blocks unread (the monitor needs only
    their totals and the live block); `closed=True` reads their joined text instead of
    their rows, in the same transaction (`plain_pieces`): the view then holds the open
    block only (unless entries lie in the future: then every block, as always).
    """
    for write in (False, True):
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            view = _load_blocks(conn, now_ms, session_ms, write=write, bodies=bodies and not closed,
                                rows=not closed)
            if view is not None and closed and view.from_cache:
                found = dict(conn.execute("SELECT key, value FROM usage_state WHERE key IN (?, ?)",
                                          (CLOSED_KEY, CLOSED_SPLIT_KEY)))
                view.closed = (found.get(CLOSED_KEY), found.get(CLOSED_SPLIT_KEY))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if view is not None:
            return view
    raise AssertionError("unreachable: the write pass always gives a view")


def plain_pieces(view: BlockView) -> list[bytes | memoryview] | None:
    """`blocks --json` (no options) with its line end, as UTF-8 pieces: the stored closed
    blocks' text as it is, the open block rendered in its place; None when the view was not
    read with it (`load_blocks(closed=True)`) from the block cache."""
    if view.closed is None:
        return None
    text, split = view.closed
    # from the cache, the open block is the only one with a `block` (a gap may sort after it)
    live = next((item.block for item in reversed(view.items) if item.block is not None), None)
    if live is None:
        return None if view.items else [b'{"blocks":[]}\n']
    if type(text) is not bytes:
        return None
    body = render_block(live.state(), live.is_gap, live.is_active, view.now_ms)
    return plain_document(text, split, live.start_ms, body.encode())


SNAPSHOTS = 4
"""States of the open block kept from the last refreshes: an entry that arrives a little late
(another session's file written a moment after) resumes from an earlier one, not the cut."""


def _snapshots(state: dict[str, str | None], cut: int | None) -> list[list[Any]]:
    """The kept states of the open block that starts at `cut`, oldest first."""
    text = state.get("open_block")
    if text is None or cut is None:
        return []
    return [values for values in json.loads(text) if values[2] == cut]


class _Plan(NamedTuple):
    restart_ms: int | None
    """Feed entries from here (None: from the first)."""
    keep_below_seq: int | None
    """Cached blocks with a smaller seq stay (None: all stay)."""
    resume: Block | None = None
    """The open block as the last refresh left it: feed only entries after its last one."""


def _plan(conn: sqlite3.Connection, state: dict[str, str | None], session_ms: int) -> _Plan:
    """Where the block algorithm must restart, given what changed since the last refresh."""
    cut_text = state.get("cut_ms")
    dirty_text = state.get("dirty_from_ms")
    cut = int(cut_text) if cut_text is not None else None
    dirty = int(dirty_text) if dirty_text is not None else None
    if state.get("format") != CACHE_FORMAT or state.get("session_ms") != str(session_ms) or cut is None:
        return _Plan(None, 0)
    if dirty is None or dirty > cut:
        # strictly after: the gap block before the cut ends at the cut's entry
        for values in reversed(_snapshots(state, cut)):
            block = Block.from_state(values)
            if block.last_ms is not None and (dirty is None or dirty > block.last_ms):
                # nothing changed up to this state of the open block: carry its totals on
                # (an entry at its last time could sort before it, hence strictly after)
                return _Plan(block.last_ms, None, block)
        return _Plan(cut, None)
    # the last cached block that began strictly before the change (its start entry is intact)
    row = conn.execute("SELECT seq, first_ms FROM usage_blocks WHERE is_gap = 0 AND first_ms < ?"
                       " ORDER BY seq DESC LIMIT 1", (dirty,)).fetchone()
    if row is None:
        return _Plan(None, 0)
    return _Plan(int(row[1]), int(row[0]))


def _load_blocks(conn: sqlite3.Connection, now_ms: int, session_ms: int, write: bool,
                 bodies: bool = True, rows: bool = True) -> BlockView | None:
    state = _state(conn)
    newest = conn.execute("SELECT MAX(ts_ms) FROM usage_entries WHERE winner = 1").fetchone()[0]
    # A closed block is inactive only once `now` has passed the entry that closed it; with
    # entries in the future (clock skew, a pinned `now`) nothing is cached or reused.
    cacheable = newest is None or newest <= now_ms
    if not cacheable:
        builder = BlockBuilder(session_ms)
        _feed(conn, conn.execute(f"SELECT {_ENTRY_COLUMNS} FROM usage_entries WHERE winner = 1"
                                 " ORDER BY ts_ms"), builder)
        live = builder.blocks(now_ms)
        return BlockView([BlockItem(b.start_ms, b.is_gap, b.is_active, b.total_tokens, block=b)
                          for b in live], now_ms)
    plan = _plan(conn, state, session_ms)
    changed = plan.keep_below_seq is not None or state.get("dirty_from_ms") is not None
    if changed and not write:
        return None
    if plan.keep_below_seq is not None:
        conn.execute("DELETE FROM usage_blocks WHERE seq >= ?", (plan.keep_below_seq,))
    body_column = "body" if bodies else "NULL"
    # BlockItem's fields, straight from SQLite
    cached = conn.execute(f"SELECT start_ms, is_gap, 0, total_tokens, {body_column}, NULL"
                          " FROM usage_blocks ORDER BY seq").fetchall() if rows else []
    if plan.restart_ms is None:
        entries = conn.execute(f"SELECT {_ENTRY_COLUMNS} FROM usage_entries WHERE winner = 1 ORDER BY ts_ms")
    else:
        after = ">" if plan.resume is not None else ">="
        entries = conn.execute(f"SELECT {_ENTRY_COLUMNS} FROM usage_entries WHERE winner = 1"
                               f" AND ts_ms {after} ? ORDER BY ts_ms", (plan.restart_ms,))
    builder = BlockBuilder(session_ms)
    builder.current = plan.resume
    _feed(conn, entries, builder)
    builder.blocks(now_ms)  # sets is_active
    if builder.closed and not write:
        return None  # new blocks closed: they go into the cache
    current = builder.current
    open_state = current.state() if current is not None else None
    split = state.get(CLOSED_SPLIT_KEY)
    live_start = current.start_ms if current is not None else None
    if not write and (decode_live(state.get(LIVE_KEY)) != open_state
                      or split is None or split.partition(":")[0] != str(live_start)):
        return None  # the lean path's copy of the open block or of the closed ones is behind
    if write:
        next_seq = (conn.execute("SELECT COALESCE(MAX(seq), 0) FROM usage_blocks").fetchone()[0]) + 1
        fresh = [(next_seq + n, block.start_ms, block.first_ms if not block.is_gap else block.start_ms,
                  int(block.is_gap), block.total_tokens, render_closed(block))
                 for n, block in enumerate(builder.closed)]
        if fresh:
            conn.executemany("INSERT INTO usage_blocks (seq, start_ms, first_ms, is_gap, total_tokens, body)"
                             " VALUES (?,?,?,?,?,?)", fresh)
            if rows:
                cached.extend((start, gap, 0, total, body if bodies else None, None)
                              for _, start, _, gap, total, body in fresh)
        _set_state(conn, "cut_ms", current.first_ms if current is not None else None)
        kept: list[list[Any]] = []
        if current is not None:
            dirty_text = state.get("dirty_from_ms")
            dirty = int(dirty_text) if dirty_text is not None else None
            kept = [values for values in _snapshots(state, current.first_ms)
                    if dirty is None or values[3] < dirty][-(SNAPSHOTS - 1):]
            kept.append(current.state())
        _set_state(conn, "open_block", json.dumps(kept) if kept else None)
        _set_state(conn, LIVE_KEY, encode_live(open_state))
        if fresh or plan.keep_below_seq is not None or split is None \
                or split.partition(":")[0] != str(live_start):
            _store_closed_text(conn, live_start)
        _set_state(conn, "dirty_from_ms", None)
        _set_state(conn, "format", CACHE_FORMAT)
        _set_state(conn, "session_ms", session_ms)
    items = list(map(BlockItem._make, cached))
    if current is not None:
        items.append(BlockItem(current.start_ms, False, current.is_active, current.total_tokens,
                               block=current))
    # ccusage orders by start time with a stable sort; a gap can start after the next block.
    items.sort(key=lambda item: item.start_ms)
    return BlockView(items, now_ms, from_cache=True)


# --- the `blocks --json` document -----------------------------------------------------------


class BlocksQuery:
    """`usage blocks` options, checked: bad values raise InvalidInput naming the option.

    `token_limit` is `max`, a number, or None when `--token-limit` was not given.
    """

    __slots__ = ("active", "recent", "since", "token_limit", "until")

    def __init__(self, active: bool = False, recent: bool = False, token_limit: str | None = None,
                 since: str | None = None, until: str | None = None) -> None:
        self.active, self.recent, self.token_limit = active, recent, token_limit
        self.since, self.until = since, until
        for name, value in (("since", since), ("until", until)):
            if value is not None and not _valid_day(value):
                raise InvalidInput(f"--{name} must be a date as YYYYMMDD, not {value!r}")
        if self.token_limit not in (None, "", "max") and not re.fullmatch(r"\d+", self.token_limit or ""):
            raise InvalidInput(f"--token-limit must be a number of tokens or 'max', not {self.token_limit!r}")

    @property
    def plain(self) -> bool:
        """No option but `--json`: the document is the stored closed blocks and the open one."""
        return not (self.active or self.recent or self.since or self.until or self.token_limit is not None)


def _valid_day(text: str) -> bool:
    if not re.fullmatch(r"\d{8}", text):
        return False
    try:
        date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return False
    return True


def local_day(ts_ms: int, zone: tzinfo | None) -> str:
    """YYYYMMDD of a moment in `zone` (None: the system's zone, DST-correct for any date)."""
    if zone is None:
        return time.strftime("%Y%m%d", time.localtime(ts_ms // 1000))
    return from_ms(ts_ms).astimezone(zone).strftime("%Y%m%d")


def blocks_document(view: BlockView, query: BlocksQuery, zone: tzinfo | None) -> str:
    """`ccusage blocks --json` text for the view, with ccusage's filters and edge cases."""
    items = view.items
    if query.since or query.until:
        items = [
            item for item in items
            if not (query.since and local_day(item.start_ms, zone) < query.since)
            and not (query.until and local_day(item.start_ms, zone) > query.until)
        ]
    return render.document(items, view.now_ms, active=query.active, recent=query.recent,
                           token_limit=query.token_limit)
