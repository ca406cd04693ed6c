"""`nightshift demo` end to end: the installed command, a temp HOME, exit 0, notes and a chart."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "nightshift"
PNG = b"\x89PNG\r\n\x1a\n"


def test_demo_runs_the_whole_loop(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIGHTSHIFT_", "TELEGRAM_"))}
    env["HOME"] = str(tmp_path / "fresh-home")
    (tmp_path / "fresh-home").mkdir()
    target = tmp_path / "demo"
    done = subprocess.run(
        [str(BIN), "demo", "--dir", str(target)],
        capture_output=True,
        text=True,
        env=env,
        timeout=170,
        stdin=subprocess.DEVNULL,
    )
    out = done.stdout
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "SIMULATED" in out
    assert "3 of 3 tasks done" in out
    assert "queue paused by the session limit" in out
    assert "plan_ready" in out and "you tap [Approve]" in out
    assert "window_summary" in out
    brain = target / "brain"
    assert len(list((brain / "tasks").glob("*.md"))) == 3
    runs = list((brain / "runs").glob("*/run-*.md"))
    assert len(runs) >= 5  # a plan run, a limited run, its resume, and the others
    chart = brain / "daily" / "demo-outcomes.png"
    assert chart.read_bytes().startswith(PNG)
    assert f"Notes:  {brain}" in out and f"Chart:  {chart}" in out


def test_demo_also_sends_to_a_configured_telegram(tmp_path: Path) -> None:
    from tests.fakes.telegram_api import TOKEN, FakeTelegram

    owner = 4242
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIGHTSHIFT_", "TELEGRAM_"))}
    env["HOME"] = str(tmp_path / "fresh-home")
    (tmp_path / "fresh-home").mkdir()
    with FakeTelegram() as fake:
        env.update(
            TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_ALLOWED_USERS=str(owner), TELEGRAM_API_BASE_URL=fake.base_url
        )
        done = subprocess.run(
            [str(BIN), "demo", "--dir", str(tmp_path / "demo")],
            capture_output=True,
            text=True,
            env=env,
            timeout=170,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "also sent to your Telegram" in done.stdout
        texts = [s.text or "" for s in fake.sent(owner)]
    assert any("Plan v1 for task 1" in t for t in texts)
    assert any("Window summary" in t for t in texts)
    assert TOKEN not in done.stdout + done.stderr
