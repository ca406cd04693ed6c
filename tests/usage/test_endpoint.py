"""The usage endpoint client against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.usage.endpoint import BETA_HEADER, UsageEndpoint, credentials_paths, read_token
from tests.usage.usage_server import Reply, usage_body, usage_server

NOW = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
TOKEN = "sk-ant-oat01-SECRET-never-print-me"


def write_credentials(home: Path, token: str = TOKEN) -> Path:
    path = home / ".claude" / ".credentials.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"claudeAiOauth": {"accessToken": token, "refreshToken": "r",
                                                  "expiresAt": 1}}))
    return path


def endpoint(url: str, home: Path) -> UsageEndpoint:
    return UsageEndpoint(url, credentials_paths([], home), cache_s=60)


async def test_reads_windows_with_the_token(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    write_credentials(tmp_path)
    with usage_server() as server:
        server.answer(Reply(200, usage_body()))
        client = endpoint(server.url, tmp_path)
        reading = await client.read(NOW)
    assert reading is not None
    five = reading.window("five_hour")
    assert five is not None and five.utilization == 41.0
    assert five.resets_at == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert reading.window("seven_day_opus") is None
    assert client.status.state == "ok"
    request = server.requests[0]
    assert request["path"] == "/api/oauth/usage"
    assert request["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert request["headers"]["anthropic-beta"] == BETA_HEADER
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(client.status) and TOKEN not in repr(client)


async def test_cached_for_at_least_a_minute(tmp_path: Path) -> None:
    write_credentials(tmp_path)
    with usage_server() as server:
        server.answer(Reply(200, usage_body()))
        client = UsageEndpoint(server.url, credentials_paths([], tmp_path), cache_s=5)
        assert client.cache_s == 60
        await client.read(NOW)
        await client.read(NOW + timedelta(seconds=59))
        assert len(server.requests) == 1
        await client.read(NOW + timedelta(seconds=61))
        assert len(server.requests) == 2


@pytest.mark.parametrize(("status", "state"), [(401, "unauthorized"), (403, "unauthorized"),
                                                (429, "rate_limited"), (500, "error")])
async def test_errors_degrade(tmp_path: Path, status: int, state: str,
                              caplog: pytest.LogCaptureFixture) -> None:
    write_credentials(tmp_path)
    with usage_server() as server:
        server.answer(Reply(status, {"error": "nope"}, {"Retry-After": "900"}))
        client = endpoint(server.url, tmp_path)
        assert await client.read(NOW) is None
        assert client.status.state == state and client.status.degraded
        assert TOKEN not in client.status.detail and TOKEN not in caplog.text
        # not asked again before the cache period (or the 429 back-off) is over
        assert await client.read(NOW + timedelta(seconds=30)) is None
        assert len(server.requests) == 1
        await client.read(NOW + timedelta(seconds=120))
        assert len(server.requests) == (1 if status == 429 else 2)


async def test_network_error_degrades(tmp_path: Path) -> None:
    write_credentials(tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = endpoint(f"http://127.0.0.1:{port}", tmp_path)
    assert await client.read(NOW) is None
    assert client.status.state == "unreachable"


async def test_without_credentials_nothing_is_sent(tmp_path: Path) -> None:
    with usage_server() as server:
        client = endpoint(server.url, tmp_path)
        assert await client.read(NOW) is None
        assert client.status.state == "no_credentials"
        assert server.requests == []


async def test_disabled(tmp_path: Path) -> None:
    write_credentials(tmp_path)
    with usage_server() as server:
        client = UsageEndpoint(server.url, credentials_paths([], tmp_path), enabled=False)
        assert await client.read(NOW) is None
        assert server.requests == []


def test_token_from_config_dir_first(tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    config.mkdir()
    (config / ".credentials.json").write_text(json.dumps({"claudeAiOauth": {"accessToken": "first"}}))
    write_credentials(tmp_path, "second")
    assert read_token(credentials_paths([config], tmp_path)) == "first"
    (config / ".credentials.json").write_text("{broken")
    assert read_token(credentials_paths([config], tmp_path)) == "second"
