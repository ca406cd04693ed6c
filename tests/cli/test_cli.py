"""The installed `nightshift` entry point, run as a subprocess like a user or a script would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "nightshift"


def ns(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, timeout=60, env=env or dict(os.environ)
    )


def test_add_list_show_happy_path() -> None:
    added = ns("add", "fix the flaky login test", "--priority", "high", "--no-plan", "--json")
    assert added.returncode == 0, added.stderr
    task = json.loads(added.stdout)
    assert {"id", "title", "prompt", "state", "priority", "repo", "depends_on", "created_at"} <= set(task)
    assert task["state"] == "ready" and task["priority"] == "high"

    second = ns("add", "then deploy", "--after", str(task["id"]), "--json")
    assert json.loads(second.stdout)["depends_on"] == [task["id"]]

    listed = json.loads(ns("list", "--json").stdout)
    assert [t["id"] for t in listed] == [task["id"], task["id"] + 1]
    assert [t["id"] for t in json.loads(ns("list", "--state", "queued", "--json").stdout)] == [2]

    shown = json.loads(ns("show", "2", "--json").stdout)
    assert shown["plans"] == [] and shown["runs"] == []
    assert shown["why_not_running"] == "waiting for task 1 to finish"
    assert shown["created_at"].endswith("+00:00")

    text = ns("show", "2")
    assert text.returncode == 0 and "waiting for task 1" in text.stdout


def test_cancel_and_retry() -> None:
    ns("add", "x", "--no-plan")
    assert ns("cancel", "1").returncode == 0
    again = ns("cancel", "1")
    assert again.returncode == 1
    assert again.stderr.strip() == "error: task 1 is cancelled; cannot cancel it"
    retried = ns("retry", "1", "--json")
    assert json.loads(retried.stdout)["state"] == "ready"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("show", "99"), 1, "error: no task with id 99"),
        (("cancel", "99"), 1, "error: no task with id 99"),
        (("add", "   "), 1, "error: the prompt is empty"),
        (("add", "x", "--after", "5"), 1, "error: --after names unknown task 5"),
        (("add", "x", "--priority", "whenever"), 2, "Invalid value for '--priority'"),
        (("show", "abc"), 2, "Invalid value"),
        (("frobnicate",), 2, "No such command"),
        (("add", "x", "--repo", "/no/such/dir"), 1, "error: repo '/no/such/dir' is not a directory"),
    ],
)
def test_errors_are_one_line_with_exit_codes(args: tuple[str, ...], code: int, message: str) -> None:
    done = ns(*args)
    assert done.returncode == code, done
    assert message in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_cycle_refused_through_edit() -> None:
    ns("add", "a")
    ns("add", "b", "--after", "1")
    done = ns("edit", "1", "--after", "2")
    assert done.returncode == 1
    assert done.stderr.strip() == "error: task 1 cannot wait for task 2: that would be a cycle"
    assert json.loads(ns("show", "1", "--json").stdout)["depends_on"] == []


def test_invalid_setting_names_the_variable() -> None:
    env = {**os.environ, "NIGHTSHIFT_MAX_PARALLEL": "lots"}
    done = ns("list", env=env)
    assert done.returncode == 1
    assert done.stderr.startswith("error: NIGHTSHIFT_MAX_PARALLEL:")
    assert "Traceback" not in done.stderr
    env = {**os.environ, "TELEGRAM_ALLOWED_USERS": "123,@bob"}
    done = ns("list", env=env)
    assert "TELEGRAM_ALLOWED_USERS" in done.stderr and "'@bob' is not a numeric" in done.stderr


def test_json_shapes_for_every_listing() -> None:
    ns("add", "x")
    assert isinstance(json.loads(ns("list", "--json").stdout), list)
    assert isinstance(json.loads(ns("inbox", "--json").stdout), dict)
    doctor = ns("doctor", "--json")
    checks = json.loads(doctor.stdout)
    assert {c["name"] for c in checks} >= {"settings", "python", "tmux", "git", "claude", "database"}
