"""`nightshift demo` end to end: the installed command, a temp HOME, exit 0, notes and a chart."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "nightshift"
PNG = b"\x89PNG\r\n\x1a\n"


def test_demo_runs_the_whole_loop(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIGHTSHIFT_", "TELEGRAM_"))}
    env["HOME"] = str(tmp_path / "fresh-home")
    (tmp_path / "fresh-home").mkdir()
    # The owner's zone, from their config: every reset time on the phone reads in it.
    config = Path(env["XDG_CONFIG_HOME"]) / "nightshift" / ".env"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("NIGHTSHIFT_TZ=Pacific/Chatham\n")
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
    # One countdown line (updated in place on a terminal; written once into a pipe).
    [countdown] = [line for line in out.splitlines() if "queue paused by the session limit" in line]
    assert re.search(r"until \d\d:\d\d:\d\d \+1[23]45 ", countdown)  # Chatham time
    assert re.search(r"resets \d{4}-\d\d-\d\d \d\d:\d\d \+1[23]45", out)
    assert "plan_ready" in out and "you tap [✅ Approve]" in out
    assert "window_summary" in out
    assert "[fake:" not in out  # no test directive in anything the phone shows
    # The phone's buttons: a draft, the live message, the morning review.
    assert "[Queue]  [Queue without plan]  [Repo…]  [Discard]" in out
    assert "⚙️ running" in out and "[Stop]" in out
    assert "[Diff]  [Merge]  [Follow up]" in out and "Merged nightshift/1-" in out
    socket = re.search(r"tmux -L (nightshift-demo-\d+)", out)
    assert socket is not None
    alive = subprocess.run(["tmux", "-L", socket.group(1), "ls"], capture_output=True, text=True)
    assert alive.returncode != 0  # its tmux server is gone
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


def test_the_temporary_directory_is_removed_unless_kept(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIGHTSHIFT_", "TELEGRAM_"))}
    env.update(HOME=str(tmp_path / "fresh-home"), TMPDIR=str(temp))
    (tmp_path / "fresh-home").mkdir()
    done = subprocess.run([str(BIN), "demo"], capture_output=True, text=True, env=env, timeout=170,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "removed (--keep keeps them)" in done.stdout
    assert [p.name for p in temp.iterdir() if p.name.startswith("nightshift-demo-")] == []
