"""The `usage blocks` lean path (core.usage.lean): it answers only when nothing changed, and
then exactly what the full path prints; anything else goes to the full path.

The incremental property tests (test_incremental.py) check it after every change of a log
tree; these cover what they do not reach: an active block at any `now`, changes between
its walk and its read, the settings and database states it must refuse, and its parts.
"""

from __future__ import annotations

import io
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from dotenv import dotenv_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.usage import lean, stored
from core.usage.blocks import to_ms
from core.usage.db import open_scan_db
from core.usage.lean_config import LeanConfig, parse_plain
from core.usage.paths import path_text, project_roots
from core.usage.prices import load_prices
from core.usage.report import BlocksQuery, blocks_document, load_blocks
from core.usage.scanner import UsageScanner
from tests.usage.logtree import assistant, user
from tests.usage.test_incremental import FLAG_SETS, NOW, Files, cold, lean_answer, snapshot

PRICES = load_prices(None)
BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _scan(conn: sqlite3.Connection, root: Path, walked: Any = None) -> None:
    UsageScanner(conn, [root / "projects"], PRICES).scan(walked)


def _setup(tmp_path: Path) -> tuple[Path, Path, Files, sqlite3.Connection]:
    root = tmp_path / "claude"
    (root / "projects").mkdir(parents=True)
    return tmp_path, root, Files(root), open_scan_db(tmp_path / "state" / "nightshift.db")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(minutes=st.lists(st.integers(0, 900), min_size=1, max_size=12),
       later=st.lists(st.integers(-30, 7 * 60), min_size=1, max_size=4))
def test_an_active_block_at_any_now_is_what_the_full_path_prints(
        tmp_path_factory: pytest.TempPathFactory, minutes: list[int], later: list[int]) -> None:
    """Burn rate, projection and `--active`/`--recent` depend on `now`: rendered for each."""
    work, root, files, conn = _setup(tmp_path_factory.mktemp("lean"))
    try:
        files.apply(("append", 0, [assistant(BASE + timedelta(minutes=m), msg=f"m{n}", req=f"r{n}",
                                             tokens=(n, 2 * n, 3, 4)) for n, m in enumerate(minutes)]))
        newest = to_ms(BASE + timedelta(minutes=max(minutes)))
        _scan(conn, root)
        load_blocks(conn, newest)
        for after in later:
            now_ms = newest + max(after, 0) * 60_000
            for flags in FLAG_SETS:
                text, _ = lean_answer(work, root, flags, now_ms)
                query = BlocksQuery(active="active" in flags, recent="recent" in flags)
                assert text == blocks_document(load_blocks(conn, now_ms), query, UTC)
    finally:
        conn.close()


def test_a_file_appended_after_the_walk_is_read_up_to_what_the_walk_saw(tmp_path: Path) -> None:
    work, root, files, conn = _setup(tmp_path)
    files.apply(("append", 0, [assistant(BASE, msg="a", req="a")]))
    _scan(conn, root)
    load_blocks(conn, to_ms(NOW))
    files.apply(("append", 0, [assistant(BASE + timedelta(minutes=1), msg="b", req="b")]))
    text, seen = lean_answer(work, root)
    assert text is None and seen is not None
    files.apply(("append", 0, [assistant(BASE + timedelta(minutes=2), msg="c", req="c")]))  # meanwhile
    _scan(conn, root, seen)
    keys = [key for (key,) in conn.execute("SELECT key FROM usage_entries ORDER BY ts_ms")]
    assert keys == ["a:a", "b:b"]  # what the walk saw; the rest on the next scan
    stale, _ = lean_answer(work, root)
    assert stale is None  # the file moved on since: never answered from the older state
    _scan(conn, root)
    assert snapshot(conn) == cold(root, work)
    conn.close()


