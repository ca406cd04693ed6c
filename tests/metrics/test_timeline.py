"""The window timeline: data built from the store's rows, a picture that follows the data and
draws nothing the data does not say, and a text twin that says the same."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from PIL import Image

from core.metrics.history import load_history
from core.metrics.style import GROUP_COLORS, WIDTH_PX
from core.metrics.timeline import build_timeline, learned_capacity, timeline_text, window_of
from core.metrics.timeline_draw import figure_height_px, header_texts, timeline_figure, timeline_png
from core.metrics.timeline_model import TimelineData
from core.models import Outcome, Tokens
from core.store.store import Store
from core.store.task_rows import NewTask
from tests.metrics.history import work_run
from tests.metrics.night import W1, W1_RESET, W1_START, W2_START, build_night, k, t

BERLIN = ZoneInfo("Europe/Berlin")
NIGHT_RESERVE = {0: 0.3, 1: 0.3, 2: 0.3}
W1_TOKENS = (60 + 900 + 700 + 1200 + 500 + 1500 + 400) * 1000


@pytest.fixture
async def night(store: Store) -> dict[str, int]:
    return await build_night(store)


async def window_one(store: Store, **kwargs: object) -> TimelineData:
    history = await load_history(store)
    return build_timeline(history, start=W1_START, now=t(5, 3, 1), tz=BERLIN, **kwargs)  # type: ignore[arg-type]


def drawn_texts(fig: object) -> list[str]:
    fig.canvas.draw()  # type: ignore[attr-defined]
    return [a.get_text() for a in fig.findobj(Text) if a.get_visible() and a.get_text()]  # type: ignore[attr-defined]


def bars(fig: object) -> list[Rectangle]:
    """The run bars: rectangles filled with an outcome colour, on the lanes' axes."""
    colours = {c.lower() for c in GROUP_COLORS.values()}
    from matplotlib.colors import to_hex

    return [p for ax in fig.axes for p in ax.patches  # type: ignore[attr-defined]
            if isinstance(p, Rectangle) and to_hex(p.get_facecolor()) in colours]


async def test_lanes_marks_and_idle_come_from_the_rows(store: Store, night: dict[str, int]) -> None:
    data = await window_one(store)
    assert data.start == W1_START and data.end == W1_RESET  # the limit's exact reset
    assert data.span_h == 5
    assert [lane.label for lane in data.lanes] == [
        f"#{night['login']} Fix the flaky login test",
        f"#{night['dark']} Add dark mode to the settings page",
        f"#{night['sdk']} Upgrade the payment SDK",
        f"#{night['notes']} Write the release notes",
    ]
    login = data.lanes[0]
    assert [(b.group, b.plan) for b in login.bars] == [
        ("success", True), ("check failed", False), ("success", False)]
    assert [b.group for b in data.lanes[1].bars] == ["failed", "failed"]
    assert login.bars[1].start_h == pytest.approx(5 / 60) and login.bars[1].end_h == pytest.approx(50 / 60)
    assert [(m.kind, m.label) for m in data.marks] == [("limit", "limit hit 03:25"),
                                                       ("reset", "reset 05:00")]
    assert data.marks[0].at_h == pytest.approx(3 + 25 / 60)
    # nothing ran 01:40–02:30 (idle), and after the limit until the reset (a wait, not idleness)
    assert [(i.kind, i.label, round(i.start_h, 3), round(i.end_h, 3)) for i in data.idle] == [
        ("idle", "idle 50m", round(1 + 40 / 60, 3), 2.5),
        ("limit", "limit wait 1h35", round(3 + 25 / 60, 3), 5.0)]
    assert data.tokens_total == W1_TOKENS
    assert data.cumulative[0] == (0.0, 0.0) and data.cumulative[-1] == (5.0, W1_TOKENS)
    ys = [y for _, y in data.cumulative]
    assert ys == sorted(ys)
    assert data.legend == ("success", "check failed", "failed", "limit", "plan run")
    assert [label for _, label in data.x_ticks] == ["00:00", "01:00", "02:00", "03:00", "04:00",
                                                    "05:00"]


async def test_unknown_capacity_says_so_and_shows_the_learned_estimate(
    store: Store, night: dict[str, int]
) -> None:
    history = await load_history(store)
    # what was spent in window 1 by runs that started before the limit hit
    assert learned_capacity(history) == (W1_TOKENS, 1)
    data = await window_one(store)
    assert not data.capacity_known and data.capacity_tokens == W1_TOKENS
    assert data.capacity_note == "capacity unknown: estimate from 1 limit hit"
    assert data.capacity_label == "learned estimate ~5.3M"
    text = drawn_texts(timeline_figure([data]))
    assert data.capacity_note in text and data.capacity_label in text


