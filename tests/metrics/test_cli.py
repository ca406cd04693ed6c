"""`nightshift stats`, `chart` and `notes`, run as the installed entry point."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner, Result

from core.cli.app import app
from core.errors import InvalidInput
from core.metrics.periods import parse_moment
from core.settings import load_settings
from core.store.store import Store
from tests.metrics.history import build_history

BIN = Path(sys.executable).parent / "nightshift"
BERLIN = ZoneInfo("Europe/Berlin")


def ns(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ))


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIGHTSHIFT_TZ", "Europe/Berlin")
    settings = load_settings(env_file=None)

    async def build() -> None:
        store = await Store.open(settings.db_path)
        try:
            await build_history(store, settings)
        finally:
            await store.close()

    asyncio.run(build())


def cli(*args: str) -> Result:
    """In-process, for the many small cases; the subprocess tests cover the real entry point."""
    import core.cli.stats  # noqa: F401  (registers the commands)

    return CliRunner().invoke(app, list(args))


def test_stats(db: None) -> None:
    done = ns("stats", "--json", "--capacity", "40000")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["overall"]["completion_rate"] == 2 / 3
    assert report["overall"]["tokens"]["total"] == 47_000
    assert report["overall"]["utilization"] == pytest.approx(0.235)
    assert [d["key"] for d in report["by_day"]] == ["2026-10-01", "2026-10-02"]
    assert report["timezone"] == "Europe/Berlin"

    text = cli("stats")
    assert text.exit_code == 0
    assert "completion rate: 67% (done / finished)" in text.stdout


def test_stats_periods_and_errors(db: None) -> None:
    later = json.loads(cli("stats", "--since", "2026-10-02", "--json").stdout)
    assert later["since"] == "2026-10-01T22:00:00.000000+00:00"  # Berlin midnight
    assert [d["key"] for d in later["by_day"]] == ["2026-10-02"]
    assert later["overall"]["utilization"] is None
    bad = cli("stats", "--since", "last tuesday")
    assert bad.exit_code == 1
    assert "is not a date" in bad.output
    backwards = cli("stats", "--since", "2026-10-02", "--until", "2026-10-01")
    assert backwards.exit_code == 1 and "--until must be after --since" in backwards.output


def test_chart(db: None, tmp_path: Path) -> None:
    out = tmp_path / "out" / "tokens.png"
    done = ns("chart", "--kind", "tokens", "--out", str(out), "--capacity", "40000")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (1000, 625)
    assert cli("chart", "--out", str(tmp_path / "c.jpg")).exit_code == 1
    assert cli("chart", "--kind", "pie", "--out", str(tmp_path / "p.png")).exit_code == 2
    assert not (tmp_path / "c.jpg").exists() and not (tmp_path / "p.png").exists()


def test_notes(db: None) -> None:
    first = ns("notes", "--json")
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert "tasks/1-fix-the-flaky-login-test.md" in result["written"]
    assert result["log_lines"] > 20
    vault = Path(result["vault"])
    assert (vault / "daily" / "2026-10-01.md").exists()
    again = cli("notes")
    assert again.exit_code == 0
    assert ": 0 written, " in again.stdout and "; 0 new log lines" in again.stdout


zones = st.sampled_from([UTC, BERLIN, ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")])
nows = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                    timezones=st.just(UTC))


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), nows, zones)
def test_a_date_means_local_midnight(day: date, now: datetime, tz: ZoneInfo) -> None:
    moment = parse_moment(day.isoformat(), now=now, tz=tz)
    local = moment.astimezone(tz)
    assert local.date() == day and (local.hour, local.minute) == (0, 0)


@given(st.integers(0, 9999), st.sampled_from(["h", "d", "w"]), nows, zones)
def test_an_age_counts_back_from_now(count: int, unit: str, now: datetime, tz: ZoneInfo) -> None:
    hours = {"h": 1, "d": 24, "w": 168}[unit] * count
    assert parse_moment(f"{count}{unit}", now=now, tz=tz) == now - timedelta(hours=hours)


@given(st.text().filter(lambda t: t.strip().lower() not in ("today", "yesterday")))
def test_anything_else_is_a_clear_error_or_a_time(text: str) -> None:
    now = datetime(2026, 10, 1, tzinfo=UTC)
    try:
        moment = parse_moment(text, now=now, tz=BERLIN)
    except InvalidInput as exc:
        assert "is not a date" in str(exc)
    else:
        assert moment.tzinfo is not None


def test_today_and_yesterday() -> None:
    now = datetime(2026, 10, 1, 23, 30, tzinfo=UTC)  # already 2 October in Berlin
    assert parse_moment("today", now=now, tz=BERLIN) == datetime(2026, 10, 2, tzinfo=BERLIN)
    assert parse_moment("Yesterday", now=now, tz=BERLIN) == datetime(2026, 10, 1, tzinfo=BERLIN)
    assert parse_moment("2026-10-01T12:00:00+00:00", now=now, tz=BERLIN) == datetime(
        2026, 10, 1, 12, tzinfo=UTC)
