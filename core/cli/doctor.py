"""`nightshift doctor`: what is installed and configured, each problem with its fix."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import typer

from core.childenv import child_env
from core.cli.app import app, console, print_json
from core.configfiles import config_files, user_config_file
from core.errors import DatabaseCorrupt, NightshiftError
from core.settings import Settings, load_settings
from core.store.files import corrupt, is_corruption
from core.store.migrations import latest_version
from core.usage.paths import projects_dirs


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _version(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL,
                              env=child_env())
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = (done.stdout or done.stderr).strip().splitlines()
    return out[0] if done.returncode == 0 and out else None


def _tool(name: str, argv: list[str], fix: str) -> Check:
    path = shutil.which(argv[0])
    if path is None:
        return Check(name, False, "not found", fix)
    version = _version([path, *argv[1:]])
    if version is None:
        return Check(name, False, f"{path} did not answer {' '.join(argv[1:])}", fix)
    return Check(name, True, f"{version} ({path})")


def _shared_database(url: str) -> Check:
    """The PostgreSQL queue named by NIGHTSHIFT_DATABASE_URL: reachable, schema not newer."""
    from core.store.pg import probe, redact

    try:
        version = asyncio.run(probe(url))
    except NightshiftError as exc:
        return Check(
            "shared queue", False, exc.message,
            "check NIGHTSHIFT_DATABASE_URL (host, port, user, password, database) and that the server runs",
        )
    state = "empty: created on first use" if version == 0 else f"schema v{version} of v{latest_version()}"
    return Check(
        "shared queue", version <= latest_version(), f"{redact(url)} ({state})", "upgrade nightshift",
    )


def place_checks(settings: Settings) -> list[Check]:
    """Which settings files are read, and where the state and the vault are."""
    files = config_files()
    shown = ", then ".join(str(p.absolute()) for p in files) if files else "none"
    config = Check(
        "config",
        True,
        f"{shown} (the environment wins; {user_config_file()} beats ./.env)",
    )
    checks = [config]
    for name, path, variable in (("home", settings.home_dir, "NIGHTSHIFT_HOME"),
                                 ("vault", settings.brain_dir, "NIGHTSHIFT_BRAIN")):
        absolute = path.is_absolute()
        checks.append(Check(
            name, absolute, str(path.absolute()) + ("" if absolute else f" (relative: {path})"),
            f"set {variable} to an absolute path (nightshift init writes one) so it does not"
            " depend on the directory nightshift is started from",
        ))
    return checks


def _account(name: str, config_dir: Path) -> Check:
    """One of NIGHTSHIFT_ACCOUNTS: its config directory is there (a login file is named if found;
    on macOS the login may live in the keychain instead)."""
    login = "login file found" if (config_dir / ".credentials.json").is_file() else "no login file"
    return Check(
        f"account {name}", config_dir.is_dir(), f"{config_dir} ({login})" if config_dir.is_dir()
        else f"{config_dir} does not exist", f"log in once: CLAUDE_CONFIG_DIR={config_dir} claude",
    )


def run_checks(settings: Settings) -> list[Check]:
    checks = [
        *place_checks(settings),
        Check("python", sys.version_info >= (3, 11), sys.version.split()[0], "install Python 3.11 or newer"),
        _tool("tmux", ["tmux", "-V"], "install tmux (apt install tmux / brew install tmux)"),
        _tool("git", ["git", "--version"], "install git (apt install git / brew install git)"),
        _claude(settings),
    ]
    checks.append(_claude_login(settings))
    checks.append(_sandbox(settings))
    checks.append(_usage_endpoint(settings))
    dirs = projects_dirs(settings.claude_config_dir or None)
    checks.append(
        Check(
            "claude data",
            bool(dirs),
            ", ".join(map(str, dirs)) or "no projects/ directory found",
            "run Claude Code once, or set CLAUDE_CONFIG_DIR to the directory holding projects/",
        )
    )
    checks += [_account(name, path.expanduser()) for name, path in settings.accounts.items()]
    if settings.database_url is not None:
        checks.append(_shared_database(settings.database_url.get_secret_value()))
    db_path = settings.db_path
    if db_path.exists():
        checks.append(check_database(db_path))
    else:
        home = settings.home_dir
        parent = home if home.exists() else home.parent
        writable = parent.exists() and _writable(parent)
        checks.append(
            Check(
                "database",
                writable,
                f"{db_path} (created on first use)",
                f"make {parent} writable or set NIGHTSHIFT_HOME",
            )
        )
    if settings.telegram_enabled:
        checks.append(_telegram_reachable(settings))
        users = len(settings.telegram_allowed_users)
        checks.append(
            Check(
                "telegram",
                users > 0,
                f"bot token set, {users} allowed user{'s' if users != 1 else ''}",
                "set TELEGRAM_ALLOWED_USERS to your numeric Telegram id",
            )
        )
    else:
        checks.append(Check("telegram", True, "off (TELEGRAM_BOT_TOKEN not set)"))
    return checks


def check_database(db_path: Path) -> Check:
    """Schema version, writability and `PRAGMA quick_check` (every page is read), through a
    read-only connection: safe beside the daemon, and never a descriptor outside SQLite."""
    try:
        conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
            version = int(row[0] or 0)
            problems = [str(r[0]) for r in conn.execute("PRAGMA quick_check(3)") if r[0] != "ok"]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        if is_corruption(exc):
            return _damaged(corrupt(db_path, exc))
        return Check("database", False, f"{db_path}: {exc}",
                     "check NIGHTSHIFT_HOME's permissions and free disk space")
    if problems:
        return _damaged(corrupt(db_path, "quick_check: " + "; ".join(problems)))
    writable = _writable(db_path) and _writable(db_path.parent)
    return Check(
        "database",
        version <= latest_version() and writable,
        f"{db_path} (schema v{version} of v{latest_version()}, quick_check ok)"
        + ("" if writable else ", not writable"),
        "upgrade nightshift" if writable else f"make {db_path} and its directory writable by you",
    )


def _damaged(error: DatabaseCorrupt) -> Check:
    return Check("database", False, f"{error.path} is damaged ({error.detail})", error.way_out)


CLAUDE_FIX = ("install Claude Code (npm install -g @anthropic-ai/claude-code), run `claude` once to log "
              "in, or set NIGHTSHIFT_CLAUDE_BIN to its path")


def _claude(settings: Settings) -> Check:
    """The CLI and its version against the range nightshift was tested with."""
    from core.agent.version import judge_version

    found = _tool("claude", [settings.claude_bin, "--version"], CLAUDE_FIX)
    if not found.ok:
        return found
    usable, sentence = judge_version(found.detail)
    where = found.detail.rsplit("(", 1)[-1].rstrip(")")
    return Check("claude", usable, f"{sentence} at {where}",
                 "npm install -g @anthropic-ai/claude-code@latest")


def _claude_login(settings: Settings) -> Check:
    """Logged in, judged from Claude Code's files and the environment: never by running `claude`
    or calling the API (that would use the window)."""
    import os
    from datetime import UTC, datetime
    from pathlib import Path

    from core.agent.login import login_status

    status = login_status(settings.claude_config_dir, Path(os.environ.get("HOME", str(Path.home()))),
                          os.environ, datetime.now(UTC))
    return Check("claude login", status.logged_in, status.detail,
                 "run `claude` once and log in with /login (or set CLAUDE_CODE_OAUTH_TOKEN, from "
                 "`claude setup-token`, for the daemon)")


def _sandbox(settings: Settings) -> Check:
    """Claude Code's Bash sandbox: with it, unattended runs can test and commit in their worktree."""
    from core.execution.permissions import sandbox_support

    if settings.bash_sandbox == "off":
        return Check("sandbox", True, "off (NIGHTSHIFT_BASH_SANDBOX=off): runs use the allow-list only")
    ok, detail = sandbox_support()
    if ok:
        return Check("sandbox", True, f"{detail}: Claude runs tests and git in its worktree unasked")
    return Check("sandbox", False, f"{detail}; runs fall back to an allow-list (git, the check command)",
                 "apt install bubblewrap socat (Debian/Ubuntu) or dnf install bubblewrap socat, "
                 "or set NIGHTSHIFT_BASH_SANDBOX=off to silence this")


