"""brain/logs: one valid JSON line per event, exported once, never carrying a secret."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from core.brain_logs import CURSOR_KEY, LogBook, encode_line
from core.models import TaskState
from core.redact import REDACTED, redact, redact_text
from core.settings import Settings
from core.store.store import Store
from tests.metrics.history import Fixture, at

FAKE_TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijklmnop"
KEYS = ["time", "event", "task", "run", "id", "fields"]


def read_lines(logs: Path) -> list[dict]:  # type: ignore[type-arg]
    out = []
    for path in sorted(logs.glob("*.jsonl")):
        for raw in path.read_text(encoding="utf-8").splitlines():
            out.append(json.loads(raw))
    return out


async def test_export_writes_each_event_once_by_utc_day(history: Fixture, settings: Settings) -> None:
    book = LogBook(settings.brain_dir)
    events = await history.store.tasks.events()
    assert await book.export_events(history.store) == len(events)
    logs = settings.brain_dir / "logs"
    assert sorted(p.name for p in logs.glob("*.jsonl")) == ["2026-10-01.jsonl", "2026-10-02.jsonl"]
    lines = read_lines(logs)
    assert [line["id"] for line in lines] == [e.id for e in events]
    for line, event in zip(lines, events, strict=True):
        assert list(line) == KEYS
        assert line["time"].endswith("+00:00")
        assert line["event"] == event.kind and line["task"] == event.task_id
        assert line["run"] == event.run_id
    first_change = next(x for x in lines if x["event"] == "state_changed")
    assert first_change["fields"] == {"from": "queued", "to": "planning", "reason": "planning"}
    run_finished = [x for x in lines if x["event"] == "run_finished"]
    assert [x["fields"]["reason"] for x in run_finished][:2] == ["check_failed", "success"]
    assert run_finished[0]["run"] == 1
    assert run_finished[0]["fields"] == {
        "reason": "check_failed", "kind": "work", "iteration": 1,
        "tokens": {"input": 1000, "output": 2000, "cache_creation": 3000, "cache_read": 4000},
        "cost_usd": 0.5, "num_turns": 5, "duration_s": 1140.0,
        "window_id": "2026-10-01T10:00:00.000Z"}
    assert sum(sum(x["fields"]["tokens"].values()) for x in run_finished) == 47_000
    # task 3 ended 23:31 UTC on 1 October: its line is in the 1 October file (UTC days)
    day1 = (logs / "2026-10-01.jsonl").read_text()
    assert '"to":"done","reason":"done"' in day1
    assert await book.export_events(history.store) == 0
    assert await history.store.kv.get(CURSOR_KEY) == events[-1].id
    assert stat.S_IMODE((logs / "2026-10-01.jsonl").stat().st_mode) == 0o600

    history.clock.now = at(2, 13)
    await history.service.cancel(5)
    assert await book.export_events(history.store) == 1
    assert read_lines(logs)[-1]["fields"]["to"] == TaskState.CANCELLED.value


async def test_a_crash_before_the_cursor_moves_duplicates_nothing(
    history: Fixture, settings: Settings
) -> None:
    book = LogBook(settings.brain_dir)
    total = await book.export_events(history.store, batch=7)
    await history.store.kv.set(CURSOR_KEY, 3)  # as if the process died before saving it
    assert await book.export_events(history.store) == 0
    assert len(read_lines(settings.brain_dir / "logs")) == total


async def test_a_torn_line_does_not_corrupt_the_next(store: Store, settings: Settings) -> None:
    book = LogBook(settings.brain_dir)
    book.write("limit_hit", at=at(3, 1), kind="session")
    path = book.path_for(at(3, 1).date())
    with path.open("a") as fh:
        fh.write('{"time": "2026-10-03T01:0')  # the process died mid-line
    book.write("limit_cleared", at=at(3, 6))
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["event"] == "limit_hit"
    assert json.loads(lines[-1])["event"] == "limit_cleared"
    assert len(lines) == 3
    await book.export_events(store)  # the torn line does not stop an export either


async def test_no_token_reaches_a_log_line(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "plain-looking-key-without-prefix")
    from core.service import Service
    from core.settings import load_settings

    service = Service(load_settings(env_file=None), store)
    task = await service.add(f"call https://api.telegram.org/bot{FAKE_TOKEN}/getMe", plan=False)
    await service.cancel(task.id, reason=f"token {FAKE_TOKEN} leaked")
    book = LogBook(settings.brain_dir)
    await book.export_events(store)
    record = book.write(
        "notification_sent", task=task.id, text=f"sent with {FAKE_TOKEN}",
        api_key="short", headers={"Authorization": "Bearer abcdefghijklmnopqrstuvwxyz"},
        note="anthropic plain-looking-key-without-prefix and sk-ant-api03-abcdefghijklmnop",
        input_tokens=1234, tokens={"input": 5},
    )
    text = "".join(p.read_text() for p in (settings.brain_dir / "logs").glob("*.jsonl"))
    assert FAKE_TOKEN not in text
    assert FAKE_TOKEN.split(":")[1] not in text
    assert "plain-looking-key-without-prefix" not in text
    assert "sk-ant-api03" not in text and "abcdefghijklmnopqrstuvwxyz" not in text
    assert REDACTED in text
    assert record["fields"]["api_key"] == REDACTED
    assert record["fields"]["input_tokens"] == 1234  # a count, not a secret
    assert record["fields"]["tokens"] == {"input": 5}
    assert record["task"] == task.id
    for line in text.splitlines():
        json.loads(line)


def test_write_refuses_a_naive_time(settings: Settings) -> None:
    from datetime import datetime

    with pytest.raises(ValueError, match="aware"):
        LogBook(settings.brain_dir).write("x", at=datetime(2026, 1, 1))


async def test_record_is_written_off_the_loop_and_a_failed_write_is_only_a_warning(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from datetime import UTC, datetime

    book = LogBook(settings.brain_dir)
    when = datetime(2026, 10, 1, 3, 5, tzinfo=UTC)
    assert await book.record("window_reset", at=when, trigger="reset", resuming=[3]) is True
    (line,) = read_lines(settings.brain_dir / "logs")
    assert line["event"] == "window_reset" and line["time"].startswith("2026-10-01T03:05:00")
    assert line["fields"] == {"trigger": "reset", "resuming": [3]}

    other = LogBook(settings.brain_dir / "elsewhere")
    other.dir.parent.mkdir(parents=True)
    other.dir.write_text("a file where the logs folder goes")
    assert await other.record("limit_pause", at=when) is False
    assert "logbook line not written" in caplog.text


SECRET_CHARS = st.characters(categories=["Lu", "Ll", "Nd"], max_codepoint=127) | st.sampled_from("_-")


@given(st.text(), st.text(SECRET_CHARS, min_size=8, max_size=40), st.text())
def test_an_environment_secret_never_survives(before: str, secret: str, after: str) -> None:
    assume("redacted" not in secret)
    assert secret not in redact_text(before + secret + after + secret, [secret])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.text(), json_values)
def test_any_record_is_one_valid_json_line(event: str, fields: object) -> None:
    line = encode_line({"time": "t", "event": event, "task": None, "run": None,
                        "fields": {"value": fields}})
    assert "\n" not in line
    decoded = json.loads(line)
    assert list(decoded) == ["time", "event", "task", "run", "fields"]
    assert redact(decoded) == decoded  # redacting twice changes nothing more
    assert os.linesep not in line
