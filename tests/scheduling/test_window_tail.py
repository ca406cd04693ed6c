"""The tail of a window and the owner at the keyboard: a task passed over starts when what it
spends before the reset fits; the owner counts as at the keyboard by their use lately; their
busiest hour is read from days like today."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from core.scheduling.budget import Candidate, fits_later, plan_protected
from core.scheduling.hours import parse_hour_ranges
from core.scheduling.owner import OwnerUseBook
from core.scheduling.protect import ACTIVE_TOKENS, SAFETY, Horizon, horizon

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
WORK = parse_hour_ranges("9-17:50")
BURN = 30_000.0


def picture(now: datetime, **kw: object) -> Horizon:
    args: dict[str, object] = dict(window_start=None, capacity_tokens=6_000_000, reserve=WORK,
                                   owner_need=None, tz=UTC, burn_tokens_per_min=BURN)
    args.update(kw)
    return horizon(now, **args)  # type: ignore[arg-type]


def test_a_task_that_does_not_fit_now_starts_when_less_of_it_falls_before_the_reset() -> None:
    # 14:00 in the 10-15 window: 4.04M used, one busiest hour (940k) kept until 15:00, so
    # 1.02M is the queue's. A 1.5M task would spend all of it before the reset now.
    start = MONDAY.replace(hour=10)
    now = MONDAY.replace(hour=14)
    pic = picture(now, window_start=start, owner_peak_tokens_per_hour=940_000)
    assert pic.keep_tokens == 940_000 and pic.next_keep_tokens == 2_820_000
    task = Candidate(1, 2, 1_500_000)
    plan = plan_protected([task], used_tokens=4_040_000, committed_tokens=0, horizon=pic)
    assert plan.picked == ()
    # A run one SAFETY faster than learned spends 1.02M in the last 29.6 minutes.
    seconds = int(1_020_000 / (BURN * SAFETY) * 60)
    assert plan.fits_at == MONDAY.replace(hour=15) - timedelta(seconds=seconds)
    assert plan.fits_at is not None and plan.fits_at.strftime("%H:%M") == "14:30"
    assert plan.reasons[1].endswith("; can start at 14:30, when less of it falls before the reset at 15:00")
    then = picture(plan.fits_at, window_start=start, owner_peak_tokens_per_hour=940_000)
    assert plan_protected([task], used_tokens=4_040_000, committed_tokens=0, horizon=then).picked == (1,)
    assert then.run_tokens <= 1_020_000 / SAFETY


def test_no_later_start_is_promised_where_the_rest_would_take_the_next_windows_reserve() -> None:
    start = MONDAY.replace(hour=10)
    pic = picture(MONDAY.replace(hour=14), window_start=start, owner_peak_tokens_per_hour=940_000)
    # 5M: at most ~0.9M before the reset, 4.1M after it, where 15-20 keeps 2.82M of 6M.
    big = Candidate(1, 2, 5_000_000)
    plan = plan_protected([big], used_tokens=4_040_000, committed_tokens=0, horizon=pic)
    assert plan.picked == () and plan.fits_at is None and "can start" not in plan.reasons[1]
    no_room = plan_protected([Candidate(2, 2, 1_500_000)], used_tokens=5_100_000, committed_tokens=0,
                             horizon=pic)
    assert no_room.fits_at is None, "nothing is the queue's before the owner's line"


def test_no_later_start_is_promised_where_no_window_is_open() -> None:
    # The 19-00 window ended at midnight: a message now opens 00-05, one at 02:00 opens 02-07,
    # with as much time before its reset. No moment comes when less of the task falls before it.
    pic = picture(MONDAY, window_start=MONDAY - timedelta(hours=5))
    assert not pic.window_open and pic.window_end == MONDAY.replace(hour=5)
    task = Candidate(1, 2, 3_000_001)
    plan = plan_protected([task], used_tokens=0, committed_tokens=3_000_000, horizon=pic)
    assert plan.picked == () and plan.fits_at is None and "can start" not in plan.reasons[1]
    assert fits_later(task, 3_000_000, 0, pic) is None
    opened = picture(MONDAY, window_start=MONDAY - timedelta(hours=4))
    assert opened.window_open and opened.window_end == MONDAY.replace(hour=1)
    assert fits_later(task, 0, 5_000_000, opened) is not None, "in an open window it is promised"


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 24 * 60 * 7 - 1),  # now, in minutes after Monday 00:00
    st.integers(0, 299),  # minutes since the window opened
    st.integers(0, 6_000_000),  # used in the window
    st.integers(0, 1_500_000),  # the owner's part of it
    st.one_of(st.none(), st.integers(100_000, 1_500_000)),  # their busiest hour
    st.floats(5_000, 80_000),  # burn per minute
    st.integers(1, 8_000_000),  # the task's estimate
    st.integers(0, 3_000_000),  # runs in flight still to spend
    st.booleans(),  # anytime
)
def test_a_promised_start_is_later_than_now_and_then_the_task_fits(
    minute: int, opened: int, used: int, owner: int, peak: int | None, burn: float,
    estimate: int, committed: int, anytime: bool,
) -> None:
    now = MONDAY + timedelta(minutes=minute)
    start = (now - timedelta(minutes=opened)).replace(minute=0, second=0, microsecond=0)
    kw: dict[str, object] = dict(window_start=start, owner_used_tokens=min(owner, used),
                                 owner_peak_tokens_per_hour=peak, burn_tokens_per_min=burn)
    pic = picture(now, **kw)
    task = Candidate(1, 2, estimate, anytime=anytime)
    plan = plan_protected([task], used_tokens=used, committed_tokens=committed, horizon=pic)
    at = fits_later(task, committed, used, pic)
    if plan.picked or plan.oversized is not None:
        return
    assert plan.fits_at == at
    if at is None:
        return
    assert now < at < pic.window_end and at.microsecond == 0
    then = picture(at, **kw)
    assert plan_protected([task], used_tokens=used, committed_tokens=committed,
                          horizon=then).picked == (1,)
    # Even a run SAFETY faster than learned stays within the room before the reset.
    room = pic.capacity_tokens - used - (0 if anytime else then.keep_tokens)
    assert burn * SAFETY * (pic.window_end - at).total_seconds() / 60 <= room + 1e-6


def test_use_earlier_in_the_window_does_not_keep_the_reserve_after_the_owners_day() -> None:
    # 18:30 in the 15-20 window: the owner used 600k at 15:00 and nothing since.
    start = MONDAY.replace(hour=15)
    now = MONDAY.replace(hour=18, minute=30)
    gone = picture(now, window_start=start, owner_used_tokens=600_000, owner_recent_tokens=0)
    assert gone.keep_tokens == 0
    typing = picture(now, window_start=start, owner_used_tokens=600_000, owner_recent_tokens=ACTIVE_TOKENS)
    assert typing.keep_tokens == 3_000_000 - 600_000
    assert typing.reason.startswith("you are using Claude now")
    unknown = picture(now, window_start=start, owner_used_tokens=600_000)
    assert unknown.keep_tokens == 3_000_000 - 600_000, "without a reading of lately, the window's use says"


ZONES = st.sampled_from([UTC, ZoneInfo("Asia/Kolkata"), ZoneInfo("Asia/Kathmandu"),
                         ZoneInfo("America/Bogota")])
"""Zones without daylight saving: offsets of whole, half and three-quarter hours."""


@settings(max_examples=200, deadline=None)
@given(ZONES, st.lists(st.tuples(st.integers(0, 3 * 24 * 3600), st.integers(1, 900_000)), max_size=40),
       st.integers(0, 3 * 24 * 3600))
def test_use_lately_is_what_the_owner_used_since_the_start_of_the_previous_local_hour(
    tz: ZoneInfo, uses: list[tuple[int, int]], now_s: int,
) -> None:
    now = MONDAY + timedelta(seconds=now_s)
    seen = [(MONDAY + timedelta(seconds=s), tokens) for s, tokens in uses if s <= now_s]
    book = OwnerUseBook(tz=tz).observe_all(seen)
    local = now.astimezone(tz)
    since = local.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    assert book.use_lately(now) == sum(tokens for at, tokens in seen if at >= since)


@settings(max_examples=200, deadline=None)
@given(ZONES, st.lists(st.tuples(st.integers(0, 4 * 24), st.integers(0, 900_000)), max_size=60),
       st.integers(0, 4 * 24))
def test_hours_forgotten_and_read_again_leave_the_book_as_it_was(
    tz: ZoneInfo, hours: list[tuple[int, int]], cut: int,
) -> None:
    """The daemon reads the last hours again between rebuilds: what the logs give per UTC
    hour, forgotten from a UTC hour on and observed again, is what it was."""
    uses = [(MONDAY + timedelta(hours=h), tokens) for h, tokens in hours]
    whole = OwnerUseBook(tz=tz).observe_all(uses)
    again = OwnerUseBook(tz=tz).observe_all(uses)
    since = MONDAY + timedelta(hours=cut)
    again.forget_from(since)
    again.observe_all(use for use in uses if use[0] >= since)
    assert again.totals == whole.totals


def test_a_busy_weekend_does_not_raise_a_weekdays_busiest_hour() -> None:
    book = OwnerUseBook()
    for day in range(5):  # a working week: 500k at 10:00
        book.observe(MONDAY.replace(hour=10) + timedelta(days=day), 500_000)
    for day in (5, 6):  # the weekend: two sessions in one hour
        book.observe(MONDAY.replace(hour=15) + timedelta(days=day), 1_200_000)
    next_tuesday = MONDAY + timedelta(days=8, hours=12)
    next_sunday = MONDAY + timedelta(days=13, hours=12)
    assert book.peak_per_hour(next_tuesday) == 500_000
    assert book.peak_per_hour(next_sunday) == 1_200_000
    assert book.peak_per_hour(MONDAY + timedelta(days=6, hours=12)) is None, "one Saturday bounds nothing"
