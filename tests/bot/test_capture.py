"""Nothing is dropped: text, forwards, photos, documents, voice and the rest, from the phone.

The real python-telegram-bot application polls the local fake Bot API; files are
downloaded over HTTP from the fake's `/file/bot<token>/…`, as from Telegram.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from bot.capture import VOICE_ANSWER
from bot.runtime import BotRuntime, running_bot
from core.assembly import owner_notifier
from core.attachments import ATTACHMENTS_HEADER, task_folder
from core.models import TaskState
from core.service import Service
from core.store.store import Store
from tests.bot.conftest import FAST, OWNER, bot_settings_for, command
from tests.bot.phone import flat_labels, labels, now, press
from tests.fakes.telegram_api import FakeTelegram

DRAFT_LABELS = [["Queue", "Queue without plan"], ["Repo…", "Discard"]]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_plain_text_is_a_draft_queued_once_whatever_the_taps(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    text = "fix the flaky login test\nit fails one run in ten"
    [draft] = await command(fake_telegram, text)
    assert labels(draft) == DRAFT_LABELS
    assert "Draft d1" in draft.text and "fix the flaky login test" in draft.text
    toast = await press(fake_telegram, draft, "Queue")
    assert toast["text"] == "Queued #1"
    task = await bot_service.get(1)
    assert task.prompt == text and task.needs_plan and task.source == "telegram"
    # The draft's own message became the task's, in place.
    shown = now(fake_telegram, draft)
    assert shown.text.startswith("Queued <code>#1</code>") and "Queue" not in flat_labels(shown)
    # A second tap on the old buttons (a slow phone) queues nothing more.
    fake_telegram.push_callback(OWNER, "dq:1", fake_telegram.sent_message(draft))
    answer = await fake_telegram.wait_for(lambda f: f.calls("answerCallbackQuery")[1:] or None)
    assert "draft d1 is gone" in str(answer[0].params["text"])
    assert [t.id for t in await bot_service.list()] == [1]


async def test_queue_without_plan_and_discard(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    [first] = await command(fake_telegram, "rename the helper")
    await press(fake_telegram, first, "Queue without plan")
    task = await bot_service.get(1)
    assert not task.needs_plan and task.state is TaskState.READY
    [second] = await command(fake_telegram, "never mind this one")
    toast = await press(fake_telegram, second, "Discard")
    assert toast["text"] == "Discarded" and now(fake_telegram, second).text == "Discarded draft d2."
    assert len(await bot_service.list()) == 1


async def test_repo_picker_offers_the_aliases_and_one_alias_is_the_default(
    fake_telegram: FakeTelegram, tmp_path: Path, store: Store
) -> None:
    shop, api = tmp_path / "shop", tmp_path / "api"
    shop.mkdir()
    api.mkdir()
    settings = bot_settings_for(fake_telegram, repos={"shop": shop, "api": api})
    service = Service(settings, store, notifier=owner_notifier(settings, store))
    async with running_bot(settings, service, FAST):
        [draft] = await command(fake_telegram, "add rate limiting")
        assert "no repo yet" in draft.text
        await press(fake_telegram, draft, "Repo…")
        assert labels(now(fake_telegram, draft)) == [["api"], ["shop"], ["No repo"]]
        toast = await press(fake_telegram, draft, "shop")
        assert toast["text"] == "Repo: shop"
        picked = now(fake_telegram, draft)
        assert labels(picked) == DRAFT_LABELS and "repo <code>shop</code>" in picked.text
        await press(fake_telegram, draft, "Queue")
    assert (await service.get(1)).repo == str(shop.resolve())

    single = bot_settings_for(fake_telegram, repos={"shop": shop})
    service = Service(single, store, notifier=owner_notifier(single, store))
    async with running_bot(single, service, FAST):
        [draft] = await command(fake_telegram, "and the docs")
        assert "repo <code>shop</code>" in draft.text
        await press(fake_telegram, draft, "Queue")
    assert (await service.get(2)).repo == str(shop.resolve())


async def test_a_draft_outlives_a_restart(
    fake_telegram: FakeTelegram, bot_settings: object, store: Store
) -> None:
    settings = bot_settings_for(fake_telegram)
    first = Service(settings, store, notifier=owner_notifier(settings, store))
    async with running_bot(settings, first, FAST):
        [draft] = await command(fake_telegram, "survive the restart")
    service = Service(settings, store, notifier=owner_notifier(settings, store))
    async with running_bot(settings, service, FAST):
        await press(fake_telegram, draft, "Queue")
    assert (await service.get(1)).prompt == "survive the restart"


async def test_a_photo_becomes_a_draft_whose_task_names_the_file_kept_privately(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    before = len(fake_telegram.sent(OWNER))
    fake_telegram.push_update({"message": fake_telegram.photo_message(
        OWNER, PNG, caption="make the header look like this")})
    [draft] = await fake_telegram.wait_sent(OWNER, 1, after=before)
    assert labels(draft) == DRAFT_LABELS and "attached: <code>photo-uniq1.jpg</code>" in draft.text
    assert fake_telegram.state.downloads == ["photos/file_1"]  # the largest size only
    await press(fake_telegram, draft, "Queue")
    task = await bot_service.get(1)
    folder = task_folder(bot_service.settings, 1)
    saved = folder / "photo-uniq1.jpg"
    assert saved.read_bytes() == PNG and mode(saved) == 0o600 and mode(folder) == 0o700
    assert task.prompt == f"make the header look like this\n\n{ATTACHMENTS_HEADER}\n- {saved}"


async def test_an_album_is_one_draft_and_a_photo_without_caption_still_makes_one(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    before = len(fake_telegram.sent(OWNER))
    fake_telegram.push_update({"message": fake_telegram.photo_message(OWNER, PNG, media_group="g1")})
    fake_telegram.push_update({"message": fake_telegram.photo_message(OWNER, PNG[:100], media_group="g1")})
    draft, added = await fake_telegram.wait_sent(OWNER, 2, after=before)
    assert "Look at the attached file(s)" in draft.text and "Added" in added.text and "draft d1" in added.text
    await press(fake_telegram, draft, "Queue")
    task = await bot_service.get(1)
    assert task.prompt.count(str(task_folder(bot_service.settings, 1))) == 2


async def test_a_document_answering_a_task_joins_it_with_a_safe_name(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    [queued] = await command(fake_telegram, "/add --no-plan update the schema")
    target = bot_service.settings.home_dir / "victim.txt"
    target.write_text("untouched")
    folder = task_folder(bot_service.settings, 1)
    folder.mkdir(parents=True, mode=0o700)
    os.symlink(target, folder / "passwd")  # planted where the sanitised name will land
    before = len(fake_telegram.sent(OWNER))
    fake_telegram.push_update({"message": fake_telegram.document_message(
        OWNER, b"id,name\n1,a\n", "../../etc/passwd", reply_to=fake_telegram.sent_message(queued))})
    [attached] = await fake_telegram.wait_sent(OWNER, 1, after=before)
    assert "Attached <code>passwd-2</code> to <code>#1</code>" in attached.text
    assert target.read_text() == "untouched"  # the link was not followed
    task = await bot_service.get(1)
    assert task.prompt.startswith("update the schema\n\n") and str(folder / "passwd-2") in task.prompt
    assert str(folder / "passwd\n") not in task.prompt + "\n"  # a link is never offered to Claude


async def test_a_file_over_the_limit_is_refused_before_it_is_downloaded(
    fake_telegram: FakeTelegram, store: Store
) -> None:
    settings = bot_settings_for(fake_telegram, attachment_max_mb=1)
    service = Service(settings, store, notifier=owner_notifier(settings, store))
    async with running_bot(settings, service, FAST):
        before = len(fake_telegram.sent(OWNER))
        fake_telegram.push_update({"message": fake_telegram.document_message(
            OWNER, b"small really", "big.bin", stated_size=5_000_000)})
        [refused] = await fake_telegram.wait_sent(OWNER, 1, after=before)
    assert "5.0 MB" in refused.text and "limited to 1 MB" in refused.text
    assert fake_telegram.state.downloads == [] and await service.list() == []


async def test_voice_stickers_and_edits_get_one_clear_line(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    before = len(fake_telegram.sent(OWNER))
    fake_telegram.push_update({"message": fake_telegram.voice_message(OWNER)})
    fake_telegram.push_update({"message": fake_telegram.sticker_message(OWNER)})
    fake_telegram.push_edited(OWNER, "fix it (edited)")
    voice, sticker, edited = await fake_telegram.wait_sent(OWNER, 3, after=before)
    assert voice.text == VOICE_ANSWER and "transcription may come later" in voice.text
    assert sticker.text.startswith("I cannot make a task of a sticker") and "\n" not in sticker.text
    assert "edited messages" in edited.text
    assert await bot_service.list() == []
