"""stream-json limit facts, read from the reference samples the real CLI's shapes came from."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.usage.rate_limit_event import RateLimitInfo, limit_from_result, parse_rate_limit_event

SAMPLES = Path(__file__).parent / "samples"
NOW = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def _lines(name: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in (SAMPLES / name).read_text().splitlines() if line]


def test_rejected_event_in_limited_stream() -> None:
    infos = [i for i in map(parse_rate_limit_event, _lines("stream-limited.jsonl")) if i]
    assert infos == [
        RateLimitInfo("rejected", datetime(2026, 12, 1, 2, 0, tzinfo=UTC), "five_hour", None)
    ]
    assert infos[0].rejected
    hit = infos[0].as_hit(NOW)
    assert hit is not None and hit.kind == "session" and not hit.estimated
    assert hit.resets_at == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def test_allowed_event_is_not_rejected() -> None:
    infos = [i for i in map(parse_rate_limit_event, _lines("stream-success.jsonl")) if i]
    assert len(infos) == 1
    assert infos[0].status == "allowed" and not infos[0].rejected
    assert infos[0].utilization == pytest.approx(0.41)
    assert infos[0].as_hit(NOW) is None


def test_limited_result_gives_the_message_reset() -> None:
    result = _lines("stream-limited.jsonl")[-1]
    hit = limit_from_result(result, NOW, UTC)
    assert hit is not None
    assert hit.kind == "session"
    # 3am Europe/Berlin after 23:30 UTC on Nov 30 is Dec 1, 02:00 UTC: the same as resetsAt.
    assert hit.resets_at == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def test_successful_result_is_never_a_limit() -> None:
    result = _lines("stream-success.jsonl")[-1]
    assert limit_from_result(result, NOW, UTC) is None
    chatty = dict(result, result="You've hit your session limit · resets 3am")
    assert limit_from_result(chatty, NOW, UTC) is None


def test_verbose_array_result() -> None:
    array = json.loads((SAMPLES / "result-verbose-array.json").read_text())
    result = [e for e in array if e.get("type") == "result"][-1]
    assert limit_from_result(result, NOW, UTC) is None
    infos = [i for i in map(parse_rate_limit_event, array) if i]
    assert [i.status for i in infos] == ["allowed"]


def test_429_without_text_is_an_estimated_limit() -> None:
    hit = limit_from_result({"type": "result", "is_error": True, "api_error_status": 429,
                             "result": ""}, NOW, UTC)
    assert hit is not None and hit.estimated and hit.kind == "unknown"
    assert hit.resets_at > NOW


def test_other_errors_are_not_limits() -> None:
    assert limit_from_result({"type": "result", "is_error": True, "api_error_status": 500,
                              "result": "API Error: overloaded"}, NOW, UTC) is None


@pytest.mark.parametrize(
    "obj",
    [
        {},
        {"type": "assistant"},
        {"type": "rate_limit_event"},
        {"type": "rate_limit_event", "rate_limit_info": "x"},
        {"type": "rate_limit_event", "rate_limit_info": {"status": 3}},
        {"type": "rate_limit_event", "rate_limit_info": {}},
    ],
)
def test_garbage_events_are_none(obj: dict[str, object]) -> None:
    assert parse_rate_limit_event(obj) is None


def test_reset_formats() -> None:
    def parse(value: object) -> datetime | None:
        info = parse_rate_limit_event(
            {"type": "rate_limit_event",
             "rate_limit_info": {"status": "rejected", "resetsAt": value}}
        )
        assert info is not None
        return info.resets_at

    expected = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert parse(1796090400) == expected
    assert parse(1796090400000) == expected
    assert parse("2026-12-01T02:00:00Z") == expected
    assert parse(None) is None
    assert parse(True) is None
    assert parse(float("nan")) is None


@settings(deadline=None)
@given(st.dictionaries(st.text(max_size=5), st.one_of(st.none(), st.integers(), st.text(max_size=5),
                                                      st.floats(), st.booleans()), max_size=5),
       st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))
def test_never_raises_on_arbitrary_events(
    info: dict[str, object], extra: dict[str, object]
) -> None:
    obj = {"type": "rate_limit_event", "rate_limit_info": info, **extra}
    parsed = parse_rate_limit_event(obj)
    if parsed is not None:
        assert isinstance(parsed.status, str)
        assert parsed.resets_at is None or parsed.resets_at.tzinfo is not None
    hit = limit_from_result({"type": "result", "is_error": True, **info}, NOW, BERLIN)
    assert hit is None or hit.resets_at.tzinfo is not None
