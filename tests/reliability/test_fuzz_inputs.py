"""Hostile files and lines from outside: inbox notes, settings, Claude's logs, the CLI's stream.

Each reader either takes the input or refuses it with a clear `NightshiftError`; none crashes,
none loses a file, none lets one bad line spoil the good ones.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from core.agent.stream import StreamState
from core.errors import ConfigError
from core.models import Tokens
from core.service import Service
from core.settings import Settings, env_name, load_settings
from core.usage import scanner as scanner_module
from core.usage.db import open_scan_db
from core.usage.decode_msgspec import decode_line as decode_line_msgspec
from core.usage.decode_stdlib import decode_line
from core.usage.prices import load_prices
from core.usage.report import BlocksQuery, blocks_document, load_blocks
from core.usage.scanner import UsageScanner

from .strategies import ANY_TEXT, NUMBERS, ODD_DIGITS

SHARED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
GOOD_TOKENS = 777_001
_batches = itertools.count()
"""Examples share the test's tmp_path: each one works in a folder of its own."""
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")

JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), ANY_TEXT, NUMBERS, ODD_DIGITS)
JSON_VALUE = st.recursive(JSON_SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(ANY_TEXT, inner, max_size=3)), max_leaves=8)


# --- inbox files --------------------------------------------------------------------------------

FRONT_KEYS = st.sampled_from(["title", "repo", "priority", "after", "check", "plan", "tags", "colour",
                              "Title", "", "after "])
YAML_VALUE = st.one_of(JSON_SCALAR, st.lists(JSON_SCALAR, max_size=3), st.sampled_from(
    ["2026-01-01", "yes", "no", "~", "[1, 2", "{a: b}", "!!python/object:os.system", "&a [*a]", "1e400",
     "urgent", "HIGH", "10000000000000000000000"]))


