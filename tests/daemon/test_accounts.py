"""Several Claude accounts on one machine, through the production assembly and the fake CLI.

Each account is its own config directory: the fake CLI keeps its limit and its sessions
there, as Claude Code keeps the login, logs and sessions, so a run on the wrong account
cannot resume a session and a limit binds only the account that met it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.accounts import DEFAULT_ACCOUNT, accounts, find
from core.daemon import LAST_PRIMED_KEY, LIMIT_PAUSE_KEY
from core.errors import ConfigError
from core.models import Outcome, TaskState, iso, utcnow
from core.pace import PACE_KEY
from core.scheduling.owner import OwnerUseBook
from core.service import Service
from core.settings import Settings, load_settings
from core.store.store import Store
from tests.fakes.notifier import RecordingNotifier
from tests.support import FAKE, NIGHTSHIFT
from tests.usage.usage_server import Reply, usage_server

from .conftest import MakeDaemon, Record, Running, wait_for_states

StartDaemon = Callable[..., Awaitable[Running]]


async def test_a_limit_pauses_one_account_the_other_goes_on_and_the_paused_task_resumes_on_its_own(
    start_daemon: StartDaemon, dservice: Service, dstore: Store, record: Record,
    config_dirs: dict[str, Path],
) -> None:
    limited = await dservice.add("limited [fake: limit reset_in=3]", priority="high")
    others = [await dservice.add(f"other {i}") for i in range(2)]
    running = await start_daemon(accounts=config_dirs)
    try:
        work, home = running.daemon.lanes
        assert (work.account.name, home.account.name) == ("work", "home")
        done = await wait_for_states(dstore, [limited.id, *(t.id for t in others)],
                                     {TaskState.DONE, TaskState.FAILED}, timeout_s=90)
    finally:
        await running.stop()
    assert [t.state for t in done] == [TaskState.DONE] * 3

    calls = record()
    on = {str(config_dirs["work"]): "work", str(config_dirs["home"]): "home"}
    mine = [c for c in calls if "limited" in str(c["prompt"]) or c["resume"]]
    # The limited task: first run and its resume, both on its own account (the fake finds the
    # session only there), the resume of exactly the session the first run started.
    assert [on[str(c["config_dir"])] for c in mine] == ["work", "work"]
    assert mine[1]["resume"] == mine[0]["session_id"]
    rest = [c for c in calls if c not in mine]
    assert [on[str(c["config_dir"])] for c in rest] == ["home", "home"]  # work was limited meanwhile

    runs = await dstore.runs.for_task(limited.id)
    assert [(r.outcome, r.account) for r in runs] == [(Outcome.LIMIT, "work"), (Outcome.SUCCESS, "work")]
    assert (await dstore.tasks.get(limited.id)).account == "work"
    for task in others:
        assert [r.account for r in await dstore.runs.for_task(task.id)] == ["home"]
    # Only the work account's pause was ever kept; the home account was never paused.
    paused = [e for e in await dstore.tasks.events() if e.to_state == TaskState.PAUSED_LIMIT.value]
    assert [e.task_id for e in paused] == [limited.id]
    assert await dstore.kv.get(LIMIT_PAUSE_KEY + "/home") is None
    assert await dstore.kv.get(LIMIT_PAUSE_KEY) is None
    # Metrics per account and in total.
    report = await dservice.metrics()
    by_account = {g.key: (g.runs, g.tasks_done) for g in report.by_account}
    assert by_account == {"work": (2, 1), "home": (2, 2)}
    assert (report.overall.runs, report.overall.tasks_done) == (4, 3)
    assert "by account:" in report.as_text()


async def test_each_account_has_its_own_window_picture(
    make_daemon: MakeDaemon, dservice: Service, dstore: Store, record: Record,
    config_dirs: dict[str, Path],
) -> None:
    task = await dservice.add("only on home")
    daemon = make_daemon(accounts=config_dirs, burst=True)
    code = await daemon.run()
    assert code == 0 and (await dstore.tasks.get(task.id)).state is TaskState.DONE
    (run,) = await dstore.runs.for_task(task.id)
    assert run.account == "work"  # both idle: the first named goes first
    for lane in daemon.lanes:
        assert lane.usage.monitor is not None
        state = await lane.usage.refresh(daemon.now())
        assert state is not None
        if lane.account.name == "work":
            assert state.tokens_used == run.tokens.total > 0
        else:
            assert state.tokens_used == 0 and state.window_start is None


def test_accounts_setting_parses_and_refuses_bad_input(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NIGHTSHIFT_ACCOUNTS", "work=~/.claude-work, home=/srv/claude-home")
    settings = load_settings(env_file=None)
    found = accounts(settings)
    assert [(a.name, a.key) for a in found] == [("work", "work"), ("home", "home")]
    assert found[0].config_dir == Path("~/.claude-work").expanduser()
    assert found[1].child_env() == {"CLAUDE_CONFIG_DIR": "/srv/claude-home"}
    assert find(found, "home") is found[1] and find(found, "gone") is None
    for bad, why in (("work", "name=CONFIG_DIR"), ("a b=/x", "account name"), ("a=/x,a=/y", "twice"),
                     ("a=/x,b=/x", "own login")):
        monkeypatch.setenv("NIGHTSHIFT_ACCOUNTS", bad)
        with pytest.raises(ConfigError) as caught:
            load_settings(env_file=None)
        assert "NIGHTSHIFT_ACCOUNTS" in str(caught.value) and why in str(caught.value)


def test_without_accounts_one_default_and_on_a_shared_queue_it_is_named_after_the_machine(
    settings: Settings,
) -> None:
    (alone,) = accounts(settings)
    assert (alone.name, alone.key, alone.config_dir) == (DEFAULT_ACCOUNT, "default", None)
    assert alone.child_env() == {}
    assert alone.kv_scope(settings) == ""
    shared = settings.model_copy(update={"database_url": "postgresql://x@/y", "node_name": "box"})
    (one,) = accounts(shared)
    assert (one.name, one.key, one.kv_scope(shared)) == ("box", "box", "@box")
    two = shared.model_copy(update={"accounts": {"work": Path("/w")}})
    assert [(a.key, a.kv_scope(two)) for a in accounts(two)] == [("box/work", "@box/work")]


def _claude_once(config_dir: Path, cwd: Path, turns: int) -> None:
    """One run of the (fake) CLI on an account: it writes its usage to that account's logs."""
    done = subprocess.run(
        [FAKE, "-p", f"hello [fake: turns={turns}]", "--output-format", "stream-json", "--verbose"],
        cwd=cwd, env={**os.environ, "CLAUDE_CONFIG_DIR": str(config_dir)},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr


def _usage_json(**env: str) -> dict[str, Any]:
    done = subprocess.run([NIGHTSHIFT, "usage", "--json"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env}, check=False)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_usage_shows_each_accounts_window_and_the_total(
    daemon_settings: Settings, config_dirs: dict[str, Path], tmp_path: Path,
) -> None:
    _claude_once(config_dirs["work"], tmp_path, turns=1)
    _claude_once(config_dirs["home"], tmp_path, turns=3)
    # What each login's logs say alone, as `usage` reads one account without NIGHTSHIFT_ACCOUNTS.
    alone = {name: _usage_json(CLAUDE_CONFIG_DIR=str(path))["tokens_used"]
             for name, path in config_dirs.items()}
    assert 0 < alone["work"] < alone["home"]
    accounts_env = ",".join(f"{n}={p}" for n, p in config_dirs.items())
    out = _usage_json(NIGHTSHIFT_ACCOUNTS=accounts_env)
    assert {name: out["accounts"][name]["tokens_used"] for name in ("work", "home")} == alone
    assert out["total"]["tokens_used"] == alone["work"] + alone["home"]
    assert out["total"]["open"] == ["work", "home"]
    text = subprocess.run([NIGHTSHIFT, "usage"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NIGHTSHIFT_ACCOUNTS": accounts_env}, check=False).stdout
    assert "Account work" in text and "Account home" in text
    assert f"Total: {alone['work'] + alone['home']:,} tokens in 2 accounts" in text


def test_usage_text_for_the_phone_lists_accounts_then_the_total() -> None:
    from datetime import UTC

    from bot.render import usage_accounts_text

    states = [("work", {"limited": True, "kind": "session", "resets_at": "2026-12-01T05:00:00+00:00",
                        "tokens_used": 1200, "source": "stream"}),
              ("home", {"limited": False, "kind": "session", "tokens_used": 300, "source": "logs"})]
    text = usage_accounts_text(states, {"accounts": 2, "open": ["home"], "tokens_used": 1500}, UTC)
    assert text.index("Account work") < text.index("limited") < text.index("Account home")
    assert text.count("<b>Usage</b>") == 1
    assert text.splitlines()[-1].startswith("<b>Total</b>: used ")
    assert text.endswith(" tokens in 2 accounts; open now: home")


def test_the_window_summary_adds_lines_per_account_and_the_total_only_with_several() -> None:
    from datetime import UTC, datetime

    from core.daemon.summary import per_account_text
    from core.models import Run, RunKind, Tokens

    def run(task_id: int, total: int) -> Run:
        return Run(id=task_id, task_id=task_id, iteration=1, kind=RunKind.WORK, outcome=Outcome.SUCCESS,
                   session_id=None, tokens=Tokens(total, 0, 0, 0), cost_usd=0.0, num_turns=1, branch=None,
                   worktree=None, tmux_session=None, log_path=None, prompt_variant=None, window_id=None,
                   scheduled_for=None, started_at=datetime(2026, 12, 1, tzinfo=UTC), finished_at=None)

    runs = {1: run(1, 1000), 2: run(2, 500), 3: None}
    assert per_account_text(runs, {1: "work", 2: "work", 3: "work"}) == ""
    text = per_account_text(runs, {1: "work", 2: "home", 3: "home"})
    assert text.splitlines()[1:] == ["By account:", "  home: 2 task(s), 500 tokens",
                                     "  work: 1 task(s), 1,000 tokens", "  total: 3 task(s), 1,500 tokens"]


async def test_weekly_pacing_holds_the_account_that_had_its_part_of_today(
    make_daemon: MakeDaemon, dservice: Service, dstore: Store, config_dirs: dict[str, Path],
) -> None:
    now = utcnow()
    resets = now + timedelta(days=3)
    for name, path in config_dirs.items():
        (path / ".credentials.json").write_text(json.dumps({"claudeAiOauth": {"accessToken": f"tok-{name}"}}))
    # The work account began today at 40 % of its week and is at 60 % now: far past today's part.
    await dstore.kv.set(PACE_KEY + "/work", {"day": now.date().isoformat(), "resets_at": iso(resets),
                                             "utilization": 0.40})
    tasks = [await dservice.add(f"task {i}") for i in range(2)]
    with usage_server() as server:
        for name, week in (("work", 60.0), ("home", 20.0)):
            server.by_token[f"tok-{name}"] = Reply(body={
                "five_hour": {"utilization": 10.0, "resets_at": iso(now + timedelta(hours=2))},
                "seven_day": {"utilization": week, "resets_at": iso(resets)}})
        heard = RecordingNotifier()
        daemon = make_daemon(accounts=config_dirs, burst=True, weekly_pacing=True, tz="UTC",
                             usage_api=True, usage_api_base_url=server.url, notifier=heard)
        assert await daemon.run() == 0
    work, home = daemon.lanes
    assert [lane.account.name for lane in daemon.lanes.by_use(daemon.now())] == ["work", "home"]
    assert work.pace is not None and work.pace.hold and work.pace.used_today == pytest.approx(0.2)
    assert home.pace is not None and not home.pace.hold and home.pace.used_today == 0
    # The owner heard it once (several rounds held the account).
    (told,) = [n for n in heard.sent if n.kind == "weekly_pace"]
    assert told.text.startswith("Weekly pace on account work: week 60% used")
    assert told.text.endswith("New work waits for tomorrow or another account.")
    # The window summary ends with each account's pace.
    text = daemon.lanes.pace_text()
    assert text.startswith("\n\nWeekly pace:\n")
    lines = text.splitlines()[3:]
    assert lines == [f"work: {work.pace.text()}", f"home: {home.pace.text()}"]
    assert "work: week 60% used" in lines[0] and "holding new work until tomorrow" in lines[0]
    for task in tasks:
        assert (await dstore.tasks.get(task.id)).state is TaskState.DONE
        assert [r.account for r in await dstore.runs.for_task(task.id)] == ["home"]
    shown = await dservice.weekly_paces()  # the service without the daemon's monitors: nothing to show
    assert shown == {}


async def test_work_goes_first_to_the_account_the_owner_is_expected_to_use_least(
    make_daemon: MakeDaemon, config_dirs: dict[str, Path],
) -> None:
    """The owner works on `work` every weekday morning; `home` they leave alone: a round offers
    work to `home` first, though `work` is named first and neither window is open."""
    daemon = make_daemon(accounts=config_dirs, tz="UTC")
    work, home = daemon.lanes
    now = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)  # a Thursday, before the owner's morning
    busy = OwnerUseBook(tz=UTC)
    for days_ago in range(1, 15):
        for hour in (8, 9, 10):
            busy.observe(now - timedelta(days=days_ago) + timedelta(hours=hour - 7), 200_000)
    idle = OwnerUseBook(tz=UTC)
    idle.observe(now - timedelta(days=14), 0)

    async def work_use(_: datetime) -> OwnerUseBook:
        return busy

    async def home_use(_: datetime) -> OwnerUseBook:
        return idle

    work.owner_use, home.owner_use = work_use, home_use
    assert await work.owner_expected(now) > 0 and await home.owner_expected(now) == 0
    assert [lane.account.name for lane in daemon.lanes.by_use(now)] == ["work", "home"]
    assert [lane.account.name for lane in await daemon.lanes.by_owner_use(now)] == ["home", "work"]


async def test_priming_opens_each_accounts_window_on_its_own(
    make_daemon: MakeDaemon, dstore: Store, record: Record, config_dirs: dict[str, Path],
) -> None:
    daemon = make_daemon(accounts=config_dirs)
    try:
        await daemon.lanes.prime()  # what the prime-HHMM job does
    finally:
        for lane in daemon.lanes:
            await lane.usage.close()
    calls = record()
    assert sorted(str(c["config_dir"]) for c in calls) == sorted(str(p) for p in config_dirs.values())
    assert daemon.stats.primes == 2
    for name in config_dirs:
        assert await dstore.kv.get(f"{LAST_PRIMED_KEY}/{name}") is not None
    assert await dstore.kv.get(LAST_PRIMED_KEY) is None
