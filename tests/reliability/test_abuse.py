"""Abuse through Telegram: strangers, forwards, groups, edits, oversized input, floods, forged buttons.

Everyone but the owner gets one fixed sentence at most (and no data); the owner's words that
did not come from the owner (forwards, edits, group chats) do nothing; nothing refused
changes the database beyond the audit record of the refusal.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.access import PRIVATE_ONLY, REFUSAL
from bot.handlers import COMMAND_HANDLERS
from core.service import Service
from core.store.task_rows import MAX_PROMPT_CHARS
from tests.bot.conftest import OWNER, STRANGER
from tests.fakes.telegram_api import FakeTelegram

from .botkit import BotUnderTest, bot_under_test, seed
from .snapshots import changed_tables, db_rows
from .strategies import argument_text, callback_data

ABUSE = settings(max_examples=100, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
STRANGERS = st.integers(min_value=-(2**40), max_value=2**40).filter(lambda u: u != OWNER)
CHAT_TYPES = st.sampled_from(["private", "group", "supergroup"])
AUDIT_TABLES = {"events", "sqlite_sequence"}
"""A refusal leaves its audit record (an event; AUTOINCREMENT keeps its counter beside it)."""


@pytest.fixture
async def armed(fake_telegram: FakeTelegram, bot_service: Service,
                monkeypatch: pytest.MonkeyPatch) -> BotUnderTest:
    await seed(bot_service)
    async with bot_under_test(fake_telegram, bot_service, monkeypatch) as under_test:
        yield under_test  # type: ignore[misc]


def secrets_of(service: Service) -> list[str]:
    """Words a stranger must never see: task titles and prompts, the owner's id."""
    return ["ready task", "awaiting approval", "the first plan", "needs a plan", str(OWNER)]


def only_audit_changed(before: dict[str, list[object]], after: dict[str, list[object]]) -> bool:
    return set(changed_tables(before, after)) <= AUDIT_TABLES


@ABUSE
@given(user=STRANGERS, chat_type=CHAT_TYPES, command=st.sampled_from(sorted(COMMAND_HANDLERS)),
       args=argument_text(), data=callback_data(), kind=st.sampled_from(["command", "text", "button"]))
async def test_a_stranger_gets_at_most_one_fixed_sentence_and_no_data(
    armed: BotUnderTest, user: int, chat_type: str, command: str, args: str, data: str, kind: str,
) -> None:
    fake, db = armed.fake, armed.service.settings.db_path
    armed.monotonic.now += 1_000  # past the refusal interval: this one may be answered
    before, sent_before = db_rows(db), len(fake.sent())
    answers_before = len(fake.calls("answerCallbackQuery"))
    chat_id = user if chat_type == "private" else -1000 - abs(user)
    if kind == "button":
        message = fake.bot_message(chat_id, "a message with buttons")
        message["chat"] = fake.chat(chat_id, chat_type)
        await armed.feed({"callback_query": {"id": "1", "from": fake.user(user), "chat_instance": "c",
                                             "data": data, "message": message}})
        [answer] = [c.params for c in fake.calls("answerCallbackQuery")[answers_before:]]
        assert answer["text"] == REFUSAL
    else:
        text = f"/{command} {args}" if kind == "command" else (args or "hello")
        await armed.feed({"message": fake.message(user, text, chat_id=chat_id, chat_type=chat_type)})
    sent = fake.sent()[sent_before:]
    if kind == "button" or chat_type != "private":
        assert sent == [], "a refusal goes only into the stranger's own private chat"
    else:
        assert [(s.chat_id, s.text) for s in sent] == [(user, REFUSAL)]
    for secret in secrets_of(armed.service):
        assert all(secret not in s.text for s in sent)
    assert only_audit_changed(before, db_rows(db))


async def test_a_flood_from_a_stranger_gets_one_answer_per_interval(armed: BotUnderTest) -> None:
    fake, db = armed.fake, armed.service.settings.db_path
    before = db_rows(db)
    for i in range(300):
        armed.monotonic.now += 1.0
        if i % 3 == 2:
            await armed.feed({"callback_query": {"id": str(i), "from": fake.user(STRANGER),
                                                 "chat_instance": "c", "data": "ap:3:2",
                                                 "message": fake.bot_message(STRANGER, "x")}})
        else:
            await armed.feed({"message": fake.message(STRANGER, f"/approve 3 {i}")})
    # 300 seconds of flooding inside one 600 s interval: one message back, one audit record.
    assert [s.text for s in fake.sent(STRANGER)] == [REFUSAL]
    refusals = [e for e in await armed.service.store.tasks.events() if e.kind == "telegram_refused"]
    assert len(refusals) == 1
    assert set(changed_tables(before, db_rows(db))) == AUDIT_TABLES
    armed.monotonic.now += 600
    await armed.feed({"message": fake.message(STRANGER, "/queue")})
    assert [s.text for s in fake.sent(STRANGER)] == [REFUSAL, REFUSAL]
    refusals = [e for e in await armed.service.store.tasks.events() if e.kind == "telegram_refused"]
    assert refusals[-1].data["suppressed_since_last"] == 299


async def test_many_strangers_cannot_grow_the_limiters_memory(armed: BotUnderTest) -> None:
    deps = armed.app.bot_data["nightshift"]
    deps.limiter.max_tracked = 50
    for user in range(10_000, 10_200):
        deps.limiter.allow(user, armed.monotonic())
    assert len(deps.limiter._last) <= 50


