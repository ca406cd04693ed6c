"""`nightshift demo`: the whole loop in a throw-away directory, with a simulated Claude.

It runs the same daemon `nightshift run` runs (`core.assembly.build_daemon`), against the
project's fake Claude CLI, real tmux, real git worktrees and a real SQLite database. Only
Claude is simulated, and the output says so. The "phone" is the terminal: every message
the bot would send is printed, and the owner's tap on [Approve] is played by the demo.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from core.abc import Notification, Notifier
from core.assembly import build_daemon, owner_notifier, telegram_fronts
from core.childenv import child_env
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


class PhoneScreen:
    """Prints what the Telegram bot would send, and taps Approve on plans like an owner would."""

    def __init__(self, console: Console, service_ref: list[Service], forward: Notifier | None = None) -> None:
        self.console = console
        self.service_ref = service_ref
        """The daemon's service, once it is built: the owner's taps go through it."""
        self.sent: list[Notification] = []
        self.forward = forward
        """The outbox of a configured Telegram bot: the same messages then reach the phone."""

    async def notify(self, note: Notification) -> None:
        self.sent.append(note)
        if self.forward is not None:
            await self.forward.notify(note)
        buttons = "  ".join(f"[{b.text}]" for row in note.buttons for b in row)
        body = (
            note.text
            + (f"\n\n{buttons}" if buttons else "")
            + (f"\n📈 chart: {note.photo}" if note.photo else "")
        )
        self.console.print(
            Panel(
                body,
                title=f"📱 Telegram · {note.kind}",
                title_align="left",
                border_style="cyan",
                expand=False,
            ),
            markup=False,
        )
        if note.kind == "plan_ready" and note.task_id is not None:
            version = int(note.data.get("version", 1))
            self.console.print(
                f"   👆 you tap [Approve] on plan v{version} of task {note.task_id}", style="bold green"
            )
            await self.service_ref[0].approve(note.task_id, version=version)


def _finished_line(task: Task, run: Run) -> str:
    outcome = run.outcome.value if run.outcome else "?"
    return (
        f"   ✓ run {run.id} of task #{task.id} ({run.kind.value}): {outcome} → "
        f"{task.state.value}, {run.tokens.total:,} tokens, tmux {run.tmux_session}"
    )


async def _countdown(console: Console, service: Service, stop: asyncio.Event) -> None:
    """While a limit pauses the queue, show how long until the reset."""
    from core.daemon import LIMIT_PAUSE_KEY
    from core.scheduling.resets import LimitPause

    shown: str | None = None
    while not stop.is_set():
        raw = await service.store.kv.get(LIMIT_PAUSE_KEY)
        pause = LimitPause.from_json(raw) if raw else None
        now = service.now()
        if pause is not None and pause.active(now):
            left = int((pause.until - now).total_seconds() + 0.999)
            line = f"   ⏸  queue paused by the session limit: resuming in {left:2d}s (reset + margin)"
            if line != shown:
                console.print(line, style="yellow", highlight=False)
                shown = line
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


def owner_telegram() -> dict[str, str]:
    """The owner's Telegram settings (environment or .env), if a bot is configured and valid."""
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


def demo_settings(directory: Path, telegram: dict[str, str] | None = None) -> Settings:
    """Settings for the throw-away directory; the environment is set too, for child processes."""
    env = {
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
    return load_settings(env_file=None)


async def run_demo(directory: Path, console: Console) -> DemoResult:
    if shutil.which("tmux") is None:
        raise ToolMissing("tmux", "install tmux (apt install tmux / brew install tmux)")
    telegram = owner_telegram()
    settings = demo_settings(directory, telegram)
    repo = make_sample_repo(directory / "shop")
    store = await Store.open(settings.db_path)
    service_ref: list[Service] = []
    forward = owner_notifier(settings, store) if telegram else None
    phone = PhoneScreen(console, service_ref, forward)

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
        console.rule("1 · queue three tasks (as /add from the phone would)")
        fix = await service.add(
            "Fix the flaky login test: the fixture leaks a session between tests.",
            title="Fix the flaky login test",
            repo=str(repo),
            priority="high",
            tags=["tests"],
        )
        changelog = await service.add(
            f"[fake: limit reset_in={LIMIT_RESET_S}]\nAdd a changelog entry for the new checkout flow.",
            title="Add a changelog entry",
            repo=str(repo),
            priority="urgent",
            plan=False,
            tags=["docs"],
        )
        readme = await service.add(
            "[fake: needs_iterations=2]\nDocument the test command in the README.",
            title="Document the test command",
            priority="normal",
            plan=False,
            check="grep -qx done fake-status.txt",
            tags=["docs"],
        )
        for task in (changelog, fix, readme):
            plan = "needs a plan" if task.needs_plan else "no plan"
            console.print(f"   #{task.id} [{task.priority.label}] {task.title} ({plan})", markup=False)

        console.rule("2 · the window opens: nightshift runs the queue (Claude is SIMULATED)")
        stop = asyncio.Event()
        ticker = asyncio.create_task(_countdown(console, service, stop))

        try:
            result.exit_code = await daemon.run()
        finally:
            stop.set()
            await ticker
            await TmuxRunner(settings.tmux_socket).kill_server()

        console.rule("3 · the morning after: notes, metrics, a chart")
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
        await service.close()


def main(directory: Path | None = None, keep: bool = True) -> int:
    console = Console(highlight=False)
    started = time.monotonic()
    target = directory or Path(tempfile.mkdtemp(prefix="nightshift-demo-"))
    target.mkdir(parents=True, exist_ok=True)
    console.print(
        Panel(
            "The whole nightshift loop in a throw-away directory, with a SIMULATED Claude\n"
            "(the project's fake CLI: no tokens are spent, no account is needed).\n"
            "Messages go to your Telegram too when a bot is configured.\n"
            f"Directory: {target}",
            title="nightshift demo",
            border_style="magenta",
            expand=False,
        ),
        markup=False,
    )
    result = asyncio.run(run_demo(target, console))
    elapsed = time.monotonic() - started
    done = sum(1 for s in result.states.values() if s == TaskState.DONE.value)
    console.rule("done")
    console.print(
        f"{done} of {len(result.states)} tasks done in {elapsed:.0f}s; "
        f"{len(result.messages)} messages would have reached your phone.\n"
        f"Notes:  {result.brain}  (open it as an Obsidian vault)\n"
        f"Chart:  {result.chart}\n"
        "Start for real: ./nightshift init (Telegram bot, your user id, repos), "
        "./nightshift doctor, then ./nightshift run",
        markup=False,
        soft_wrap=True,
    )
    return result.exit_code
