"""Charts are real PNGs of the promised size whose pixels follow the data."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from core.errors import InvalidInput
from core.metrics import compute_metrics, load_history
from core.metrics.charts import CHART_KINDS, HEIGHT_PX, WIDTH_PX, chart_png, chart_series, render_chart
from core.metrics.compute import compute
from core.models import Outcome, Tokens
from tests.metrics.history import Fixture, at, work_run

BERLIN = ZoneInfo("Europe/Berlin")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("kind", CHART_KINDS)
async def test_each_kind_is_a_phone_sized_png(history: Fixture, tmp_path: Path, kind: str) -> None:
    report = await compute_metrics(history.store, now=at(2, 12), capacity_tokens=40_000, tz=BERLIN)
    out = render_chart(kind, report, tmp_path / "charts" / f"{kind}.png")
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    image = decode(data)
    assert image.format == "PNG"
    assert image.size == (WIDTH_PX, HEIGHT_PX)
    assert len(image.convert("L").getcolors(256) or []) > 2  # something is drawn, not blank
    import matplotlib.image

    assert matplotlib.image.imread(out).shape[:2] == (HEIGHT_PX, WIDTH_PX)


@pytest.mark.parametrize("kind", CHART_KINDS)
async def test_bytes_follow_the_data(history: Fixture, kind: str) -> None:
    before = compute(await load_history(history.store), now=at(2, 12), capacity_tokens=40_000,
                     tz=BERLIN)
    first = chart_png(kind, before)
    assert chart_png(kind, before) == first  # same data, same bytes (the vault relies on it)
    # one more failed run on task 2 (in a new window) and task 5 done
    store = history.store
    t5 = 5
    from core.models import TaskState

    await store.tasks.transition(t5, TaskState.READY, reason="go", now=at(2, 13))
    await store.tasks.transition(t5, TaskState.RUNNING, reason="claimed", now=at(2, 14))
    await work_run(store, t5, 1, started=at(2, 14), finished=at(2, 14, 30),
                   outcome=Outcome.CHECK_FAILED, tokens=Tokens(9000, 9000, 9000, 9000), cost=1,
                   window="2026-10-02T14:00:00.000Z", scheduled=at(2, 14) - timedelta(minutes=1))
    await store.tasks.transition(t5, TaskState.FAILED, reason="check failed", now=at(2, 14, 31))
    after = compute(await load_history(store), now=at(2, 15), capacity_tokens=40_000, tz=BERLIN)
    assert chart_series(kind, after) != chart_series(kind, before)
    assert chart_png(kind, after) != first


async def test_unknown_capacity_and_empty_history_still_draw(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    report = await compute_metrics(store, now=at(1, 0))
    for kind in CHART_KINDS:
        series = chart_series(kind, report)
        assert series.empty
        assert decode(chart_png(kind, report)).size == (WIDTH_PX, HEIGHT_PX)


async def test_series_show_the_last_points(history: Fixture) -> None:
    report = await compute_metrics(history.store, now=at(2, 12), capacity_tokens=40_000, tz=BERLIN)
    completion = chart_series("completion", report)
    assert completion.labels == ("10-01", "10-02")
    assert completion.series["completion"] == (50.0, 100.0)
    outcomes = chart_series("outcomes", report, max_points=1)
    assert outcomes.labels == ("10-02",)
    assert outcomes.series == {"success": (2.0,)}
    tokens = chart_series("tokens", report)
    assert tokens.series["tokens"] == (20_000.0, 20_000.0, 5_000.0, 1_000.0, 1_000.0)
    assert tokens.limits == (40_000.0,) * 5
    assert tokens.labels[0] == "10-01 12:00"  # 10:00 UTC in Berlin
    utilization = chart_series("utilization", report)
    assert utilization.series["utilization"] == (50.0, 50.0, 12.5, 2.5, 2.5)
    no_cap = await compute_metrics(history.store, now=at(2, 12), tz=BERLIN)
    assert chart_series("utilization", no_cap).empty
    assert chart_series("utilization", no_cap).empty_note == "capacity unknown"


def test_bad_kind_and_point_count_are_refused(tmp_path: Path) -> None:
    from core.metrics.report import GroupMetrics, MetricsReport

    report = MetricsReport(generated_at=at(1, 0), since=None, until=None,
                           overall=GroupMetrics("all"))
    with pytest.raises(InvalidInput, match="completion, tokens, outcomes, utilization"):
        render_chart("pie", report, tmp_path / "x.png")
    with pytest.raises(InvalidInput):
        chart_series("tokens", report, max_points=0)
    assert not (tmp_path / "x.png").exists()
