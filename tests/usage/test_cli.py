"""`nightshift usage` and `nightshift usage blocks` as a user runs them (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
    assert "Tokens used   24,440  [logs]" in text.stdout
    assert "UTC" in text.stdout


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
