"""Every bot command and every button, fed hostile input through the real PTB Application.

Properties, for every update: no unexpected error (no generic failure reply, no error log
line), no traceback in anything sent, and an input the bot refused changed nothing: every
row of every table is as it was.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.handlers import COMMAND_HANDLERS, GENERIC_FAILURE
from bot.text import esc
from core.service import Service
from tests.bot.conftest import OWNER
from tests.fakes.telegram_api import BOT_USERNAME, FakeTelegram

from .botkit import BotUnderTest, bot_under_test, seed
from .snapshots import changed_tables, db_rows
from .strategies import argument_text, callback_data

COMMANDS = [*sorted(COMMAND_HANDLERS), "frobnicate", "Add", "start_"]
FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture
async def owner_bot(fake_telegram: FakeTelegram, bot_service: Service,
                    monkeypatch: pytest.MonkeyPatch) -> BotUnderTest:
    await seed(bot_service)
    async with bot_under_test(fake_telegram, bot_service, monkeypatch) as under_test:
        yield under_test  # type: ignore[misc]


def _assert_clean(fake: FakeTelegram, sent_before: int, caplog: pytest.LogCaptureFixture) -> list[str]:
    texts = [s.text for s in fake.sent()[sent_before:]]
    assert GENERIC_FAILURE not in texts, texts
    assert not any("Traceback" in t for t in texts), texts
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    return texts


@FUZZ
@given(command=st.sampled_from(COMMANDS), mention=st.sampled_from(["", f"@{BOT_USERNAME}", "@other_bot"]),
       args=argument_text())
async def test_any_command_with_any_arguments(
    owner_bot: BotUnderTest, command: str, mention: str, args: str, caplog: pytest.LogCaptureFixture,
) -> None:
    fake, db = owner_bot.fake, owner_bot.service.settings.db_path
    caplog.clear()
    owner_bot.refused.clear()
    before, sent_before = db_rows(db), len(fake.sent())
    text = f"/{command}{mention} {args}".rstrip()
    await owner_bot.feed({"message": fake.message(OWNER, text)})
    texts = _assert_clean(fake, sent_before, caplog)
    if owner_bot.refused:
        [error] = owner_bot.refused
        assert changed_tables(before, db_rows(db)) == [], f"refused {text!r} but changed the database"
        assert texts == [esc(error.message)], "a refusal is answered with its reason, once"


@FUZZ
@given(data=callback_data())
async def test_any_button_data(owner_bot: BotUnderTest, data: str, caplog: pytest.LogCaptureFixture) -> None:
    fake, db = owner_bot.fake, owner_bot.service.settings.db_path
    caplog.clear()
    before, sent_before = db_rows(db), len(fake.sent())
    answered_before = len(fake.calls("answerCallbackQuery"))
    await owner_bot.feed({"callback_query": {
        "id": "1", "from": fake.user(OWNER), "chat_instance": "c", "data": data,
        "message": fake.bot_message(OWNER, "a message with buttons")}})
    _assert_clean(fake, sent_before, caplog)
    answers = fake.calls("answerCallbackQuery")[answered_before:]
    assert len(answers) == 1, "every press is answered exactly once"
    answer = answers[0].params
    assert answer.get("text") != GENERIC_FAILURE
    if str(answer.get("show_alert")).lower() == "true":  # the press was refused
        assert changed_tables(before, db_rows(db)) == [], f"refused {data!r} but changed the database"


@pytest.mark.parametrize(("text", "reply"), [
    ("/task ²", "usage: /task ID"),  # str.isdigit() says yes, int() says no
    ("/approve 1 ²", "usage: /approve ID [VERSION]"),
    ("/task 100000000000000000000000000000", "a number given is too large"),
    ("/add --after 100000000000000000000 x", "a number given is too large"),
    ("/reject 9223372036854775808", "a number given is too large"),
    ("/add --after ², x", "is not a task id"),
    ("/add -p someday x", "priority must be one of"),
    ("/cancel", "usage: /cancel ID"),
])
async def test_known_hostile_commands_are_refused_with_their_reason(
    owner_bot: BotUnderTest, text: str, reply: str, caplog: pytest.LogCaptureFixture,
) -> None:
    fake, db = owner_bot.fake, owner_bot.service.settings.db_path
    before = db_rows(db)
    await owner_bot.feed({"message": fake.message(OWNER, text)})
    [sent] = _assert_clean(fake, 0, caplog)
    assert reply in sent and owner_bot.refused
    assert changed_tables(before, db_rows(db)) == []


@pytest.mark.parametrize("data", ["q:²", "tk:99999999999999999999999", "ap:3:²", "cn:-1", "rt:", "zz:1",
                                  "ap:3", "ap:3:1:1", ":", ""])
async def test_known_forged_buttons_are_refused(owner_bot: BotUnderTest, data: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    fake, db = owner_bot.fake, owner_bot.service.settings.db_path
    before = db_rows(db)
    await owner_bot.feed({"callback_query": {
        "id": "1", "from": fake.user(OWNER), "chat_instance": "c", "data": data,
        "message": fake.bot_message(OWNER, "old")}})
    _assert_clean(fake, 0, caplog)
    [answer] = [c.params for c in fake.calls("answerCallbackQuery")]
    assert str(answer["show_alert"]).lower() == "true" and answer["text"] != GENERIC_FAILURE
    assert changed_tables(before, db_rows(db)) == []
