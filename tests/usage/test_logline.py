"""The two line readers (msgspec for big reads, json for small ones) judge every line alike,
and both follow ccusage's schema on the cases that matter."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.usage import fastline, logline
from tests.usage.logtree import assistant, at, synthetic

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
    assert logline.decode_line(line) == fastline.decode_line(line)


@settings(deadline=None)
@given(st.binary(max_size=80))
def test_readers_agree_on_bytes(data: bytes) -> None:
    line = b'{"usage":' + data
    a, b = logline.decode_line(line), fastline.decode_line(line)
    assert (a.malformed, a.entry) == (b.malformed, b.entry)


@pytest.mark.parametrize("reader", [logline.decode_line, fastline.decode_line])
def test_known_lines(reader: Any) -> None:
    good = reader(assistant(at(0), msg="m", req="r", tokens=(1, 2, 3, 4), cost=0.5).encode())
    assert good.entry is not None and good.entry.hash == "m:r" and good.entry.logged_cost == 0.5
    assert good.entry.input_tokens == 1 and good.entry.cache_read_tokens == 4
    assert reader(b"{broken").malformed
    assert reader(b'{"usage":1,"timestamp":NaN}').malformed  # JSON.parse rejects NaN
    assert not reader(b"[1,2]").malformed and reader(b"[1,2]").entry is None
    no_req = reader(assistant(at(0), msg="m").encode())
    assert no_req.entry is not None and no_req.entry.hash is None
    limit = reader(synthetic(at(0), "Claude AI usage limit reached|1772470800").encode())
    assert limit.entry is not None and limit.entry.reset_ms == 1772470800000
    assert limit.entry.limit_text == "Claude AI usage limit reached|1772470800"
    null_cwd = reader(assistant(at(0), extra={"cwd": None}).encode())
    assert null_cwd.entry is None and null_cwd.timestamp is not None


@settings(max_examples=400, deadline=None)
@given(lines())
def test_fast_row_equals_the_general_one(obj: dict[str, Any]) -> None:
    from core.usage.prices import load_prices
    from core.usage.scanner import _row

    line = json.dumps(obj, separators=(",", ":")).encode()
    try:
        parsed = fastline.USAGE_DECODER.decode(line)
    except fastline.DecodeError:
        return
    prices = load_prices(None)
    entry = fastline.entry_of(parsed)
    expected = None if entry is None else _row(entry, 7, False, prices.cost)
    assert fastline.row_of(parsed, 7, prices.cost) == expected


@settings(deadline=None)
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)), st.booleans())
def test_entry_ms_equals_timestamp_ms(moment: Any, with_ms: bool) -> None:
    fraction = f".{moment.microsecond // 1000:03d}" if with_ms else ""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"
    assert logline.entry_ms(text) == logline.timestamp_ms(text)
