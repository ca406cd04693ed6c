"""`init` writes a valid private .env; the service unit renders with the right paths."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from core.settings import load_settings
from core.setup.envfile import merge_env
from core.setup.unit import render_unit

BIN = Path(sys.executable).parent / "nightshift"
TOKEN = "123456789:AAH" + "x" * 32


def ns(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env or dict(os.environ),
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def fake_telegram() -> Iterator[tuple[str, list[str]]]:
    """A local Bot API that knows one token."""
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            ok = self.path == f"/bot{TOKEN}/getMe"
            body = json.dumps(
                {"ok": ok, "result": {"id": 1, "is_bot": True, "username": "night_bot"}}
                if ok
                else {"ok": False, "error_code": 401, "description": "Unauthorized"}
            )
            self.send_response(200 if ok else 401)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/bot", paths
    server.shutdown()


def test_init_with_flags_writes_private_valid_env(
    tmp_path: Path, fake_telegram: tuple[str, list[str]]
) -> None:
    base, paths = fake_telegram
    repo = tmp_path / "shop"
    repo.mkdir()
    env_file = tmp_path / "conf" / ".env"
    env = {**os.environ, "TELEGRAM_API_BASE_URL": base}
    done = ns(
        "init",
        "--yes",
        "--token",
        TOKEN,
        "--user",
        "42",
        "--repo",
        f"shop={repo}",
        "--work-hours",
        "9-18",
        "--env-file",
        str(env_file),
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "@night_bot" in done.stdout
    assert TOKEN not in done.stdout + done.stderr
    assert paths == [f"/bot{TOKEN}/getMe"]
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    loaded = load_settings(env_file=env_file)
    assert loaded.telegram_bot_token is not None
    assert loaded.telegram_bot_token.get_secret_value() == TOKEN
    assert loaded.telegram_allowed_users == frozenset({42})
    assert loaded.repos == {"shop": repo}
    assert loaded.reserve_by_hour[9] == 0.3 and 19 not in loaded.reserve_by_hour


def test_init_refused_token_writes_nothing(tmp_path: Path, fake_telegram: tuple[str, list[str]]) -> None:
    base, _ = fake_telegram
    env_file = tmp_path / ".env"
    wrong = "987654321:BBH" + "y" * 32
    done = ns(
        "init",
        "--yes",
        "--token",
        wrong,
        "--user",
        "42",
        "--env-file",
        str(env_file),
        env={**os.environ, "TELEGRAM_API_BASE_URL": base},
    )
    assert done.returncode == 1
    assert "Telegram refused the bot token" in done.stderr
    assert wrong not in done.stderr + done.stdout
    assert not env_file.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--token", "not-a-token", "--user", "1"), "does not look like a bot token"),
        (("--token", TOKEN, "--user", "@me"), "is not a numeric Telegram user id"),
        (("--token", TOKEN), "give your numeric user id too"),
        (("--repo", "shop"), "is not alias=path"),
        (("--work-hours", "9-27"), "hour out of range"),
    ],
)
def test_init_bad_flags(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    env_file = tmp_path / ".env"
    done = ns("init", "--yes", "--no-check", "--env-file", str(env_file), *args)
    assert done.returncode == 1
    assert message in done.stderr
    assert not env_file.exists()


def test_init_keeps_other_lines() -> None:
    merged = merge_env(
        "# mine\nNIGHTSHIFT_MAX_PARALLEL=2\nTELEGRAM_ALLOWED_USERS=1\n",
        {"TELEGRAM_ALLOWED_USERS": "42", "NIGHTSHIFT_REPOS": "a=/x y"},
    )
    assert merged == (
        '# mine\nNIGHTSHIFT_MAX_PARALLEL=2\nTELEGRAM_ALLOWED_USERS=42\nNIGHTSHIFT_REPOS="a=/x y"\n'
    )


def test_unit_renders_paths_and_keeps_tmux_alive(tmp_path: Path) -> None:
    unit = render_unit(Path("/opt/my tools/nightshift"), tmp_path, "/usr/bin:/bin")
    assert "ExecStart='/opt/my tools/nightshift' run" in unit
    assert f"WorkingDirectory={tmp_path}" in unit
    assert "KillMode=process" in unit
    assert "WantedBy=default.target" in unit


def test_service_install_without_systemd_writes_unit_and_explains(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    done = ns("service", "install", "--workdir", str(tmp_path), env=env)
    assert done.returncode == 0, done.stderr
    unit = tmp_path / "cfg" / "systemd" / "user" / "nightshift.service"
    assert unit.exists()
    assert f"WorkingDirectory={tmp_path}" in unit.read_text()
    assert "@reboot" in done.stdout
    removed = ns("service", "uninstall", env=env)
    assert removed.returncode == 0 and not unit.exists()
