"""Secrets stay secret and state stays private, through a whole run with every part real.

`nightshift run` as a process with the Telegram bot on (fake Bot API), the usage endpoint on
(a local stand-in that needs the OAuth token), tasks from the CLI and from Telegram run by
the fake CLI in tmux, a Telegram outage on the way; then `notes`, `show`, `usage`, `doctor`
and `backup`. Afterwards the bot token and the OAuth token are looked for in every byte
written: the state directory (database included), the vault, Claude's data directory, every
process's output and every request the fake Bot API received.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
from pathlib import Path

import pytest

from core.models import TaskState
from core.service import Service
from core.settings import Settings
from core.store.store import Store
from tests.bot.conftest import OWNER, STRANGER
from tests.daemon.conftest import NIGHTSHIFT, make_repo, start_cli, stop_cli, wait_for_states
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.usage.usage_server import Reply, usage_body, usage_server

OAUTH = "sk-ant-oat01-" + secrets.token_urlsafe(48)
SECRETS = {"bot token": TOKEN, "bot token's secret half": TOKEN.partition(":")[2], "OAuth token": OAUTH}


def _leaks(blob: bytes, where: str) -> list[str]:
    return [f"{name} in {where}" for name, value in SECRETS.items()
            if value.encode() in blob or value.encode("utf-16-le") in blob]


def scan_tree(root: Path, *, skip: tuple[Path, ...] = ()) -> list[str]:
    found: list[str] = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and path not in skip:
            found += _leaks(path.read_bytes(), str(path))
    return found


def not_private(root: Path, *, exempt: tuple[Path, ...] = ()) -> list[str]:
    """Every directory must be 0700 and every file 0600 (or stricter); list the others."""
    wrong: list[str] = []
    for path in [root, *root.rglob("*")]:
        if any(path != e and path.is_relative_to(e) for e in exempt) or path.is_symlink():
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            wrong.append(f"{oct(mode)} {path}")
    return wrong


@pytest.fixture
def secret_world(daemon_settings: Settings, fake_telegram: FakeTelegram, isolated_env: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Path:
    credentials = isolated_env / "home" / ".claude" / ".credentials.json"
    credentials.parent.mkdir(parents=True)
    credentials.write_text(json.dumps({"claudeAiOauth": {"accessToken": OAUTH, "refreshToken": OAUTH,
                                                         "expiresAt": 4102444800000}}))
    credentials.chmod(0o600)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_ALLOWED_USERS", str(OWNER))
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", fake_telegram.base_url)
    monkeypatch.setenv("NIGHTSHIFT_USAGE_API", "true")
    monkeypatch.setenv("NIGHTSHIFT_DAILY_SUMMARY_HOUR", "3")
    return credentials


@pytest.mark.timeout(150)
async def test_no_secret_is_written_anywhere_and_state_is_private(
    secret_world: Path, dservice: Service, dstore: Store, fake_telegram: FakeTelegram,
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = make_repo(isolated_env / "repo")
    outputs: list[tuple[str, str]] = []
    with usage_server() as endpoint:
        endpoint.answer(Reply(200, usage_body()))
        monkeypatch.setenv("NIGHTSHIFT_USAGE_API_BASE_URL", endpoint.url)
        # A check that prints its whole environment: whatever it sees ends up in the
        # database, the run notes and the notification.
        first = await dservice.add("print the environment [fake: turns=1]", repo=str(repo), check="env",
                                   plan=False)
        monkeypatch.setenv("NIGHTSHIFT_REPOS", f"shop={repo}")  # the phone names repos by alias
        daemon = start_cli("run")
        try:
            await fake_telegram.wait_for(lambda f: f.calls("getUpdates"), 60, "the bot to poll")
            fake_telegram.fail("502", method="sendMessage", times=1)
            fake_telegram.push_message(OWNER, "/add --no-plan -r shop second task [fake: turns=1]")
            fake_telegram.push_message(STRANGER, "/queue")
            second = first.id + 1  # the task /add makes
            await fake_telegram.wait_for(lambda f: any(f"Queued <code>#{second}</code>" in s.text
                                                       for s in f.sent(OWNER)), 60, "/add to answer")
            await wait_for_states(dstore, [first.id, second], {TaskState.DONE, TaskState.FAILED})
            for text in (f"/task {first.id}", f"/logs {first.id}", "/usage", "/queue", "/stats"):
                fake_telegram.push_message(OWNER, text)
            await fake_telegram.wait_for(
                lambda f: sum(f"Task {second} done" in s.text for s in f.sent(OWNER)) == 1
                and any(s.method == "sendPhoto" for s in f.sent(OWNER)), 60, "the notifications")
        finally:
            code, out, err = stop_cli(daemon)
        outputs.append(("nightshift run", out + err))
        assert code == 0, err
        commands = (["notes", "--json"], ["show", str(first.id), "--json"], ["usage", "--json"],
                    ["doctor", "--json"], ["backup"])
        procs = [(argv, subprocess.Popen([NIGHTSHIFT, *argv], stdout=subprocess.PIPE,  # noqa: ASYNC220
                                         stderr=subprocess.STDOUT, text=True, env=dict(os.environ)))
                 for argv in commands]
        for argv, proc in procs:
            outputs.append((" ".join(argv), proc.communicate(timeout=60)[0]))
        assert any(r["headers"].get("authorization") == f"Bearer {OAUTH}" for r in endpoint.requests), \
            "the OAuth token was really read and used (else this test proves nothing)"

    assert (await dstore.tasks.get(first.id)).state is TaskState.DONE
    detail_env = (await dstore.runs.for_task(first.id))[-1].check_output or ""
    assert "\nHOME=" in "\n" + detail_env, "the check's environment was recorded"
    # ...from the allow-list: nightshift's own settings and the bot's never reach it.
    assert "TELEGRAM_" not in detail_env and "NIGHTSHIFT_" not in detail_env
    state, brain = dservice.settings.home_dir, dservice.settings.brain_dir
    assert list((brain / "runs").rglob("*.md")), "the vault was written"

    leaks = scan_tree(state) + scan_tree(brain) + scan_tree(isolated_env / "claude")
    leaks += scan_tree(isolated_env / "home", skip=(secret_world,))
    for name, text in outputs:
        leaks += _leaks(text.encode(), f"the output of {name}")
    for call in fake_telegram.calls():
        blob = json.dumps(call.params, default=str).encode() + b"".join(call.files.values())
        leaks += _leaks(blob, f"the Bot API request {call.method}")
    assert leaks == []

    worktrees = state / "worktrees"
    assert not_private(state, exempt=(worktrees,)) == []
    assert not_private(brain) == [], "the vault holds prompts and results: as private as the state"
    # A worktree holds the repository's own files as git writes them; the folder that holds
    # the worktrees is what keeps other users out.
    assert stat.S_IMODE(worktrees.stat().st_mode) == 0o700
