"""The owner's protection: learned use, the window's whole span, spill past the reset, the
stop line, and the planner that packs what is left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from core.scheduling.budget import Candidate, plan_protected, remaining_estimate
from core.scheduling.hours import parse_hour_ranges
from core.scheduling.owner import OwnerUseBook
from core.scheduling.protect import (
    ACTIVE_TOKENS,
    CONSERVATIVE_CAPACITY_TOKENS,
    Horizon,
    horizon,
    stop_line,
)

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
WORK = parse_hour_ranges("9-17:50")


def picture(now: datetime, **kw: object) -> Horizon:
    args: dict[str, object] = dict(window_start=None, capacity_tokens=6_000_000, reserve=WORK,
                                   owner_need=None, tz=UTC)
    args.update(kw)
    return horizon(now, **args)  # type: ignore[arg-type]


def test_a_window_that_reaches_into_work_hours_keeps_the_reserve_from_its_start() -> None:
    # 05:00: the hour itself is free, but the window runs to 10:00 and the owner starts at 9.
    early = picture(MONDAY.replace(hour=5))
    assert early.keep_tokens == 3_000_000 and "reserve of 50%" in early.reason
    night = picture(MONDAY.replace(hour=1))  # window 01-06, next 06-11: only the next is kept
    assert night.keep_tokens == 0 and night.next_keep_tokens == 3_000_000
    assert stop_line(night) is None and stop_line(early) == 3_000_000


def test_the_owners_own_use_comes_out_of_their_reserve_not_out_of_the_queues_share() -> None:
    at = MONDAY.replace(hour=10)
    assert picture(at, window_start=at.replace(hour=9)).keep_tokens == 3_000_000
    used = picture(at, window_start=at.replace(hour=9), owner_used_tokens=1_000_000)
    assert used.keep_tokens == 2_000_000


def test_an_unknown_window_size_is_assumed_small_and_said_so() -> None:
    unknown = picture(MONDAY.replace(hour=1), capacity_tokens=None)
    assert unknown.capacity_tokens == CONSERVATIVE_CAPACITY_TOKENS and not unknown.capacity_known
    assert "window size unknown" in unknown.reason
    bound = picture(MONDAY.replace(hour=1), capacity_tokens=9_000_000, capacity_exact=False)
    assert bound.capacity_tokens == 9_000_000 and not bound.capacity_known


def test_learned_evening_use_is_kept_although_no_reserve_is_set_then() -> None:
    book = OwnerUseBook()
    for day in range(1, 5):  # four weekday evenings: 800k between 20:00 and 21:00
        book.observe(MONDAY.replace(hour=20, minute=30) + timedelta(days=day - 1), 800_000)
    friday_evening = MONDAY.replace(hour=18) + timedelta(days=4)
    pic = picture(friday_evening, owner_need=lambda a, b: book.expected(a, b, friday_evening))
    assert pic.keep_tokens >= 800_000 and "own use expected" in pic.reason


def test_a_run_that_would_spill_into_the_owners_next_window_waits() -> None:
    # 03:30 in the window 00-05; the next one (05-10) reaches into work hours and keeps 3M.
    # At 30k/min a run spends 2.7M before the reset; the rest goes on after it.
    at = MONDAY.replace(hour=3, minute=30)
    pic = picture(at, window_start=MONDAY.replace(hour=0), burn_tokens_per_min=30_000)
    assert pic.keep_tokens == 0 and pic.run_tokens == 2_700_000 and pic.spill_room == 3_000_000
    small = Candidate(1, 2, 1_000_000)
    spills_too_much = Candidate(2, 1, 5_900_000)  # 2.7M before the reset, 3.2M after it
    plan = plan_protected([small, spills_too_much], used_tokens=0, committed_tokens=0, horizon=pic)
    assert plan.picked == (1,)
    assert "left before what is kept for you" in plan.reasons[2]


def test_anytime_tasks_may_use_the_reserve_and_others_may_not() -> None:
    at = MONDAY.replace(hour=10)
    pic = picture(at, window_start=at.replace(hour=9))
    tasks = [Candidate(1, 2, 4_000_000), Candidate(2, 2, 4_000_000, anytime=True)]
    plan = plan_protected(tasks, used_tokens=0, committed_tokens=0, horizon=pic)
    assert plan.picked == (2,)
    assert plan.reasons[1] == ("needs ~4,000,000 tokens; 0 left before what is kept for you "
                               "(your reserve of 50% until 14:00)")


def test_runs_in_flight_count_against_the_room() -> None:
    at = MONDAY.replace(hour=10)
    pic = picture(at, window_start=at.replace(hour=9))
    one = [Candidate(1, 2, 2_000_000)]
    assert plan_protected(one, used_tokens=0, committed_tokens=0, horizon=pic).picked == (1,)
    assert plan_protected(one, used_tokens=0, committed_tokens=1_500_000, horizon=pic).picked == ()


@given(st.floats(1, 1e8), st.floats(0, 1e8))
def test_a_task_that_overran_is_never_taken_for_nearly_done(estimate: float, spent: float) -> None:
    left = remaining_estimate(estimate, spent)
    assert left >= 1
    if spent > 0:
        assert left >= 0.5 * max(estimate, spent) - 1
    assert left >= estimate - spent - 1


@settings(max_examples=60, deadline=None)
@given(
    uses=st.lists(st.tuples(st.integers(0, 20 * 24 * 60), st.integers(0, 900_000)), max_size=60),
    start_min=st.integers(0, 22 * 24 * 60),
    length_min=st.integers(0, 10 * 60),
    zone=st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata", "America/St_Johns"]),
)
def test_expected_owner_use_is_bounded_and_never_peeks_at_today(
    uses: list[tuple[int, int]], start_min: int, length_min: int, zone: str
) -> None:
    tz = ZoneInfo(zone)
    base = datetime(2026, 3, 20, tzinfo=UTC)  # spans the spring daylight-saving change
    book = OwnerUseBook(tz=tz).observe_all((base + timedelta(minutes=m), t) for m, t in uses)
    start = base + timedelta(minutes=start_min)
    end = start + timedelta(minutes=length_min)
    value = book.expected(start, end, start)
    assert value >= 0
    # No more than the busiest day could have had in so many hours.
    per_hour = max((t for _, t in uses), default=0) * 24
    assert value <= per_hour * (length_min / 60 + 2) + 1e-6
    # Use on the day being predicted (or later) does not change the prediction.
    later = OwnerUseBook(tz=tz, first_day=book.first_day,
                         totals={d: list(v) for d, v in book.totals.items()})
    later.observe(start, 5_000_000)
    assert later.expected(start, end, start) == value


def test_a_steady_owner_is_predicted_exactly() -> None:
    book = OwnerUseBook()
    for day in range(5):  # Monday to Friday: 500k at 10:xx
        book.observe(MONDAY + timedelta(days=day, hours=10, minutes=15), 500_000)
    next_monday = MONDAY + timedelta(days=7)
    assert book.expected(next_monday.replace(hour=9), next_monday.replace(hour=12), next_monday) == 500_000
    assert book.expected(next_monday.replace(hour=9, minute=30), next_monday.replace(hour=10, minute=30),
                         next_monday) == 250_000
    saturday = MONDAY + timedelta(days=5)
    assert book.expected(saturday.replace(hour=9), saturday.replace(hour=12), saturday) == 0


def test_an_owner_at_the_keyboard_outside_their_hours_gets_their_reserve() -> None:
    evening = MONDAY.replace(hour=20, minute=10)
    away = picture(evening, window_start=MONDAY.replace(hour=19))
    assert away.keep_tokens == 0 and stop_line(away) is None
    typing = picture(evening, window_start=MONDAY.replace(hour=19), owner_used_tokens=ACTIVE_TOKENS)
    assert typing.keep_tokens == 3_000_000 - ACTIVE_TOKENS
    assert typing.reason.startswith("you are using Claude now: your reserve of 50% until 00:00")
    below = picture(evening, window_start=MONDAY.replace(hour=19), owner_used_tokens=ACTIVE_TOKENS - 1)
    assert below.keep_tokens == 0


def test_no_more_of_the_reserve_is_held_than_the_owner_can_use_before_the_reset() -> None:
    start = MONDAY.replace(hour=13)
    # 16:30 in the 13-18 window: the reserved hours left are 16 and 17.
    late = picture(start.replace(hour=16, minute=30), window_start=start,
                   owner_peak_tokens_per_hour=600_000)
    assert late.keep_tokens == 1_200_000 and "reserve of 50%" in late.reason
    unknown = picture(start.replace(hour=16, minute=30), window_start=start)
    assert unknown.keep_tokens == 3_000_000, "without a known busiest hour the whole reserve holds"
    early = picture(start, window_start=start, owner_peak_tokens_per_hour=600_000)
    assert early.keep_tokens == 3_000_000, "five reserved hours can take the whole share"
    # The window 17-22 reaches one reserved hour: one busiest hour is kept, until 18:00.
    evening = MONDAY.replace(hour=17)
    one = picture(evening, window_start=evening, owner_peak_tokens_per_hour=600_000)
    assert one.keep_tokens == 600_000
    after = picture(evening.replace(hour=18), window_start=evening, owner_peak_tokens_per_hour=600_000)
    assert after.keep_tokens == 0


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 24 * 60 * 7 - 1), st.integers(0, 6_000_000),
       st.one_of(st.none(), st.integers(0, 2_000_000)), st.integers(1_000_000, 20_000_000))
def test_the_busiest_hour_only_ever_lowers_the_reserve_kept(
    minute: int, owner_used: int, peak: int | None, capacity: int,
) -> None:
    now = MONDAY + timedelta(minutes=minute)
    plain = picture(now, capacity_tokens=capacity, owner_used_tokens=owner_used)
    capped = picture(now, capacity_tokens=capacity, owner_used_tokens=owner_used,
                     owner_peak_tokens_per_hour=peak)
    assert 0 <= capped.keep_tokens <= plain.keep_tokens <= capacity
    assert capped.next_keep_tokens <= plain.next_keep_tokens <= capacity
    if peak is None:
        assert capped == plain


def test_the_busiest_hour_and_a_rare_day_are_learned_from_the_owners_days() -> None:
    book = OwnerUseBook()
    monday_noon = MONDAY.replace(hour=12)
    assert book.peak_per_hour(monday_noon) is None
    book.observe(MONDAY.replace(hour=10), 400_000)
    book.observe(MONDAY.replace(hour=10, minute=30), 100_000)  # the same hour: 500k in all
    assert book.peak_per_hour(monday_noon + timedelta(days=1)) is None, "one day bounds nothing"
    book.observe(MONDAY.replace(hour=11) + timedelta(days=1), 300_000)
    wednesday = MONDAY + timedelta(days=2)
    assert book.peak_per_hour(wednesday) == 500_000
    assert book.peak_per_hour(MONDAY + timedelta(days=1, hours=23)) is None, "not today's own hours"
    # One late evening in ten weekdays: below the quantile, still one busy hour is kept.
    for day in range(2, 12):
        if (MONDAY + timedelta(days=day)).weekday() < 5:
            book.observe(MONDAY + timedelta(days=day, hours=10), 200_000)
    book.observe(MONDAY + timedelta(days=3, hours=21), 450_000)
    later = MONDAY + timedelta(days=14, hours=20)
    assert book.expected(later, later + timedelta(hours=3), later) == 450_000
