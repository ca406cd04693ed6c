"""Queue holds for API failures, and the login they wait for, judged without a request."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.agent.login import login_status
from core.execution.holds import (
    Hold,
    active_hold,
    clear_overload,
    hold_for_login,
    hold_for_overload,
    login_fingerprint,
    overload_backoff,
)
from core.models import iso
from core.service import QUEUE_PAUSED_KEY, Service
from core.settings import Settings
from core.store.store import Store
from tests.execution.conftest import logged

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
TOKEN = "sk-ant-oat01-secret-value-xyz"


def credentials(path: Path, *, token: str = "at-1", expires_ms: int | None = None,
                refresh: str | None = "rt-1") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    oauth: dict[str, object] = {"accessToken": token}
    if expires_ms is not None:
        oauth["expiresAt"] = expires_ms
    if refresh is not None:
        oauth["refreshToken"] = refresh
    path.write_text(json.dumps({"claudeAiOauth": oauth}))
    return path


@given(st.integers(min_value=-5, max_value=100))
def test_the_overload_back_off_grows_and_is_capped(count: int) -> None:
    wait = overload_backoff(count)
    assert timedelta(minutes=1) <= wait <= timedelta(minutes=30)
    assert overload_backoff(count + 1) >= wait


@given(st.sampled_from(["login", "overload"]), st.text(max_size=50),
       st.datetimes(timezones=st.just(UTC)), st.integers(min_value=1, max_value=50))
def test_a_hold_round_trips_through_json(kind: str, reason: str, since: datetime, count: int) -> None:
    hold = Hold(kind, reason, since, since + timedelta(minutes=count), "f", count)
    assert Hold.from_json(json.loads(json.dumps(hold.as_json()))) == hold


def test_login_status_from_the_environment_and_the_credentials_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    nothing = login_status([], home, {}, NOW)
    assert not nothing.logged_in and nothing.fingerprint == ""
    env = login_status([], home, {"CLAUDE_CODE_OAUTH_TOKEN": TOKEN}, NOW)
    assert env.logged_in and env.method == "CLAUDE_CODE_OAUTH_TOKEN" and TOKEN not in env.detail
    credentials(home / ".claude" / ".credentials.json")
    filed = login_status([], home, {}, NOW)
    assert filed.logged_in and filed.method == "credentials file"
    assert filed.fingerprint not in ("", env.fingerprint)
    # Logging in again rewrites the file: the fingerprint changes.
    credentials(home / ".claude" / ".credentials.json", token="at-2")
    assert login_status([], home, {}, NOW).fingerprint != filed.fingerprint


def test_an_expired_login_without_a_refresh_token_is_not_a_login(tmp_path: Path) -> None:
    config = tmp_path / "claude"
    past = int((NOW - timedelta(days=1)).timestamp() * 1000)
    credentials(config / ".credentials.json", expires_ms=past, refresh=None)
    status = login_status([config], tmp_path / "home", {}, NOW)
    assert not status.logged_in and "expired" in status.detail
    credentials(config / ".credentials.json", expires_ms=past)  # a refresh token renews it
    assert login_status([config], tmp_path / "home", {}, NOW).logged_in


async def test_a_login_hold_lasts_until_the_credentials_change(settings: Settings, store: Store,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="nightshift.holds")
    env = {"CLAUDE_CODE_OAUTH_TOKEN": TOKEN}
    fingerprint = login_fingerprint(settings, NOW, env)
    assert await hold_for_login(store, fingerprint, "401", NOW) is True
    assert await hold_for_login(store, fingerprint, "401 again", NOW) is False  # same spell: told once
    hold = await active_hold(store, settings, NOW + timedelta(days=1), env)
    assert hold is not None and hold.kind == "login" and hold.until is None
    assert TOKEN not in json.dumps(await store.kv.get(QUEUE_PAUSED_KEY))
    assert await active_hold(store, settings, NOW, {"CLAUDE_CODE_OAUTH_TOKEN": "a new login"}) is None
    assert await store.kv.get(QUEUE_PAUSED_KEY) is None
    # One event per spell, none for the repeat; the lift is an event too.
    assert logged(caplog, "queue held", logging.WARNING) == [{"hold": "login", "reason": "401"}]
    assert logged(caplog, "queue hold lifted") == [
        {"hold": "login", "reason": "Claude Code's credentials changed"}]


async def test_overload_holds_double_until_a_run_gets_through(settings: Settings, store: Store,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    first = await hold_for_overload(store, "529", NOW)
    second = await hold_for_overload(store, "529", NOW)
    assert (first.count, second.count) == (1, 2)
    assert second.until == NOW + timedelta(minutes=2)
    assert await active_hold(store, settings, NOW + timedelta(seconds=119), {}) is not None
    assert await active_hold(store, settings, NOW + timedelta(seconds=121), {}) is None
    await clear_overload(store)
    assert (await hold_for_overload(store, "529", NOW)).count == 1
    held = logged(caplog, "queue held", logging.WARNING)
    assert [(e["hold"], e["in_a_row"], e["until"]) for e in held] == [
        ("overload", 1, iso(NOW + timedelta(minutes=1))), ("overload", 2, iso(NOW + timedelta(minutes=2))),
        ("overload", 1, iso(NOW + timedelta(minutes=1)))]


async def test_the_service_reports_a_hold_and_resume_lifts_it(service: Service) -> None:
    await hold_for_overload(service.store, "529", service.now())
    assert "overloaded" in (await service.queue_paused() or "")
    await service.resume_queue()
    assert await service.queue_paused() is None


async def test_the_owners_pause_is_never_replaced_by_a_hold(service: Service) -> None:
    await service.pause_queue("my own pause")
    now = service.now()
    assert await hold_for_login(service.store, "f", "401", now) is True  # told, but not overwritten
    backoff = await hold_for_overload(service.store, "529", now)
    assert backoff.until == now + timedelta(minutes=1)  # the task still waits it out
    assert await service.queue_paused() == "my own pause"
    await service.resume_queue()
    assert await service.queue_paused() is None