@st.composite
def inbox_file(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["front", "front", "raw", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    body = draw(st.one_of(ANY_TEXT, st.just("do the thing"), st.just("")))
    if kind == "raw":
        return body.encode("utf-8", "surrogatepass")
    meta = draw(st.dictionaries(FRONT_KEYS, YAML_VALUE, max_size=4))
    try:
        header = yaml.safe_dump(meta, allow_unicode=True)
    except yaml.YAMLError:
        header = "title: x\n"
    header = draw(st.one_of(st.just(header), st.builds(lambda h, junk: h + junk, st.just(header), ANY_TEXT)))
    ending = draw(st.sampled_from(["---\n", "---", "", "--- \n", "----\n"]))
    prefix = draw(st.sampled_from(["", "\ufeff", " "]))
    return f"{prefix}---\n{header}{ending}{body}".encode("utf-8", "surrogatepass")


@settings(max_examples=120, deadline=None, suppress_health_check=SHARED)
@given(contents=st.lists(inbox_file(), min_size=1, max_size=4))
@example(contents=[b"---\ntags: 1\n---\nbody", b"---\ntags: true\n---\nbody"])  # were TypeErrors
@example(contents=[b"---\nafter: 100000000000000000000000\n---\nbody", b"---\npriority: 5\n---\nx"])
@example(contents=[b"---\ntitle: [a, b]\nrepo: 7\ncheck: {a: 1}\n---\nbody", b"\xff\xfe"])
async def test_inbox_files_become_tasks_or_are_set_aside_never_lost(
    service: Service, contents: list[bytes]
) -> None:
    batch = next(_batches)
    inbox = service.settings.brain_dir / f"inbox-{batch}"
    inbox.mkdir(parents=True)
    # Unique names: the same name and bytes import again as the same task, by design.
    names = [f"note-{batch}-{i}.md" for i in range(len(contents))]
    for name, data in zip(names, contents, strict=True):
        (inbox / name).write_bytes(data)
    tasks_before = len(await service.list())
    report = await service.import_inbox(inbox)
    assert sorted([n for n, _ in report.imported] + [n for n, _ in report.rejected]) == names
    assert len(await service.list()) == tasks_before + len(report.imported)
    assert list(inbox.glob("*.md")) == [], "every file leaves the inbox"
    for name, data in zip(names, contents, strict=True):
        kept = (inbox / "imported" / name) if name in dict(report.imported) else (inbox / "rejected" / name)
        assert kept.read_bytes() == data, "the file is moved as it was, never rewritten"
    for name, problem in report.rejected:
        note = (inbox / "rejected" / f"{name}.error.txt").read_text(encoding="utf-8")
        assert problem and problem in note and "Traceback" not in note
    for _, task_id in report.imported:
        task = await service.get(task_id)
        assert task.prompt.strip() and task.source == "inbox"


# --- settings values ----------------------------------------------------------------------------

FIELDS = sorted(Settings.model_fields)
HOSTILE_SETTING = st.one_of(
    ANY_TEXT, NUMBERS, ODD_DIGITS,
    st.sampled_from(["", " ", "-1", "0", "1e9", "nan", "inf", "true", "yes", "[]", "{}", "null",
                     "a=b", "=", ",,", "x=", "=/tmp", "25:61", "9-18:30,19-22:10", "Mars/Phobos",
                     "0 0 * * *", "* * *", "99 99 * * *", "4242,²", "--", "${HOME}", "$(touch x)"]))


@contextmanager
def environment(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@settings(max_examples=300, deadline=None, suppress_health_check=SHARED)
@given(field=st.sampled_from(FIELDS), value=HOSTILE_SETTING)
def test_any_setting_value_loads_or_names_its_variable(isolated_env: Path, field: str, value: str) -> None:
    variable = env_name(field)
    assume(variable not in {"NIGHTSHIFT_HOME", "NIGHTSHIFT_BRAIN"} or not value.startswith("/"))
    with environment(**{variable: value}):
        try:
            loaded = load_settings(env_file=None)
        except ConfigError as exc:
            assert exc.message.startswith(f"{variable}: "), exc.message
            assert exc.problem.strip()
            if "TOKEN" in variable and len(value) > 3:
                assert value not in exc.message, "a token is never echoed"
            return
    assert isinstance(loaded, Settings)
    # Derived values the daemon reads at start must not fail later on what validation let in.
    derived = (loaded.local_tz, loaded.reserve_by_hour, loaded.quiet_hour_set, loaded.home_dir,
               loaded.db_path)
    assert all(value is not None for value in derived)


def test_a_bad_setting_is_one_line_from_the_cli(isolated_env: Path) -> None:
    env = {**os.environ, "NIGHTSHIFT_MAX_PARALLEL": "lots", "TELEGRAM_BOT_TOKEN": "42:SECRET-never-shown"}
    done = subprocess.run([str(Path(sys.executable).parent / "nightshift"), "list"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert done.returncode == 1
    assert done.stderr.startswith("error: NIGHTSHIFT_MAX_PARALLEL: ") and len(done.stderr.splitlines()) == 1
    assert "SECRET" not in done.stdout + done.stderr


# --- Claude's logs (the usage scanner) ----------------------------------------------------------


def usage_line(timestamp: Any, usage: Any, msg: Any = "m1", req: Any = "r1", model: Any = "claude-sonnet-4-5",
               **extra: Any) -> dict[str, Any]:
    return {"timestamp": timestamp, "type": "assistant", "requestId": req, "sessionId": "s",
            "message": {"id": msg, "model": model, "usage": usage}, **extra}


TOKEN_COUNT = st.one_of(st.integers(min_value=0, max_value=10**6), st.integers(), st.floats(),
                        st.just(10**30), ANY_TEXT, st.none(), st.booleans())
HOSTILE_USAGE = st.fixed_dictionaries({}, optional={
    "input_tokens": TOKEN_COUNT, "output_tokens": TOKEN_COUNT, "cache_creation_input_tokens": TOKEN_COUNT,
    "cache_read_input_tokens": TOKEN_COUNT})
TIMESTAMP = st.one_of(st.just("2026-06-01T10:00:00.000Z"), st.sampled_from(
    ["", "2026-13-01T00:00:00Z", "2026-06-01", "not a time", "9999-12-31T23:59:59.999Z",
     "0001-01-01T00:00:00Z", "2026-06-01T10:00:00+14:00"]), ANY_TEXT, st.integers())


@st.composite
def log_line(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["usage", "usage", "json", "bytes", "cut"]))
    if kind == "bytes":
        return draw(st.binary(max_size=120)).replace(b"\n", b" ")
    if kind == "json":
        return json.dumps(draw(JSON_VALUE)).encode()
    obj = usage_line(draw(TIMESTAMP), draw(st.one_of(HOSTILE_USAGE, JSON_VALUE)),
                     draw(st.one_of(st.just("m1"), JSON_SCALAR)), draw(st.one_of(st.just("r1"), JSON_SCALAR)),
                     draw(st.one_of(st.just("claude-sonnet-4-5"), JSON_SCALAR)))
    text = json.dumps(obj).encode()
    if kind == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    return text


HUGE_COUNT = json.dumps(usage_line("2026-06-01T10:00:00.000Z",
                                   {"input_tokens": 0, "output_tokens": 10**30})).encode()
LAST_YEAR = json.dumps(usage_line("9999-12-31T23:59:59.999Z",
                                  {"input_tokens": 1, "output_tokens": 1})).encode()
OLD_LIMIT_TEXT = "Claude AI usage limit reached|" + "9" * 30
HUGE_RESET = json.dumps(usage_line(
    "2026-06-01T10:00:00.000Z", {"input_tokens": 1, "output_tokens": 1}, isApiErrorMessage=True,
) | {"message": {"usage": {"input_tokens": 1, "output_tokens": 1},
                 "content": [{"type": "text", "text": OLD_LIMIT_TEXT}]}}).encode()


@pytest.mark.parametrize("reader", ["json", "msgspec"])
@settings(max_examples=100, deadline=None, suppress_health_check=SHARED)
@given(lines=st.lists(log_line(), max_size=12))
@example(lines=[HUGE_COUNT])  # 10**30 tokens: SQLite refused the integer and the whole scan stopped
@example(lines=[HUGE_RESET])  # the same with a reset time of 30 digits in an old limit text
@example(lines=[LAST_YEAR])  # its block ends in the year 10000: a datetime OverflowError
def test_any_log_lines_scan_without_spoiling_the_good_ones(
    tmp_path: Path, lines: list[bytes], reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scanner_module, "FAST_READER_MIN_BYTES", 0 if reader == "msgspec" else 1 << 40)
    monkeypatch.setattr(scanner_module, "MSGSPEC_IMPORT_MIN_BYTES", 0)
    good = [usage_line(f"2026-06-01T1{i}:00:00.000Z", {"input_tokens": GOOD_TOKENS + i, "output_tokens": 5},
                       msg=f"good-{i}", req=f"req-{i}") for i in range(3)]
    root = tmp_path / str(next(_batches))
    project = root / "projects" / "p"
    project.mkdir(parents=True)
    data = b"\n".join([*lines[:6], *(json.dumps(g).encode() for g in good), *lines[6:]]) + b"\n"
    (project / "session.jsonl").write_bytes(data)
    for line in lines:
        decode_line(line)  # the line readers alone never raise
        decode_line_msgspec(line)
    conn = open_scan_db(root / "scan.db")
    try:
        report = UsageScanner(conn, [root / "projects"], load_prices(None)).scan()
        entries = conn.execute(
            "SELECT COUNT(*) FROM usage_entries WHERE winner = 1 AND input_tokens BETWEEN ? AND ?",
            (GOOD_TOKENS, GOOD_TOKENS + 2)).fetchone()[0]
        assert entries == 3, "the good lines count whatever surrounds them"
        assert report.lines >= 3
        blocks_document(load_blocks(conn, int(NOW.timestamp() * 1000)), BlocksQuery(), UTC)
    finally:
        conn.close()


# --- the CLI's stream-json (the executor's live parser) -----------------------------------------

EVENT_TYPES = st.sampled_from(["system", "assistant", "user", "result", "rate_limit_event", "stream_event",
                               "", None, 7])


@st.composite
def stream_line(draw: st.DrawFn) -> str | bytes:
    kind = draw(st.sampled_from(["event", "event", "event", "json", "text", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=80))
    if kind == "text":
        return draw(ANY_TEXT)
    if kind == "json":
        return json.dumps(draw(JSON_VALUE))
    event: dict[str, Any] = {"type": draw(EVENT_TYPES)}
    fields = {
        "subtype": st.sampled_from(["init", "success", "error_max_turns", "error_during_execution", ""]),
        "session_id": st.one_of(st.just("0b4c5d8e-0000-4000-8000-000000000000"), JSON_SCALAR),
        "is_error": JSON_SCALAR, "result": JSON_SCALAR, "num_turns": JSON_SCALAR,
        "total_cost_usd": JSON_SCALAR, "api_error_status": JSON_SCALAR, "usage": JSON_VALUE,
        "permission_denials": JSON_VALUE, "duration_ms": JSON_SCALAR, "terminal_reason": JSON_SCALAR,
        "message": JSON_VALUE, "error": JSON_SCALAR,
        "rate_limit_info": st.one_of(JSON_VALUE, st.fixed_dictionaries({}, optional={
            "status": st.one_of(st.just("rejected"), JSON_SCALAR),
            "resetsAt": st.one_of(st.integers(), st.floats(), NUMBERS, ODD_DIGITS, ANY_TEXT, JSON_SCALAR),
            "rateLimitType": JSON_SCALAR, "utilization": JSON_SCALAR})),
    }
    for name in draw(st.lists(st.sampled_from(sorted(fields)), unique=True, max_size=5)):
        event[name] = draw(fields[name])
    return json.dumps(event)


@settings(max_examples=400, deadline=None)
@given(lines=st.lists(stream_line(), max_size=10))
def test_any_stream_lines_are_parsed_without_an_error(lines: list[str | bytes]) -> None:
    state = StreamState()
    for line in lines:
        state.feed(line)
    # What the executor reads after a run: none of it may raise either.
    assert isinstance(state.tokens, Tokens) and state.turns >= 0
    assert isinstance(state.final_text, str) and isinstance(state.cost_usd, float)
    hit = state.limit_hit(NOW, BERLIN)
    assert hit is None or hit.resets_at.tzinfo is not None
    assert state.lines + 0 >= state.bad_lines


@pytest.mark.parametrize("resets_at", ["²", "١٢٣", "1e400", "-5", "99999999999999999999999", "①"])
def test_a_rejected_event_with_an_odd_reset_is_still_a_limit(resets_at: str) -> None:
    """`resetsAt: "²"` passed str.isdigit() and crashed int() inside the executor's follow loop."""
    state = StreamState()
    state.feed(json.dumps({"type": "rate_limit_event", "rate_limit_info": {
        "status": "rejected", "resetsAt": resets_at, "rateLimitType": "five_hour"}}))
    hit = state.limit_hit(NOW, BERLIN)
    assert hit is not None and hit.kind == "session"
    assert hit.resets_at - NOW <= timedelta(hours=5, seconds=1) or not hit.estimated