def _usage_endpoint(settings: Settings) -> Check:
    """The subscription usage endpoint (optional): says when it is degraded to the logs."""
    from core.usage.endpoint import credentials_paths, endpoint_check

    ok, detail, fix = endpoint_check(
        settings.usage_api_base_url, credentials_paths(settings.claude_config_dir, Path.home()),
        settings.usage_api)
    return Check("usage api", ok, detail, fix)


def _telegram_reachable(settings: Settings) -> Check:
    from core.cli.setup import verify_token
    from core.errors import InvalidInput

    assert settings.telegram_bot_token is not None
    try:
        name = verify_token(settings.telegram_api_base_url, settings.telegram_bot_token.get_secret_value())
    except InvalidInput as exc:
        return Check(
            "telegram api", False, exc.message, "create a new token with @BotFather, then nightshift init"
        )
    if name is None:
        return Check(
            "telegram api",
            False,
            f"cannot reach {settings.telegram_api_base_url.split('/bot')[0]}",
            "check the network or TELEGRAM_API_BASE_URL; messages wait in the outbox meanwhile",
        )
    return Check("telegram api", True, f"reachable, bot {name}")


def _writable(path: object) -> bool:
    import os

    return os.access(str(path), os.W_OK)


@app.command()
def doctor(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Check what is installed and configured; secrets are never printed."""
    try:
        settings = load_settings()
    except NightshiftError as exc:
        checks = [Check("settings", False, exc.message, "fix the variable in .env or the environment")]
    else:
        checks = [Check("settings", True, "valid"), *run_checks(settings)]
    if as_json:
        print_json([asdict(c) for c in checks])
    else:
        for check in checks:
            mark = "ok " if check.ok else "!! "
            # soft_wrap: a long path stays on one line (copied from a log or a pipe).
            console.print(f"{mark} {check.name:<12} {check.detail}", markup=False, soft_wrap=True)
            if not check.ok and check.fix:
                console.print(f"    {'':<12} fix: {check.fix}", markup=False, soft_wrap=True)
    raise typer.Exit(0 if all(c.ok for c in checks) else 1)
