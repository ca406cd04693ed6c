"""The morning digest: one message and one picture for everything since the last digest,
with buttons the Telegram front understands, and the timer job that sends it once."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from matplotlib.text import Text
from PIL import Image

from bot.buttons import Act, Callback
from core.budgets import set_budget
from core.metrics.digest import build_digest_data, build_morning_digest, digest_png, failure_word
from core.metrics.history import load_history
from core.metrics.pictures import DIGEST_SENT_KEY, render_window_timeline, send_morning_digest
from core.metrics.timeline_draw import header_texts, timeline_figure
from core.models import Outcome, iso
from core.service import Service
from core.settings import Settings, load_settings
from core.store.store import Store
from core.store.task_rows import NewTask
from tests.fakes.notifier import RecordingNotifier
from tests.metrics.history import work_run
from tests.metrics.night import W1, W1_START, W2_START, build_night, k, t

BERLIN = ZoneInfo("Europe/Berlin")
SINCE = t(4, 20)  # Sunday 22:00 in Berlin
MORNING = t(5, 5)  # Monday 07:00


@pytest.fixture
def berlin(settings: Settings) -> Settings:
    return load_settings(env_file=None, tz="Europe/Berlin", reserve="7-18:30")


@pytest.fixture
async def night(store: Store) -> dict[str, int]:
    return await build_night(store)


async def test_the_digest_lists_what_needs_the_owner_first(
    store: Store, night: dict[str, int], tmp_path: Path
) -> None:
    note = await build_morning_digest(store, SINCE, MORNING, tz=BERLIN,
                                      chart_path=tmp_path / "digest.png")
    assert note.kind == "morning_digest"
    lines = note.text.splitlines()
    assert lines[:10] == [
        "Morning digest · Since Sun 22:00: 2 windows, 3 done, 1 failed, 1 to approve",
        "9 runs, 6.4M tokens, $6.40",
        "Waiting for you (1):",
        f"  #{night['pg']} Migrate to Postgres 17: plan v2 to approve",
        "Done (3):",
        f"  #{night['login']} Fix the flaky login test",
        f"  #{night['notes']} Write the release notes",
        f"  #{night['sdk']} Upgrade the payment SDK",
        "Failed (1):",
        f"  #{night['dark']} Add dark mode to the settings page (timeout)",
    ]
    assert "  Mon 05 Oct 00:00–05:00: 5.3M tokens (capacity unknown, learned ~5.3M)" in lines
    assert "  cost $6.40 (no nightly cap set)" in lines
    # the picture's twin: each window's lanes and facts
    assert "limit hit 03:25" in lines and "then 1h35 waiting for the reset" in lines
    assert note.data["done"] == [night["login"], night["notes"], night["sdk"]]
    assert note.data["awaiting"] == [night["pg"]] and note.data["empty"] is False
    assert note.photo == str(tmp_path / "digest.png")
    image = Image.open(note.photo)
    assert image.format == "PNG" and image.size[0] == 1000 and image.size[1] <= 1400


async def test_buttons_are_ones_the_bot_parses_and_act_on_the_right_task(
    store: Store, night: dict[str, int]
) -> None:
    note = await build_morning_digest(store, SINCE, MORNING, tz=BERLIN)
    assert note.photo is None  # no chart path: no picture, the text still goes
    pressed = [(b.text, Callback.decode(b.data)) for row in note.buttons for b in row]
    assert all(len(b.data.encode()) <= 64 for row in note.buttons for b in row)
    pg, dark = night["pg"], night["dark"]
    assert pressed[:2] == [(f"📝 Plan #{pg}", Callback(Act.PLAN, pg)),
                           (f"✅ Approve #{pg} v2", Callback(Act.APPROVE, pg, 2))]
    diffs = [c for _, c in pressed if c.act is Act.DIFF]  # the morning review: look at the change
    assert diffs == [Callback(Act.DIFF, night[n]) for n in ("login", "notes", "sdk")]
    assert pressed[-1] == (f"↻ Retry #{dark} Add dark mode to the settings page",
                           Callback(Act.RETRY, dark))


async def test_spend_against_the_caps_when_known(store: Store, night: dict[str, int]) -> None:
    history = await load_history(store)
    data = build_digest_data(history, since=SINCE, now=MORNING, tz=BERLIN,
                             capacity_tokens=8_000_000, nightly_cap_usd=10.0,
                             default_task_cap_usd=2.0)
    assert data.spend == (
        "Mon 05 Oct 00:00–05:00: 5.3M tokens of 8.0M (66%)",
        "Mon 05 Oct 05:00–10:00: 1.1M tokens of 8.0M (14%)",
        "cost $6.40 of the $10.00 nightly cap (64%)",
        f"#{night['login']} spent $1.70 of its $2.00 cap",  # its plan run counts too
        f"#{night['dark']} spent $1.70 of its $2.00 cap",
        f"#{night['sdk']} spent $2.30 of its $2.00 cap",
    )
    assert data.cost_usd == pytest.approx(6.4)


async def test_the_digest_picture_draws_only_its_data(store: Store, night: dict[str, int]) -> None:
    history = await load_history(store)
    data = build_digest_data(history, since=SINCE, now=MORNING, tz=BERLIN,
                             reserve_by_hour={h: 0.3 for h in range(7, 19)})
    assert [w.start for w in data.windows] == [W1_START, W2_START]
    fig = timeline_figure(data.windows, data.title, compact=True)
    fig.canvas.draw()
    texts = {a.get_text() for a in fig.findobj(Text) if a.get_visible() and a.get_text()}
    assert texts <= data.texts() | header_texts(data.windows), texts - data.texts()
    assert data.title in texts and "limit hit 03:25" in texts
    assert "owner's reserve 30%" in texts  # 07:00 onwards in window 2
    first = digest_png(data)
    assert first is not None and digest_png(data) == first
    # one more failure in window 2 changes the picture
    task = await store.tasks.add(NewTask(prompt="x", title="Bump the linter", needs_plan=False),
                                 now=t(5, 3))
    await work_run(store, task.id, 1, started=t(5, 4), finished=t(5, 4, 20),
                   outcome=Outcome.CRASHED, tokens=k(50), cost=0.05, window="2026-10-05T03:00:00.000Z")
    later = build_digest_data(await load_history(store), since=SINCE, now=MORNING, tz=BERLIN,
                              reserve_by_hour={h: 0.3 for h in range(7, 19)})
    changed = digest_png(later)
    assert changed is not None
    assert hashlib.sha256(changed).digest() != hashlib.sha256(first).digest()
    assert len(later.windows[1].lanes) == len(data.windows[1].lanes) + 1


async def test_only_the_latest_windows_are_drawn_the_rest_counted(store: Store) -> None:
    for day in range(1, 5):
        task = await store.tasks.add(NewTask(prompt="x", title=f"Night {day}", needs_plan=False),
                                     now=t(day, 0))
        await work_run(store, task.id, 1, started=t(day, 1), finished=t(day, 2),
                       outcome=Outcome.SUCCESS, tokens=k(10), cost=0.01, window=None)
    data = build_digest_data(await load_history(store), since=t(1, 0), now=t(5, 0), tz=BERLIN)
    assert len(data.windows) == 3 and data.earlier_windows == 1
    from core.metrics.windows import block_floor  # no window id: the 5-hour epoch block

    assert [w.start for w in data.windows] == [block_floor(t(d, 1)) for d in (2, 3, 4)]
    from core.metrics.digest import digest_text

    assert "1 earlier window not drawn" in digest_text(data)


async def test_a_quiet_night_is_an_empty_digest(store: Store) -> None:
    note = await build_morning_digest(store, SINCE, MORNING, tz=BERLIN)
    assert note.data["empty"] is True and note.buttons == () and note.photo is None
    assert note.text == "Morning digest: nothing ran since Sun 22:00, nothing waits for you"


def test_failure_words() -> None:
    assert failure_word([], "Check failed: 3 tests") == "check"
    assert failure_word([], None) == "failed"


async def test_the_timer_job_sends_once_and_the_next_covers_only_what_came_after(
    berlin: Settings, store: Store, night: dict[str, int]
) -> None:
    notes = RecordingNotifier()
    service = Service(berlin, store, notifier=notes, clock=lambda: MORNING)
    await store.kv.set(DIGEST_SENT_KEY, iso(SINCE))
    await set_budget(store, berlin, "night", "40")  # from the phone: the digest weighs spend against it
    sent = await send_morning_digest(service, MORNING)
    assert sent is not None and notes.sent == [sent]
    assert "nightly cap" in sent.text and "of the $40.00 nightly cap" in sent.text
    assert sent.photo is not None and Path(sent.photo).parent == berlin.home_dir / "charts"
    assert Path(sent.photo).stat().st_mode & 0o777 == 0o600
    assert await store.kv.get(DIGEST_SENT_KEY) == iso(MORNING)
    # the next morning: only what happened since, and the plan still waits
    task = await store.tasks.add(NewTask(prompt="x", title="Tuesday task", needs_plan=False),
                                 now=t(5, 20))
    await work_run(store, task.id, 1, started=t(5, 22), finished=t(5, 23),
                   outcome=Outcome.SUCCESS, tokens=k(10), cost=0.01, window=None)
    second = await send_morning_digest(service, MORNING + timedelta(days=1))
    assert second is not None and len(notes.sent) == 2
    assert second.data["windows"] == 1 and second.data["done"] == []
    assert second.data["awaiting"] == [night["pg"]]
    assert "Since Mon 07:00" in second.text


async def test_the_timer_job_stays_quiet_on_an_empty_night(berlin: Settings, store: Store) -> None:
    notes = RecordingNotifier()
    service = Service(berlin, store, notifier=notes, clock=lambda: MORNING)
    assert await send_morning_digest(service, MORNING) is None
    assert notes.sent == [] and await store.kv.get(DIGEST_SENT_KEY) == iso(MORNING)


async def test_the_window_summary_picture_and_its_twin(
    berlin: Settings, store: Store, night: dict[str, int]
) -> None:
    service = Service(berlin, store, clock=lambda: t(5, 3, 1))
    path, twin = await render_window_timeline(service, [night["sdk"], night["notes"]], W1_START,
                                              None, now=t(5, 3, 1))
    assert path == berlin.home_dir / "charts" / "window-summary.png"
    assert Image.open(path).format == "PNG"
    assert twin == ("capacity unknown: estimate from 1 limit hit; learned estimate ~5.3M"
                    " · limit hit 03:25 · idle 50m in 1 stretch · then 1h35 waiting for the reset")
    assert W1 in {r.window_id for r in (await load_history(store)).runs}


def test_wake_time_setting(settings: Settings) -> None:
    from datetime import time

    from core.errors import ConfigError

    assert settings.wake_at is None  # off by default
    assert load_settings(env_file=None, wake_time=" 07:30 ").wake_at == time(7, 30)
    with pytest.raises(ConfigError, match="NIGHTSHIFT_WAKE_TIME"):
        load_settings(env_file=None, wake_time="7am")
    with pytest.raises(ConfigError, match="NIGHTSHIFT_WAKE_TIME"):
        load_settings(env_file=None, wake_time="24:00")
