"""Crontab lines as crontab reads them, next fire times as pure time math (core.scheduling.cron).

The properties check `next_fire` against a brute-force oracle that walks UTC minute by minute
and applies the documented rule to each moment on its own; the cross-check compares with
APScheduler's `CronTrigger` where the two agree (not both day fields restricted, weekdays as
names, no daylight-saving change in between).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from core.errors import ConfigError
from core.scheduling.cron import (
    DAY_NAMES,
    MONTH_NAMES,
    CronExpr,
    next_cron_fire,
    next_fire,
    parse_cron,
    parse_crontab,
    wall_instant,
)

BERLIN = ZoneInfo("Europe/Berlin")
APIA = ZoneInfo("Pacific/Apia")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
ZONES = [UTC, BERLIN, ZoneInfo("America/New_York"), LORD_HOWE, ZoneInfo("Asia/Kolkata"),
         ZoneInfo("Pacific/Chatham"), ZoneInfo("America/St_Johns"), APIA, ZoneInfo("America/Santiago")]
MINUTE = timedelta(minutes=1)
FIRST, LAST = datetime(1996, 1, 1, tzinfo=UTC), datetime(2036, 1, 1, tzinfo=UTC)


# --- examples ---------------------------------------------------------------------------------


def test_midnight_in_the_owners_zone() -> None:
    now = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)  # 21:00 in Berlin
    assert next_cron_fire("0 0 * * *", now, BERLIN) == datetime(2026, 1, 6, 0, 0, tzinfo=BERLIN)


def test_earliest_of_several_expressions() -> None:
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    fire = next_cron_fire("0 0 * * *; 30 14 * * *", now, UTC)
    assert fire == datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


def test_the_next_fire_is_strictly_after() -> None:
    at = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
    assert next_cron_fire("30 14 * * *", at, UTC) == at + timedelta(days=1)
    assert next_cron_fire("30 14 * * *", at - timedelta(microseconds=1), UTC) == at


def test_weekdays_use_crontab_numbering_sunday_is_zero() -> None:
    # 2026-01-03 is a Saturday. Crontab 1-5 is Monday to Friday: next is Monday the 5th.
    saturday = datetime(2026, 1, 3, 12, 0, tzinfo=UTC)
    assert next_cron_fire("0 0 * * 1-5", saturday, UTC) == datetime(2026, 1, 5, tzinfo=UTC)
    assert next_cron_fire("0 9 * * 0", saturday, UTC) == datetime(2026, 1, 4, 9, tzinfo=UTC)
    assert next_cron_fire("0 9 * * 7", saturday, UTC) == datetime(2026, 1, 4, 9, tzinfo=UTC)
    assert parse_crontab("0 0 * * */2").weekdays == {0, 2, 4, 6}  # sun, tue, thu, sat
    assert parse_crontab("0 0 * * 5-7").weekdays == {5, 6, 0}  # Friday to Sunday
    assert parse_crontab("0 0 * * mon,WED").weekdays == {1, 3}
    assert parse_crontab("0 0 * * 1/2").weekdays == {1, 3, 5, 0}  # from Monday on, every second
    assert parse_crontab("0 0 * * ?").weekdays == set(range(7))


def test_months_and_steps() -> None:
    cron = parse_crontab("*/20 8-17/3 1,15 jan-mar,DEC 1-5")
    assert cron.minutes == (0, 20, 40) and cron.hours == (8, 11, 14, 17)
    assert cron.days == {1, 15} and cron.months == {1, 2, 3, 12}
    assert parse_crontab("10/25 * * * *").minutes == (10, 35)


def test_when_both_day_fields_are_restricted_either_one_fires() -> None:
    # The 1st of the month and every Monday (man 5 crontab); APScheduler would need both.
    saturday = datetime(2026, 1, 3, 12, 0, tzinfo=UTC)
    assert next_cron_fire("0 9 1 * 1", saturday, UTC) == datetime(2026, 1, 5, 9, tzinfo=UTC)
    sunday_31st = datetime(2026, 5, 31, 12, 0, tzinfo=UTC)
    assert next_cron_fire("0 9 1 * 1", sunday_31st, UTC) == datetime(2026, 6, 1, 9, tzinfo=UTC)  # a Monday
    tuesday = datetime(2026, 6, 2, 12, 0, tzinfo=UTC)
    assert next_cron_fire("0 9 1 * 1", tuesday, UTC) == datetime(2026, 6, 8, 9, tzinfo=UTC)
    # A field starting with `*` counts as unrestricted (as in cron): then both must match.
    assert next_cron_fire("0 9 */2 * 1", saturday, UTC) == datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert next_cron_fire("0 9 */2 * 2", saturday, UTC) == datetime(2026, 1, 13, 9, tzinfo=UTC)
    assert next_cron_fire("0 9 1 * *", saturday, UTC) == datetime(2026, 2, 1, 9, tzinfo=UTC)


def test_rare_days_are_found() -> None:
    assert next_cron_fire("0 0 29 2 *", datetime(2097, 1, 1, tzinfo=UTC), UTC) == datetime(
        2104, 2, 29, tzinfo=UTC)  # 2100 is no leap year
    assert next_cron_fire("0 0 31 * *", datetime(2026, 4, 1, tzinfo=UTC), UTC) == datetime(
        2026, 5, 31, tzinfo=UTC)


def test_bad_expressions_name_the_setting() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ConfigError, match="NIGHTSHIFT_CRON"):
        next_cron_fire("0 0 * *", now, UTC)
    with pytest.raises(ConfigError, match="not a day of the week"):
        next_cron_fire("0 0 * * funday", now, UTC)
    with pytest.raises(ConfigError, match="NIGHTSHIFT_CRON"):
        next_cron_fire("61 0 * * *", now, UTC)
    for expr, problem in [("0 0 * * 8", "not a day of the week"), ("0 0 * * 5-3", "runs backwards"),
                          ("0 24 * * *", "not a hour"), ("0 0 0 * *", "not a day of the month"),
                          ("0 0 * 13 *", "not a month"), ("*/0 * * * *", "bad step"),
                          ("1,,2 * * * *", "not a minute"), ("-1 * * * *", "not a minute"),
                          ("² * * * *", "not a minute"), ("0 0 30 2 *", "never fires"),
                          ("0 0 31 4,6 *", "never fires"), ("0 0 * * * *", "6 fields")]:
        with pytest.raises(ConfigError, match=problem) as caught:
            parse_crontab(expr)
        assert caught.value.variable == "NIGHTSHIFT_CRON"
    # Both day fields restricted: the 30th never comes in February, but Mondays do.
    assert parse_crontab("0 0 30 2 1").either_day


def test_a_spec_is_lines_separated_by_semicolons() -> None:
    assert [c.text for c in parse_cron("0 0 * * *; 30 3 * * 0;")] == ["0 0 * * *", "30 3 * * 0"]
    assert parse_cron("") == [] and next_cron_fire(" ; ", datetime(2026, 1, 1, tzinfo=UTC), UTC) is None


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_fire(parse_crontab("* * * * *"), datetime(2026, 1, 1), UTC)


# --- daylight saving: a skipped time fires at the jump, a repeated one once ---------------------


def test_a_time_the_spring_jump_skips_fires_at_the_jump_once() -> None:
    # Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC).
    night = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    jump = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert next_cron_fire("30 2 * * *", night, BERLIN) == jump
    assert next_cron_fire("30 2 * * *", jump, BERLIN) == datetime(2026, 3, 30, 2, 30, tzinfo=BERLIN)
    # Four skipped times, one fire; 03:00 itself coincides with the jump.
    assert next_cron_fire("*/15 2 * * *", night, BERLIN) == jump
    assert next_cron_fire("*/15 2,3 * * *", jump, BERLIN) == datetime(2026, 3, 29, 3, 15, tzinfo=BERLIN)
    assert wall_instant(datetime(2026, 3, 29, 2, 59), BERLIN) == jump


def test_a_time_the_autumn_fall_repeats_fires_at_its_first_occurrence() -> None:
    # Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET, so 02:00-02:59 happens twice.
    fires, at = [], datetime(2026, 10, 24, 23, 50, tzinfo=UTC)
    for _ in range(5):
        fire = next_cron_fire("*/30 * * * *", at, BERLIN)
        assert fire is not None
        fires.append(fire.astimezone(UTC).strftime("%H:%M"))
        at = fire
    assert fires == ["00:00", "00:30", "02:00", "02:30", "03:00"]  # 01:00, 01:30 UTC: repeats
    second_pass = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)  # 02:10 CET, the second time round
    assert next_cron_fire("30 2 * * *", second_pass, BERLIN) == datetime(2026, 10, 26, 2, 30, tzinfo=BERLIN)


def test_a_whole_skipped_day_fires_once_when_the_clock_lands() -> None:
    # Samoa skipped 2011-12-30: 23:59:59 on the 29th (-10) was followed by 00:00 on the 31st (+14).
    landed = datetime(2011, 12, 30, 10, 0, tzinfo=UTC)
    after = datetime(2011, 12, 29, 12, 0, tzinfo=APIA)
    assert next_cron_fire("0 12 * * *", after, APIA) == landed
    assert next_cron_fire("0 12 30 12 *", after, APIA) == landed
    assert next_cron_fire("0 12 * * *", landed, APIA) == datetime(2011, 12, 31, 12, 0, tzinfo=APIA)


def test_a_half_hour_jump() -> None:
    # Lord Howe Island, 2026-10-04: 02:00 (+10:30) becomes 02:30 (+11), at 15:30 UTC the day before.
    jump = datetime(2026, 10, 3, 15, 30, tzinfo=UTC)
    before = jump - timedelta(hours=1)
    assert next_cron_fire("15 2 * * *", before, LORD_HOWE) == jump
    assert next_cron_fire("45 2 * * *", before, LORD_HOWE) == datetime(2026, 10, 4, 2, 45, tzinfo=LORD_HOWE)


# --- the parser, against sets computed from the parts ---------------------------------------------


@dataclass(frozen=True)
class Spec:
    low: int
    high: int
    names: tuple[str, ...] = ()
    first_named: int = 0


MINUTES, HOURS, DAYS = Spec(0, 59), Spec(0, 23), Spec(1, 31)
MONTHS, WEEKDAYS = Spec(1, 12, MONTH_NAMES, 1), Spec(0, 7, DAY_NAMES, 0)


@st.composite
def field(draw: st.DrawFn, spec: Spec, *, names: bool = True, max_value: int | None = None,
          fit_steps: bool = False) -> tuple[str, set[int]]:
    """A crontab field and the values it stands for, worked out from how it was built; with
    `fit_steps`, every step fits in its range (as APScheduler requires)."""
    high = spec.high if max_value is None else max_value

    def show(value: int) -> str:
        index = value - spec.first_named
        if names and spec.names and 0 <= index < len(spec.names) and draw(st.booleans()):
            name = spec.names[index]
            return draw(st.sampled_from([name, name.upper(), name.title()]))
        return str(value)

    parts, values = [], set()
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["*", "*/s", "a", "a-b", "a-b/s", "a/s"]))
        a = draw(st.integers(spec.low, high))
        b = draw(st.integers(a, high))
        span = {"*/s": spec.high - spec.low, "a-b/s": b - a, "a/s": spec.high - a}.get(kind, 0)
        if fit_steps and kind in {"a-b/s", "a/s"} and span < 1:
            kind = "a"
        step = draw(st.integers(1, max(1, span if fit_steps else high - spec.low)))
        if kind == "*":
            parts.append("*")
            values |= set(range(spec.low, spec.high + 1))
        elif kind == "*/s":
            parts.append(f"*/{step}")
            values |= set(range(spec.low, spec.high + 1, step))
        elif kind == "a":
            parts.append(show(a))
            values.add(a)
        elif kind == "a-b":
            parts.append(f"{show(a)}-{show(b)}")
            values |= set(range(a, b + 1))
        elif kind == "a-b/s":
            parts.append(f"{show(a)}-{show(b)}/{step}")
            values |= set(range(a, b + 1, step))
        else:
            parts.append(f"{show(a)}/{step}")
            values |= set(range(a, spec.high + 1, step))
    return ",".join(parts), values


@given(field(MINUTES), field(HOURS), field(DAYS), field(MONTHS), field(WEEKDAYS))
def test_every_field_stands_for_the_values_it_was_built_from(
    minute: tuple[str, set[int]], hour: tuple[str, set[int]], day: tuple[str, set[int]],
    month: tuple[str, set[int]], weekday: tuple[str, set[int]],
) -> None:
    text = " ".join(f for f, _ in (minute, hour, day, month, weekday))
    try:
        cron = parse_crontab(text)
    except ConfigError as exc:
        assert "never fires" in exc.message  # e.g. `31 2`, refused with its reason
        assume(False)
        return
    assert cron.minutes == tuple(sorted(minute[1])) and cron.hours == tuple(sorted(hour[1]))
    assert cron.days == day[1] and cron.months == month[1]
    assert cron.weekdays == {d % 7 for d in weekday[1]}
    assert cron.either_day == (not day[0].startswith("*") and not weekday[0].startswith("*"))


# --- next_fire against a minute-by-minute oracle ---------------------------------------------------


def is_fire(cron: CronExpr, moment: datetime, tz: tzinfo) -> bool:
    """The documented rule applied to one moment (a whole UTC minute) on its own."""
    local = moment.astimezone(tz)
    if local.fold == 0 and cron.matches(local.replace(tzinfo=None)):
        return True  # a matching wall time, the first time the clock shows it
    just_before = (moment - timedelta(seconds=1)).astimezone(tz)
    offset, previous = local.utcoffset(), just_before.utcoffset()
    assert offset is not None and previous is not None
    if offset <= previous:
        return False
    # The clock jumps forward at `moment`: it fires if any skipped wall time matches.
    wall, landed = moment.replace(tzinfo=None) + previous, local.replace(tzinfo=None)
    while wall < landed:
        if cron.matches(wall):
            return True
        wall += MINUTE
    return False


def oracle(cron: CronExpr, after: datetime, tz: tzinfo, until: datetime) -> datetime | None:
    """The first moment after `after` (up to `until`) that `is_fire`s, walking UTC minutes; a
    stretch of wall time on a day that cannot fire is stepped over an hour at most at a time,
    and only while the zone's offset stays the same."""
    moment = after.astimezone(UTC).replace(second=0, microsecond=0) + MINUTE
    while moment <= until:
        if is_fire(cron, moment, tz):
            return moment
        local = moment.astimezone(tz)
        if not cron.day_matches(local.date()):
            step = min(60, 24 * 60 - (local.hour * 60 + local.minute))
            ahead = moment + step * MINUTE
            if step > 1 and ahead.astimezone(tz).utcoffset() == local.utcoffset():
                moment = ahead
                continue
        moment += MINUTE
    return None


