"""Settings from the environment and `.env`, validated once at start-up.

Every front calls `load_settings()`; an invalid value raises `ConfigError` naming the
environment variable, so the owner sees one line instead of a pydantic report.
"""

from __future__ import annotations

import os
from datetime import time, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.childenv import check_pass_name
from core.configfiles import config_files
from core.errors import ConfigError
from core.scheduling.hours import parse_clock, parse_hour_ranges
from core.scheduling.workhours import parse_work_hours
from core.setting_values import (
    check_database_url,
    check_node_name,
    check_zone,
    parse_accounts,
    parse_repo_aliases,
    parse_user_ids,
    split_csv,
)

BashSandbox = Literal["auto", "on", "off"]
PermissionMode = Literal["default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto"]

ENV_PREFIX = "NIGHTSHIFT_"
SECRET_FIELDS = frozenset({"database_url"})
"""Besides tokens: settings whose value an error message must not repeat (a URL's password)."""
HARD_MAX_ITERATIONS = 20
"""No setting or task can raise the continuation loop above this: a runaway loop burns a window."""


class Settings(BaseSettings):
    """Every knob nightshift has; `.env.example` documents each one."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=None,
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # --- where things live
    home: Path = Path("~/.nightshift")
    brain: Path = Path("./brain")
    claude_bin: str = "claude"
    gh_bin: str = "gh"
    claude_config_dir: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, validation_alias=AliasChoices("CLAUDE_CONFIG_DIR")
    )
    tz: str = ""
    database_url: SecretStr | None = None
    """PostgreSQL URL of a queue shared by several machines; unset: the local SQLite file."""
    accounts: Annotated[dict[str, Path], NoDecode] = Field(default_factory=dict)
    """Claude accounts on this machine, name -> its Claude config directory (login, logs, limits);
    empty: one account, Claude's own (CLAUDE_CONFIG_DIR as set)."""
    node_name: str = ""
    """This machine's name among the daemons sharing a queue; empty: the host name."""
    node_stale_s: float = Field(90.0, ge=3, le=86_400)
    """A daemon whose heartbeat is older than this is stopped: its running tasks are taken over."""

    # --- scheduling
    reset_margin_s: float = Field(60.0, ge=0, le=3600)
    max_parallel: int = Field(1, ge=1, le=16)
    cron: str = ""
    quiet_hours: str = ""
    reserve: str = ""
    work_hours: str = ""
    prime_at: Annotated[list[str], NoDecode] = Field(default_factory=list)
    usage_refresh_s: float = Field(60.0, ge=5)
    inbox_poll_s: float = Field(30.0, ge=1)
    window_capacity_tokens: int = Field(0, ge=0)
    default_task_tokens: int = Field(2_000_000, ge=1)
    usage_api_base_url: str = "https://api.anthropic.com"
    usage_api: bool = True
    usage_prices_file: str = ""
    weekly_pacing: bool = False
    """Hold new work on an account once it had its part of the day of what is left of its week."""
    weekly_owner_share: float = Field(0.3, ge=0, le=1)
    weekly_owner_days: str = "mon-fri"

    # --- execution
    tmux_socket: str = "nightshift"
    repos: Annotated[dict[str, Path], NoDecode] = Field(default_factory=dict)
    base_branch: str = ""
    allow_in_place: bool = False
    permission_mode: PermissionMode = "acceptEdits"
    allowed_tools: str = ""
    bash_sandbox: BashSandbox = "auto"
    disallowed_tools: str = ""
    model: str = ""
    fallback_model: str = ""
    """A model tasks may go on with while their own model family's weekly limit holds them."""
    max_turns: int = Field(0, ge=0)
    max_budget_usd: float = Field(0.0, ge=0)
    nightly_budget_usd: float = Field(0.0, ge=0)
    """The cap across all runs of one night (noon to noon); 0: none. `/budget night` overrides it."""
    max_minutes: float = Field(60.0, gt=0)
    max_iterations: int = Field(3, ge=1, le=HARD_MAX_ITERATIONS)
    check_timeout_s: float = Field(600.0, gt=0)
    append_system_prompt: str = ""
    add_dirs: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    pass_env: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Extra environment variables Claude and the check may see (core/childenv.py)."""
    max_attempts: int = Field(2, ge=1, le=10)

    # --- plans
    plan_by_default: bool = True
    auto_approve_small: bool = False

    # --- self-improvement
    prompt_style: str = ""
    style_exploration: float = Field(0.1, ge=0, le=1)
    auto_adjust: bool = True
    meta_task: bool = False

    # --- telegram
    telegram_bot_token: SecretStr | None = Field(None, validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN"))
    telegram_allowed_users: Annotated[frozenset[int], NoDecode] = Field(
        default_factory=frozenset, validation_alias=AliasChoices("TELEGRAM_ALLOWED_USERS")
    )
    telegram_api_base_url: str = Field(
        "https://api.telegram.org/bot", validation_alias=AliasChoices("TELEGRAM_API_BASE_URL")
    )
    telegram_allow_groups: bool = False
    daily_summary_hour: int = Field(8, ge=0, le=23)
    wake_time: str = ""
    notify_run_started: bool = False
    live_progress: bool = True
    """One message per run, edited in place while it goes (off: only the summaries)."""
    progress_edit_s: float = Field(5.0, ge=1.0, le=600.0)
    attachment_max_mb: float = Field(20.0, gt=0, le=2000)
    """Photos and documents from the phone; the Bot API serves bots files up to 20 MB."""

    # Each validator hands the raw value to its reader (core/setting_values.py, and the
    # scheduling modules for times); a ValueError becomes a ConfigError naming the variable.

    @field_validator("add_dirs", "claude_config_dir", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return split_csv(value)

    @field_validator("pass_env", mode="before")
    @classmethod
    def _pass_env(cls, value: Any) -> Any:
        names = split_csv(value)
        for name in names if isinstance(names, list) else []:
            check_pass_name(str(name))
        return names

    @field_validator("prime_at", mode="before")
    @classmethod
    def _prime_times(cls, value: Any) -> Any:
        times = split_csv(value)
        for item in times if isinstance(times, list) else []:
            parse_clock(str(item))  # items are never empty, so this refuses or reads a time
        return times

    @field_validator("wake_time")
    @classmethod
    def _wake_time(cls, value: str) -> str:
        parse_clock(value)
        return value.strip()

    @field_validator("repos", mode="before")
    @classmethod
    def _repo_aliases(cls, value: Any) -> Any:
        return parse_repo_aliases(value)

    @field_validator("accounts", mode="before")
    @classmethod
    def _accounts(cls, value: Any) -> Any:
        return parse_accounts(value)

    @field_validator("telegram_allowed_users", mode="before")
    @classmethod
    def _user_ids(cls, value: Any) -> Any:
        return parse_user_ids(value)

    @field_validator("telegram_bot_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("node_name")
    @classmethod
    def _node_name(cls, value: str) -> str:
        return check_node_name(value)

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, value: Any) -> Any:
        return check_database_url(value)

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)

    @field_validator("work_hours")
    @classmethod
    def _work_hours(cls, value: str) -> str:
        parse_work_hours(value)
        return value

    @field_validator("weekly_owner_days")
    @classmethod
    def _owner_days(cls, value: str) -> str:
        from core.scheduling.pacing import parse_days

        parse_days(value)
        return value

    @field_validator("reserve", "quiet_hours")
    @classmethod
    def _hour_ranges(cls, value: str) -> str:
        try:
            parse_hour_ranges(value)
        except ValueError as exc:
            raise ValueError(f"{exc} (expected e.g. 9-18:30)") from exc
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        """Checked by the very parser the scheduler uses (crontab's Sunday = 0 or 7, `5-7`,
        a trailing `;`), so what starts up is exactly what will fire."""
        if value:
            from core.scheduling.cron import parse_cron

            try:
                parse_cron(value)
            except ConfigError as exc:
                raise ValueError(f"not a crontab expression: {exc.message}") from None
        return value

    # --- derived values -------------------------------------------------------------------

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser()

    @property
    def brain_dir(self) -> Path:
        return self.brain.expanduser()

    @property
    def db_path(self) -> Path:
        """The local SQLite file: the queue by default, the usage cache always."""
        return self.home_dir / "nightshift.db"

    @property
    def node(self) -> str:
        """This daemon's node name: NIGHTSHIFT_NODE_NAME, else the host name."""
        if self.node_name:
            return self.node_name
        import socket

        return socket.gethostname() or "localhost"

    @property
    def shared_queue(self) -> bool:
        """The queue is a PostgreSQL database several machines' daemons may share."""
        return self.database_url is not None

    @property
    def heartbeat_s(self) -> float:
        """How often the daemon says it is alive: three beats fit in the staleness limit."""
        return self.node_stale_s / 3

    @property
    def local_tz(self) -> tzinfo:
        if self.tz:
            return ZoneInfo(self.tz)
        from datetime import datetime

        local = datetime.now().astimezone().tzinfo
        assert local is not None
        return local

    @property
    def reserve_by_hour(self) -> dict[int, float]:
        return parse_hour_ranges(self.reserve)

    @property
    def quiet_hour_set(self) -> frozenset[int]:
        return frozenset(parse_hour_ranges(self.quiet_hours))

    @property
    def owner_day_set(self) -> frozenset[int]:
        """The owner's work days (Monday = 0), a share of whose weekly part is kept for them."""
        from core.scheduling.pacing import parse_days

        return parse_days(self.weekly_owner_days)

    @property
    def wake_at(self) -> time | None:
        """When the morning digest goes out (owner's zone); None: no digest."""
        return parse_clock(self.wake_time)

    @property
    def attachment_max_bytes(self) -> int:
        return int(self.attachment_max_mb * 1_000_000)

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_bot_token is not None

    def repo_path(self, alias_or_path: str) -> Path:
        """A repo alias from `NIGHTSHIFT_REPOS`, or a path as given."""
        if alias_or_path in self.repos:
            return self.repos[alias_or_path].expanduser()
        return Path(alias_or_path).expanduser()


def env_name(field: str) -> str:
    """The environment variable that sets `field`, for error messages."""
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info else None
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        if isinstance(first, str):
            return first
    return ENV_PREFIX + field.upper()


DISCOVER = "discover"
"""`load_settings()`'s default: read the files `core.configfiles.config_files()` finds."""


def load_settings(
    env_file: str | os.PathLike[str] | None = DISCOVER, **overrides: Any
) -> Settings:
    """Build settings, turning the first validation problem into a `ConfigError`.

    `env_file`: a file to read, None for none, or (the default) the files `config_files()`
    finds.
    """
    files: Any = tuple(config_files()) or None if env_file == DISCOVER else env_file
    try:
        return Settings(_env_file=files, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        raw = error.get("input")
        secret = "token" in field or field in SECRET_FIELDS
        shown = "" if secret or not isinstance(raw, str | int | float) else f" (got {raw!r})"
        raise ConfigError(
            env_name(field) if field in Settings.model_fields else field, message + shown
        ) from None
