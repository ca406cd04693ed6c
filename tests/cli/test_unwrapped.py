"""Output that is not a terminal is never wrapped: long paths stay on one line.

rich lays text out for 80 columns when stdout is a pipe; a path in `notes`, the crontab line
of `service install` or a `doctor` line broke in two, for scripts and for copy and paste.
Here every path is well over 80 characters (as a clone or a temp dir deep in a tree makes
them) and each command runs as a subprocess with pipes, as a script would run it.
"""

from __future__ import annotations

import ast
import io
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from core.console import RULE_WIDTH, Output, make_console

BIN = Path(sys.executable).parent / "nightshift"
LONG = "a-folder-whose-name-alone-is-longer-than-a-third-of-an-old-terminal"


@pytest.fixture
def deep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    base = tmp_path / LONG / LONG.upper() / LONG
    base.mkdir(parents=True)
    monkeypatch.setenv("NIGHTSHIFT_HOME", str(base / "state"))
    monkeypatch.setenv("NIGHTSHIFT_BRAIN", str(base / "brain"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(base / "config"))
    monkeypatch.setenv("NIGHTSHIFT_CLAUDE_BIN", str(Path(sys.executable).parent / "nightshift-fake-claude"))
    # Without systemctl on PATH `service install` prints the crontab line (the case to check).
    empty = base / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return base


def ns(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ), stdin=subprocess.DEVNULL)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def line_with(text: str, *parts: str) -> str:
    """The one line holding every part, in order (they were broken apart if there is none)."""
    for line in text.splitlines():
        at = 0
        for part in parts:
            at = line.find(part, at)
            if at < 0:
                break
            at += len(part)
        else:
            return line
    raise AssertionError(f"no single line holds {parts!r} in:\n{text}")


def test_long_paths_stay_on_one_line_in_every_command(deep: Path) -> None:
    brain, db = deep / "brain", deep / "state" / "nightshift.db"
    title = "a title that is long on its own and longer still with this " + "z" * 40
    added = ns("add", "--no-plan", title)
    assert added.returncode == 0
    line_with(added.stdout, "queued task 1: a title that is long", " (ready)")

    prompt = "one word of three hundred characters follows: " + "w" * 300
    ns("add", "--no-plan", prompt)
    line_with(ns("show", "2").stdout, prompt)
    line_with(ns("list").stdout, "1", "ready", "normal", "a title", "-", "-", "20")

    notes = ns("notes")
    assert notes.returncode == 0
    line_with(notes.stdout, f"{brain}: ", " written, ", " unchanged, ", " new log lines")

    doctor = ns("doctor")
    line_with(doctor.stdout, "ok  database", str(db), "(schema v", "quick_check ok)")

    backup = ns("backup")
    assert backup.returncode == 0
    folder = deep / "state" / "backups"
    line_with(backup.stdout, "backed up 2 tasks to ", f"{folder}/nightshift-", "bytes)")

    workdir = deep / "work dir with spaces"
    workdir.mkdir()
    install = ns("service", "install", "--workdir", str(workdir))
    assert install.returncode == 0, install.stderr
    cron = line_with(install.stdout, "@reboot cd ", " run >> ")
    executable = cron.split(" && ", 1)[1].split(" run >> ")[0]
    assert shlex.split(cron.split("@reboot ", 1)[1].split(" && ")[0]) == ["cd", str(workdir)]
    assert Path(shlex.split(executable)[0]).name == "nightshift"

    missing = deep / "no-such-backup.db"
    refused = ns("restore", "--yes", str(missing))
    assert refused.returncode == 1 and refused.stderr == f"error: no backup file at {missing}\n"

    chart = deep / "charts" / "completion.png"
    drawn = ns("chart", "--out", str(chart))
    assert drawn.returncode == 0, drawn.stderr
    assert drawn.stdout.strip() == str(chart)


def test_json_and_tables_are_unaffected(deep: Path) -> None:
    ns("add", "--no-plan", "x" * 200)
    listed = json.loads(ns("list", "--json").stdout)
    assert listed[0]["prompt"] == "x" * 200
    rows = ns("list").stdout.splitlines()
    assert len(rows) == 2, "a header and one row, however wide"


def test_a_terminal_still_gets_lines_that_fit_it() -> None:
    """On a terminal rich keeps fitting the screen; off one, only a rule keeps a screen's width."""
    screen = Output(force_terminal=True, file=io.StringIO())
    assert screen.is_terminal and screen.width < 1000 and not screen.soft_wrap
    piped = make_console()
    piped.file = io.StringIO()
    assert not piped.is_terminal and piped.width >= 4096 and piped.soft_wrap
    piped.print("p" * 5000)
    piped.rule("section")
    lines = piped.file.getvalue().splitlines()
    assert [len(line) for line in lines] == [5000, RULE_WIDTH]


def test_consoles_are_made_in_one_place_only() -> None:
    """A `Console(...)` made elsewhere would wrap at 80 columns again."""
    root = Path(__file__).resolve().parents[2]
    makers = []
    for path in sorted([*(root / "core").rglob("*.py"), *(root / "bot").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name == "Console":
                    makers.append(str(path.relative_to(root)))
    assert makers == []  # core/console.py makes them through the Output subclass
