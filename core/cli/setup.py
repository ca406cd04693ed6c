"""`nightshift init` and `nightshift service install|uninstall|status`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import httpx
import typer

from core import safefs
from core.cli.app import app, console, fail
from core.configfiles import user_config_file
from core.errors import InvalidInput, NightshiftError, UnsafeFile
from core.scheduling.hours import parse_hour_ranges
from core.settings import load_settings
from core.setup.envfile import check_token_shape, check_user_ids, merge_env, write_private
from core.setup.unit import manual_instructions, render_unit, unit_path

MAX_ENV_FILE_BYTES = 1024 * 1024
service_app = typer.Typer(help="Keep the daemon running across reboots (systemd user unit).")
app.add_typer(service_app, name="service")

USER_ID_HELP = (
    "Your numeric Telegram user id. To find it, message @userinfobot on Telegram: it answers "
    "with your id (a number like 123456789)."
)


def verify_token(base_url: str, token: str, timeout_s: float = 5.0) -> str | None:
    """Ask Telegram who the token belongs to; None when Telegram cannot be reached.

    Raises InvalidInput when Telegram answers that the token is wrong.
    """
    try:
        answer = httpx.get(f"{base_url}{token}/getMe", timeout=timeout_s)
    except httpx.HTTPError:
        return None
    if answer.status_code in (401, 404):
        raise InvalidInput("Telegram refused the bot token (check it with @BotFather)")
    try:
        result = answer.json().get("result") or {}
    except ValueError:
        return None
    username = result.get("username")
    return f"@{username}" if username else None


@app.command()
def init(
    token: Annotated[str | None, typer.Option(help="Bot token from @BotFather.")] = None,
    user: Annotated[list[str] | None, typer.Option("--user", help=USER_ID_HELP)] = None,
    repo: Annotated[
        list[str] | None, typer.Option("--repo", help="Repo alias, e.g. shop=~/code/shop.")
    ] = None,
    work_hours: Annotated[
        str | None, typer.Option(help="Your working hours, e.g. 9-18: part of each window is kept for you.")
    ] = None,
    reserve_percent: Annotated[int, typer.Option(help="Share of a window kept during work hours.")] = 30,
    env_file: Annotated[
        Path | None,
        typer.Option(metavar="FILE",
                     help="Where to write the settings [default: ~/.config/nightshift/.env]."),
    ] = None,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Verify the token with getMe.")] = True,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Ask nothing; use the flags given.")] = False,
) -> None:
    """Write your settings (private, absolute paths): Telegram bot, allowed user, repos, hours."""
    env_file = env_file or user_config_file()
    interactive = not yes and sys.stdin.isatty()
    if token is None and interactive:
        console.print("Create a bot with @BotFather on Telegram (/newbot) and paste its token.", markup=False)
        token = typer.prompt(
            "Bot token (empty to skip Telegram)", default="", hide_input=True, show_default=False
        )
    if not user and interactive and token:
        console.print(USER_ID_HELP, markup=False)
        user = [typer.prompt("Your Telegram user id")]
    if not repo and interactive:
        answer = typer.prompt(
            "Repo aliases (alias=path, comma-separated; empty to skip)", default="", show_default=False
        )
        repo = [answer] if answer else []
    if work_hours is None and interactive:
        work_hours = typer.prompt(
            "Your working hours (e.g. 9-18; empty for none)", default="", show_default=False
        )

    values: dict[str, str] = {}
    try:
        if token:
            token = check_token_shape(token)
            ids = check_user_ids(user or [])
            if not ids:
                raise InvalidInput(
                    "with a bot token, give your numeric user id too (--user); "
                    "without it nobody may use the bot"
                )
            values["TELEGRAM_BOT_TOKEN"] = token
            values["TELEGRAM_ALLOWED_USERS"] = ",".join(str(i) for i in ids)
        elif user:
            values["TELEGRAM_ALLOWED_USERS"] = ",".join(str(i) for i in check_user_ids(user))
        aliases = [part.strip() for item in (repo or []) for part in item.split(",") if part.strip()]
        absolute_aliases = []
        for alias in aliases:
            name, sep, path = alias.partition("=")
            if not sep or not name or not path:
                raise InvalidInput(f"{alias!r} is not alias=path")
            folder = Path(path).expanduser().absolute()
            if not folder.is_dir():
                raise InvalidInput(f"repo {name}: {path} is not a directory")
            absolute_aliases.append(f"{name.strip()}={folder}")
        if absolute_aliases:
            values["NIGHTSHIFT_REPOS"] = ",".join(absolute_aliases)
        values.update(_absolute_places())
        if work_hours:
            span = work_hours.strip()
            try:
                parse_hour_ranges(f"{span}:{reserve_percent}")
            except ValueError as exc:
                raise InvalidInput(f"work hours {span!r}: {exc}") from None
            values["NIGHTSHIFT_RESERVE"] = f"{span}:{reserve_percent}"
    except InvalidInput as exc:
        fail(exc.message)

    if token and check:
        base = os.environ.get("TELEGRAM_API_BASE_URL", "https://api.telegram.org/bot")
        try:
            bot_name = verify_token(base, token)
        except InvalidInput as exc:
            fail(exc.message)
        console.print(
            f"Telegram knows this bot as {bot_name}."
            if bot_name
            else "Telegram not reachable: token saved unchecked.",
            markup=False,
        )

    try:
        existing = safefs.read_regular(env_file, limit_bytes=MAX_ENV_FILE_BYTES).decode("utf-8")
    except FileNotFoundError:
        existing = ""
    except (UnsafeFile, UnicodeDecodeError, OSError) as exc:
        # A linked .env is not merged and replaced (its other settings would be lost from it).
        fail(f"cannot update {env_file}: {exc}; edit it yourself or remove it and run init again")
    write_private(env_file, merge_env(existing, values))
    console.print(f"wrote {env_file} (mode 600): {', '.join(sorted(values)) or 'nothing new'}", markup=False)
    console.print(
        "Next: `nightshift doctor`, then `nightshift run` (or `nightshift service install`).", markup=False
    )


def _absolute_places() -> dict[str, str]:
    """The state directory and the vault as absolute paths, so no later command depends on
    the directory it is started from (`./brain` is read as the vault here, now)."""
    try:
        current = load_settings()
    except NightshiftError:
        current = load_settings(env_file=None)
    return {
        "NIGHTSHIFT_HOME": str(current.home_dir.absolute()),
        "NIGHTSHIFT_BRAIN": str(current.brain_dir.absolute()),
    }


def _systemctl(*args: str) -> subprocess.CompletedProcess[str] | None:
    if shutil.which("systemctl") is None:
        return None
    return subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True, timeout=30)


def _executable() -> Path:
    found = shutil.which("nightshift")
    return Path(found).resolve() if found else Path(sys.argv[0]).resolve()


@service_app.command("install")
def service_install(
    workdir: Annotated[Path, typer.Option(help="Directory with your .env.")] = Path("."),
) -> None:
    """Install and start the systemd user unit (or print how to without systemd)."""
    workdir = workdir.resolve()
    executable = _executable()
    path = unit_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    unit = render_unit(executable, workdir, os.environ.get("PATH", "/usr/bin:/bin"))
    safefs.write_atomic(path, unit.encode("utf-8"), mode=0o644)
    console.print(f"wrote {path}", markup=False)
    reload = _systemctl("daemon-reload")
    if reload is None or reload.returncode != 0:
        console.print(manual_instructions(executable, workdir), markup=False)
        return
    enabled = _systemctl("enable", "--now", "nightshift.service")
    if enabled is None or enabled.returncode != 0:
        fail(f"systemctl could not start the unit: {(enabled.stderr if enabled else '').strip()}")
    console.print(
        "nightshift is running and starts at login. To keep it running when you are logged out:\n"
        "  loginctl enable-linger $USER\nLogs: journalctl --user -u nightshift -f",
        markup=False,
    )


@service_app.command("uninstall")
def service_uninstall() -> None:
    """Stop and remove the unit; live tmux runs are left alone."""
    _systemctl("disable", "--now", "nightshift.service")
    path = unit_path()
    if path.exists():
        path.unlink()
        _systemctl("daemon-reload")
        console.print(f"removed {path}", markup=False)
    else:
        console.print("no unit installed", markup=False)


@service_app.command("status")
def service_status() -> None:
    """Whether the unit is installed and running."""
    path = unit_path()
    if not path.exists():
        console.print("not installed (nightshift service install)", markup=False)
        raise typer.Exit(1)
    state = _systemctl("is-active", "nightshift.service")
    active = state.stdout.strip() if state is not None else "unknown (no systemctl)"
    console.print(f"installed: {path}\nstate: {active}", markup=False)
    raise typer.Exit(0 if active == "active" else 1)