@functools.cache
def transitions(tz: tzinfo) -> tuple[datetime, ...]:
    """Every change of `tz`'s offset between FIRST and LAST, to the second."""
    found, day = [], FIRST
    while day < LAST:
        nxt = day + timedelta(days=1)
        if day.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            low, high = day, nxt
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) // 2
                if middle.astimezone(tz).utcoffset() == low.astimezone(tz).utcoffset():
                    low = middle
                else:
                    high = middle
            found.append(high)
        day = nxt
    return tuple(found)


def _jump(change: datetime, tz: tzinfo) -> timedelta:
    """How far the clock moves at `change` (forward: positive)."""
    after = change.astimezone(tz).utcoffset()
    before = (change - timedelta(seconds=1)).astimezone(tz).utcoffset()
    assert after is not None and before is not None
    return after - before


@dataclass(frozen=True)
class Case:
    cron: CronExpr
    tz: tzinfo
    after: datetime


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A line that fires within a few years (days 1-28), a zone, and a moment: anywhere, or
    in the days before one of the zone's offset changes with the line's hours at the wall
    times the change skips or repeats (else a random line almost never meets one)."""
    tz = draw(st.sampled_from(ZONES))
    changes = transitions(tz)
    minute = draw(st.one_of(field(MINUTES), st.sampled_from([("0", {0}), ("*/15", set()), ("30", set())])))[0]
    hour = draw(field(HOURS))[0]
    day = draw(st.one_of(st.just("*"), field(DAYS, max_value=28).map(lambda f: f[0])))
    month = draw(st.one_of(st.just("*"), field(MONTHS).map(lambda f: f[0])))
    weekday = draw(st.one_of(st.just("*"), field(WEEKDAYS).map(lambda f: f[0])))
    where = draw(st.sampled_from(["anywhere", "days before a change", "at a jump", "at a fall"]))
    if where in {"at a jump", "at a fall"}:
        jumps = [c for c in changes if _jump(c, tz) > timedelta(0)]
        changes = jumps if where == "at a jump" else [c for c in changes if c not in jumps]
    if changes and where != "anywhere":
        change = draw(st.sampled_from(changes))
        after = change - timedelta(seconds=draw(st.integers(0, 2 * 86_400)))
        if where != "days before a change":  # every day, at the hours around the change
            old_wall = (change - timedelta(seconds=1)).astimezone(tz) + timedelta(seconds=1)  # clock before
            new_wall = change.astimezone(tz)  # and after the change
            near = {old_wall.hour, new_wall.hour, (old_wall.hour - 1) % 24, (new_wall.hour + 1) % 24}
            hours = draw(st.lists(st.sampled_from(sorted(near)), min_size=1, unique=True))
            hour, day, month, weekday = ",".join(map(str, hours)), "*", "*", "*"
            after = change - timedelta(seconds=draw(st.integers(0, 86_400)))
    else:
        after = draw(st.datetimes(min_value=FIRST.replace(tzinfo=None), max_value=LAST.replace(tzinfo=None),
                                  timezones=st.just(UTC)))
    return Case(parse_crontab(f"{minute} {hour} {day} {month} {weekday}"), tz, after)


@settings(max_examples=200, deadline=None)
@given(cases())
def test_the_next_fire_is_the_first_moment_the_rule_fires(case: Case) -> None:
    cron, tz, after = case.cron, case.tz, case.after
    fire = next_fire(cron, after, tz)
    assert fire is not None and fire > after
    assert fire.tzinfo is UTC and fire.second == 0 and fire.microsecond == 0
    assert is_fire(cron, fire, tz)  # it matches the line (or ends a gap holding a match)
    assert oracle(cron, after, tz, fire) == fire  # and no moment before it fires


@settings(max_examples=200, deadline=None)
@given(cases())
def test_fires_come_in_order_and_each_once(case: Case) -> None:
    cron, tz, after = case.cron, case.tz, case.after
    first = next_fire(cron, after, tz)
    assert first is not None
    second = next_fire(cron, first, tz)
    assert second is not None and second > first
    assert next_fire(cron, first - timedelta(microseconds=1), tz) == first
    assert oracle(cron, first, tz, second) == second


# --- cross-check with APScheduler where the semantics agree ----------------------------------------

AGREEING_ZONES = [UTC, ZoneInfo("Asia/Kolkata"), BERLIN, ZoneInfo("America/New_York")]


@st.composite
def agreeing_line(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    """A line and APScheduler's fields for it: weekdays as names (the numbering differs), steps
    within their range (APScheduler refuses longer ones), not both day fields restricted."""
    minute = draw(field(MINUTES, fit_steps=True))[0]
    hour = draw(field(HOURS, fit_steps=True))[0]
    month = draw(field(MONTHS, names=False, fit_steps=True))[0]
    day = draw(field(DAYS, max_value=28, fit_steps=True))[0]
    if draw(st.booleans()):
        day = draw(st.sampled_from(["*", "*/2", "*/7"]))
    names = draw(st.lists(st.sampled_from(DAY_NAMES), min_size=1, max_size=7, unique=True))
    weekday = "*" if not day.startswith("*") or draw(st.booleans()) else ",".join(names)
    line = f"{minute} {hour} {day} {month} {weekday}"
    return line, {"minute": minute, "hour": hour, "day": day, "month": month, "day_of_week": weekday}


def _fits_apscheduler(fields: dict[str, str]) -> bool:
    try:
        CronTrigger(**fields, timezone=UTC)
    except ValueError:  # a step longer than its range: crontab takes it, APScheduler does not
        return False
    return True


@settings(max_examples=200, deadline=None)
@given(agreeing_line(), st.sampled_from(AGREEING_ZONES),
       st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)))
def test_agrees_with_apscheduler_where_their_semantics_do(
    line: tuple[str, dict[str, str]], tz: tzinfo, after: datetime,
) -> None:
    text, fields = line
    assume(_fits_apscheduler(fields))
    try:
        cron = parse_crontab(text)
    except ConfigError as exc:
        assert "never fires" in exc.message
        return
    ours = next_fire(cron, after, tz)
    theirs = CronTrigger(**fields, timezone=tz).get_next_fire_time(None, after + timedelta(microseconds=1))
    assert ours is not None and theirs is not None
    # Daylight saving is where they part (a skipped time, a repeated hour): compare away from it.
    assume(not any(after <= change <= max(ours, theirs) + timedelta(hours=3) for change in transitions(tz)))
    assert ours == theirs
