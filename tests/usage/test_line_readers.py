"""The two line readers (msgspec for big reads, json for small ones) judge every line alike,
and both follow ccusage's schema on the cases that matter; so do the two file readers."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.usage import decode_msgspec, decode_stdlib, line_schema
from tests.usage.logtree import assistant, at, synthetic, user

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
timestamps = st.one_of(
    st.sampled_from(["2026-03-02T10:17:23.000Z", "2026-03-02T10:17:23Z", "2026-13-02T10:17:23.000Z",
                     "2026-03-02T10:17:23.0000Z", "2026-03-02 10:17:23Z", "2026-03-02T10:17:23.000Z\n",
                     "2026-03-02T10:17:23.000+00:00", ""]),
    scalars,
)


def maybe(key: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.just({}), values.map(lambda v: {key: v}))


@st.composite
def lines(draw: st.DrawFn) -> dict[str, Any]:
    usage: dict[str, Any] = {}
    for key in ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
        usage.update(draw(maybe(key, st.one_of(st.integers(0, 10**6), st.floats(0, 1e6), scalars))))
    content = draw(st.one_of(
        st.lists(st.one_of(st.fixed_dictionaries({"type": st.just("text")},
                                                 optional={"text": st.one_of(st.text(max_size=40), scalars)}),
                           scalars), max_size=3),
        scalars))
    message: dict[str, Any] = {"role": "assistant"}
    message.update(draw(st.one_of(st.just({"usage": usage}), maybe("usage", scalars))))
    message.update(draw(maybe("model", st.one_of(st.sampled_from(["claude-sonnet-4-5", ""]), scalars))))
    message.update(draw(maybe("id", st.one_of(st.sampled_from(["msg_1", ""]), scalars))))
    message.update(draw(maybe("content", st.just(content))))
    obj: dict[str, Any] = {"type": "assistant"}
    obj.update(draw(maybe("timestamp", timestamps)))
    obj.update(draw(st.one_of(st.just({"message": message}), maybe("message", scalars))))
    for key, values in (("cwd", st.text(max_size=5)), ("sessionId", st.sampled_from(["s", ""])),
                        ("version", st.sampled_from(["2.1.197", "2.1", "v2.1.1", "10.0.0-beta"])),
                        ("costUSD", st.floats(0, 10)), ("requestId", st.sampled_from(["req_1", ""])),
                        ("isApiErrorMessage", st.booleans())):
        obj.update(draw(maybe(key, st.one_of(values, scalars))))
    return obj


@settings(max_examples=600, deadline=None)
@given(lines())
def test_readers_agree(obj: dict[str, Any]) -> None:
    line = json.dumps(obj, separators=(",", ":")).encode()
    assert decode_stdlib.decode_line(line) == decode_msgspec.decode_line(line)


@settings(deadline=None)
@given(st.binary(max_size=80))
def test_readers_agree_on_bytes(data: bytes) -> None:
    line = b'{"usage":' + data
    a, b = decode_stdlib.decode_line(line), decode_msgspec.decode_line(line)
    assert (a.malformed, a.entry) == (b.malformed, b.entry)


@pytest.mark.parametrize("reader", [decode_stdlib.decode_line, decode_msgspec.decode_line])
def test_known_lines(reader: Any) -> None:
    good = reader(assistant(at(0), msg="m", req="r", tokens=(1, 2, 3, 4), cost=0.5).encode())
    assert good.entry is not None and good.entry.key == "m:r" and good.entry.logged_cost == 0.5
    assert good.entry.input_tokens == 1 and good.entry.cache_read_tokens == 4
    assert reader(b"{broken").malformed
    assert reader(b'{"usage":1,"timestamp":NaN}').malformed  # JSON.parse rejects NaN
    assert not reader(b"[1,2]").malformed and reader(b"[1,2]").entry is None
    no_req = reader(assistant(at(0), msg="m").encode())
    assert no_req.entry is not None and no_req.entry.key is None
    limit = reader(synthetic(at(0), "Claude AI usage limit reached|1772470800").encode())
    assert limit.entry is not None and limit.entry.reset_ms == 1772470800000
    assert limit.entry.limit_text == "Claude AI usage limit reached|1772470800"
    null_cwd = reader(assistant(at(0), extra={"cwd": None}).encode())
    assert null_cwd.entry is None and null_cwd.timestamp is not None


@settings(deadline=None)
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)), st.booleans())
def test_entry_ms_equals_timestamp_ms(moment: Any, with_ms: bool) -> None:
    fraction = f".{moment.microsecond // 1000:03d}" if with_ms else ""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"
    assert line_schema.entry_ms(text) == line_schema.timestamp_ms(text)


# --- timestamps -------------------------------------------------------------------------------

stamp_texts = st.one_of(
    timestamps.filter(lambda value: isinstance(value, str)),
    st.builds(lambda moment, ms, tail: moment.strftime("%Y-%m-%dT%H:%M:%S") + ms + tail,
              st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
              st.sampled_from(["", ".000", ".123", ".9", ".1234"]),
              st.sampled_from(["Z", "", "+00:00", "z"])),
    st.text(alphabet="0123456789-T:.Z +", max_size=30),
)


@settings(max_examples=500, deadline=None)
@given(stamp_texts)
def test_entry_ms_follows_the_schema_pattern(text: str) -> None:
    """The cached check is exactly the pattern, plus "is a real date" (and not the year 9999)."""
    expected = None
    if line_schema.TIMESTAMP.search(text) and not text.startswith("9999"):
        expected = line_schema.timestamp_ms(text)
    assert line_schema.entry_ms(text) == expected
    assert line_schema.entry_ms(text) == expected  # again, from the caches


# --- what ccusage reads with replacement ------------------------------------------------------

def _usage_line(text: str) -> bytes:
    return assistant(at(0), msg="m", req="r", tokens=(1, 2, 3, 4)).replace('"ok"', text).encode()


@pytest.mark.parametrize("reader", [decode_stdlib.decode_line, decode_msgspec.decode_line])
@pytest.mark.parametrize("line", [
    _usage_line('"broken \\ud83d emoji"'),                        # lone surrogate escape
    _usage_line('"ab"').replace(b"ab", b"a\xff\xfe\xc3b"),        # invalid UTF-8 bytes
], ids=["lone-surrogate", "invalid-utf8"])
def test_bad_text_in_a_usage_line_still_counts(reader: Any, line: bytes) -> None:
    decoded = reader(line)
    assert not decoded.malformed
    assert decoded.entry is not None and decoded.entry.input_tokens == 1 and decoded.entry.key == "m:r"


def test_a_lone_surrogate_in_a_limit_text_is_stored_replaced() -> None:
    text = "You've hit your limit \\ud83d · resets 3pm"
    line = synthetic(at(0), text).replace("\\\\ud83d", "\\ud83d").encode()
    for reader in (decode_stdlib.decode_line, decode_msgspec.decode_line):
        entry = reader(line).entry
        assert entry is not None and entry.limit_text == "You've hit your limit \ufffd · resets 3pm"


# --- the two file readers ---------------------------------------------------------------------

raw_lines = st.one_of(
    lines().map(lambda obj: json.dumps(obj, separators=(",", ":")).encode()),
    st.builds(lambda m, r, minute: assistant(at(minute), msg=f"m{m}", req=f"r{r}").encode(),
              st.integers(0, 3), st.integers(0, 3), st.integers(-60, 60)),
    st.builds(lambda minute: user(at(minute)).encode(), st.integers(-60, 60)),
    st.sampled_from([b"{broken", b"", b"[]", b"   ", _usage_line('"x \\ud83d"'),
                     _usage_line('"ab"').replace(b"ab", b"a\xff\xfe")]),
)


@settings(max_examples=200, deadline=None)
@given(pool=st.lists(raw_lines, min_size=1, max_size=6), picks=st.lists(st.integers(0, 5), max_size=14),
       newline_at_end=st.booleans())
def test_file_readers_agree(pool: list[bytes], picks: list[int], newline_at_end: bool) -> None:
    """msgspec (big reads) and json (small ones) keep the same rows, counts and order facts;
    a response repeated in the file is kept once (its first copy)."""
    from core.usage.prices import load_prices
    from core.usage.reader import read_file
    from core.usage.tree import FileRead

    prices = load_prices(None)
    data = b"\n".join(pool[p % len(pool)] for p in picks) + (b"\n" if newline_at_end and picks else b"")
    results = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s.jsonl"
        path.write_bytes(data)
        for fast in (True, False):
            item = FileRead(str(path), 0, 0, len(data), 0, 0, False, None, 3)
            read_file(item, prices, fast)
            results.append((item.rows, item.lines, item.malformed, item.min_ts_ms, item.offset,
                            item.pending_bytes, item.tail_check))
    assert results[0] == results[1]
    keys = [row[4] for row in results[0][0] if row[4] is not None]
    assert len(keys) == len(set(keys))
