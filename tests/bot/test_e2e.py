"""End to end: the real python-telegram-bot Application polls the local fake Bot API.

Every command, the buttons (a stale plan version among them), a stranger, outages,
a restart with undelivered messages, long texts and HTML escaping.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path

import pytest
from PIL import Image

from bot.access import REFUSAL
from bot.render import COMMANDS
from bot.runtime import BotRuntime, running_bot
from bot.text import visible_text
from core.abc import Notification
from core.errors import ConfigError
from core.models import Outcome, RunKind, Task, TaskState, Tokens, utcnow
from core.outbox_notifier import OutboxNotifier
from core.redact import REDACTED
from core.service import Service
from core.settings import Settings
from core.store.outbox import OutboxStore
from tests.bot.conftest import FAST, OWNER, STRANGER, FakeClock, bot_settings_for, command
from tests.fakes.telegram_api import TOKEN, FakeTelegram, Sent

TITLE = "fix <b>& login"
TITLE_HTML = "fix &lt;b&gt;&amp; login"


async def awaiting_approval(service: Service, versions: int = 2, body: str = "edit <x> & test") -> Task:
    task = await service.add(TITLE, plan=True)
    await service.store.tasks.transition(task.id, TaskState.PLANNING)
    for version in range(1, versions + 1):
        await service.store.plans.add(task.id, f"v{version}: {body}", size="S")
    return await service.store.tasks.transition(task.id, TaskState.AWAITING_APPROVAL)


def buttons(sent: Sent) -> list[str]:
    markup = sent.reply_markup or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


def answers(fake: FakeTelegram) -> list[dict[str, object]]:
    return [c.params for c in fake.calls("answerCallbackQuery")]


async def settled(runtime: BotRuntime) -> None:
    """Wait until the outbox sender has nothing left to send."""
    assert runtime.sender is not None
    await asyncio.wait_for(runtime.sender.idle.wait(), 10)


# --- commands ------------------------------------------------------------------------------


async def test_start_help_and_the_phone_menu(fake_telegram: FakeTelegram, bot: BotRuntime) -> None:
    [menu] = fake_telegram.calls("setMyCommands")
    assert [c["command"] for c in menu.params["commands"]] == [name for name, _, _ in COMMANDS]
    [start] = await command(fake_telegram, "/start")
    [help_] = await command(fake_telegram, "/help")
    for name, _, _ in COMMANDS:
        assert f"/{name}" in help_.text
    assert help_.text in start.text and help_.parse_mode == "HTML"


async def test_add_escapes_the_text_and_queue_and_task_show_it(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    [added] = await command(fake_telegram, f"/add -p high --no-plan {TITLE}\nsecond line")
    task = await bot_service.get(1)
    assert task.prompt == f"{TITLE}\nsecond line"
    assert task.priority.label == "high" and not task.needs_plan and task.source == "telegram"
    assert f"Queued <code>#1</code> {TITLE_HTML}" in added.text
    assert buttons(added) == ["cn:1", "rt:1", "lg:1"]

    [queue] = await command(fake_telegram, "/queue")
    assert TITLE_HTML in queue.text and "<b>" not in visible_text(queue.text).replace(TITLE, "")
    assert buttons(queue) == ["tk:1"]

    [detail] = await command(fake_telegram, "/task 1")
    assert f"<b>#1 {TITLE_HTML}</b>" in detail.text
    assert visible_text(detail.text).count(TITLE) == 2  # the title and the prompt
    assert buttons(detail) == ["cn:1", "rt:1", "lg:1"]

    [missing] = await command(fake_telegram, "/task 99")
    assert missing.text == "no task with id 99"
    [bad] = await command(fake_telegram, "/add -p someday do it")
    assert "priority must be one of" in bad.text


async def test_queue_pages_turn_in_place(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    for i in range(10):
        await bot_service.add(f"task {i}", plan=False)
    [page1] = await command(fake_telegram, "/queue")
    assert "page 1/2" in page1.text and buttons(page1)[-1] == "q:1"
    fake_telegram.push_callback(OWNER, "q:1", fake_telegram.sent_message(page1))
    edit = await fake_telegram.wait_for(lambda f: f.calls("editMessageText"))
    assert "page 2/2" in edit[0].params["text"] and "task 9" in edit[0].params["text"]
    await fake_telegram.wait_for(lambda f: f.calls("answerCallbackQuery"))


async def test_plan_buttons_refuse_a_stale_version_then_approve_the_latest(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    task = await awaiting_approval(bot_service, versions=2)
    [plan] = await command(fake_telegram, f"/plan {task.id}")
    assert plan.text.startswith(f"<b>Plan v2 for #{task.id} {TITLE_HTML}</b>")
    assert "v2: edit &lt;x&gt; &amp; test" in plan.text
    assert buttons(plan) == [f"ap:{task.id}:2", f"rv:{task.id}:2", f"rj:{task.id}:2"]

    # A button from the message that showed v1, pressed after v2 replaced it.
    before = len(fake_telegram.sent(OWNER))
    fake_telegram.push_callback(OWNER, f"ap:{task.id}:1", fake_telegram.sent_message(plan))
    [latest] = await fake_telegram.wait_sent(OWNER, 1, after=before)
    await fake_telegram.wait_for(lambda f: f.calls("answerCallbackQuery"))
    [stale] = answers(fake_telegram)
    assert "replaced by v2" in str(stale["text"]) and stale["show_alert"] in ("true", "True")
    assert buttons(latest) == buttons(plan)
    assert (await bot_service.get(task.id)).state is TaskState.AWAITING_APPROVAL

    fake_telegram.push_callback(OWNER, f"ap:{task.id}:2", fake_telegram.sent_message(plan))
    [confirmation] = await fake_telegram.wait_sent(OWNER, 1, after=before + 1)
    assert confirmation.text == f"Task {task.id} approved: {TITLE_HTML}"
    await fake_telegram.wait_for(lambda f: len(answers(f)) == 2)
    assert answers(fake_telegram)[1]["text"] == "Approved plan v2"
    assert (await bot_service.get(task.id)).state is TaskState.READY
    assert fake_telegram.calls("editMessageReplyMarkup")  # the old buttons are gone


async def test_revise_button_asks_for_the_comment_with_a_forced_reply(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    task = await awaiting_approval(bot_service, versions=1)
    before = len(fake_telegram.sent(OWNER))
    fake_telegram.push_callback(OWNER, f"rv:{task.id}:1")
    [prompt] = await fake_telegram.wait_sent(OWNER, 1, after=before)
    assert prompt.reply_markup is not None and prompt.reply_markup["force_reply"] is True
    assert f"Revise plan v1 of task #{task.id}" in prompt.text

    [done] = await command(
        fake_telegram, "keep <it> small & simple", reply_to=fake_telegram.sent_message(prompt)
    )
    assert f"Asked for a new plan for <code>#{task.id}</code>" in done.text
    assert (await bot_service.get(task.id)).state is TaskState.PLANNING
    assert await bot_service.plan_request(task.id) == {
        "comment": "keep <it> small & simple",
        "previous_version": 1,
    }


async def test_revise_reject_cancel_and_retry_commands(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    first = await awaiting_approval(bot_service, versions=1)
    [asked] = await command(fake_telegram, f"/revise {first.id}")
    assert asked.reply_markup is not None and asked.reply_markup["force_reply"] is True
    [revised] = await command(fake_telegram, f"/revise {first.id} smaller steps")
    assert "now planning" in revised.text

    second = await awaiting_approval(bot_service, versions=1)
    [rejected] = await command(fake_telegram, f"/reject {second.id} not <now>")
    assert rejected.text == f"Task {second.id} rejected: {TITLE_HTML}"
    assert (await bot_service.get(second.id)).state_reason == "not <now>"

    third = await bot_service.add("third", plan=False)
    [cancelled] = await command(fake_telegram, f"/cancel {third.id}")
    assert "Cancelled" in cancelled.text and "now cancelled" in cancelled.text
    [retried] = await command(fake_telegram, f"/retry {third.id}")
    assert "now ready" in retried.text
    [refused] = await command(fake_telegram, f"/retry {third.id}")
    assert "only failed or cancelled tasks can be retried" in refused.text

    fake_telegram.push_callback(OWNER, f"cn:{third.id}")
    [by_button] = await fake_telegram.wait_sent(OWNER, 1, after=len(fake_telegram.sent(OWNER)))
    assert "now cancelled" in by_button.text
    await fake_telegram.wait_for(lambda f: any(a.get("text") == "Cancelled" for a in answers(f)))
    [approve_none] = await command(fake_telegram, "/approve 999")
    assert approve_none.text == "no task with id 999"


async def test_pause_resume_repos_and_usage(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    [paused] = await command(fake_telegram, "/pause dinner <time>")
    assert "Queue paused (dinner &lt;time&gt;)" in paused.text
    assert await bot_service.queue_paused() == "dinner <time>"
    [queue] = await command(fake_telegram, "/queue")
    assert "queue paused" in queue.text
    [resumed] = await command(fake_telegram, "/resume")
    assert "resumed" in resumed.text and await bot_service.queue_paused() is None
    [repos] = await command(fake_telegram, "/repos")
    assert "NIGHTSHIFT_REPOS" in repos.text
    [usage] = await command(fake_telegram, "/usage")
    assert usage.text.startswith("<b>Usage</b>\n🟢 <b>not limited</b>")
    assert "<i>source: none</i>" in usage.text


async def test_repo_aliases_are_listed_escaped(
    fake_telegram: FakeTelegram, bot_service: Service, tmp_path: Path
) -> None:
    repo = tmp_path / "shop & co"
    repo.mkdir()
    settings = bot_settings_for(fake_telegram, repos={"shop": repo})
    service = Service(settings, bot_service.store)
    async with running_bot(settings, service, FAST):
        [repos] = await command(fake_telegram, "/repos")
        assert "<code>shop</code> → " in repos.text and "shop &amp; co" in repos.text
        await command(fake_telegram, "/add -r shop tidy up")
        assert (await service.get(1)).repo == str(repo.resolve())


async def test_logs_as_text_or_as_a_document(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service, tmp_path: Path
) -> None:
    task = await bot_service.add("log me", plan=False)
    [none] = await command(fake_telegram, f"/logs {task.id}")
    assert "has no run log yet" in none.text

    short = tmp_path / "short.log"
    short.write_text("line 1\n<b>line</b> & 2\n")
    await bot_service.store.runs.create(task.id, log_path=str(short))
    [text] = await command(fake_telegram, f"/logs {task.id}")
    assert "<pre>line 1\n&lt;b&gt;line&lt;/b&gt; &amp; 2</pre>" in text.text

    long = tmp_path / "long.log"
    long.write_text(
        "".join(json.dumps({"type": "assistant", "n": i, "pad": "x" * 200}) + "\n" for i in range(500))
    )
    run = await bot_service.store.runs.create(task.id, log_path=str(long))
    [document] = await command(fake_telegram, f"/logs {task.id}")
    assert document.method == "sendDocument" and document.filename == f"run-{run.id}.log"
    assert document.file == long.read_bytes()

    fake_telegram.push_callback(OWNER, f"lg:{task.id}")
    [again] = await fake_telegram.wait_sent(OWNER, 1, after=len(fake_telegram.sent(OWNER)))
    assert again.method == "sendDocument"


async def test_stats_sends_metrics_and_a_valid_png_chart(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    task = await bot_service.add("measured", plan=False)
    await bot_service.store.tasks.transition(task.id, TaskState.RUNNING)
    run = await bot_service.store.runs.create(task.id, kind=RunKind.WORK, started_at=bot_service.now())
    await bot_service.store.runs.finish(run.id, Outcome.SUCCESS, tokens=Tokens(1000, 2000))
    await bot_service.store.tasks.transition(task.id, TaskState.DONE)
    [photo] = await command(fake_telegram, "/stats")
    assert photo.method == "sendPhoto" and photo.text.startswith("<b>Stats</b>")
    assert photo.file is not None and photo.file.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(photo.file))
    image.verify()
    assert image.format == "PNG" and image.size[0] >= 800
    assert "prompt styles" in photo.text and "estimate error" in photo.text


async def test_lessons_list_and_decide(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    from datetime import timedelta

    from core.improve.analysis import Pattern
    from core.improve.lessons import Recurrence, Scope
    from core.improve.storage import ImproveStore

    [empty] = await command(fake_telegram, "/lessons")
    assert "No lessons yet" in empty.text
    now = bot_service.now()
    lesson, _ = await ImproveStore(bot_service.store.db).record_recurrence(
        Recurrence(
            Pattern.FAILING_TESTS,
            Scope("tag", "api"),
            (3, 4, 5),
            ("test_<login>",),
            now - timedelta(days=2),
            now,
        ),
        now,
    )
    [listed] = await command(fake_telegram, "/lessons")
    assert f"<b>{lesson.id}</b> [proposed] " in listed.text and "(3 runs)" in listed.text
    assert "test_&lt;login&gt;" in listed.text
    [accepted] = await command(fake_telegram, f"/lessons accept {lesson.id}")
    assert f"Lesson {lesson.id} accepted" in accepted.text
    assert (await bot_service.lessons())[0]["status"] == "accepted"
    [bad] = await command(fake_telegram, "/lessons maybe 1")
    assert bad.text == "usage: /lessons [accept|dismiss ID]"


# --- who may talk to the bot ------------------------------------------------------------


async def test_a_stranger_gets_one_fixed_refusal_and_no_data(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    task = await awaiting_approval(bot_service, versions=1)
    [refusal] = await command(fake_telegram, "/queue", user=STRANGER)
    assert refusal.text == REFUSAL
    fake_telegram.push_message(STRANGER, f"/approve {task.id}")
    fake_telegram.push_callback(STRANGER, f"ap:{task.id}:1")
    await command(fake_telegram, "/help")  # handled after the stranger's updates (in order)
    assert [s.text for s in fake_telegram.sent(STRANGER)] == [REFUSAL]
    assert answers(fake_telegram) == [{"callback_query_id": "1", "text": REFUSAL}]
    assert (await bot_service.get(task.id)).state is TaskState.AWAITING_APPROVAL
    events = [e for e in await bot_service.store.tasks.events() if e.kind == "telegram_refused"]
    assert len(events) == 1 and events[0].data["user_id"] == STRANGER
    for sent in fake_telegram.sent(STRANGER):
        assert str(OWNER) not in sent.text and TITLE not in sent.text


async def test_edits_and_forwards_are_answered_never_obeyed_and_groups_ignored(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    task = await bot_service.add("keep me", plan=False)
    before = len(fake_telegram.sent(OWNER))
    fake_telegram.push_edited(OWNER, f"/cancel {task.id}")
    [edited] = await fake_telegram.wait_sent(OWNER, 1, after=before)
    assert "edited messages" in edited.text
    # A forwarded command is someone else's words: a draft of the text, not a command.
    fake_telegram.push_message(OWNER, f"/cancel {task.id}", forwarded_from=STRANGER)
    [draft] = await fake_telegram.wait_sent(OWNER, 1, after=before + 1)
    assert "Draft d1" in draft.text and f"/cancel {task.id}" in draft.text
    fake_telegram.push_message(OWNER, f"/cancel {task.id}", chat_id=-100123, chat_type="group")
    [reply] = await command(fake_telegram, "/help")
    assert "/add" in reply.text
    assert len(fake_telegram.sent()) == before + 3  # nothing went to the group
    assert (await bot_service.get(task.id)).state is TaskState.READY


async def test_groups_work_when_allowed(fake_telegram: FakeTelegram, bot_service: Service) -> None:
    settings = bot_settings_for(fake_telegram, telegram_allow_groups=True)
    async with running_bot(settings, Service(settings, bot_service.store), FAST):
        before = len(fake_telegram.sent(-100123))
        fake_telegram.push_message(OWNER, "/help", chat_id=-100123, chat_type="group")
        [reply] = await fake_telegram.wait_sent(-100123, 1, after=before)
        assert "/add" in reply.text


# --- delivery --------------------------------------------------------------------------------


async def test_an_outage_delays_notifications_which_then_arrive_in_order(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    fake_telegram.fail("502", method="sendMessage", times=None)
    for i in range(3):
        await bot_service.notifier.notify(Notification("run_finished", f"run {i} <done>", task_id=1))
    await fake_telegram.wait_for(lambda f: len([c for c in f.calls("sendMessage") if c.status == 502]) >= 3)
    assert fake_telegram.sent(OWNER) == []
    fake_telegram.heal()
    sent = await fake_telegram.wait_sent(OWNER, 3)
    assert [s.text for s in sent] == [f"run {i} &lt;done&gt;" for i in range(3)]
    assert buttons(sent[0]) == ["cn:1", "rt:1", "lg:1"]
    await settled(bot)
    assert await bot.outbox.pending_count() == 0


async def test_a_restart_delivers_what_was_left_undelivered_exactly_once(
    fake_telegram: FakeTelegram, bot_settings: Settings, bot_service: Service
) -> None:
    fake_telegram.fail("502", method="sendMessage", times=None)
    async with running_bot(bot_settings, bot_service, FAST) as first:
        for i in range(3):
            await bot_service.notifier.notify(Notification("limit_hit", f"note {i}"))
        await fake_telegram.wait_for(lambda f: [c for c in f.calls("sendMessage") if c.status == 502])
    assert await first.outbox.pending_count() == 3
    # While the bot is away the core keeps writing to the outbox.
    await bot_service.notifier.notify(Notification("limit_hit", "note 3"))
    fake_telegram.heal()
    async with running_bot(bot_settings, bot_service, FAST) as second:
        sent = await fake_telegram.wait_sent(OWNER, 4)
        await settled(second)
    assert [s.text for s in sent] == [f"note {i}" for i in range(4)]
    assert len(fake_telegram.sent(OWNER)) == 4


async def test_429_on_a_reply_defers_it_to_the_outbox_and_honours_retry_after(
    fake_telegram: FakeTelegram, bot_settings: Settings, bot_service: Service
) -> None:
    clock = FakeClock()
    options = FAST.__class__(**{**FAST.__dict__, "clock": clock, "sleep": clock.sleep})
    async with running_bot(bot_settings, bot_service, options) as runtime:
        fake_telegram.fail("429", method="sendMessage", retry_after=9)
        fake_telegram.push_message(OWNER, "/help")
        [reply] = await fake_telegram.wait_sent(OWNER, 1)
        await settled(runtime)
    assert "/add" in reply.text
    assert [c.status for c in fake_telegram.calls("sendMessage")] == [429, 200]
    assert clock.slept == []  # the reply went to the outbox after the 429, not before it


async def test_the_sender_waits_the_retry_after_telegram_asked_for(
    fake_telegram: FakeTelegram, bot_settings: Settings, bot_service: Service
) -> None:
    clock = FakeClock()
    options = FAST.__class__(**{**FAST.__dict__, "clock": clock, "sleep": clock.sleep})
    fake_telegram.fail("429", method="sendMessage", retry_after=9)
    async with running_bot(bot_settings, bot_service, options) as runtime:
        await bot_service.notifier.notify(Notification("limit_hit", "limit hit; resumes at 03:00"))
        await fake_telegram.wait_sent(OWNER, 1)
        await settled(runtime)
    assert clock.slept == [pytest.approx(9.0)]


async def test_a_long_plan_is_split_on_line_boundaries(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    body = "\n".join(f"step {i}: change <file{i}> & check" for i in range(300))
    task = await awaiting_approval(bot_service, versions=1, body=body)
    before = len(fake_telegram.sent(OWNER))
    fake_telegram.push_message(OWNER, f"/plan {task.id}")
    first = await fake_telegram.wait_sent(OWNER, 1, after=before)
    parts = await fake_telegram.wait_for(
        lambda f: (lambda s: s if s and s[-1].reply_markup else None)(f.sent(OWNER)[before:])
    )
    assert first[0] == parts[0] and len(parts) >= 3
    assert all(len(visible_text(p.text)) <= 4096 for p in parts)
    assert all(visible_text(p.text).rstrip().endswith("& check") for p in parts[1:])
    joined = "\n".join(visible_text(p.text) for p in parts)
    assert f"v1: {body}" in joined
    assert buttons(parts[-1]) == [f"ap:{task.id}:1", f"rv:{task.id}:1", f"rj:{task.id}:1"]
    assert all(not buttons(p) for p in parts[:-1])


async def test_a_long_notification_is_split_and_escaped(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    text = "Window summary\n" + "\n".join(f"task {i}: <b>& done" for i in range(700))
    await bot_service.notifier.notify(Notification("window_summary", text))
    await settled(bot)
    parts = fake_telegram.sent(OWNER)
    assert len(parts) >= 3 and all(len(visible_text(p.text)) <= 4096 for p in parts)
    assert "\n".join(visible_text(p.text) for p in parts) == text
    assert parts[0].text.startswith("<b>Window summary</b>\ntask 0: &lt;b&gt;&amp; done")


# --- start-up, shutdown, secrets ------------------------------------------------------------


async def test_telegram_unreachable_at_start_does_not_stop_the_daemon(
    fake_telegram: FakeTelegram, bot_settings: Settings, bot_service: Service
) -> None:
    fake_telegram.fail("502", method="getMe", times=2)
    async with running_bot(bot_settings, bot_service, FAST) as runtime:
        await asyncio.wait_for(runtime.ready.wait(), 10)
        [reply] = await command(fake_telegram, "/help")
        assert "/add" in reply.text
    assert [c.status for c in fake_telegram.calls("getMe")][:3] == [502, 502, 200]


async def test_a_rejected_token_is_a_config_error_that_does_not_show_the_token(
    fake_telegram: FakeTelegram, bot_service: Service
) -> None:
    settings = bot_settings_for(fake_telegram, telegram_bot_token="42:wrong-token-value-xyz")
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN") as caught:
        async with running_bot(settings, Service(settings, bot_service.store), FAST):
            pass
    assert "wrong-token" not in str(caught.value)


async def test_the_bot_delivers_the_outbox_the_services_notifier_writes(
    bot: BotRuntime, bot_service: Service
) -> None:
    assert isinstance(bot_service.notifier, OutboxNotifier)
    assert bot_service.notifier.recipients == frozenset({OWNER})
    assert isinstance(bot.outbox, OutboxStore)
    assert bot.outbox is bot_service.notifier.outbox


async def test_the_token_never_reaches_the_logs(
    fake_telegram: FakeTelegram,
    bot_settings: Settings,
    bot_service: Service,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_bot(bot_settings, bot_service, FAST) as runtime:
        fake_telegram.fail("502", method="sendMessage")
        await command(fake_telegram, "/help")
        await bot_service.notifier.notify(Notification("x", "y"))
        await settled(runtime)
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert REDACTED in text  # httpx logged request URLs, and they were masked
    assert TOKEN not in text and TOKEN.partition(":")[2] not in text


async def test_allow_and_retry_from_the_phone_allows_the_refused_command_for_the_task(
    fake_telegram: FakeTelegram, bot: BotRuntime, bot_service: Service
) -> None:
    store = bot_service.store
    task = await bot_service.add("run the tests", plan=False)
    now = utcnow()
    await store.tasks.transition(task.id, TaskState.RUNNING, reason="claimed", now=now)
    run = await store.runs.create(task.id, now=now, started_at=now, session_id="sess-allow")
    refused = [{"tool": "Bash", "detail": "make test", "rules": ["Bash(make test)"]}]
    await store.runs.finish(run.id, Outcome.PERMISSION_DENIED, now=now, extra={"refused": refused})
    await store.tasks.transition(task.id, TaskState.FAILED, reason="refused", now=now, run_id=run.id)
    for data in (f"al:{run.id}:7", f"al:+{run.id}:0"):  # no such refusal; a forged number
        fake_telegram.push_callback(OWNER, data)
    fake_telegram.push_callback(OWNER, f"al:{run.id}:0")
    await fake_telegram.wait_for(lambda f: len(answers(f)) == 3)
    toasts = [str(a.get("text")) for a in answers(fake_telegram)]
    assert "has no refusal 7" in toasts[0] and "not one nightshift knows" in toasts[1]
    assert toasts[2] == "Allowed"
    assert (await bot_service.get(task.id)).state is TaskState.READY
    assert "Bash(make test)" in await bot_service.allowed(task.id)