@ABUSE
@given(command=st.sampled_from(["cancel", "retry", "approve", "reject", "add", "pause"]),
       how=st.sampled_from(["forwarded", "edited", "group", "supergroup", "channel"]))
async def test_the_owners_words_from_elsewhere_do_nothing(
    armed: BotUnderTest, command: str, how: str
) -> None:
    fake, db = armed.fake, armed.service.settings.db_path
    before, sent_before = db_rows(db), len(fake.sent())
    text = f"/{command} 1" if command != "add" else "/add --no-plan rm -rf everything"
    if how == "forwarded":
        await armed.feed({"message": fake.message(OWNER, text, forwarded_from=STRANGER)})
    elif how == "edited":
        body = fake.message(OWNER, text)
        body["edit_date"] = body["date"] + 5
        await armed.feed({"edited_message": body})
    elif how == "channel":
        post = fake.message(OWNER, text, chat_id=-100777, chat_type="channel")
        post.pop("from")
        await armed.feed({"channel_post": post})
    else:
        await armed.feed({"message": fake.message(OWNER, text, chat_id=-100555, chat_type=how)})
    answers = [s.text for s in fake.sent()[sent_before:]]
    if how == "forwarded":
        # Someone else's words become a draft the owner may queue, never a command.
        [draft] = answers
        assert draft.startswith("📝 <b>Draft d") and text.split()[0] in draft
        assert changed_tables(before, db_rows(db)) == ["kv"]
        return
    if how == "edited":
        assert answers == ["I do not act on edited messages: send the corrected text as a new message."]
    else:
        assert answers == []
    assert changed_tables(before, db_rows(db)) == []


async def test_the_owners_button_in_a_group_is_answered_not_obeyed(armed: BotUnderTest) -> None:
    fake, db = armed.fake, armed.service.settings.db_path
    before = db_rows(db)
    message = fake.bot_message(OWNER, "x")
    message["chat"] = fake.chat(-100555, "supergroup")
    await armed.feed({"callback_query": {"id": "5", "from": fake.user(OWNER), "chat_instance": "c",
                                         "data": "cn:1", "message": message}})
    assert [c.params["text"] for c in fake.calls("answerCallbackQuery")] == [PRIVATE_ONLY]
    assert changed_tables(before, db_rows(db)) == []


@pytest.mark.parametrize("size", [MAX_PROMPT_CHARS + 1, 400_000])
async def test_an_oversized_task_is_refused_in_a_short_answer(armed: BotUnderTest, size: int) -> None:
    fake, db = armed.fake, armed.service.settings.db_path
    before = db_rows(db)
    await armed.feed({"message": fake.message(OWNER, "/add --no-plan " + "x" * size)})
    [reply] = fake.sent(OWNER)
    assert f"the limit is {MAX_PROMPT_CHARS:,}" in reply.text and len(reply.text) < 200
    assert changed_tables(before, db_rows(db)) == []


async def test_an_oversized_message_or_revision_is_refused_not_echoed(armed: BotUnderTest) -> None:
    fake, db = armed.fake, armed.service.settings.db_path
    before = db_rows(db)
    await armed.feed({"message": fake.message(OWNER, "y" * 50_000)})
    await armed.feed({"message": fake.message(OWNER, "/revise 3 " + "z" * 50_000)})
    await armed.feed({"message": fake.message(OWNER, "/pause " + "p" * 5_000)})
    texts = [s.text for s in fake.sent(OWNER)]
    # Plain text becomes a draft: a preview of it, never the whole of it.
    assert texts[0].startswith("📝 <b>Draft d1</b>") and texts[0].count("y") < 2_000
    assert texts[1] == "the comment is longer than 4,000 characters"
    assert all(len(t) <= 4096 for t in texts), "every reply fits one Telegram message"
    # The draft (kv); /pause keeps its (long) reason and records the pause (an event for brain/logs).
    assert changed_tables(before, db_rows(db)) == ["events", "kv", "sqlite_sequence"]


def _named(data: str) -> int | None:
    """The task a button's data names, read as the bot reads it (`int()`, so " 1" is 1)."""
    fields = data.split(":")
    try:
        return int(fields[1]) if len(fields) > 1 else None
    except ValueError:
        return None


@ABUSE
@given(data=callback_data(), user=st.sampled_from([OWNER, STRANGER]))
async def test_forged_buttons_never_act_on_anything_they_do_not_name(
    armed: BotUnderTest, data: str, user: int
) -> None:
    """A button press changes at most the one task its data names, and only for the owner."""
    fake, db = armed.fake, armed.service.settings.db_path
    armed.monotonic.now += 1_000
    tasks_before = {t.id: t for t in await armed.service.list()}
    await armed.feed({"callback_query": {"id": "1", "from": fake.user(user), "chat_instance": "c",
                                         "data": data, "message": fake.bot_message(user, "x")}})
    changed = [i for i, t in tasks_before.items() if (await armed.service.get(i)) != t]
    if user != OWNER:
        assert changed == []
        return
    assert all(_named(data) == i for i in changed), (data, changed)
    assert len(await armed.service.list()) == len(tasks_before), "a button never creates a task"
    assert db_rows(db)  # still readable
