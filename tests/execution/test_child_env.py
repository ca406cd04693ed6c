"""Secrets never reach Claude: every process of a run starts from the allow-list.

The daemon's environment holds the bot token, the database URL and a cloud secret. A task
runs through the real tmux launcher with the fake CLI; the environment of every process of
the run is read from `/proc/<pid>/environ` while it is alive (the tmux server, the launcher,
Claude), the check and a git hook dump their own, and tmux's global environment is read
with `show-environment -g`. None holds a secret; Claude has what it needs.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from core.execution.executor import Executor
from core.execution.tmux import TmuxRunner
from core.models import Outcome
from core.settings import Settings, load_settings
from core.store.store import Store
from tests.execution.conftest import eventually
from tests.support import FAKE, Record

SECRETS = {
    "TELEGRAM_BOT_TOKEN": "123456789:AAH-fake-bot-token-for-the-env-test-xyz",
    "NIGHTSHIFT_DATABASE_URL": "postgresql://ns:db-password-hunter2@db.local/ns",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-wJalrXUtnFEMI-K7MDENG",
    "GITHUB_TOKEN": "ghp_fakeGitHubTokenForTheEnvTest0123",
    "CLAUDECODE": "1",
}
FOR_CLAUDE = {"ANTHROPIC_API_KEY": "sk-ant-api03-fake-key-claude-needs", "MY_PROXY": "http://proxy:3128"}


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode("utf-8", "replace").split("\0") if "=" in item)


def dump_of(path: Path) -> dict[str, str]:
    raw = path.read_bytes()
    return dict(item.split("=", 1) for item in raw.decode("utf-8", "replace").split("\0") if "=" in item)


def leaks(env: dict[str, str], where: str) -> list[str]:
    blob = "\0".join(f"{k}={v}" for k, v in env.items())
    return [f"{name} in {where}" for name, value in SECRETS.items()
            if name in env or (len(value) > 1 and value in blob)]


def tmux(socket: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, check=False).stdout


@pytest.fixture
def secret_settings(exec_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in {**SECRETS, **FOR_CLAUDE}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NIGHTSHIFT_PASS_ENV", "MY_PROXY")
    monkeypatch.setenv("NIGHTSHIFT_CLAUDE_BIN", FAKE)
    settings = load_settings(env_file=None)
    assert settings.pass_env == ["MY_PROXY"]
    return settings


def with_hook(repo: Path, dump: Path) -> None:
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ncat /proc/$$/environ > '{dump}'\n")
    hook.chmod(0o755)


async def run_and_inspect(
    settings: Settings, store: Store, runner: TmuxRunner, repo: Path, claimed: Any, record: Record,
    tmp_path: Path,
) -> list[str]:
    """Run a hanging task, read every live process's environment, stop it; then run one
    with a check and a git hook that dump theirs. Returns every leak found."""
    executor = Executor(settings, store, runner, poll_interval_s=0.05, kill_grace_s=1.0)
    hook_dump, check_dump = tmp_path / "hook-env", tmp_path / "check-env"
    with_hook(repo, hook_dump)
    found: list[str] = []

    task = await claimed("Wait here [fake: hang]", repo=str(repo))
    job = asyncio.create_task(executor.execute(task))
    await eventually(lambda: record(), "the fake CLI to start")
    claude_pid = record()[0]["pid"]
    runs = await store.runs.for_task(task.id)
    launcher_pid = int((executor.run_dir(runs[0].id) / "pid").read_text())
    server_pid = int(tmux(settings.tmux_socket, "display-message", "-p", "#{pid}").strip())
    claude, launcher, server = environ_of(claude_pid), environ_of(launcher_pid), environ_of(server_pid)
    global_env = dict(line.split("=", 1) for line in
                      tmux(settings.tmux_socket, "show-environment", "-g").splitlines() if "=" in line)
    session_env = dict(line.split("=", 1) for line in
                       tmux(settings.tmux_socket, "show-environment", "-t", runs[0].tmux_session or "")
                       .splitlines() if "=" in line)
    found += leaks(claude, "Claude") + leaks(launcher, "the launcher") + leaks(global_env, "tmux -g")
    found += leaks(server, "the tmux server")
    found += leaks(session_env, "the tmux session")
    found += leaks(dump_of(hook_dump), "git's post-checkout hook")
    await executor.cancel(task)
    await job

    # What Claude needs is there: the basics, its key, the owner's extra name.
    assert claude["PATH"] and claude["HOME"]
    assert claude["ANTHROPIC_API_KEY"] == FOR_CLAUDE["ANTHROPIC_API_KEY"]
    assert claude["MY_PROXY"] == FOR_CLAUDE["MY_PROXY"]
    assert "ANTHROPIC_API_KEY" not in launcher and "ANTHROPIC_API_KEY" not in global_env
    assert "PATH" in launcher

    hook_dump.unlink()
    checked = await claimed("Finish [fake: turns=1]", repo=str(repo),
                            check_cmd=f"cat /proc/$$/environ > '{check_dump}'")
    run = await executor.execute(checked)
    assert run.outcome is Outcome.SUCCESS, run.summary
    found += leaks(dump_of(check_dump), "the check") + leaks(dump_of(hook_dump), "git's hook, again")
    return found


async def test_a_fresh_tmux_server_and_every_process_of_a_run_have_no_secret(
    secret_settings: Settings, exec_store: Store, runner: TmuxRunner, repo: Path, claimed: Any,
    record: Record, tmp_path: Path,
) -> None:
    assert tmux(secret_settings.tmux_socket, "list-sessions") == ""  # we start the server
    found = await run_and_inspect(secret_settings, exec_store, runner, repo, claimed, record, tmp_path)
    assert found == []


async def test_a_server_started_earlier_with_secrets_is_scrubbed_before_a_run(
    secret_settings: Settings, exec_store: Store, runner: TmuxRunner, repo: Path, claimed: Any,
    record: Record, tmp_path: Path,
) -> None:
    """A server someone started on the socket from a full shell: its global environment holds
    the token; nightshift unsets it before its run's pane starts (the server process's own
    environment it cannot change, which is why nightshift starts servers clean itself)."""
    subprocess.run(["tmux", "-L", secret_settings.tmux_socket, "new-session", "-d", "-s", "old", "sleep 300"],
                   check=True, env=dict(os.environ))
    assert "TELEGRAM_BOT_TOKEN" in tmux(secret_settings.tmux_socket, "show-environment", "-g")
    found = await run_and_inspect(secret_settings, exec_store, runner, repo, claimed, record, tmp_path)
    assert [leak for leak in found if not leak.endswith("in the tmux server")] == []
    assert "TELEGRAM_BOT_TOKEN" not in tmux(secret_settings.tmux_socket, "show-environment", "-g")


async def test_the_benchmark_scenario_checks_four_processes_and_finds_no_secret(
    exec_settings: Settings, tmp_path: Path,
) -> None:
    """benchmarks/reliability.py measures with this same function."""
    from tests.reliability.hostile import run_environments

    report = await run_environments(exec_settings.tmux_socket, tmp_path / "run", FAKE,
                                    {k: v for k, v in SECRETS.items() if k != "CLAUDECODE"}, [])
    assert report.processes >= 4 and report.leaks == []
    assert "TELEGRAM_BOT_TOKEN" not in os.environ  # put back as it was
