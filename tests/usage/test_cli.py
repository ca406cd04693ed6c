"""`nightshift usage` and `nightshift usage blocks` as a user runs them (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from core.settings import load_settings
from core.usage.config import UsageConfig, read_config
from tests.usage.logtree import Tree, assistant, at

ROOT = Path(__file__).resolve().parents[2]
NIGHTSHIFT = ROOT / ".venv" / "bin" / "nightshift"


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIGHTSHIFT_", "CLAUDE", "TELEGRAM_"))}
    env.update(CLAUDE_CONFIG_DIR=str(tmp_path / "claude"), NIGHTSHIFT_HOME=str(tmp_path / "state"),
               HOME=str(tmp_path / "home"), NIGHTSHIFT_USAGE_API="false", TZ="UTC")
    return env


def nightshift(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(NIGHTSHIFT), *args], env=env_for(tmp_path), capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)


def through_typer(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The same command line, forced through typer instead of the lean path."""
    code = ("import sys; from core.cli import usage; from core.cli.app import app; "
            f"app({list(args)!r})")
    return subprocess.run([sys.executable, "-c", code], env=env_for(tmp_path), capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    tree = Tree(tmp_path / "claude")
    now = datetime.now(UTC)
    tree.add("p/a.jsonl", *(assistant(at(30 * n), msg=f"a{n}", req=f"a{n}") for n in range(20)))
    tree.add("p/b.jsonl", *(assistant(now - timedelta(minutes=90 - 20 * n), msg=f"b{n}", req=f"b{n}")
                            for n in range(4)))
    return tree


@pytest.mark.parametrize("args", [(), ("--since", "20260302"), ("--until", "20260302"),
                                  ("--token-limit", "max"), ("-t", "1000"), ("--recent",), ("-a",)])
def test_lean_path_equals_typer(tmp_path: Path, tree: Tree, args: tuple[str, ...]) -> None:
    lean = nightshift(tmp_path, "usage", "blocks", "--json", *args)
    full = through_typer(tmp_path, "usage", "blocks", "--json", *args)
    assert lean.returncode == full.returncode == 0, (lean.stderr, full.stderr)
    mine = json.loads(lean.stdout)
    other = json.loads(full.stdout)
    for block in mine["blocks"] + other["blocks"]:
        block.pop("projection", None)  # minutes left differ between two runs
        block.pop("tokenLimitStatus", None)
    assert mine == other
    assert mine["blocks"]


def test_bad_values_are_one_line_errors(tmp_path: Path, tree: Tree) -> None:
    for args, word in ((("--since", "2026"), "--since"), (("--token-limit", "lots"), "--token-limit"),
                       (("--until", "20261301"), "--until")):
        done = nightshift(tmp_path, "usage", "blocks", "--json", *args)
        assert done.returncode == 1
        assert done.stderr.startswith("error: ") and word in done.stderr
        assert done.stdout == ""


def test_table_and_help(tmp_path: Path, tree: Tree) -> None:
    done = nightshift(tmp_path, "usage", "blocks")
    assert done.returncode == 0 and "ACTIVE" in done.stdout
    helped = nightshift(tmp_path, "usage", "blocks", "--help")
    assert helped.returncode == 0 and "--token-limit" in helped.stdout


def test_usage_json(tmp_path: Path, tree: Tree) -> None:
    done = nightshift(tmp_path, "usage", "--json")
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert state["limited"] is False
    assert state["tokens_used"] == 4 * 6110
    assert state["sources"]["tokens_used"] == "logs"
    assert state["window_start"] is not None and state["resets_at"] is not None
    assert state["capacity_tokens"] > 0
    assert state["endpoint"]["state"] == "off"
    assert state["scan"]["entries"] == 24
    text = nightshift(tmp_path, "usage")
    assert text.returncode == 0
    assert "Used           24,440 tokens" in text.stdout and "[logs" in text.stdout
    assert "UTC" in text.stdout


def test_usage_text_says_when_and_where_from(tmp_path: Path, tree: Tree) -> None:
    """The current window and its reset in the owner's zone, the weekly picture from the usage
    endpoint, each figure with its source."""
    from tests.usage.test_endpoint import write_credentials
    from tests.usage.usage_server import Reply, usage_server

    write_credentials(tmp_path / "home")
    week = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    body = {"five_hour": {"utilization": 41.0, "resets_at": None},
            "seven_day": {"utilization": 12.0, "resets_at": week.isoformat().replace("+00:00", "Z")},
            "seven_day_opus": {"utilization": 100.0, "resets_at": week.isoformat().replace("+00:00", "Z")}}
    with usage_server() as server:
        server.answer(Reply(200, body))
        env = {**env_for(tmp_path), "NIGHTSHIFT_TZ": "Asia/Tokyo", "NIGHTSHIFT_USAGE_API": "true",
               "NIGHTSHIFT_USAGE_API_BASE_URL": server.url}
        done = subprocess.run([str(NIGHTSHIFT), "usage"], env=env, capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = {line[:14].strip(): line[15:] for line in done.stdout.splitlines() if line[:14].strip()}
    assert lines["5-hour window"].startswith("started ") and "Asia/Tokyo" in lines["5-hour window"]
    assert "[logs]" in lines["5-hour window"]
    tokyo = week.astimezone(ZoneInfo("Asia/Tokyo"))
    assert lines["Weekly"].startswith(
        f"12 % used, resets {tokyo:%a %d %b %H:%M} Asia/Tokyo ({week:%H:%M} UTC)")
    assert lines["Weekly"].endswith("[endpoint]")
    assert lines["Opus weekly"].startswith("limit reached, resets ") and "[endpoint]" in lines["Opus weekly"]
    assert lines["Limited"].startswith("yes: opus limit, until ")
    assert "41.0 %" in lines["Used"] and "endpoint" in lines["Used"]


def test_usage_text_without_a_weekly_source(tmp_path: Path, tree: Tree) -> None:
    done = nightshift(tmp_path, "usage")
    assert done.returncode == 0
    assert "Weekly         not known" in done.stdout
    assert "Resets         " in done.stdout and "[logs]" in done.stdout


def test_blocks_table_marks_estimated_costs(tmp_path: Path) -> None:
    tree = Tree(tmp_path / "claude")
    tree.add("p/a.jsonl",
             assistant(at(0), msg="a", req="a", model="claude-opus-9-2", tokens=(1000, 1000, 0, 0)),
             assistant(at(600), msg="b", req="b"))
    done = nightshift(tmp_path, "usage", "blocks")
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if "2026-03-02" in line]
    assert "~" in rows[0] and "~" not in rows[-1]
    assert "estimated" in done.stdout
    document = json.loads(nightshift(tmp_path, "usage", "blocks", "--json").stdout)
    first, last = document["blocks"][0], document["blocks"][-1]
    assert first["costEstimated"] is True and first["costUSD"] > 0  # priced as the newest Opus
    assert "costEstimated" not in last


def test_no_logs_at_all(tmp_path: Path) -> None:
    done = nightshift(tmp_path, "usage", "blocks", "--json")
    assert done.returncode == 0 and json.loads(done.stdout) == {"blocks": []}


@pytest.mark.parametrize(
    ("environment", "dotenv"),
    [
        ({}, ""),
        ({"NIGHTSHIFT_HOME": "/x/state", "CLAUDE_CONFIG_DIR": "/a, /b ,", "NIGHTSHIFT_TZ": "Asia/Tokyo"}, ""),
        ({}, "NIGHTSHIFT_HOME=/from/file\nclaude_config_dir=/c\nNIGHTSHIFT_USAGE_PRICES_FILE=/p.json\n"),
        ({"nightshift_home": "/lower"}, "NIGHTSHIFT_HOME=/from/file\n"),
        ({"CLAUDE_CONFIG_DIR": ""}, "CLAUDE_CONFIG_DIR=/file\n"),
    ],
)
def test_lean_config_reads_what_settings_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              environment: dict[str, str], dotenv: str) -> None:
    for key in ("NIGHTSHIFT_HOME", "CLAUDE_CONFIG_DIR", "NIGHTSHIFT_TZ"):
        monkeypatch.delenv(key, raising=False)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    env_file = tmp_path / ".env"
    env_file.write_text(dotenv)
    lean = read_config(env_file=str(env_file))
    full = UsageConfig.from_settings(load_settings(env_file=env_file))
    assert lean == full


