"""`nightshift lessons | styles | retro | simulate`, run as the installed entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.improve.sim import simulate
from core.models import Outcome
from core.settings import Settings
from core.store.store import Store
from tests.improve.history import add_run, add_task

BIN = Path(sys.executable).parent / "nightshift"


def ns(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ), stdin=subprocess.DEVNULL)


def test_simulate_prints_the_same_numbers_for_the_same_seed() -> None:
    first = ns("simulate", "--days", "14", "--seed", "4", "--json")
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    # Another process, the same seed: the same numbers as this one computes.
    expected = {k: v.as_json() for k, v in simulate(14, 4).items()}
    assert data["policies"] == expected
    text = ns("simulate", "--days", "2", "--seed", "4")
    assert text.returncode == 0 and "reset-aware+packing" in text.stdout and "midnight-cron" in text.stdout


async def test_lessons_styles_and_retro_from_the_command_line(store: Store, settings: Settings) -> None:
    now = datetime.now(UTC)
    for hours in (30, 20, 10):
        task = await add_task(store, now - timedelta(hours=hours), tags=["auth"], check="make test")
        await add_run(store, task.id, now - timedelta(hours=hours), minutes=5,
                      outcome=Outcome.CHECK_FAILED, variant="direct",
                      check_output="FAILED tests/test_a.py::test_x\n1 failed")

    listed = ns("lessons", "--json")
    assert listed.returncode == 0, listed.stderr
    lessons = json.loads(listed.stdout)
    assert [(item["id"], item["status"], item["pattern"]) for item in lessons] == [
        (1, "proposed", "failing_tests")
    ]
    assert lessons[0]["evidence"] == ["run-1", "run-2", "run-3"]
    accepted = ns("lessons", "accept", "1")
    assert accepted.returncode == 0, accepted.stderr
    assert "lesson L1 accepted" in accepted.stdout
    assert "- status: accepted" in (settings.brain_dir / "lessons.md").read_text()
    missing = ns("lessons", "dismiss", "99")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: no lesson with id 99 (see `nightshift lessons`)"

    styles = json.loads(ns("styles", "--json").stdout)
    by_name = {s["name"]: s for s in styles["styles"]}
    assert by_name["direct"]["runs"] == 3 and by_name["direct"]["failures"] == 3
    assert by_name["plan-test-verify"]["status"] == "active"
    assert ns("styles", "pin", "plan-test-verify", "--hours", "2").returncode == 0
    pinned = {s["name"]: s["status"] for s in json.loads(ns("styles", "--json").stdout)["styles"]}
    assert pinned["plan-test-verify"] == "pinned"
    wrong = ns("styles", "pin", "nope")
    assert wrong.returncode == 1 and "no enabled prompt style 'nope'" in wrong.stderr
    assert ns("styles", "unpin").returncode == 0

    week = datetime.now(UTC).isocalendar()
    label = f"{week.year}-W{week.week:02d}"
    retro = ns("retro", "--week", label, "--json")
    assert retro.returncode == 0, retro.stderr
    data = json.loads(retro.stdout)
    assert data["week"] == label and Path(data["path"]).is_file()
    assert data["sent"] is False  # no Telegram configured
    bad = ns("retro", "--week", "2026-W60")
    assert bad.returncode == 1 and bad.stderr.strip() == "error: 2026 has no ISO week 60"
