"""`nightshift demo`: the whole loop in a throw-away directory, with a simulated Claude.

It runs the same daemon `nightshift run` runs (`core.assembly.build_daemon`), against the
project's fake Claude CLI, real tmux, real git worktrees and a real SQLite database. Only
Claude is simulated, and the output says so. The "phone" is the terminal: every message
the bot would send is printed, and the owner's tap on [Approve] is played by the demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.panel import Panel

from core import safefs
from core.abc import Notification
from core.assembly import build_daemon, owner_notifier, telegram_fronts
from core.childenv import child_env
from core.console import make_console
from core.demo_phone import PhoneScreen, add_from_phone, morning_review, queue_from_phone
from core.errors import ConfigError, ToolMissing
from core.execution.tmux import TmuxRunner
from core.models import Run, Task, TaskState
from core.service import Service
from core.settings import Settings, load_settings
from core.store.outbox import OutboxStore
from core.store.store import Store

LIMIT_RESET_S = 8
"""The simulated session limit resets this many seconds after it is hit."""
MAX_WAIT_S = 60.0
TELEGRAM_DRAIN_S = 60.0
"""How long the demo waits for its messages to reach a configured Telegram before it gives up."""
TELEGRAM_KEYS = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_ALLOWED_USERS", "TELEGRAM_API_BASE_URL")


@dataclass
class DemoResult:
    directory: Path
    brain: Path
    chart: Path | None
    states: dict[int, str] = field(default_factory=dict)
    messages: list[Notification] = field(default_factory=list)
    exit_code: int = 0


def fake_claude_path() -> str:
    """The project's fake CLI, next to the running interpreter (installed with nightshift)."""
    beside = Path(sys.executable).parent / "nightshift-fake-claude"
    if beside.exists():
        return str(beside)
    found = shutil.which("nightshift-fake-claude")
    if found is None:
        raise ToolMissing("nightshift-fake-claude", "reinstall nightshift (./nightshift demo does it)")
    return found


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, stdin=subprocess.DEVNULL,
                   env=child_env(claude=False))


def make_sample_repo(path: Path) -> Path:
    """A tiny project with a test script, so checks have something real to run."""
    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.email", "demo@nightshift.invalid")
    _git(path, "config", "user.name", "nightshift demo")
    (path / "README.md").write_text("# shop\n\nA tiny shop used by the nightshift demo.\n")
    (path / "CHANGELOG.md").write_text("# Changelog\n")
    _git(path, "add", ".")
    _git(path, "commit", "-q", "-m", "initial commit")
    return path


def _finished_line(task: Task, run: Run) -> str:
    outcome = run.outcome.value if run.outcome else "?"
    return (
        f"   ✓ run {run.id} of task #{task.id} ({run.kind.value}): {outcome} → "
        f"{task.state.value}, {run.tokens.total:,} tokens, tmux {run.tmux_session}"
    )


async def _countdown(phone: PhoneScreen, service: Service, stop: asyncio.Event) -> None:
    """While a limit pauses the queue: one line, updated in place, with the reset in the owner's zone."""
    from core.daemon import LIMIT_PAUSE_KEY
    from core.scheduling.resets import LimitPause

    tz = service.settings.local_tz
    paused = False
    while not stop.is_set():
        raw = await service.store.kv.get(LIMIT_PAUSE_KEY)
        pause = LimitPause.from_json(raw) if raw else None
        now = service.now()
        if pause is not None and pause.active(now):
            left = int((pause.until - now).total_seconds() + 0.999)
            until = pause.until.astimezone(tz).strftime("%H:%M:%S %Z")
            phone.live.set("countdown", f"   ⏸  queue paused by the session limit until {until}"
                                        f" (reset + margin): resuming in {left:2d}s")
            paused = True
        elif paused:
            phone.live.end("countdown", "   ▶  the window reset: the queue goes on")
            paused = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
    if paused:
        phone.live.end("countdown", None)


def owner_zone() -> dict[str, str]:
    """The owner's time zone, so the demo's reset times read as theirs."""
    try:
        owner = load_settings()
    except ConfigError:
        return {}
    return {"NIGHTSHIFT_TZ": owner.tz} if owner.tz else {}


