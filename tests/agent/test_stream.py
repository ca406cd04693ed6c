"""Live stream-json parsing against the reference samples, and robustness to drift."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from core.agent.stream import StreamState
from core.agent.tail import LogTail
from core.models import Tokens

SAMPLES = Path(__file__).with_name("samples")  # copies of reference/samples
NOW = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def sample_lines(name: str) -> list[str]:
    return (SAMPLES / name).read_text(encoding="utf-8").splitlines()


def feed_all(lines: list[str]) -> StreamState:
    state = StreamState()
    for line in lines:
        state.feed(line)
    return state


def test_success_sample() -> None:
    state = feed_all(sample_lines("stream-success.jsonl"))
    assert state.session_id == "6f1c2a9e-3b7d-4c1e-9a55-0d2b7e8f4a10"
    assert state.model == "claude-sonnet-4-5-20250929"
    assert state.permission_mode == "acceptEdits"
    assert state.cli_version == "2.1.197"
    assert state.result is not None and not state.result.is_error
    assert state.tokens == Tokens(input=11, output=653, cache_creation=5123, cache_read=29123)
    assert state.cost_usd == 0.1832
    assert state.turns == 4
    assert state.final_text == "Fixed: the fixture now closes its session. All 13 tests pass."
    assert state.rate_limit is not None and not state.rate_limit.rejected
    assert state.limit_hit(NOW, BERLIN) is None
    assert state.bad_lines == 0


def test_limited_sample_gives_the_exact_reset_from_the_event() -> None:
    state = feed_all(sample_lines("stream-limited.jsonl"))
    hit = state.limit_hit(NOW, BERLIN)
    assert hit is not None
    assert hit.resets_at == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert hit.kind == "session"
    assert state.limit_texts == ["You've hit your session limit · resets 3am (Europe/Berlin)"]
    assert state.result is not None and state.result.api_error_status == 429
    # The synthetic reply is the CLI's, not the model's: it is not the run's final text.
    assert state.last_text == ""


def test_limit_from_the_text_when_there_is_no_event() -> None:
    lines = [ln for ln in sample_lines("stream-limited.jsonl") if "rate_limit_event" not in ln]
    hit = feed_all(lines).limit_hit(NOW, BERLIN)
    assert hit is not None
    assert hit.resets_at == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 3am Berlin


def test_limit_from_the_synthetic_message_when_the_result_is_missing() -> None:
    lines = [ln for ln in sample_lines("stream-limited.jsonl")
             if '"rate_limit_event"' not in ln and '"type":"result"' not in ln]
    hit = feed_all(lines).limit_hit(NOW, BERLIN)
    assert hit is not None and hit.kind == "session"


def test_a_rejected_event_on_a_run_that_succeeded_is_not_a_limit() -> None:
    lines = sample_lines("stream-success.jsonl")
    lines.insert(3, lines[3].replace('"allowed"', '"rejected"'))
    assert feed_all(lines).limit_hit(NOW, BERLIN) is None


def test_verbose_json_array_elements_parse_the_same() -> None:
    events = json.loads((SAMPLES / "result-verbose-array.json").read_text())
    state = feed_all([json.dumps(e) for e in events])
    assert state.result is not None and state.result.tokens.total == 11 + 653 + 5123 + 29123


def test_live_tokens_count_each_message_once() -> None:
    """An assistant message is printed once per content block, with the same usage."""
    lines = sample_lines("stream-success.jsonl")[:2]
    first = json.loads(lines[1])
    state = feed_all([lines[0], lines[1], json.dumps(first)])
    assert state.result is None
    assert state.tokens == Tokens(input=3, output=41, cache_creation=5123, cache_read=12000)
    assert state.turns == 1


def test_unknown_events_and_broken_lines_are_counted_not_fatal() -> None:
    lines = sample_lines("stream-success.jsonl")
    noisy = [lines[0], '{"type":"system","subtype":"api_retry","attempt":1}', "not json",
             '{"type":"brand_new_event","x":1}', "[1,2]", '{"type":"assistant"',
             *lines[1:]]
    state = feed_all(noisy)
    assert state.bad_lines == 3
    assert state.result is not None and state.cost_usd == 0.1832


@given(st.lists(st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1")),
                          st.dictionaries(st.text(max_size=8), st.recursive(
                              st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                              | st.text(max_size=10),
                              lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c,
                                                                                  max_size=3),
                              max_leaves=10)).map(json.dumps)), max_size=20),
       st.sampled_from(["system", "assistant", "user", "result", "rate_limit_event", "x"]))
def test_garbage_never_raises(lines: list[str], kind: str) -> None:
    state = StreamState()
    for line in lines:
        state.feed(line)
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            state.feed(json.dumps({**obj, "type": kind}))
    state.limit_hit(NOW, BERLIN)
    assert state.tokens.total >= 0


@given(st.lists(st.integers(min_value=1, max_value=400), max_size=30))
def test_tail_over_any_write_pattern_gives_the_same_lines(cuts: list[int]) -> None:
    """Lines read while the file grows in arbitrary pieces equal the lines of the whole file."""
    import tempfile

    data = "\n".join(sample_lines("stream-success.jsonl")).encode() + b"\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log"
        path.write_bytes(b"")
        tail = LogTail(path)
        got: list[bytes] = []
        pos = 0
        for cut in cuts:
            piece = data[pos : pos + cut]
            pos += len(piece)
            with path.open("ab") as fh:
                fh.write(piece)
            got += tail.read_lines()
        with path.open("ab") as fh:
            fh.write(data[pos:])
        got += tail.read_lines()
        assert got == data.splitlines()
        assert tail.offset == len(data)
        assert tail.rest() == b""


def test_tail_keeps_an_unfinished_line_until_the_end(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b'{"a":1}\n{"b":')
    tail = LogTail(path)
    assert tail.read_lines() == [b'{"a":1}']
    assert tail.read_lines() == []
    assert tail.rest() == b'{"b":'
    assert tail.offset == path.stat().st_size


def test_tail_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert LogTail(tmp_path / "nope").read_lines() == []
