"""Property: an incremental scan after any sequence of file changes equals a cold scan.

Changes: appends, half-written lines (and their completion), truncation (also mid-line),
replacement by a new file (new inode), rewriting in place, deletion, new files. After each
step the incrementally maintained database and a fresh one built by a cold scan must hold
the same files state, the same entries (winners included) and give the same blocks.

Both readers are exercised: the msgspec one (big reads) and the plain json one (small).
So is the `usage blocks` lean path (core.usage.lean): before each scan it must hand over or
answer exactly what a cold scan gives (never a stale answer), and right after each refresh
it must answer what the full path prints, for every option it takes.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.usage import parallel, staging
from core.usage import scanner as scanner_module
from core.usage.blocks import to_ms
from core.usage.db import open_scan_db
from core.usage.lean import Seen, lean_document
from core.usage.lean_config import LeanConfig
from core.usage.prices import load_prices
from core.usage.report import BlocksQuery, blocks_document, load_blocks, plain_pieces
from core.usage.scanner import UsageScanner
from tests.usage.logtree import assistant, at, user

NOW = datetime(2026, 6, 1, tzinfo=UTC)
PRICES = load_prices(None)

lines_pool = st.one_of(
    st.builds(
        lambda minute, msg, req, tokens, model: assistant(
            at(minute), msg=f"m{msg}", req=None if req is None else f"r{req}", tokens=tokens, model=model),
        st.integers(0, 2000),
        st.integers(0, 12),
        st.one_of(st.none(), st.integers(0, 3)),
        st.tuples(*(st.integers(0, 5000) for _ in range(4))),
        st.sampled_from(["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", None]),
    ),
    st.builds(lambda minute: user(at(minute)), st.integers(-100, 2000)),
    st.sampled_from(["{broken", '{"timestamp":"2026-03-02T10:00:00.000Z","message":{"usage":{', "", "[]"]),
)

step = st.one_of(
    st.tuples(st.just("append"), st.integers(0, 3), st.lists(lines_pool, min_size=1, max_size=5)),
    st.tuples(st.just("partial"), st.integers(0, 3), lines_pool, st.integers(1, 40)),
    st.tuples(st.just("finish"), st.integers(0, 3)),
    st.tuples(st.just("truncate"), st.integers(0, 3), st.floats(0, 1)),
    st.tuples(st.just("replace"), st.integers(0, 3), st.lists(lines_pool, max_size=5)),
    st.tuples(st.just("rewrite"), st.integers(0, 3), st.lists(lines_pool, max_size=5)),
    st.tuples(st.just("delete"), st.integers(0, 3)),
)

NAMES = ["p/a.jsonl", "p/b.jsonl", "q/sess/subagents/c.jsonl", "r/d.jsonl"]


class Files:
    """The log tree under test; every change moves the file's mtime forward.

    Real writes are at least milliseconds apart; in a test two writes can share one
    mtime tick, and a same-size rewrite within one tick is undetectable by design (the
    scanner reads nothing of a file whose size and mtime did not change).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pending: dict[int, str] = {}
        self.clock = itertools.count(1_800_000_000_000_000_000, 1_000_000_000)

    def path(self, index: int) -> Path:
        return self.root / "projects" / NAMES[index]

    def touch(self, path: Path) -> None:
        if path.exists():
            moment = next(self.clock)
            os.utime(path, ns=(moment, moment))

    def apply(self, op: tuple[Any, ...]) -> None:
        kind, index = op[0], op[1]
        path = self.path(index)
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "append":
            with path.open("a", encoding="utf-8") as handle:
                if index in self.pending:
                    handle.write(self.pending.pop(index) + "\n")
                handle.write("".join(line + "\n" for line in op[2]))
        elif kind == "partial":
            line, cut = op[2], op[3]
            if index in self.pending:
                return
            with path.open("a", encoding="utf-8") as handle:
                handle.write(line[:cut])
            self.pending[index] = line[cut:]
        elif kind == "finish":
            if index in self.pending:
                with path.open("a", encoding="utf-8") as handle:
                    handle.write(self.pending.pop(index) + "\n")
        elif kind == "truncate":
            if path.exists():
                size = path.stat().st_size
                with path.open("r+b") as handle:
                    handle.truncate(int(size * op[2]))
                self.pending.pop(index, None)
        elif kind in ("replace", "rewrite"):
            text = "".join(line + "\n" for line in op[2])
            self.pending.pop(index, None)
            if kind == "replace":
                fresh = path.with_name(path.name + ".new")
                fresh.write_text(text, encoding="utf-8")
                os.replace(fresh, path)
            else:
                with path.open("r+" if path.exists() else "w", encoding="utf-8") as handle:
                    handle.seek(0)
                    handle.write(text)
                    handle.truncate()
        elif kind == "delete":
            path.unlink(missing_ok=True)
            self.pending.pop(index, None)
        self.touch(path)