def owner_telegram() -> dict[str, str]:
    """The owner's Telegram settings (environment or config), if a bot is configured and valid."""
    try:
        owner = load_settings()
    except ConfigError:
        return {}
    if owner.telegram_bot_token is None or not owner.telegram_allowed_users:
        return {}
    return {
        "TELEGRAM_BOT_TOKEN": owner.telegram_bot_token.get_secret_value(),
        "TELEGRAM_ALLOWED_USERS": ",".join(str(u) for u in sorted(owner.telegram_allowed_users)),
        "TELEGRAM_API_BASE_URL": owner.telegram_api_base_url,
    }


async def deliver_to_telegram(console: Console, service: Service) -> int:
    """Run the bot until the demo's messages have left the outbox; the number still waiting."""
    outbox = OutboxStore(service.store.db)
    fronts = telegram_fronts(service)
    loop = asyncio.get_running_loop()
    async with fronts[0]():
        deadline = loop.time() + TELEGRAM_DRAIN_S
        # The bot's sender is internal to the front: its progress shows in the outbox.
        while (waiting := await outbox.pending_count()) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    if waiting:
        console.print(
            f"Telegram did not take {waiting} message(s) in {TELEGRAM_DRAIN_S:.0f}s "
            "(nightshift doctor checks the bot)",
            markup=False,
        )
    else:
        console.print("The messages above were also sent to your Telegram.", markup=False)
    return waiting


SCENARIOS = {"changelog entry": f"limit reset_in={LIMIT_RESET_S}",
             "test command in the README": "needs_iterations=2"}
"""What the simulated Claude does for which task, kept out of the prompts the phone shows."""


def demo_settings(directory: Path, telegram: dict[str, str] | None = None) -> Settings:
    """Settings for the throw-away directory; the environment is set too, for child processes."""
    zone = owner_zone()
    env = {
        **zone,
        "NIGHTSHIFT_REPOS": f"shop={directory / 'shop'}",
        "NIGHTSHIFT_HOME": str(directory / "state"),
        "NIGHTSHIFT_BRAIN": str(directory / "brain"),
        "NIGHTSHIFT_CLAUDE_BIN": fake_claude_path(),
        "CLAUDE_CONFIG_DIR": str(directory / "claude"),
        "NIGHTSHIFT_TMUX_SOCKET": f"nightshift-demo-{os.getpid()}",
        "NIGHTSHIFT_RESET_MARGIN_S": "1",
        "NIGHTSHIFT_PLAN_BY_DEFAULT": "true",
        "NIGHTSHIFT_USAGE_API": "false",
    }
    for key in ("FAKE_CLAUDE_SCENARIO", "CLAUDECODE", *TELEGRAM_KEYS):
        os.environ.pop(key, None)
    os.environ.update(env)
    os.environ.update(telegram or {})
    (directory / "claude" / "projects").mkdir(parents=True, exist_ok=True)
    safefs.write_atomic(directory / "claude" / "fake-scenarios.json", json.dumps(SCENARIOS).encode())
    return load_settings(env_file=None)