async def test_no_limit_hit_yet_means_no_estimate_and_says_so(store: Store) -> None:
    task = await store.tasks.add(NewTask(prompt="x", title="Lonely task", needs_plan=False), now=t(4, 21))
    await work_run(store, task.id, 1, started=t(4, 22, 10), finished=t(4, 22, 40),
                   outcome=Outcome.SUCCESS, tokens=k(300), cost=0.3, window=W1)
    data = await window_one(store)
    assert data.capacity_tokens is None and data.capacity_label is None
    assert data.capacity_note == "capacity unknown: no limit hit to learn from yet"
    assert data.end == W1_START + timedelta(hours=5)
    assert "capacity unknown: no limit hit to learn from yet" in drawn_texts(timeline_figure([data]))


async def test_known_capacity_and_the_owners_reserve(store: Store, night: dict[str, int]) -> None:
    data = await window_one(store, capacity_tokens=8_000_000, reserve_by_hour=NIGHT_RESERVE)
    assert data.capacity_known and data.capacity_note is None
    assert data.capacity_label == "capacity 8.0M"
    # 00:00–03:00 Berlin keeps 30%: one band from 5.6M up to the capacity
    assert [(r.start_h, r.end_h, r.low_tokens) for r in data.reserve] == [(0.0, 3.0, 5_600_000.0)]
    assert data.reserve_label == "owner's reserve 30%"
    twin = timeline_text(data)
    assert f"{W1_TOKENS / 8_000_000 * 100:.0f}% of the window's capacity (8.0M)" in twin
    assert "owner's reserve 30% kept free" in twin


async def test_every_drawn_label_comes_from_the_data(store: Store, night: dict[str, int]) -> None:
    history = await load_history(store)
    windows = [
        build_timeline(history, start=W1_START, now=t(5, 3, 1), tz=BERLIN,
                       capacity_tokens=8_000_000, reserve_by_hour=NIGHT_RESERVE),
        build_timeline(history, start=W2_START, now=t(5, 4, 30), tz=BERLIN),
    ]
    for shown, title in (([windows[0]], None), ([windows[1]], None), (windows, "the night")):
        fig = timeline_figure(shown, title)
        allowed = set().union(*(w.texts() for w in shown)) | header_texts(shown)
        if title:
            allowed.add(title)
        texts = drawn_texts(fig)
        assert texts, "something is written on the picture"
        assert set(texts) <= allowed, set(texts) - allowed
        # and the important facts are on it
        for w in shown:
            assert {lane.label for lane in w.lanes} <= set(texts)
            assert {m.label for m in w.marks if m.kind != "now"} <= set(texts)
    assert "now 06:30" in drawn_texts(timeline_figure([windows[1]]))


async def test_bars_follow_the_runs_in_okabe_ito_colours(store: Store, night: dict[str, int]) -> None:
    data = await window_one(store)
    fig = timeline_figure([data])
    drawn = bars(fig)
    runs = [b for lane in data.lanes for b in lane.bars]
    assert len(drawn) == len(runs) == 7
    from matplotlib.colors import to_hex

    assert sorted(to_hex(r.get_facecolor()) for r in drawn) == sorted(
        GROUP_COLORS[b.group].lower() for b in runs)
    assert sorted(round(r.get_x(), 6) for r in drawn) == sorted(round(b.start_h, 6) for b in runs)


async def test_the_picture_changes_with_the_data_and_only_then(store: Store, night: dict[str, int]) -> None:
    before = await window_one(store)
    png = timeline_png([before])
    assert timeline_png([await window_one(store)]) == png  # same rows, same bytes
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (WIDTH_PX, figure_height_px([before]))
    late = await store.tasks.add(NewTask(prompt="x", title="A late small fix", needs_plan=False),
                                 now=t(4, 21))
    await work_run(store, late.id, 1, started=t(4, 23, 50), finished=t(5, 0, 10),
                   outcome=Outcome.CHECK_FAILED, tokens=Tokens(1000, 1000), cost=0.1, window=W1)
    after = await window_one(store)
    assert after != before
    assert len(after.lanes) == len(before.lanes) + 1
    assert hashlib.sha256(timeline_png([after])).digest() != hashlib.sha256(png).digest()
    assert len(bars(timeline_figure([after]))) == len(bars(timeline_figure([before]))) + 1
    # the new run (01:50–02:10) splits the idle stretch: 10 minutes before it is no idleness
    assert [i.label for i in after.idle if i.kind == "idle"] == ["idle 20m"]


