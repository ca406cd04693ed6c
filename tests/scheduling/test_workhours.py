"""Work hours, the learned start of the owner's day, and the primes that align windows to it."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.scheduling.owner import OwnerUseBook
from core.scheduling.workhours import (
    DUE_FOR,
    due_prime,
    learned_day_start,
    next_work_starts,
    parse_work_hours,
    planned_primes,
)

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 1, 5, tzinfo=UTC)


def test_work_hours_read_as_people_write_them() -> None:
    plain = parse_work_hours("9-18")
    assert plain is not None and plain.days == frozenset(range(5)) and plain.start == time(9)
    sat = parse_work_hours("Mon-Sat 8:30-17")
    assert sat is not None and sat.days == frozenset(range(6)) and sat.start == time(8, 30)
    some = parse_work_hours("mon,wed,fri 10-16")
    assert some is not None and some.days == frozenset({0, 2, 4})
    assert parse_work_hours("") is None
    for bad in ("9", "25-3", "moon 9-17", "9:75-10"):
        with pytest.raises(ValueError, match=r"work hours|unknown day"):
            parse_work_hours(bad)


def test_a_fresh_window_opens_when_work_starts() -> None:
    work = parse_work_hours("9-18")
    sunday_evening = datetime(2026, 1, 4, 20, tzinfo=BERLIN)
    primes = planned_primes(sunday_evening, prime_at=[], work=work, learned_start=None, tz=BERLIN)
    assert [p.at for p in primes] == [datetime(2026, 1, 5, 4, tzinfo=BERLIN),
                                      datetime(2026, 1, 6, 4, tzinfo=BERLIN)]
    assert primes[0].reason == "a fresh window at Mon 09:00 (your work hours)"
    # Fixed primes join them, in time order, without duplicates.
    both = planned_primes(sunday_evening, prime_at=[(4, 0), (23, 0)], work=work, learned_start=None,
                          tz=BERLIN)
    assert [p.at.hour for p in both] == [23, 4, 23, 4]


def test_without_work_hours_the_learned_start_of_the_day_is_used() -> None:
    book = OwnerUseBook(tz=UTC)
    for day in range(3):
        book.observe(MONDAY + timedelta(days=day, hours=10, minutes=5), 300_000)
        book.observe(MONDAY + timedelta(days=day, hours=7), 10_000)  # a glance, not work
    thursday = MONDAY + timedelta(days=3)
    start = learned_day_start(book, thursday)
    assert start == time(10)
    primes = planned_primes(thursday, prime_at=[], work=None, learned_start=start, tz=UTC)
    assert primes[0].at == thursday.replace(hour=5)
    assert "learned start" in primes[0].reason
    assert learned_day_start(OwnerUseBook(), thursday) is None


def test_a_prime_is_due_for_a_few_minutes_then_not() -> None:
    work = parse_work_hours("9-18")
    at = datetime(2026, 1, 5, 4, tzinfo=BERLIN)
    planned = planned_primes(at - DUE_FOR, prime_at=[], work=work, learned_start=None, tz=BERLIN)
    assert due_prime(at - timedelta(minutes=1), planned) is None
    assert due_prime(at, planned) is not None
    assert due_prime(at + DUE_FOR - timedelta(seconds=1), planned) is not None
    assert due_prime(at + DUE_FOR, planned) is None


@given(
    minutes=st.integers(0, 400 * 24 * 60),
    zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kathmandu",
                          "Australia/Lord_Howe"]),
    start_h=st.integers(0, 23),
)
def test_primes_always_come_five_hours_before_a_work_start_and_in_order(
    minutes: int, zone: str, start_h: int
) -> None:
    tz = ZoneInfo(zone)
    now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    work = parse_work_hours(f"{start_h}-{(start_h + 8) % 24}")
    assert work is not None
    primes = planned_primes(now, prime_at=[], work=work, learned_start=None, tz=tz)
    assert all(now <= p.at < now + timedelta(hours=36) for p in primes)
    assert [p.at for p in primes] == sorted(p.at for p in primes)
    starts = next_work_starts(now, work, tz, count=5)
    for p in primes:
        # Five real hours (in UTC): aware arithmetic within one zone would be wall-clock time.
        assert any(s.astimezone(UTC) - p.at.astimezone(UTC) == timedelta(hours=5) for s in starts)
    # And the converse: every start whose prime falls in the horizon has one.
    wanted = {s.astimezone(UTC) - timedelta(hours=5) for s in starts}
    assert {w for w in wanted if now <= w < now + timedelta(hours=36)} == {p.at for p in primes}


def test_usage_lists_the_planned_primes_in_text_and_json() -> None:
    import json
    import os

    from tests.cli.test_cli import ns

    env = dict(os.environ, NIGHTSHIFT_WORK_HOURS="mon-sun 9-18", NIGHTSHIFT_TZ="UTC",
               NIGHTSHIFT_USAGE_API="false")
    out = ns("usage", "--json", env=env)
    assert out.returncode == 0, out.stderr
    primes = json.loads(out.stdout)["planned_primes"]
    assert primes and all(datetime.fromisoformat(p["at"]).hour == 4 for p in primes)
    assert primes[0]["reason"].endswith("09:00 (your work hours)")
    text = ns("usage", env=env)
    assert text.returncode == 0 and "prime planned" in text.stdout and "(your work hours)" in text.stdout


def test_the_phone_shows_the_planned_primes_escaped() -> None:
    from bot.render import usage_text

    shown = usage_text({"limited": False, "source": "logs"}, UTC, ["Mon 04:00: a fresh window at <9>"])
    assert "⏰ prime Mon 04:00: a fresh window at &lt;9&gt;" in shown


def test_without_work_hours_usage_lists_the_prime_for_the_learned_start_of_the_day() -> None:
    import json
    import os
    from pathlib import Path

    from tests.cli.test_cli import ns

    folder = Path(os.environ["CLAUDE_CONFIG_DIR"]) / "projects" / "-work-shop"
    folder.mkdir(parents=True, exist_ok=True)
    today = datetime.now(UTC).date()
    lines = []
    for back in range(1, 15):  # the owner's own use starts at 09:30 on every recent weekday
        day = today - timedelta(days=back)
        if day.weekday() < 5:
            at = datetime.combine(day, time(9, 30), tzinfo=UTC)
            lines.append(json.dumps({
                "type": "assistant", "sessionId": "owner", "requestId": f"r{back}",
                "timestamp": at.isoformat().replace("+00:00", "Z"),
                "message": {"id": f"m{back}", "model": "claude-sonnet-4-5", "usage": {
                    "input_tokens": 40_000, "output_tokens": 40_000}}}))
    (folder / "owner.jsonl").write_text("\n".join(lines) + "\n")
    env = dict(os.environ, NIGHTSHIFT_TZ="UTC", NIGHTSHIFT_USAGE_API="false")
    env.pop("NIGHTSHIFT_WORK_HOURS", None)
    before = datetime.now(UTC)
    out = ns("usage", "--json", env=env)
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)["planned_primes"]
    primes = [(datetime.fromisoformat(p["at"]), p["reason"]) for p in listed]
    # What the pure planner gives for a day that starts at 09:00 (a weekend morning plans
    # none within the day and a half shown; the daemon test pins a Friday).
    expected = {(p.at, p.reason) for now in (before, datetime.now(UTC)) for p in planned_primes(
        now, prime_at=[], work=None, learned_start=time(9), tz=UTC)}
    assert set(primes) <= expected and len(primes) >= min(
        len(planned_primes(before, prime_at=[], work=None, learned_start=time(9), tz=UTC)), 1)
    assert all(reason.endswith("09:00 (your day's learned start)") for _, reason in primes)