def test_lean_config_gives_up_on_a_bad_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIGHTSHIFT_TZ", "Mars/Olympus")
    assert read_config(env_file=None) is None


def _imports(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the installed `nightshift` as a user does, noting which modules it imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", str(NIGHTSHIFT), *args], env=env_for(tmp_path),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    modules = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    return done, modules


def test_a_poll_with_nothing_new_is_answered_by_the_lean_path(tmp_path: Path, tree: Tree) -> None:
    """The first poll scans; the next, with no log changed, is answered from the database
    without the scanner (nor json, typing or pathlib); one after an append scans again."""
    first, modules = _imports(tmp_path, "usage", "blocks", "--json")
    assert first.returncode == 0 and "core.usage.scanner" in modules
    for args in ((), ("--active",), ("-r",)):
        lean, modules = _imports(tmp_path, "usage", "blocks", "--json", *args)
        assert lean.returncode == 0, lean.stderr
        assert not modules & {"core.usage.scanner", "json", "typing", "pathlib", "typer"}, sorted(modules)
        full = through_typer(tmp_path, "usage", "blocks", "--json", *args)
        assert full.returncode == 0, full.stderr
        mine, other = json.loads(lean.stdout), json.loads(full.stdout)
        for block in mine["blocks"] + other["blocks"]:
            block.pop("projection", None)  # minutes left differ between two runs
        assert mine == other
    tree.add("p/b.jsonl", assistant(datetime.now(UTC) - timedelta(minutes=1), msg="new", req="new"))
    again, modules = _imports(tmp_path, "usage", "blocks", "--json")
    assert again.returncode == 0 and "core.usage.scanner" in modules
    entries = [json.loads(done.stdout)["blocks"][-1]["entries"] for done in (first, again)]
    assert entries[1] == entries[0] + 1
