"""`nightshift doctor` reports the usage endpoint's state (a local server stands in for it)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.usage.test_endpoint import TOKEN, write_credentials
from tests.usage.usage_server import Reply, usage_body, usage_server

ROOT = Path(__file__).resolve().parents[2]


def usage_check(tmp_path: Path, url: str, *extra: tuple[str, str]) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIGHTSHIFT_", "CLAUDE", "TELEGRAM_"))}
    env.update(HOME=str(tmp_path), NIGHTSHIFT_HOME=str(tmp_path / "state"),
               CLAUDE_CONFIG_DIR=str(tmp_path / "claude"), NIGHTSHIFT_USAGE_API_BASE_URL=url, **dict(extra))
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "nightshift"), "doctor", "--json"], env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert TOKEN not in done.stdout and TOKEN not in done.stderr
    checks = {c["name"]: c for c in json.loads(done.stdout)}
    return checks["usage api"]


@pytest.mark.parametrize(
    ("reply", "ok", "words"),
    [
        (Reply(200, usage_body()), True, "ok: five_hour 41%"),
        (Reply(401, {}), False, "degraded: HTTP 401"),
        (Reply(429, {}), True, "degraded: HTTP 429"),
    ],
)
def test_doctor_reports_the_endpoint(tmp_path: Path, reply: Reply, ok: bool, words: str) -> None:
    write_credentials(tmp_path)
    with usage_server() as server:
        server.answer(reply)
        check = usage_check(tmp_path, server.url)
    assert check["ok"] is ok
    assert words in str(check["detail"])


def test_doctor_unreachable_and_off(tmp_path: Path) -> None:
    write_credentials(tmp_path)
    check = usage_check(tmp_path, "http://127.0.0.1:9")
    assert check["ok"] is True and "degraded" in str(check["detail"])
    check = usage_check(tmp_path, "http://127.0.0.1:9", ("NIGHTSHIFT_USAGE_API", "false"))
    assert "off" in str(check["detail"])