async def run_demo(directory: Path, console: Console) -> DemoResult:
    if shutil.which("tmux") is None:
        raise ToolMissing("tmux", "install tmux (apt install tmux / brew install tmux)")
    telegram = owner_telegram()
    settings = demo_settings(directory, telegram)
    make_sample_repo(directory / "shop")  # NIGHTSHIFT_REPOS names it `shop`
    store = await Store.open(settings.db_path)
    service_ref: list[Service] = []

    async def approve(task_id: int, version: int) -> object:
        return await service_ref[0].approve(task_id, version=version)

    phone = PhoneScreen(console, approve)
    phone.forward = owner_notifier(settings, store) if telegram else None

    def finished(task: Task, run: Run | None) -> None:
        if run is not None:
            console.print(_finished_line(task, run), markup=False)

    daemon = build_daemon(
        settings,
        store,
        notifier=phone,
        burst=True,
        max_wait_s=MAX_WAIT_S,
        on_finished=finished,
        install_signal_handlers=False,
    )
    service = daemon.service
    service_ref.append(service)
    result = DemoResult(directory, settings.brain_dir, None, messages=phone.sent)
    try:
        console.rule("1 · queue three tasks from the phone")
        fix = await queue_from_phone(phone, service)
        changelog = await add_from_phone(
            phone, service, "/add -p urgent --no-plan -r shop --tag docs",
            "Add a changelog entry for the new checkout flow.",
            priority="urgent", plan=False, repo="shop", tags=["docs"],
        )
        readme = await add_from_phone(
            phone, service, "/add --no-plan --check 'grep -qx done fake-status.txt' --tag docs",
            "Document the test command in the README.",
            plan=False, check="grep -qx done fake-status.txt", tags=["docs"],
        )
        for task in (changelog, fix, readme):
            plan = "needs a plan" if task.needs_plan else "no plan"
            console.print(f"   #{task.id} [{task.priority.label}] {task.title} ({plan})", markup=False)

        console.rule("2 · the window opens: nightshift runs the queue (Claude is SIMULATED)")
        stop = asyncio.Event()
        ticker = asyncio.create_task(_countdown(phone, service, stop))

        try:
            result.exit_code = await daemon.run()
        finally:
            stop.set()
            await ticker
            await TmuxRunner(settings.tmux_socket).kill_server()

        console.rule("3 · the morning after: review and merge from the phone")
        await morning_review(phone, service, fix.id)

        console.rule("4 · notes, metrics, a chart")
        from core.vault import VaultWriter

        await VaultWriter(settings, service.store).sync()
        report = await service.metrics()
        result.chart = await service.chart("outcomes", report, name="demo-outcomes")
        chart_copy = settings.brain_dir / "daily" / "demo-outcomes.png"
        chart_copy.parent.mkdir(parents=True, exist_ok=True)
        safefs.write_atomic(chart_copy, result.chart.read_bytes())  # never through a planted link
        result.chart = chart_copy
        console.print(report.as_text(), markup=False)
        for task in await service.list():
            result.states[task.id] = task.state.value
        if telegram:
            await deliver_to_telegram(console, service)
        return result
    finally:
        phone.live.close()
        await service.close()


def main(directory: Path | None = None, keep: bool = False) -> int:
    """Play the demo; a temp directory (no `directory`) is removed at the end unless `keep`."""
    console = make_console()
    started = time.monotonic()
    temporary = directory is None
    target = directory or Path(tempfile.mkdtemp(prefix="nightshift-demo-"))
    target.mkdir(parents=True, exist_ok=True)
    console.print(
        Panel(
            "The whole nightshift loop in a throw-away directory, with a SIMULATED Claude\n"
            "(the project's fake CLI: no tokens are spent, no account is needed).\n"
            "Messages go to your Telegram too when a bot is configured.\n"
            f"Directory: {target}"
            + (" (removed at the end; --keep keeps it)" if temporary and not keep else ""),
            title="nightshift demo",
            border_style="magenta",
            expand=False,
        ),
        markup=False,
    )
    try:
        result = asyncio.run(run_demo(target, console))
    except BaseException:
        if temporary:
            console.print(f"The demo stopped early; its directory is kept for a look: {target}", markup=False,
                          soft_wrap=True)
        raise
    elapsed = time.monotonic() - started
    done = sum(1 for s in result.states.values() if s == TaskState.DONE.value)
    console.rule("done")
    removed = temporary and not keep
    where = (f"The demo's directory {target} and its tmux server are removed (--keep keeps them)."
             if removed else
             f"Notes:  {result.brain}  (open it as an Obsidian vault)\nChart:  {result.chart}")
    console.print(
        f"{done} of {len(result.states)} tasks done in {elapsed:.0f}s; "
        f"{len(result.messages)} messages would have reached your phone.\n{where}\n"
        "Start for real: nightshift init (Telegram bot, your user id, repos), "
        "nightshift doctor, then nightshift run",
        markup=False,
        soft_wrap=True,
    )
    if removed:
        shutil.rmtree(target, ignore_errors=True)
    return result.exit_code