def test_a_scan_between_the_walk_and_the_read_is_never_answered_stale(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process scans (and the file grows) after the lean path listed the files."""
    work, root, files, conn = _setup(tmp_path)
    files.apply(("append", 0, [assistant(BASE, msg="a", req="a")]))
    _scan(conn, root)
    load_blocks(conn, to_ms(NOW))
    walk = lean.log_files

    def walk_then_another_scanner(*args: Any) -> Any:
        listed = list(walk(*args))
        files.apply(("append", 0, [assistant(BASE + timedelta(minutes=3), msg="b", req="b")]))
        other = open_scan_db(work / "state" / "nightshift.db")
        _scan(other, root)
        load_blocks(other, to_ms(NOW))
        other.close()
        return iter(listed)

    monkeypatch.setattr(lean, "log_files", walk_then_another_scanner)
    text, _ = lean_answer(work, root)
    assert text is None
    monkeypatch.setattr(lean, "log_files", walk)
    text, _ = lean_answer(work, root)
    assert text == cold(root, work)[2]
    conn.close()


def test_links_to_the_database_are_skipped_and_never_stop_the_answer(tmp_path: Path) -> None:
    work, root, files, conn = _setup(tmp_path)
    files.apply(("append", 0, [assistant(BASE, msg="a", req="a")]))
    planted = root / "projects" / "planted"
    planted.mkdir()
    db = work / "state" / "nightshift.db"
    (planted / "symlink.jsonl").symlink_to(db)
    os.link(db, planted / "hardlink.jsonl")
    os.link(f"{db}-wal", planted / "wal.jsonl")
    _scan(conn, root)
    load_blocks(conn, to_ms(NOW))
    text, seen = lean_answer(work, root)
    assert seen is not None and [Path(path).name for path, _ in seen.listing] == ["a.jsonl"]
    assert text == cold(root, work)[2]
    conn.close()


def test_another_price_table_goes_to_the_full_path_once(tmp_path: Path) -> None:
    work, root, files, conn = _setup(tmp_path)
    files.apply(("append", 0, [assistant(BASE, msg="a", req="a", model="claude-sonnet-4-5-20250929")]))
    _scan(conn, root)
    load_blocks(conn, to_ms(NOW))
    assert lean_answer(work, root)[0] is not None
    (work / "state" / "prices.json").write_text(
        '{"claude-sonnet-4-5-20250929": {"input_cost_per_token": 1, "output_cost_per_token": 1,'
        ' "cache_creation_input_token_cost": 1, "cache_read_input_token_cost": 1}}')
    assert lean_answer(work, root)[0] is None
    UsageScanner(conn, [root / "projects"], load_prices(work / "state" / "prices.json")).scan()
    load_blocks(conn, to_ms(NOW))
    text = lean_answer(work, root)[0]
    assert text is not None and '"costUSD": 6110' in text


def test_a_zone_is_answered_for_once_the_full_path_accepted_it(tmp_path: Path) -> None:
    work, root, files, conn = _setup(tmp_path)
    files.apply(("append", 0, [assistant(BASE, msg="a", req="a")]))
    _scan(conn, root)
    load_blocks(conn, to_ms(NOW))
    config = LeanConfig({"nightshift_home": str(work / "state"), "claude_config_dir": str(root),
                         "nightshift_tz": "Asia/Tokyo", "nightshift_usage_prices_file": ""})
    assert lean.lean_document(config, {"json"}, to_ms(NOW))[0] is None
    conn.execute("INSERT INTO usage_state (key, value) VALUES (?, 'Asia/Tokyo')", (stored.ZONE_KEY,))
    text = lean.lean_document(config, {"json"}, to_ms(NOW))[0]
    assert text is not None and b"".join(text).decode() == f"{lean_answer(work, root)[0]}\n"
    conn.close()


def test_what_the_lean_path_refuses(tmp_path: Path) -> None:
    work, root, files, conn = _setup(tmp_path)
    files.apply(("append", 0, [assistant(BASE, msg="a", req="a")]))
    _scan(conn, root)
    load_blocks(conn, to_ms(NOW))
    assert lean_answer(work, root, now_ms=to_ms(BASE))[0] is not None
    assert lean_answer(work, root, now_ms=to_ms(BASE) - 1)[0] is None  # entries in the future
    conn.execute("DELETE FROM usage_state WHERE key = ?", (stored.LIVE_KEY,))
    assert lean_answer(work, root)[0] is None  # no open block kept
    load_blocks(conn, to_ms(NOW))  # a read-only refresh puts it back
    assert lean_answer(work, root)[0] is not None
    conn.execute("UPDATE usage_state SET value = '2' WHERE key = 'format'")
    assert lean_answer(work, root)[0] is None  # another block cache format
    conn.execute("UPDATE usage_state SET value = ? WHERE key = 'format'", (stored.CACHE_FORMAT,))
    conn.execute("UPDATE schema_migrations SET version = version + 100")  # a newer schema is fine
    assert lean_answer(work, root)[0] is not None
    conn.execute("DELETE FROM schema_migrations")
    assert lean_answer(work, root)[0] is None  # an older one is not
    conn.close()
    assert lean_answer(tmp_path / "elsewhere", root) == (None, None)  # no database yet


def test_logs_without_usage_answer_no_blocks(tmp_path: Path) -> None:
    work, root, files, conn = _setup(tmp_path)
    files.apply(("append", 0, [user(BASE)]))
    _scan(conn, root)
    load_blocks(conn, to_ms(NOW))
    assert lean_answer(work, root)[0] == '{"blocks":[]}' == blocks_document(
        load_blocks(conn, to_ms(NOW)), BlocksQuery(), UTC)
    conn.close()


@pytest.mark.parametrize(("argv", "flags"), [
    (["usage", "blocks", "--json"], {"json"}),
    (["usage", "blocks", "-a", "--json", "-r"], {"json", "active", "recent"}),
    (["usage", "blocks"], None),
    (["usage", "blocks", "--json", "--since", "20260101"], None),
    (["usage", "blocks", "--json", "--help"], None),
    (["usage", "--json"], None),
])
def test_only_the_options_it_knows(argv: list[str], flags: set[str] | None) -> None:
    assert lean.flags_of(argv) == flags


# --- its parts ------------------------------------------------------------------------------

field = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                  st.floats(allow_nan=False), st.lists(st.text(st.characters(codec="utf-8")), max_size=3))


@given(st.lists(field, min_size=13, max_size=13))
def test_the_open_block_is_kept_exactly(state: list[Any]) -> None:
    back = stored.decode_live(stored.encode_live(state))
    assert back == state and [type(v) for v in back] == [type(v) for v in state]


@given(st.text())
def test_anything_else_is_no_open_block(text: str) -> None:
    decoded = stored.decode_live(text)
    assert decoded is None or stored.encode_live(decoded) is not None


env_line = st.one_of(
    st.builds(lambda k, v, q, sp: f"{sp}{k}{sp}={sp}{q}{v}{q}{sp}",
              st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,8}", fullmatch=True),
              st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12),
              st.sampled_from(["", '"', "'"]), st.sampled_from(["", " ", "\t"])),
    st.sampled_from(["", "# a comment", "   ", "export A=1", "A", "A=1 # note", "A='x", "=x", "\ufeffB=2"]),
    st.text(max_size=15),
)


@settings(max_examples=400)
@given(st.lists(env_line, max_size=6))
def test_a_plain_settings_file_reads_as_python_dotenv_reads_it(lines: list[str]) -> None:
    text = "\n".join(lines)
    plain = parse_plain(text)
    if plain is not None:
        assert plain == dotenv_values(stream=io.StringIO(text))


def test_the_files_nightshift_init_writes_are_plain() -> None:
    from core.setup.envfile import merge_env

    text = merge_env("# nightshift\nNIGHTSHIFT_TZ=Europe/Berlin\n",
                     {"TELEGRAM_BOT_TOKEN": "12345:" + "a" * 35, "CLAUDE_CONFIG_DIR": "/x y/claude",
                      "NIGHTSHIFT_HOME": "~/state"})
    assert parse_plain(text) == dotenv_values(stream=io.StringIO(text))


@given(st.text(st.sampled_from("/.ab~"), max_size=12))
def test_names_are_written_as_pathlib_writes_them(text: str) -> None:
    assert path_text(text) == str(PurePosixPath(text))


def _projects_dirs_with_pathlib(configured: list[Path] | None, env: dict[str, str]) -> list[str]:
    """The Path-based resolution this replaced, as the reference."""
    if configured:
        candidates = [Path(p).expanduser() for p in configured]
    elif env.get("CLAUDE_CONFIG_DIR", "").strip():
        candidates = [Path(p.strip()).expanduser() for p in env["CLAUDE_CONFIG_DIR"].split(",") if p.strip()]
    else:
        home = Path(env.get("HOME", str(Path.home())))
        candidates = [Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "claude", home / ".claude"]
    found: list[str] = []
    seen: set[Path] = set()
    for candidate in candidates:
        for option in (candidate / "projects", candidate):
            if option.name == "projects" and option.is_dir():
                if option.resolve() not in seen:
                    seen.add(option.resolve())
                    found.append(str(option))
                break
    return found


def test_projects_are_found_as_before(tmp_path: Path) -> None:
    for name in ("a/projects", "b/projects", "home/.claude/projects", "xdg/claude/projects", "c"):
        (tmp_path / name).mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    cases: list[tuple[list[Path] | None, dict[str, str]]] = [
        ([tmp_path / "a", tmp_path / "link", tmp_path / "b" / "projects", tmp_path / "c"], {}),
        (None, {"CLAUDE_CONFIG_DIR": f" {tmp_path}//a/ ,{tmp_path}/./b,, {tmp_path}/missing"}),
        (None, {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}),
        (None, {"HOME": str(tmp_path / "home")}),
    ]
    for configured, env in cases:
        expected = _projects_dirs_with_pathlib(configured, env)
        assert project_roots([str(p) for p in configured] if configured else None, env) == expected
        assert expected


def test_a_poll_leaves_a_small_wal_unless_someone_is_reading(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The next process to open the database reads the whole WAL when no other has it open:
    a poll that leaves a big one empties it, and never waits for a reader to do so."""
    from core.usage import blocks_command
    from core.usage.config import UsageConfig

    monkeypatch.setattr(blocks_command, "WAL_KEEP_BYTES", 0)
    work, root, files, conn = _setup(tmp_path)
    conn.close()
    files.apply(("append", 0, [assistant(BASE + timedelta(minutes=m), msg=f"m{m}", req="r")
                               for m in range(50)]))
    config = UsageConfig(home=work / "state", claude_config_dirs=(root,), tz="", prices_file=None)
    wal = work / "state" / "nightshift.db-wal"
    reader = sqlite3.connect(work / "state" / "nightshift.db", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM usage_files").fetchall()  # a read in progress
    first = b"".join(blocks_command.blocks_output(config, BlocksQuery(), NOW, close=True))
    assert wal.stat().st_size > 0  # not emptied under a reader (and not waited for)
    reader.execute("COMMIT")
    reader.close()
    files.apply(("append", 0, [assistant(BASE + timedelta(minutes=60), msg="late", req="r")]))
    # as the CLI does: its connection stays open to the end (closing the last one would
    # checkpoint and delete the WAL anyway)
    second = b"".join(blocks_command.blocks_output(config, BlocksQuery(), NOW, close=False))
    assert wal.stat().st_size == 0
    assert first != second and second.decode() == cold(root, work)[2] + "\n"
