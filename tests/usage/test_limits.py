"""Every limit-message variant in the reference, the warnings that are not limits, and
hypothesis properties over times, zones and dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.usage.limits import LimitHit, parse_limit_message

NOW = datetime(2026, 11, 26, 22, 0, tzinfo=UTC)  # Thursday, 23:00 in Warsaw
WARSAW = ZoneInfo("Europe/Warsaw")


def at(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone)).astimezone(UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("Claude AI usage limit reached|1754276400", "unknown",
         datetime(2025, 8, 4, 3, 0, tzinfo=UTC)),
        ("Claude usage limit reached. Your limit will reset at 5pm (Europe/Warsaw).", "unknown",
         at("Europe/Warsaw", 2026, 11, 27, 17)),
        ("5-hour limit reached ∙ resets 5am", "session", at("Europe/Warsaw", 2026, 11, 27, 5)),
        ("You've hit your limit · resets 7pm (America/Los_Angeles)", "unknown",
         at("America/Los_Angeles", 2026, 11, 26, 19)),
        ("You've hit your session limit · resets 8pm (America/New_York)", "session",
         at("America/New_York", 2026, 11, 26, 20)),
        ("You've hit your weekly limit · resets Oct 3, 5pm (Europe/Berlin)", "weekly",
         at("Europe/Berlin", 2026, 10, 3, 17)),
        ("You've hit your weekly limit · resets Dec 3, 5pm (Europe/Berlin)", "weekly",
         at("Europe/Berlin", 2026, 12, 3, 17)),
        ("You've hit your Opus limit · resets Apr 23 at 4pm (Asia/Tokyo)", "opus",
         at("Asia/Tokyo", 2027, 4, 23, 16)),
        ("You've hit your Sonnet limit · resets Nov 29 at 4pm (Asia/Tokyo)", "sonnet",
         at("Asia/Tokyo", 2026, 11, 29, 16)),
        ("You're out of extra usage · resets 11:30am (Asia/Colombo)", "extra",
         at("Asia/Colombo", 2026, 11, 27, 11, 30)),
        # typography: curly apostrophe, U+2219, narrow no-break space, a split line, "9 AM"
        ("You\u2019ve hit your session limit \u2219 resets 3:30\u202fpm", "session",
         at("Europe/Warsaw", 2026, 11, 27, 15, 30)),
        ("You've hit your session limit ·\nresets 8pm (America/New_York)", "session",
         at("America/New_York", 2026, 11, 26, 20)),
        ("Opus weekly limit reached ∙ resets Dec 1 at 9 AM", "opus",
         at("Europe/Warsaw", 2026, 12, 1, 9)),
        ("Weekly limit reached ∙ resets Dec 1, 9:15 a.m. (UTC)", "weekly",
         datetime(2026, 12, 1, 9, 15, tzinfo=UTC)),
        ("API Error: You've hit your session limit · resets 12am (Europe/Warsaw)", "session",
         at("Europe/Warsaw", 2026, 11, 27, 0)),
        ("You've hit your session limit · resets 12pm", "session",
         at("Europe/Warsaw", 2026, 11, 27, 12)),
    ],
)
def test_variants(text: str, kind: str, expected: datetime) -> None:
    hit = parse_limit_message(text, NOW, WARSAW)
    assert hit == LimitHit(kind, expected, text.strip())


@pytest.mark.parametrize(
    "text",
    [
        "You've used 90% of your session limit · resets 3pm",
        "You’ve used 75% of your weekly limit · resets Oct 3, 5pm (Europe/Berlin)",
        "Approaching session limit · resets 3pm",
        "Approaching Opus usage limit · resets 3pm",
        "The rate limiter resets at 5pm every day.",
        "I added a limit to the retry loop; it resets 3 times.",
        "",
        "Fixed: the fixture now closes its session. All 13 tests pass.",
    ],
)
def test_not_limits(text: str) -> None:
    assert parse_limit_message(text, NOW, WARSAW) is None


def test_limit_without_a_time_is_estimated() -> None:
    hit = parse_limit_message("Claude usage limit reached.", NOW, WARSAW)
    assert hit is not None and hit.estimated and hit.resets_at == NOW + timedelta(hours=5)


def test_relative_reset() -> None:
    hit = parse_limit_message("You've hit your session limit · resets in 2h 5m", NOW, WARSAW)
    assert hit is not None and hit.resets_at == NOW + timedelta(hours=2, minutes=5)


def test_unknown_zone_falls_back_to_local() -> None:
    text = "You've hit your session limit · resets 5am (Mars/Olympus)"
    hit = parse_limit_message(text, NOW, WARSAW)
    assert hit is not None and hit.resets_at == at("Europe/Warsaw", 2026, 11, 27, 5)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_limit_message("You've hit your limit · resets 5am", NOW.replace(tzinfo=None), WARSAW)


def test_same_minute_is_now_not_tomorrow() -> None:
    now = at("Europe/Warsaw", 2026, 11, 27, 15, 0) + timedelta(seconds=40)
    hit = parse_limit_message("You've hit your session limit · resets 3pm", now, WARSAW)
    assert hit is not None and hit.resets_at == at("Europe/Warsaw", 2026, 11, 27, 15)
    later = now + timedelta(seconds=30)
    hit = parse_limit_message("You've hit your session limit · resets 3pm", later, WARSAW)
    assert hit is not None and hit.resets_at == at("Europe/Warsaw", 2026, 11, 28, 15)


ZONES = sorted(
    z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV"))
)
nows = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1),
                    timezones=st.just(UTC))
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def clock(hour: int, minute: int, style: int) -> str:
    h12 = hour % 12 or 12
    suffix = "am" if hour < 12 else "pm"
    if style == 0:
        return f"{h12}:{minute:02d}{suffix}" if minute else f"{h12}{suffix}"
    if style == 1:
        return f"{h12}:{minute:02d}\u202f{suffix.upper()}"
    return f"{h12}:{minute:02d} {suffix[0]}.m."


@settings(max_examples=300, deadline=None)
@given(now=nows, zone=st.sampled_from(ZONES), hour=st.integers(0, 23),
       minute=st.integers(0, 59), style=st.integers(0, 2), named=st.booleans(),
       local=st.sampled_from(["UTC", "Asia/Kolkata", "America/St_Johns", "Pacific/Chatham"]))
def test_time_is_its_next_occurrence(now: datetime, zone: str, hour: int, minute: int,
                                     style: int, named: bool, local: str) -> None:
    tz = ZoneInfo(zone)
    local_tz = ZoneInfo(local)
    suffix = f" ({zone})" if named else ""
    text = f"You've hit your session limit · resets {clock(hour, minute, style)}{suffix}"
    hit = parse_limit_message(text, now, local_tz)
    assert hit is not None
    reads_in = tz if named else local_tz
    wall = hit.resets_at.astimezone(reads_in)
    floor = now.replace(second=0, microsecond=0)
    assert hit.resets_at >= floor
    # at most a day (and a DST hour) ahead
    assert hit.resets_at <= now + timedelta(hours=25, minutes=1)
    exact = datetime.combine(wall.date(), wall.time(), tzinfo=reads_in).astimezone(UTC)
    if exact == hit.resets_at and (wall.hour, wall.minute) == (hour, minute):
        # no earlier occurrence of the same wall time between now and the answer
        previous_day = wall.date() - timedelta(days=1)
        earlier = datetime.combine(previous_day, wall.time(), tzinfo=reads_in).astimezone(UTC)
        assert earlier < floor
    else:
        # only a time inside a DST gap may move: it moves forward by the gap
        naive = datetime.combine(hit.resets_at.astimezone(reads_in).date(),
                                 wall.time().replace(hour=hour, minute=minute))
        round_trip = naive.replace(tzinfo=reads_in).astimezone(UTC).astimezone(reads_in)
        assert round_trip.replace(tzinfo=None) != naive


@settings(max_examples=300, deadline=None)
@given(now=nows, zone=st.sampled_from(ZONES), day=st.dates(min_value=date(2001, 1, 1),
                                                          max_value=date(2089, 12, 31)),
       hour=st.integers(0, 23), minute=st.integers(0, 59), at_word=st.booleans(),
       kind=st.sampled_from(["weekly", "Opus", "Sonnet"]))
def test_dated_reset_keeps_wall_date(now: datetime, zone: str, day: date, hour: int, minute: int,
                                     at_word: bool, kind: str) -> None:
    # The message shows no year: pick a date within half a year of now so the reading is unique.
    day = (now + timedelta(days=(day.toordinal() % 360) - 180)).date()
    tz = ZoneInfo(zone)
    sep = " at " if at_word else ", "
    text = f"You've hit your {kind} limit · resets {MONTHS[day.month - 1]} {day.day}{sep}" \
           f"{clock(hour, minute, 0)} ({zone})"
    hit = parse_limit_message(text, now, UTC)
    assert hit is not None
    assert hit.kind == kind.lower()
    expected = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz).astimezone(UTC)
    assert hit.resets_at == expected


@settings(deadline=None)
@given(st.text(max_size=200))
def test_prose_without_limit_words_is_none(text: str) -> None:
    if "limit" in text.lower() or "usage" in text.lower():
        return
    assert parse_limit_message(text, NOW, WARSAW) is None


@settings(deadline=None)
@given(st.text(max_size=120), st.text(max_size=120), st.sampled_from(["", "  ", "API Error: ", "> ", "⎿  "]))
def test_a_message_that_opens_a_line_is_found(before: str, after: str, lead: str) -> None:
    text = f"{before}\n{lead}You've hit your session limit · resets 8pm (America/New_York)\n{after}"
    hit = parse_limit_message(text, NOW, WARSAW)
    assert hit is not None and hit.kind == "session"


prose = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ,", min_size=1, max_size=80).map(lambda t: t + " then")


@settings(deadline=None)
@given(prose, st.sampled_from([
    "5-hour limit reached ∙ resets 3pm", "You've hit your session limit · resets 8pm (America/New_York)",
    "You've hit your org's monthly usage limit", "Claude AI usage limit reached|1754276400",
    "Opus weekly limit reached ∙ resets Oct 24"]), st.sampled_from(["", '"', "'", "`"]))
def test_a_message_quoted_inside_prose_is_no_limit(before: str, message: str, quote: str) -> None:
    text = f"{before} {quote}{message}{quote} the queue pauses until then."
    assert parse_limit_message(text, NOW, WARSAW) is None


def test_the_issues_prose_example_is_no_limit() -> None:
    text = ('The daemon reads the CLI\'s output: when Claude Code prints "5-hour limit reached ∙ resets '
            '3pm" the queue pauses and resumes at the reset.')
    assert parse_limit_message(text, NOW, WARSAW) is None


# --- the wordings of Claude Code 2.1.332 (reference section 7) and other new forms -------------

@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("You've hit your 5-hour limit · resets 2:39pm (Europe/Berlin)", "session",
         at("Europe/Berlin", 2026, 11, 27, 14, 39)),
        ("You've hit your weekly limit · resets Dec 4, 7:40pm (Europe/Berlin)", "weekly",
         at("Europe/Berlin", 2026, 12, 4, 19, 40)),
        ("You've hit your Opus limit · resets Dec 4, 4pm (Europe/Berlin)", "opus",
         at("Europe/Berlin", 2026, 12, 4, 16)),
        ("You've hit your Sonnet limit · resets 4pm (Europe/Berlin)", "sonnet",
         at("Europe/Berlin", 2026, 11, 27, 16)),
        ("You've hit your weekly limit · resets Jan 10, 2027, 4:30pm (Europe/Berlin)", "weekly",
         at("Europe/Berlin", 2027, 1, 10, 16, 30)),
        ("You've hit your weekly limit · resets Jan 10, 2028, 4:30pm (Europe/Berlin)", "weekly",
         at("Europe/Berlin", 2028, 1, 10, 16, 30)),
    ],
)
def test_wordings_of_the_current_cli(text: str, kind: str, expected: datetime) -> None:
    assert parse_limit_message(text, NOW, WARSAW) == LimitHit(kind, expected, text)


def test_a_date_without_a_time_is_that_day_not_five_hours() -> None:
    text = "Opus weekly limit reached ∙ resets Oct 24"
    now = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
    hit = parse_limit_message(text, now, WARSAW)
    assert hit == LimitHit("opus", at("Europe/Warsaw", 2026, 10, 24, 0, 0), text)
    assert hit is not None and hit.resets_at - now > timedelta(days=3)
    # read on the day itself, after its start: later today, so the day's end (a guess)
    today = at("Europe/Warsaw", 2026, 10, 24, 10, 0)
    hit = parse_limit_message(text, today, WARSAW)
    assert hit == LimitHit("opus", at("Europe/Warsaw", 2026, 10, 25, 0, 0), text, estimated=True)
    dated = parse_limit_message("You've hit your weekly limit · resets Oct 24 (Asia/Tokyo)", now, WARSAW)
    assert dated is not None and dated.resets_at == at("Asia/Tokyo", 2026, 10, 24, 0, 0)


@settings(max_examples=200, deadline=None)
@given(now=nows, zone=st.sampled_from(ZONES), offset_days=st.integers(1, 150),
       kind=st.sampled_from(["weekly", "Opus", "Sonnet"]))
def test_a_date_alone_is_the_start_of_that_day(now: datetime, zone: str, offset_days: int, kind: str) -> None:
    tz = ZoneInfo(zone)
    day = (now.astimezone(tz) + timedelta(days=offset_days)).date()
    text = f"You've hit your {kind} limit · resets {MONTHS[day.month - 1]} {day.day} ({zone})"
    hit = parse_limit_message(text, now, UTC)
    assert hit is not None and not hit.estimated and hit.kind == kind.lower()
    assert hit.resets_at == datetime.combine(day, datetime.min.time(), tzinfo=tz).astimezone(UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("You've hit your org's monthly usage limit", at("Europe/Warsaw", 2026, 12, 1, 0, 0)),
        ("You’ve hit your organization’s monthly usage limit", at("Europe/Warsaw", 2026, 12, 1, 0, 0)),
        ("API Error: You've hit your org's daily usage limit", at("Europe/Warsaw", 2026, 11, 27, 0, 0)),
        ("You've hit your org's usage limit", at("Europe/Warsaw", 2026, 12, 1, 0, 0)),
    ],
)
def test_an_organisations_limit_is_hard(text: str, expected: datetime) -> None:
    hit = parse_limit_message(text, NOW, WARSAW)
    assert hit == LimitHit("org", expected, text, estimated=True)
    assert hit is not None and hit.hard
    assert "does not lift by itself" in hit.summary()


def test_an_organisations_limit_with_a_reset_keeps_it() -> None:
    text = "You've hit your org's monthly usage limit · resets Dec 1, 9am (UTC)"
    hit = parse_limit_message(text, NOW, WARSAW)
    assert hit == LimitHit("org", datetime(2026, 12, 1, 9, 0, tzinfo=UTC), text)
    assert hit is not None and hit.hard


def test_an_unknown_zone_is_logged_once_and_read_in_the_owners(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="nightshift.usage")
    text = "You've hit your session limit · resets 5am (Mars/Olympus_Mons)"
    for _ in range(3):
        hit = parse_limit_message(text, NOW, WARSAW)
        assert hit is not None and hit.resets_at == at("Europe/Warsaw", 2026, 11, 27, 5)
    named = [r for r in caplog.records if "unknown time zone" in r.getMessage()]
    assert len(named) == 1 and named[0].fields["zone"] == "Mars/Olympus_Mons"  # type: ignore[attr-defined]
