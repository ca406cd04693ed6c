"""The daily summary reaches the phone as a photo with its text (when it fires is the
daemon's timers' business: tests/daemon/test_timers.py)."""

from __future__ import annotations

import io

from PIL import Image

from bot.runtime import BotRuntime
from core.metrics.pictures import send_daily_summary
from core.service import Service
from tests.bot.conftest import OWNER
from tests.fakes.telegram_api import FakeTelegram


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
