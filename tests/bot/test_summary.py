"""The daily summary: when it fires (pure time math), what it sends, and that it arrives."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from bot.runtime import BotRuntime
from bot.summary import daily_summaries, next_daily, send_daily_summary
from core.abc import Notification
from core.service import Service
from tests.bot.conftest import OWNER, FakeClock
from tests.fakes.telegram_api import FakeTelegram

BERLIN = ZoneInfo("Europe/Berlin")
ZONES = st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
                         "UTC", "Pacific/Chatham"]).map(ZoneInfo)
MOMENTS = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1),
                       timezones=st.just(UTC))


@given(MOMENTS, st.integers(0, 23), ZONES)
def test_next_daily_is_the_next_time_the_local_clock_shows_the_hour(
    now: datetime, hour: int, tz: ZoneInfo
) -> None:
    fire = next_daily(now, hour, tz)
    assert now < fire <= now + timedelta(hours=25, minutes=30)
    local = fire.astimezone(tz)
    # The hour itself, or the wall time a spring-forward gap maps it to.
    assert local.minute == 0 or tz.key == "Australia/Lord_Howe"
    assert local.hour in (hour, (hour + 1) % 24)
    # Nothing in between: an hour earlier it was not yet due.
    assert next_daily(fire - timedelta(seconds=1), hour, tz) == fire


def test_next_daily_across_the_spring_change_in_berlin() -> None:
    before = datetime(2026, 3, 28, 7, 0, 1, tzinfo=UTC)  # 08:00:01 CET, just after the summary
    assert next_daily(before, 8, BERLIN) == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)  # 08:00 CEST


class StampingNotifier:
    """Records when (on the fake clock) each notification was handed over."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent: list[tuple[datetime, Notification]] = []

    async def notify(self, note: Notification) -> None:
        self.sent.append((self.clock(), note))


async def test_summaries_fire_every_day_at_the_hour(bot_service: Service) -> None:
    clock = FakeClock(now=datetime(2026, 3, 28, 6, 59, tzinfo=UTC))  # 07:59 CET
    notifier = StampingNotifier(clock)
    bot_service.notifier = notifier
    stop = asyncio.Event()

    async def sleep(seconds: float) -> None:
        if len(notifier.sent) >= 2:
            stop.set()
        await clock.sleep(seconds)

    await asyncio.wait_for(
        daily_summaries(bot_service, 8, BERLIN, clock=clock, stop=stop, sleep=sleep), 30)
    assert [at for at, _ in notifier.sent] == [datetime(2026, 3, 28, 7, 0, tzinfo=UTC),
                                               datetime(2026, 3, 29, 6, 0, tzinfo=UTC)]
    assert max(clock.slept) <= 300  # the wall clock is re-read at least every 5 minutes
    assert notifier.sent[0][1].kind == "daily_summary"


async def test_the_summary_arrives_as_a_photo_with_its_text(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    await bot_service.add("counted", plan=False)
    note = await send_daily_summary(bot_service, bot_service.now())
    [photo] = await fake_telegram.wait_sent(OWNER, 1)
    assert photo.method == "sendPhoto"
    assert photo.text.startswith("<b>Daily summary</b>\nnightshift stats, since ")
    assert note.photo is not None and photo.file is not None
    Image.open(io.BytesIO(photo.file)).verify()
    assert photo.file.startswith(b"\x89PNG")
