"""The weekly view: per-day fullness of the windows used, tasks done per window, the weekly
limit; in /stats, `stats --week`, `chart --kind weekly`, the retro and its note."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from matplotlib.text import Text
from PIL import Image
from typer.testing import CliRunner

from core.cli.app import app
from core.improve.retro import IsoWeek, write_retro
from core.metrics import compute_metrics
from core.metrics.charts import chart_figure, chart_series
from core.metrics.weekly import NO_WINDOW, day_label, weekly_text
from core.settings import Settings, load_settings
from core.store.store import Store
from tests.fakes.notifier import RecordingNotifier
from tests.metrics.night import build_night, t

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
async def night(store: Store) -> dict[str, int]:
    return await build_night(store)


async def test_days_windows_fullness_and_tasks_per_window(store: Store, night: dict[str, int]) -> None:
    report = await compute_metrics(store, now=t(7, 12), capacity_tokens=8_000_000, tz=BERLIN)
    series = chart_series("weekly", report, weekly_limit_used=0.46)
    assert series.labels == ("Thu 01", "Fri 02", "Sat 03", "Sun 04", "Mon 05", "Tue 06", "Wed 07")
    monday = series.labels.index("Mon 05")
    # window 1: 5.26M of 8M, window 2: 1.1M of 8M
    assert series.series["utilization"][monday] == pytest.approx((5.26 + 1.1) / 16 * 100)
    assert series.series["windows"][monday] == 2
    assert series.series["done"][monday] == 3  # login in window 1; sdk and notes in window 2
    assert [v for i, v in enumerate(series.series["windows"]) if i != monday] == [None] * 6
    assert series.note == "weekly limit: 46% used"
    assert weekly_text(series).splitlines() == [
        "Week by day (weekly limit: 46% used):",
        "  Mon 05: 2 windows, 40% full, 1.5 done per window",
        "  no window on 6 days (Thu, Fri, Sat, Sun, Tue, Wed)",
    ]


async def test_without_capacity_the_bars_are_tokens_and_the_limit_is_unknown(
    store: Store, night: dict[str, int]
) -> None:
    report = await compute_metrics(store, now=t(7, 12), tz=BERLIN)
    series = chart_series("weekly", report)
    assert series.ylabel == "tokens" and series.note == "weekly limit: use unknown"
    assert "Mon 05: 2 windows, 6.4M tokens, 1.5 done per window" in weekly_text(series)


async def test_a_weeks_period_picks_its_days(store: Store, night: dict[str, int]) -> None:
    start, end = IsoWeek(2026, 41).bounds(BERLIN)
    report = await compute_metrics(store, since=start, until=end, now=t(12, 12), tz=BERLIN)
    assert chart_series("weekly", report).labels == (
        "Mon 05", "Tue 06", "Wed 07", "Thu 08", "Fri 09", "Sat 10", "Sun 11")


async def test_every_drawn_label_comes_from_the_data(store: Store, night: dict[str, int]) -> None:
    report = await compute_metrics(store, now=t(7, 12), capacity_tokens=8_000_000, tz=BERLIN)
    series = chart_series("weekly", report, weekly_limit_used=0.46)
    fig = chart_figure(series)
    fig.canvas.draw()
    texts = {a.get_text() for a in fig.findobj(Text) if a.get_visible() and a.get_text()}
    labels = {day_label(w, d) for w, d in zip(series.series["windows"], series.series["done"],
                                              strict=True)}
    allowed = {series.title, series.note, series.ylabel, *series.labels, *labels}
    axis = {t for t in texts if t.isdigit()}  # the percent axis: 0, 20, ... 120
    assert texts - axis <= allowed, texts - axis - allowed
    assert {series.note, "2 win\n1.5 done/win", NO_WINDOW} <= texts


async def test_the_retro_sends_and_embeds_the_week(
    settings: Settings, store: Store, night: dict[str, int]
) -> None:
    berlin = load_settings(env_file=None, tz="Europe/Berlin", window_capacity_tokens=8_000_000)
    notes = RecordingNotifier()
    _, path, sent = await write_retro(store, berlin, t(12, 12), week=IsoWeek(2026, 41),
                                      notifier=notes)
    chart = berlin.brain_dir / "retros" / "2026-W41-weekly.png"
    assert sent and Image.open(chart).format == "PNG"
    assert chart.stat().st_mode & 0o777 == 0o600
    assert "![[2026-W41-weekly.png]]" in path.read_text()
    [note] = notes.sent
    assert note.photo == str(chart)
    assert "Mon 05: 2 windows, 40% full, 1.5 done per window" in note.text


@pytest.fixture
def night_db(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    monkeypatch.setenv("NIGHTSHIFT_TZ", "Europe/Berlin")

    async def build() -> None:
        store = await Store.open(load_settings(env_file=None).db_path)
        try:
            await build_night(store)
        finally:
            await store.close()

    asyncio.run(build())


def test_cli_stats_week_and_the_weekly_chart(night_db: None, tmp_path: Path) -> None:
    import core.cli.stats  # noqa: F401  (registers the commands)

    runner = CliRunner()
    out = runner.invoke(app, ["stats", "--week", "--json", "--since", "2026-10-05",
                              "--until", "2026-10-12"])
    assert out.exit_code == 0, out.output
    weekly = json.loads(out.stdout)["weekly"]
    assert weekly["labels"][0] == "Mon 05" and weekly["series"]["windows"][0] == 2
    text = runner.invoke(app, ["stats", "--week", "--since", "2026-10-05", "--until", "2026-10-12"])
    assert "Week by day (weekly limit: use unknown):" in text.stdout
    assert "Week by day" not in runner.invoke(app, ["stats"]).stdout
    png = tmp_path / "week.png"
    drawn = runner.invoke(app, ["chart", "--kind", "weekly", "--out", str(png)])
    assert drawn.exit_code == 0, drawn.output
    assert Image.open(png).size == (1000, 625)