def snapshot(conn: sqlite3.Connection) -> tuple[Any, ...]:
    files = conn.execute(
        "SELECT path, offset, min_ts_ms, lines, malformed, pending_bytes FROM usage_files ORDER BY path"
    ).fetchall()
    entries = conn.execute(
        "SELECT f.path, e.offset, e.provisional, e.ts_ms, e.key, e.winner, e.input_tokens, e.output_tokens,"
        " e.cache_creation_tokens, e.cache_read_tokens, e.cost, e.estimated, e.model FROM usage_entries e"
        " JOIN usage_files f ON f.id = e.file_id ORDER BY f.path, e.offset"
    ).fetchall()
    document = blocks_document(load_blocks(conn, to_ms(NOW)), BlocksQuery(), UTC)
    return files, entries, document


def cold(root: Path, work: Path) -> tuple[Any, ...]:
    db = work / f"cold-{next(_counter)}.db"
    conn = open_scan_db(db)
    try:
        UsageScanner(conn, [root / "projects"], PRICES).scan()
        return snapshot(conn)
    finally:
        conn.close()


_counter = itertools.count()


@pytest.mark.parametrize("reader", ["msgspec", "json"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=8))
def test_incremental_equals_cold(reader: str, steps: list[tuple[Any, ...]],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanner_module, "FAST_READER_MIN_BYTES", 0 if reader == "msgspec" else 1 << 40)
    monkeypatch.setattr(scanner_module, "MSGSPEC_IMPORT_MIN_BYTES", 0)
    check_steps(steps)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=8))