async def test_too_many_tasks_get_a_line_saying_how_many_more(store: Store) -> None:
    for n in range(11):
        task = await store.tasks.add(NewTask(prompt="x", title=f"Task number {n}", needs_plan=False),
                                     now=t(4, 21))
        await work_run(store, task.id, 1, started=t(4, 22, n), finished=t(4, 22, 30 + n),
                       outcome=Outcome.SUCCESS, tokens=k(100), cost=0.1, window=W1)
    data = await window_one(store)
    assert len(data.lanes) == 8 and data.tasks == 11
    assert data.more_label == "+3 more tasks"
    assert "+3 more tasks" in drawn_texts(timeline_figure([data]))
    assert timeline_text(data).startswith("Window Mon 05 Oct 00:00–05:00: 11 tasks, 11 runs, 1.1M tokens")


async def test_an_empty_window_is_drawn_and_says_so(store: Store) -> None:
    history = await load_history(store)
    data = build_timeline(history, start=W1_START, now=t(5, 1), tz=BERLIN)
    assert data.empty and data.tokens_total == 0 and data.idle == ()
    assert [m.kind for m in data.marks] == ["now", "reset"]
    assert "nothing ran in this window" in drawn_texts(timeline_figure([data]))


async def test_the_summary_window_is_the_batchs_window(store: Store, night: dict[str, int]) -> None:
    history = await load_history(store)
    # the batch set off by the 03:00 reset ran in window 2, whose id says 03:00
    assert window_of(history, [night["sdk"], night["notes"]], t(5, 3, 0)) == W2_START
    # a reset time a few minutes off the window id still finds the id's start
    assert window_of(history, [night["sdk"]], t(5, 3, 2)) == W2_START
    # no run yet: the reset moment itself
    assert window_of(history, [night["pg"]], t(5, 8)) == t(5, 8)
    # runs without a window id fall in a 5-hour epoch block that may have begun hours before
    # the reset: that guess is not the window, the reset is
    from core.metrics.windows import block_floor

    reset = block_floor(t(6, 12)) + timedelta(hours=4, minutes=58)
    task = await store.tasks.add(NewTask(prompt="x", title="After the reset", needs_plan=False),
                                 now=reset - timedelta(hours=3))
    await work_run(store, task.id, 1, started=reset - timedelta(hours=2), finished=reset,
                   outcome=Outcome.LIMIT, tokens=k(10), cost=0.01, window=None)
    await work_run(store, task.id, 2, started=reset + timedelta(minutes=1),
                   finished=reset + timedelta(minutes=20), outcome=Outcome.SUCCESS, tokens=k(10),
                   cost=0.01, window=None)
    assert window_of(await load_history(store), [task.id], reset) == reset


async def test_text_twin_tells_what_the_picture_shows(store: Store, night: dict[str, int]) -> None:
    twin = timeline_text(await window_one(store))
    assert twin.splitlines() == [
        "Window Mon 05 Oct 00:00–05:00: 4 tasks, 7 runs, 5.3M tokens",
        "capacity unknown: estimate from 1 limit hit; learned estimate ~5.3M",
        "limit hit 03:25",
        "idle 50m in 1 stretch",
        "then 1h35 waiting for the reset",
        f"#{night['login']} Fix the flaky login test: plan success 00:00–00:04,"
        " check failed 00:05–00:50, success 00:52–01:30",
        f"#{night['dark']} Add dark mode to the settings page: error 00:06–01:10,"
        " timeout 01:12–01:40",
        f"#{night['sdk']} Upgrade the payment SDK: limit 02:30–03:25",
        f"#{night['notes']} Write the release notes: limit 02:35–03:25",
    ]


async def test_the_estimate_is_never_below_what_a_window_already_took(
    store: Store, night: dict[str, int]
) -> None:
    task = await store.tasks.add(NewTask(prompt="x", title="Big one", needs_plan=False), now=t(6, 0))
    await work_run(store, task.id, 1, started=t(6, 1), finished=t(6, 3), outcome=Outcome.SUCCESS,
                   tokens=k(7000), cost=7, window="2026-10-06T01:00:00.000Z")
    # window 1 hit the limit at 5.26M, but this window took 7M without hitting it
    assert learned_capacity(await load_history(store)) == (7_000_000, 1)
