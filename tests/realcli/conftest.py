"""The real Claude Code CLI, offline, against the fake Messages API, driven by nightshift's executor.

The CLI comes from `scripts/install-claude.sh` (pinned, in a per-version cache outside the
clone). Without it these tests are skipped with that reason; in CI (`CI=true`) they fail
instead, because CI must install it. Each test scripts the API's answers, lets the real CLI
execute the tool calls in a real worktree, and asserts on what the API received and what the
owner was told. The CLI is logged in as a subscriber (`CLAUDE_CODE_OAUTH_TOKEN`), so limits
read as a subscription's.
"""

from __future__ import annotations

import asyncio
import os
import platform
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from core.abc import Notification
from core.assembly import ExecutorTimings
from core.execution.executor import Executor
from core.execution.tmux import TmuxRunner
from core.models import Task
from core.progress import PROGRESS_KIND
from core.service import Service
from core.settings import Settings, load_settings
from core.store.store import Store
from core.store.task_rows import NewTask
from tests.fakes.messages_api import MessagesAPI, messages_api
from tests.fakes.notifier import RecordingNotifier
from tests.support import git, make_repo  # noqa: F401 - re-exported for tests

CLAUDE_VERSION = "2.1.332"
_PLATFORM = {("Linux", "x86_64"): "linux-x64", ("Linux", "aarch64"): "linux-arm64",
             ("Darwin", "arm64"): "darwin-arm64", ("Darwin", "x86_64"): "darwin-x64"}
CLI_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
"""Read at import, before the tests' private HOME replaces the real one."""
REAL_CLAUDE = (
    CLI_CACHE / "nightshift" / "claude-code" / CLAUDE_VERSION / "node_modules" / "@anthropic-ai"
    / f"claude-code-{_PLATFORM.get((platform.system(), platform.machine()), 'unknown')}" / "claude"
)
OAUTH_TOKEN = "sk-ant-oat01-test-token-not-a-secret"
TZ = "Europe/Berlin"

pytestmark = pytest.mark.realcli


@pytest.fixture
def real_claude() -> Path:
    return require_real_claude()


def require_real_claude() -> Path:
    """The pinned CLI; a test without it is skipped with the reason (failed under CI)."""
    if not os.access(REAL_CLAUDE, os.X_OK):
        reason = (f"the real Claude Code CLI {CLAUDE_VERSION} is not installed at {REAL_CLAUDE}: "
                  "run scripts/install-claude.sh (needs npm and the npm registry)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + "; CI must install it")
        pytest.skip(reason)
    return REAL_CLAUDE


@pytest.fixture
def api() -> Iterator[MessagesAPI]:
    with messages_api() as server:
        yield server


@pytest.fixture
def cli_settings(isolated_env: Path, monkeypatch: pytest.MonkeyPatch, real_claude: Path,
                 api: MessagesAPI) -> Settings:
    """Settings and environment for runs of the real CLI; the child inherits the environment."""
    for name, value in {
        "ANTHROPIC_BASE_URL": api.url,
        "CLAUDE_CODE_OAUTH_TOKEN": OAUTH_TOKEN,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "TZ": TZ,
        "NIGHTSHIFT_CLAUDE_BIN": str(real_claude),
        "NIGHTSHIFT_TZ": TZ,
        "NIGHTSHIFT_RESET_MARGIN_S": "1",
        "NIGHTSHIFT_PLAN_BY_DEFAULT": "false",
        "NIGHTSHIFT_USAGE_API": "false",
        "NIGHTSHIFT_USAGE_REFRESH_S": "5",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_MAX_RETRIES"):
        monkeypatch.delenv(name, raising=False)
    (isolated_env / "claude" / "projects").mkdir(parents=True)
    return load_settings(env_file=None)


@pytest.fixture
def runner(cli_settings: Settings) -> Iterator[TmuxRunner]:
    tmux = TmuxRunner(cli_settings.tmux_socket)
    try:
        yield tmux
    finally:
        subprocess.run(["tmux", "-L", cli_settings.tmux_socket, "kill-server"], capture_output=True,
                       check=False)


@pytest.fixture
def notes() -> RecordingNotifier:
    return RecordingNotifier()


FAST = ExecutorTimings(poll_interval_s=0.05, progress_interval_s=0.2, kill_grace_s=1.0)


@pytest.fixture
def executor(cli_settings: Settings, store: Store, runner: TmuxRunner, notes: RecordingNotifier) -> Executor:
    """The real executor alone (no daemon), for tests of one run's inputs and outputs."""
    return Executor(cli_settings, store, runner, notes, **asdict(FAST))


@pytest.fixture
def cli_service(cli_settings: Settings, store: Store, notes: RecordingNotifier,
                executor: Executor) -> Service:
    return Service(cli_settings, store, notifier=notes, cancel_hooks=[executor.cancel])


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def claimed(cli_service: Service) -> Callable[..., Any]:
    """Add a task that needs no plan and claim it (move it to running), as the daemon does."""

    async def make(prompt: str, **fields: Any) -> Task:
        store = cli_service.store
        task = await store.tasks.add(NewTask(prompt=prompt, needs_plan=False, **fields))
        got = await store.tasks.claim_next(only_ids=[task.id])
        assert got is not None
        return got

    return make


def told(notes: RecordingNotifier) -> list[Notification]:
    """What the owner was told, without the live progress message (edited in place)."""
    return [n for n in notes.sent if n.kind != PROGRESS_KIND]


async def until(condition: Callable[[], Any], what: str, limit_s: float = 60.0) -> None:
    """Wait until `condition()` holds (it lives in another process); the limit only guards a hang."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)