def test_incremental_equals_a_bulk_cold_scan(steps: list[tuple[Any, ...]],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The same, every scan into an empty table taking the bulk path (indexes built after)."""
    monkeypatch.setattr(scanner_module, "BULK_MIN_ROWS", 0)
    dropped = []
    original = scanner_module.UsageScanner._move_rows

    def move_rows(self: Any, *args: Any) -> int:
        empty = self.conn.execute("SELECT 1 FROM usage_entries LIMIT 1").fetchone() is None
        dropped.append(empty)
        return original(self, *args)

    monkeypatch.setattr(scanner_module.UsageScanner, "_move_rows", move_rows)
    check_steps(steps)
    assert not dropped or any(dropped)  # a scan into an empty table went the bulk way


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=5))
def test_incremental_with_reader_processes_equals_cold(steps: list[tuple[Any, ...]],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The same, every read split between this process and a worker process."""
    monkeypatch.setattr(scanner_module, "FAST_READER_MIN_BYTES", 0)
    monkeypatch.setattr(scanner_module, "MSGSPEC_IMPORT_MIN_BYTES", 0)
    monkeypatch.setattr(staging, "PARALLEL_MIN_BYTES", 0)
    finished = []
    original = parallel._Worker.finish

    def finish(worker: Any) -> bool:
        finished.append(original(worker))
        return finished[-1]

    monkeypatch.setattr(parallel._Worker, "finish", finish)
    check_steps(steps, processes=2)
    assert all(finished)  # the workers did their share (none fell back to this process)


FLAG_SETS = [{"json"}, {"json", "active"}, {"json", "recent"}, {"json", "active", "recent"}]


def lean_answer(work: Path, root: Path, flags: set[str] | frozenset[str] = frozenset({"json"}),
                now_ms: int | None = None) -> tuple[str | None, Seen | None]:
    """What `nightshift usage blocks --json` answers by the lean path (None: it hands over)
    for the database at `work/state/nightshift.db` and the logs under `root`."""
    config = LeanConfig({"nightshift_home": str(work / "state"), "claude_config_dir": str(root),
                         "nightshift_tz": "", "nightshift_usage_prices_file": ""})
    text, seen = lean_document(config, set(flags), to_ms(NOW) if now_ms is None else now_ms)
    if seen is not None and seen.conn is not None:
        seen.conn.close()
    return None if text is None else b"".join(text).decode().removesuffix("\n"), seen


def check_lean(conn: sqlite3.Connection, work: Path, root: Path, now_ms: int | None = None) -> None:
    """Right after a refresh the lean path answers, for every option, what the full path prints."""
    now_ms = to_ms(NOW) if now_ms is None else now_ms
    for flags in FLAG_SETS:
        text, _ = lean_answer(work, root, flags, now_ms)
        query = BlocksQuery(active="active" in flags, recent="recent" in flags)
        assert text is not None, flags
        assert text == blocks_document(load_blocks(conn, now_ms), query, UTC), flags


def check_steps(steps: list[tuple[Any, ...]], processes: int = 1) -> None:
    """After each change: the lean path either hands over or answers what a cold scan gives;
    the scan that follows carries on from the lean path's walk (it does not walk again)."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = work / "claude"
        (root / "projects").mkdir(parents=True)
        files = Files(root)
        conn = open_scan_db(work / "state" / "nightshift.db")
        walks = []
        own_walk = scanner_module.log_files

        def spy(*args: Any, **kwargs: Any) -> Any:
            walks.append(args)
            return own_walk(*args, **kwargs)

        scanner_module.log_files = spy  # type: ignore[assignment]
        try:
            for op in steps:
                files.apply(op)
                before, seen = lean_answer(work, root)
                expected = cold(root, work)
                if before is not None:
                    assert before == expected[2], repr(steps)  # nothing changed: never stale
                assert seen is not None
                walks.clear()
                UsageScanner(conn, [root / "projects"], PRICES, scratch=work, processes=processes).scan(seen)
                assert walks == []
                # what `usage blocks --json` prints after a scan: the stored closed text and the open block
                pieces = plain_pieces(load_blocks(conn, to_ms(NOW), bodies=False, closed=True))
                assert pieces is not None
                assert snapshot(conn) == expected, repr(steps)
                assert b"".join(pieces).decode() == expected[2] + "\n"
                check_lean(conn, work, root)
        finally:
            scanner_module.log_files = own_walk  # type: ignore[assignment]
            conn.close()


# A day of work in bursts (blocks and gaps), spread over sessions; each session file is
# synced in pieces, in any order: a file can arrive after newer ones (a laptop that was
# offline), its entries older than the blocks already built.
DAY = [(session, minute) for session, start in enumerate((0, 100, 420, 760, 1100, 1300))
       for minute in range(start, start + 140, 23)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(len(DAY))), cuts=st.lists(st.integers(1, len(DAY)), max_size=5),
       resumed=st.booleans())
def test_any_append_order_equals_cold(order: list[int], cuts: list[int], resumed: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = work / "claude"
        projects = root / "projects"
        projects.mkdir(parents=True)
        conn = open_scan_db(work / "state" / "nightshift.db")
        try:
            done = 0
            for cut in sorted({*cuts, len(DAY)}):
                for index in order[done:cut]:
                    session, minute = DAY[index]
                    path = projects / "p" / f"s{session}.jsonl"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    lines = [assistant(at(minute), msg=f"m{index}", req=f"r{index}", tokens=(index, 1, 2, 3))]
                    if resumed and session and index % 4 == 0:
                        # a resumed session repeats an earlier session's response
                        lines.append(assistant(at(minute), msg=f"m{index - 1}", req=f"r{index - 1}"))
                    with path.open("a", encoding="utf-8") as handle:
                        handle.write("".join(line + "\n" for line in lines))
                done = cut
                expected = cold(root, work)
                stale, _ = lean_answer(work, root)
                assert stale is None or stale == expected[2]
                UsageScanner(conn, [projects], PRICES).scan()
                assert snapshot(conn) == expected
                check_lean(conn, work, root)
        finally:
            conn.close()


def test_a_late_entry_recomputes_from_its_block_only(tmp_path: Path) -> None:
    """Blocks before the one a late entry falls into stay as they were cached."""
    root = tmp_path / "claude"
    files = Files(root)
    files.apply(("append", 0, [assistant(at(600 * day), msg=f"m{day}", req=f"r{day}") for day in range(8)]))
    conn = open_scan_db(tmp_path / "db.sqlite")
    UsageScanner(conn, [root / "projects"], PRICES).scan()
    load_blocks(conn, to_ms(NOW))
    before = conn.execute("SELECT seq, start_ms, body FROM usage_blocks ORDER BY seq").fetchall()
    assert len(before) == 14  # 7 closed blocks and the gaps between the 8
    files.apply(("append", 3, [assistant(at(600 * 5 + 30), msg="late", req="late")]))
    UsageScanner(conn, [root / "projects"], PRICES).scan()
    document = blocks_document(load_blocks(conn, to_ms(NOW)), BlocksQuery(), UTC)
    after = conn.execute("SELECT seq, start_ms, body FROM usage_blocks ORDER BY seq").fetchall()
    assert after[:10] == before[:10]  # the blocks of days 0-4 and the gaps after them: untouched
    assert after[10][2] != before[10][2]  # day 5's block now holds the late entry
    assert document == snapshot(conn)[2] == cold(root, tmp_path)[2]
    conn.close()


def test_rescan_reads_only_appended_bytes(tmp_path: Path) -> None:
    root = tmp_path / "claude"
    files = Files(root)
    files.apply(("append", 0, [assistant(at(m), msg=f"m{m}", req=f"r{m}") for m in range(50)]))
    conn = open_scan_db(tmp_path / "db.sqlite")
    first = UsageScanner(conn, [root / "projects"], PRICES).scan()
    assert first.entries == 50 and first.bytes_read == files.path(0).stat().st_size
    nothing = UsageScanner(conn, [root / "projects"], PRICES).scan()
    assert nothing.files_read == 0 and nothing.bytes_read == 0
    extra = [assistant(at(100 + m), msg=f"n{m}", req=f"n{m}") for m in range(3)]
    before = files.path(0).stat().st_size
    files.apply(("append", 0, extra))
    again = UsageScanner(conn, [root / "projects"], PRICES).scan()
    assert again.bytes_read == files.path(0).stat().st_size - before
    assert again.entries == 3
    conn.close()


def test_half_written_line_waits_for_its_newline(tmp_path: Path) -> None:
    root = tmp_path / "claude"
    files = Files(root)
    line = assistant(at(1), msg="m1", req="r1")
    files.apply(("partial", 0, line, 30))
    conn = open_scan_db(tmp_path / "db.sqlite")
    report = UsageScanner(conn, [root / "projects"], PRICES).scan()
    assert report.entries == 0 and report.malformed == 0 and report.pending_bytes == 30
    files.apply(("finish", 0))
    report = UsageScanner(conn, [root / "projects"], PRICES).scan()
    assert report.entries == 1 and report.malformed == 0 and report.pending_bytes == 0
    conn.close()


@pytest.mark.parametrize("change", ["delete", "truncate", "replace"])
def test_losing_the_counted_copy_promotes_the_next(tmp_path: Path, change: str) -> None:
    root = tmp_path / "claude"
    files = Files(root)
    files.apply(("append", 0, [assistant(at(0), msg="m", req="r", tokens=(1, 1, 1, 1))]))
    files.apply(("append", 3, [user(at(1)), assistant(at(5), msg="m", req="r", tokens=(2, 2, 2, 2))]))
    conn = open_scan_db(tmp_path / "db.sqlite")
    UsageScanner(conn, [root / "projects"], PRICES).scan()
    counted = conn.execute("SELECT input_tokens FROM usage_entries WHERE winner = 1").fetchall()
    assert counted == [(1,)]
    if change == "delete":
        files.apply(("delete", 0))
    elif change == "truncate":
        files.apply(("truncate", 0, 0.0))
    else:
        files.apply(("replace", 0, [user(at(0))]))
    UsageScanner(conn, [root / "projects"], PRICES).scan()
    counted = conn.execute("SELECT input_tokens FROM usage_entries WHERE winner = 1").fetchall()
    assert counted == [(2,)]
    assert snapshot(conn) == cold(root, tmp_path)
    conn.close()


def test_an_earlier_file_takes_over_a_duplicate(tmp_path: Path) -> None:
    root = tmp_path / "claude"
    files = Files(root)
    files.apply(("append", 0, [assistant(at(10), msg="m", req="r", tokens=(1, 1, 1, 1))]))
    conn = open_scan_db(tmp_path / "db.sqlite")
    UsageScanner(conn, [root / "projects"], PRICES).scan()
    # a new file whose earliest line is older: its copy is first in ccusage's order
    files.apply(("append", 3, [user(at(0)), assistant(at(20), msg="m", req="r", tokens=(2, 2, 2, 2))]))
    UsageScanner(conn, [root / "projects"], PRICES).scan()
    counted = conn.execute("SELECT input_tokens FROM usage_entries WHERE winner = 1").fetchall()
    assert counted == [(2,)]
    # and an older line appended to the first file moves it back in front
    files.apply(("append", 0, [user(at(-5))]))
    UsageScanner(conn, [root / "projects"], PRICES).scan()
    counted = conn.execute("SELECT input_tokens FROM usage_entries WHERE winner = 1").fetchall()
    assert counted == [(1,)]
    assert snapshot(conn) == cold(root, tmp_path)
    conn.close()


def test_a_failing_file_stops_nothing_and_is_named_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """A read that fails (an I/O error, a bug) skips that file only, logged once until it changes."""
    from core.usage import decode_stdlib

    original = decode_stdlib.decode_line

    def failing(line: bytes, seen: Any = ()) -> Any:
        if b"EIO" in line:
            raise OSError(5, "Input/output error")
        return original(line, seen)

    monkeypatch.setattr(decode_stdlib, "decode_line", failing)
    monkeypatch.setattr(scanner_module, "FAST_READER_MIN_BYTES", 1 << 40)
    root = tmp_path / "claude"
    files = Files(root)
    files.apply(("append", 0, [assistant(at(1), msg="a", req="a")]))
    files.apply(("append", 1, [assistant(at(2), msg="b", req="b"), "EIO"]))
    conn = open_scan_db(tmp_path / "db.sqlite")
    caplog.set_level("WARNING", logger="nightshift.usage")
    for _ in range(3):
        report = UsageScanner(conn, [root / "projects"], PRICES).scan()
    assert report.files == 2
    counted = conn.execute("SELECT key FROM usage_entries WHERE winner = 1").fetchall()
    assert counted == [("a:a",)]
    named = [r for r in caplog.records if "could not be read" in r.getMessage()]
    assert len(named) == 1 and named[0].fields["path"].endswith("b.jsonl")  # type: ignore[attr-defined]
    files.apply(("rewrite", 1, [assistant(at(2), msg="b", req="b")]))  # the file changes: read again
    UsageScanner(conn, [root / "projects"], PRICES).scan()
    counted = conn.execute("SELECT key FROM usage_entries WHERE winner = 1 ORDER BY key").fetchall()
    assert counted == [("a:a",), ("b:b",)]
    conn.close()


def test_a_worker_process_reads_its_share(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "PARALLEL_MIN_BYTES", 0)
    finished = []
    original = parallel._Worker.finish

    def finish(worker: Any) -> bool:
        finished.append(original(worker))
        return finished[-1]

    monkeypatch.setattr(parallel._Worker, "finish", finish)
    root = tmp_path / "claude"
    files = Files(root)
    for index in range(4):
        files.apply(("append", index, [user(at(index)), *(
            assistant(at(index * 300 + minute), msg=f"m{index}-{minute}", req="r") for minute in range(40))]))
    files.apply(("append", 3, [assistant(at(5), msg="m0-5", req="r")]))  # a copy of file 0's response
    conn = open_scan_db(tmp_path / "db.sqlite")
    report = UsageScanner(conn, [root / "projects"], PRICES, scratch=tmp_path, processes=2).scan()
    assert finished == [True]
    assert report.files_read == 4 and report.entries == 161
    assert snapshot(conn) == cold(root, tmp_path)
    assert not any(path.name.startswith(".usage-scan-") for path in tmp_path.iterdir())  # cleaned up
    conn.close()


def test_entries_a_little_late_in_the_open_block_equal_cold(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Two sessions write at once: a line of one arrives after a later line of the other.
    The open block carries on from an earlier kept state, and ends as a cold scan sees it."""
    from core.usage import report

    plans: list[Any] = []
    original = report._plan

    def spy(*args: Any) -> Any:
        plans.append(original(*args))
        return plans[-1]

    monkeypatch.setattr(report, "_plan", spy)
    root = tmp_path / "claude"
    files = Files(root)
    conn = open_scan_db(tmp_path / "db.sqlite")
    minute = 0
    for step in range(6):
        line = assistant(at(minute + 2), msg=f"a{step}", req="a", tokens=(step, 1, 1, 1))
        files.apply(("append", 0, [line]))
        UsageScanner(conn, [root / "projects"], PRICES).scan()
        load_blocks(conn, to_ms(NOW))
        # the other session's line from a moment ago, after the previous refresh's last entry
        files.apply(("append", 1, [assistant(at(minute + 1), msg=f"b{step}", req="b", cost=0.1 * step)]))
        UsageScanner(conn, [root / "projects"], PRICES).scan()
        assert snapshot(conn) == cold(root, tmp_path)
        minute += 7
    conn.close()
    mine = [plan for plan in plans if plan.keep_below_seq is None][2:]  # after the first steps
    assert mine and all(plan.resume is not None for plan in mine)  # never back to the cut


def test_a_worker_process_gets_no_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader process starts from the allow-listed environment: no bot token, no settings."""
    monkeypatch.setattr(staging, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setenv("NIGHTSHIFT_TELEGRAM_TOKEN", "123:secret")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "456:secret")
    seen: list[dict[str, str]] = []
    original = parallel.subprocess.Popen

    def popen(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["env"])
        return original(*args, **kwargs)

    monkeypatch.setattr(parallel.subprocess, "Popen", popen)
    root = tmp_path / "claude"
    files = Files(root)
    for index in range(2):
        lines = [assistant(at(index + m), msg=f"m{index}-{m}", req="r") for m in range(5)]
        files.apply(("append", index, lines))
    conn = open_scan_db(tmp_path / "db.sqlite")
    report = UsageScanner(conn, [root / "projects"], PRICES, scratch=tmp_path, processes=2).scan()
    conn.close()
    assert report.entries == 10 and len(seen) == 1
    assert not any("secret" in value for value in seen[0].values())
    assert not any(name.startswith(("NIGHTSHIFT_", "TELEGRAM_")) for name in seen[0])
