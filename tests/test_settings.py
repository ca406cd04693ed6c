"""Settings: valid values parse, invalid ones name their variable; secrets stay secret."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ConfigError
from core.scheduling.hours import parse_hour_ranges
from core.settings import load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NIGHTSHIFT_HOME")
    s = load_settings(env_file=None)
    assert s.home == Path("~/.nightshift")
    assert s.max_parallel == 1 and s.reset_margin_s == 60 and s.tmux_socket.startswith("ns-test")
    assert s.telegram_bot_token is None and not s.telegram_enabled
    assert s.telegram_api_base_url == "https://api.telegram.org/bot"


def test_lists_and_maps_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NIGHTSHIFT_REPOS", "shop=~/code/shop, api=/srv/api")
    monkeypatch.setenv("TELEGRAM_ALLOWED_USERS", "123, 456")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", f"{tmp_path}/a,{tmp_path}/b")
    monkeypatch.setenv("NIGHTSHIFT_PRIME_AT", "06:00,11:30")
    monkeypatch.setenv("NIGHTSHIFT_RESERVE", "9-17:30")
    s = load_settings(env_file=None)
    assert s.repos == {"shop": Path("~/code/shop"), "api": Path("/srv/api")}
    assert s.telegram_allowed_users == frozenset({123, 456})
    assert s.claude_config_dir == [tmp_path / "a", tmp_path / "b"]
    assert s.prime_at == ["06:00", "11:30"]
    assert s.reserve_by_hour == {h: 0.3 for h in range(9, 18)}


@pytest.mark.parametrize(
    ("var", "value", "fragment"),
    [
        ("NIGHTSHIFT_MAX_PARALLEL", "0", "greater than or equal to 1"),
        ("NIGHTSHIFT_MAX_PARALLEL", "many", "valid integer"),
        ("NIGHTSHIFT_RESET_MARGIN_S", "-5", "greater than or equal to 0"),
        ("NIGHTSHIFT_PERMISSION_MODE", "yolo", "acceptEdits"),
        ("NIGHTSHIFT_REPOS", "shop", "'shop' is not alias=path"),
        ("TELEGRAM_ALLOWED_USERS", "me", "'me' is not a numeric Telegram user id"),
        ("NIGHTSHIFT_TZ", "Mars/Olympus", "unknown time zone"),
        ("NIGHTSHIFT_CRON", "every night", "not a crontab expression"),
        ("NIGHTSHIFT_PRIME_AT", "6am", "not a HH:MM time"),
        ("NIGHTSHIFT_RESERVE", "9-30:10", "hour out of range"),
        ("NIGHTSHIFT_MAX_ITERATIONS", "50", "less than or equal to 20"),
    ],
)
def test_invalid_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    assert caught.value.variable == var
    assert str(caught.value).startswith(f"{var}: ")
    assert fragment in str(caught.value)


def test_token_is_secret_and_never_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "123456:AAHsecretsecretsecret"
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", token)
    s = load_settings(env_file=None)
    assert s.telegram_enabled
    assert token not in repr(s) and token not in str(s.model_dump())
    assert s.telegram_bot_token is not None and s.telegram_bot_token.get_secret_value() == token


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    env = tmp_path / "custom.env"
    env.write_text("NIGHTSHIFT_MAX_PARALLEL=3\n")
    assert load_settings(env_file=env).max_parallel == 3


@given(st.integers(0, 23), st.integers(0, 23), st.integers(0, 100))
def test_hour_ranges_cover_the_span(start: int, end: int, percent: int) -> None:
    hours = parse_hour_ranges(f"{start}-{end}:{percent}")
    span = (end - start) % 24 + 1
    assert len(hours) == span
    assert all(abs(v - percent / 100) < 1e-9 for v in hours.values())
    assert start in hours and end in hours


def test_a_database_url_chooses_postgresql_and_its_password_stays_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings(env_file=None).database_url is None
    monkeypatch.setenv("NIGHTSHIFT_DATABASE_URL", "postgresql://ns:hunter2@db:5432/q")
    loaded = load_settings(env_file=None)
    assert loaded.database_url is not None
    assert loaded.database_url.get_secret_value() == "postgresql://ns:hunter2@db:5432/q"
    assert "hunter2" not in repr(loaded) and "hunter2" not in str(loaded.model_dump())
    monkeypatch.setenv("NIGHTSHIFT_DATABASE_URL", "mysql://ns:hunter2@db/q")
    with pytest.raises(ConfigError, match="NIGHTSHIFT_DATABASE_URL") as caught:
        load_settings(env_file=None)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("cron", ["0 0 * * 7", "0 1 * * 5-7", "0 0 * * *;", "0 0 * * 1-5; 30 3 * * 0;",
                                  "*/15 0-5 * * sun,sat"])
def test_every_crontab_line_the_scheduler_takes_starts_up(monkeypatch: pytest.MonkeyPatch, cron: str) -> None:
    from core.scheduling.cron import parse_cron

    monkeypatch.setenv("NIGHTSHIFT_CRON", cron)
    assert load_settings(env_file=None).cron == cron
    assert parse_cron(cron)  # and the scheduler reads the same thing


@pytest.mark.parametrize("cron", ["0 0 * * 8", "61 0 * * *", "0 0 * *", "0 0 * * 5-3", "0 0 30 2 *"])
def test_a_crontab_line_the_scheduler_refuses_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, cron: str
) -> None:
    monkeypatch.setenv("NIGHTSHIFT_CRON", cron)
    with pytest.raises(ConfigError, match="NIGHTSHIFT_CRON: not a crontab expression"):
        load_settings(env_file=None)


def test_settings_come_from_the_user_config_then_dot_env_whatever_the_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from core.configfiles import user_config_file

    config = user_config_file()
    assert config == Path(os.environ["XDG_CONFIG_HOME"]) / "nightshift" / ".env"
    config.parent.mkdir(parents=True)
    config.write_text("NIGHTSHIFT_MAX_PARALLEL=3\nNIGHTSHIFT_MAX_TURNS=7\n")
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    assert load_settings().max_parallel == 3  # found without a ./.env
    (elsewhere / ".env").write_text("NIGHTSHIFT_MAX_PARALLEL=5\nNIGHTSHIFT_MAX_ITERATIONS=4\n")
    loaded = load_settings()
    assert (loaded.max_parallel, loaded.max_turns, loaded.max_iterations) == (3, 7, 4)  # user config wins
    monkeypatch.setenv("NIGHTSHIFT_MAX_PARALLEL", "2")
    assert load_settings().max_parallel == 2  # the environment wins over both
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")  # ignored, as the XDG spec says
    assert user_config_file() == Path.home() / ".config" / "nightshift" / ".env"
