"""The executor end to end: real tmux on a private socket, real git, the fake CLI as a subprocess."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.agent.prompts import COMPLETION_MARKER, work_prompt
from core.demo.fake_stream import cost_usd, expected_usage
from core.execution.executor import Executor
from core.execution.tmux import TmuxRunner
from core.models import Outcome, Task, TaskState, Tokens
from core.progress import PROGRESS_KIND
from core.service import Service
from core.settings import Settings
from core.store.store import Store
from tests.execution.conftest import eventually, git, group_gone, make_repo
from tests.fakes.notifier import RecordingNotifier

NASTY = (
    'it\'s "done" $(touch pwned) `touch pwned2` $HOME ${PATH}\n--resume x\n'
    "-p ; | & > < * ? ~ \\ ünïcødé 🎉\tend"
)


def flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


async def test_success_records_tokens_cost_session_and_leaves_the_commit_on_the_branch(
    executor: Executor,
    exec_store: Store,
    exec_settings: Settings,
    runner: TmuxRunner,
    repo: Path,
    claimed: Any,
    record: Any,
    notes: RecordingNotifier,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLAUDECODE", "1")
    main_head = git(repo, "rev-parse", "HEAD").strip()
    task = await claimed("Fix the login test", repo=str(repo))
    run = await executor.execute(task)

    assert run.outcome is Outcome.SUCCESS
    usage = expected_usage(4)
    assert run.tokens == Tokens(
        usage["input_tokens"],
        usage["output_tokens"],
        usage["cache_creation_input_tokens"],
        usage["cache_read_input_tokens"],
    )
    assert run.cost_usd == cost_usd(usage)
    assert run.num_turns == 3 and run.exit_code == 0
    calls = record()
    assert len(calls) == 1
    assert calls[0]["stdin_devnull"] is True and calls[0]["claudecode"] is None
    assert run.session_id == flag(calls[0]["argv"], "--session-id")
    assert (await exec_store.tasks.get(task.id)).session_id == run.session_id
    assert COMPLETION_MARKER in (run.final_text or "")

    worktree = exec_settings.home_dir / "worktrees" / f"{task.id}-fix-the-login-test"
    assert run.worktree == str(worktree) and calls[0]["cwd"] == str(worktree)
    assert run.branch == f"nightshift/{task.id}-fix-the-login-test"
    assert git(repo, "log", "-1", "--format=%s", run.branch).startswith("fake claude: iteration 1")
    assert git(repo, "merge-base", "main", run.branch).strip() == main_head
    assert git(repo, "rev-parse", "main").strip() == main_head
    assert not (repo / "FAKE_WORK.md").exists()  # the owner's checkout is untouched
    assert run.extra["diffstat"] == {
        "files": 2,
        "insertions": 2,
        "deletions": 0,
        "commits": 1,
        "uncommitted": 0,
    }
    assert run.summary is not None and "1 commit, 2 files changed" in run.summary

    log_path = Path(run.log_path or "")
    assert log_path.stat().st_mode & 0o777 == 0o600
    assert log_path.parent.stat().st_mode & 0o777 == 0o700
    assert json.loads(log_path.read_text().splitlines()[-1])["type"] == "result"
    assert run.tmux_session == f"ns-{task.id}-{run.id}"
    assert not await runner.has_session(run.tmux_session)

    done = await exec_store.tasks.get(task.id)
    assert done.state is TaskState.DONE and done.attempts == 1
    # Besides the live progress versions (tests/bot/test_live.py), one report: the summary.
    reports = [n for n in notes.sent if n.kind != PROGRESS_KIND]
    assert [n.kind for n in reports] == ["run_finished"]
    assert f"tmux -L {exec_settings.tmux_socket} attach -t {run.tmux_session}" in reports[0].text


async def test_limit_pauses_the_task_with_the_exact_reset_and_resumes_its_session(
    executor: Executor,
    exec_store: Store,
    repo: Path,
    claimed: Any,
    record: Any,
) -> None:
    task = await claimed("Big refactor [fake: limit reset_in=0]", repo=str(repo))
    run = await executor.execute(task)

    assert run.outcome is Outcome.LIMIT
    events = [json.loads(ln) for ln in Path(run.log_path or "").read_text().splitlines()]
    resets_at = datetime.fromtimestamp(
        next(e for e in events if e["type"] == "rate_limit_event")["rate_limit_info"]["resetsAt"], UTC
    )
    paused = await exec_store.tasks.get(task.id)
    assert paused.state is TaskState.PAUSED_LIMIT
    assert paused.resume_after == resets_at
    assert paused.attempts == 0
    assert paused.session_id == run.session_id is not None
    # What the daemon's gate reads once the follower hands it this run (tests/daemon/test_reset.py):
    # the limit kept on the run, exact to the second because the stream named it.
    limit = run.extra["limit"]
    assert run.task_id == task.id
    assert (limit["kind"], limit["exact"], limit["estimated"]) == ("session", True, False)
    assert datetime.fromisoformat(limit["resets_at"]) == resets_at
    assert limit["text"] == "rate_limit_event rejected (five_hour)" and run.extra["limit_kind"] == "session"

    # After the reset the same session continues in the same worktree.
    await exec_store.tasks.transition(task.id, TaskState.READY, reason="reset")
    again = await exec_store.tasks.claim_next(resets_at, only_ids=[task.id])
    assert again is not None
    second = await executor.execute(again)
    assert second.outcome is Outcome.SUCCESS
    calls = record()
    assert len(calls) == 2
    assert flag(calls[1]["argv"], "--resume") == run.session_id
    assert "--session-id" not in calls[1]["argv"]
    assert "usage limit" in calls[1]["prompt"]
    assert second.worktree == run.worktree and second.iteration == run.iteration == 1
    done = await exec_store.tasks.get(task.id)
    assert done.state is TaskState.DONE and done.attempts == 1


async def test_a_hang_is_killed_at_the_timeout_with_its_process_group(
    executor: Executor,
    exec_store: Store,
    runner: TmuxRunner,
    repo: Path,
    claimed: Any,
    record: Any,
) -> None:
    task = await claimed("Wait forever [fake: hang]", repo=str(repo), max_minutes=0.01)
    run = await executor.execute(task)
    assert run.outcome is Outcome.TIMEOUT
    await eventually(lambda: group_gone(record()[0]["pgid"]), "the process group to end")
    assert not await runner.has_session(run.tmux_session or "")
    failed = await exec_store.tasks.get(task.id)
    assert failed.state is TaskState.FAILED and failed.attempts == 1


async def test_the_learned_time_limit_applies_when_the_task_sets_none(
    exec_settings: Settings,
    exec_store: Store,
    runner: TmuxRunner,
    repo: Path,
    claimed: Any,
) -> None:
    asked: list[int] = []

    def learned_limit(task: Task) -> float:
        asked.append(task.id)
        return 0.01  # minutes: as if this task's tag had learned a (here absurdly short) limit

    executor = Executor(
        exec_settings,
        exec_store,
        runner,
        time_limit_minutes=learned_limit,
        poll_interval_s=0.05,
        kill_grace_s=1.0,
    )
    task = await claimed("Wait forever [fake: hang]", repo=str(repo))
    run = await executor.execute(task)
    assert run.outcome is Outcome.TIMEOUT and asked == [task.id]


async def test_a_crash_mid_stream_is_crashed_and_retried_by_resuming(
    executor: Executor,
    exec_store: Store,
    repo: Path,
    claimed: Any,
    record: Any,
) -> None:
    task = await claimed("Something [fake: crash]", repo=str(repo))
    run = await executor.execute(task)
    assert run.outcome is Outcome.CRASHED and run.exit_code == 1
    assert "TypeError" in (run.extra.get("reason") or "")
    retry = await exec_store.tasks.get(task.id)
    assert retry.state is TaskState.READY and retry.attempts == 1

    again = await exec_store.tasks.claim_next(only_ids=[task.id])
    assert again is not None
    second = await executor.execute(again)
    assert second.outcome is Outcome.CRASHED
    assert flag(record()[1]["argv"], "--resume") == run.session_id
    failed = await exec_store.tasks.get(task.id)
    assert failed.state is TaskState.FAILED and failed.attempts == 2


async def test_needs_two_iterations_resumes_the_same_session_without_a_check(
    executor: Executor,
    exec_store: Store,
    repo: Path,
    claimed: Any,
    record: Any,
) -> None:
    task = await claimed("Port the module [fake: needs_iterations=2]", repo=str(repo))
    last = await executor.execute(task)
    runs = await exec_store.runs.for_task(task.id)
    assert [(r.iteration, r.outcome) for r in runs] == [(1, Outcome.CHECK_FAILED), (2, Outcome.SUCCESS)]
    assert last.id == runs[-1].id
    calls = record()
    session = flag(calls[0]["argv"], "--session-id")
    assert session and flag(calls[1]["argv"], "--resume") == session
    assert runs[0].session_id == runs[1].session_id == session
    assert "did not say the task is complete" in calls[1]["prompt"]
    assert "iteration 2 of at most 3" in calls[1]["prompt"]
    assert (await exec_store.tasks.get(task.id)).state is TaskState.DONE


async def test_a_failing_then_passing_check_feeds_its_output_back(
    executor: Executor,
    exec_store: Store,
    repo: Path,
    claimed: Any,
    record: Any,
) -> None:
    check = "cat fake-status.txt; grep -qx done fake-status.txt"
    task = await claimed("Make the check pass [fake: needs_iterations=2]", repo=str(repo), check_cmd=check)
    await executor.execute(task)
    runs = await exec_store.runs.for_task(task.id)
    assert [r.outcome for r in runs] == [Outcome.CHECK_FAILED, Outcome.SUCCESS]
    assert runs[0].check_output == "incomplete 1/2\n" and runs[0].extra["check_exit"] == 1
    prompt = record()[1]["prompt"]
    assert f"The check `{check}` failed with exit code 1" in prompt and "incomplete 1/2" in prompt
    assert runs[1].check_output == "done\n"
    assert (await exec_store.tasks.get(task.id)).state is TaskState.DONE


async def test_the_loop_stops_at_the_task_max_iterations(
    executor: Executor,
    exec_store: Store,
    repo: Path,
    claimed: Any,
) -> None:
    task = await claimed("Never done [fake: needs_iterations=9]", repo=str(repo), max_iterations=2)
    run = await executor.execute(task)
    assert run.iteration == 2 and run.outcome is Outcome.CHECK_FAILED
    failed = await exec_store.tasks.get(task.id)
    assert failed.state is TaskState.FAILED
    assert "after 2 iteration(s)" in (failed.state_reason or "")


async def test_a_prompt_full_of_shell_metacharacters_arrives_verbatim(
    executor: Executor,
    repo: Path,
    claimed: Any,
    record: Any,
    exec_settings: Settings,
) -> None:
    task = await claimed(NASTY, repo=str(repo))
    await executor.execute(task)
    call = record()[0]
    assert call["prompt"] == work_prompt(NASTY)
    assert call["argv"][-1] == work_prompt(NASTY) and call["argv"][-2] == "--"
    worktree = Path(call["cwd"])
    assert not list(worktree.glob("pwned*")) and not list(Path.cwd().glob("pwned*"))


async def test_a_prompt_too_long_for_argv_arrives_through_stdin(
    executor: Executor,
    repo: Path,
    claimed: Any,
    record: Any,
) -> None:
    prompt = "Rewrite this: " + "é" * 60_000
    task = await claimed(prompt, repo=str(repo))
    run = await executor.execute(task)
    assert run.outcome is Outcome.SUCCESS
    call = record()[0]
    assert call["prompt"] == work_prompt(prompt) and call["stdin_devnull"] is False
    assert "--" not in call["argv"]


async def test_cancel_through_the_service_kills_the_process_group(
    executor: Executor,
    exec_store: Store,
    exec_settings: Settings,
    runner: TmuxRunner,
    repo: Path,
    claimed: Any,
    record: Any,
) -> None:
    service = Service(exec_settings, exec_store, cancel_hooks=[executor.cancel])
    task = await claimed("Long job [fake: hang]", repo=str(repo))
    job = asyncio.create_task(executor.execute(task))
    await eventually(record, "the CLI to start")
    await service.cancel(task.id)
    run = await asyncio.wait_for(job, 30)
    assert run.outcome is Outcome.CANCELLED
    await eventually(lambda: group_gone(record()[0]["pgid"]), "the process group to end")
    assert not await runner.has_session(run.tmux_session or "")
    assert (await exec_store.tasks.get(task.id)).state is TaskState.CANCELLED


async def test_a_cancel_from_another_process_is_noticed(
    executor: Executor,
    exec_store: Store,
    repo: Path,
    claimed: Any,
    record: Any,
) -> None:
    """`nightshift cancel` in another process only changes the state; the follower stops the run."""
    task = await claimed("Long job [fake: hang]", repo=str(repo))
    job = asyncio.create_task(executor.execute(task))
    await eventually(record, "the CLI to start")
    await exec_store.tasks.transition(task.id, TaskState.CANCELLED, reason="elsewhere")
    run = await asyncio.wait_for(job, 30)
    assert run.outcome is Outcome.CANCELLED
    await eventually(lambda: group_gone(record()[0]["pgid"]), "the process group to end")


@pytest.mark.parametrize(
    ("prompt", "fields", "outcome", "state", "attempts"),
    [
        ("x [fake: max_turns]", {}, Outcome.MAX_TURNS, TaskState.FAILED, 1),
        ("x", {"max_budget_usd": 0.01}, Outcome.BUDGET, TaskState.FAILED, 1),
        ("x [fake: permission_denied]", {}, Outcome.PERMISSION_DENIED, TaskState.FAILED, 1),
        ("x [fake: fail]", {}, Outcome.ERROR, TaskState.READY, 1),
    ],
)
async def test_outcome_classes(
    executor: Executor,
    exec_store: Store,
    repo: Path,
    claimed: Any,
    prompt: str,
    fields: dict[str, Any],
    outcome: Outcome,
    state: TaskState,
    attempts: int,
) -> None:
    task = await claimed(prompt, repo=str(repo), **fields)
    run = await executor.execute(task)
    assert run.outcome is outcome
    after = await exec_store.tasks.get(task.id)
    assert (after.state, after.attempts) == (state, attempts)


async def test_live_progress_is_recorded_while_the_run_goes(
    executor: Executor,
    exec_store: Store,
    repo: Path,
    claimed: Any,
) -> None:
    task = await claimed("Slowly [fake: slow delay=0.25 turns=4]", repo=str(repo))
    job = asyncio.create_task(executor.execute(task))
    seen: list[tuple[int, int]] = []
    while not job.done():
        for run in await exec_store.runs.for_task(task.id):
            if run.finished_at is None and run.tokens.total:
                seen.append((run.num_turns, run.tokens.total))
        await asyncio.sleep(0.05)
    final = await job
    assert seen, "no progress was recorded before the run ended"
    assert all(0 < total <= final.tokens.total for _, total in seen)
    assert any(total < final.tokens.total for _, total in seen)  # seen before the result arrived
    assert final.outcome is Outcome.SUCCESS


async def test_a_repo_that_is_not_git_is_a_clear_error(
    executor: Executor,
    exec_store: Store,
    tmp_path: Path,
    claimed: Any,
    record: Any,
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    task = await claimed("x", repo=str(plain))
    run = await executor.execute(task)
    assert run.outcome is Outcome.ERROR and "not a git repository" in (run.final_text or "")
    failed = await exec_store.tasks.get(task.id)
    assert failed.state is TaskState.FAILED and "NIGHTSHIFT_ALLOW_IN_PLACE" in (failed.state_reason or "")
    assert record() == []


async def test_in_place_when_allowed_and_scratch_without_a_repo(
    exec_settings: Settings,
    exec_store: Store,
    runner: TmuxRunner,
    tmp_path: Path,
    claimed: Any,
    record: Any,
) -> None:
    settings = exec_settings.model_copy(update={"allow_in_place": True})
    executor = Executor(settings, exec_store, runner, poll_interval_s=0.05)
    plain = tmp_path / "plain"
    plain.mkdir()
    in_place = await executor.execute(await claimed("x", repo=str(plain)))
    assert in_place.outcome is Outcome.SUCCESS and (plain / "FAKE_WORK.md").exists()
    assert in_place.branch is None
    scratch = await executor.execute(await claimed("no repo at all"))
    assert scratch.outcome is Outcome.SUCCESS
    assert Path(scratch.worktree or "").parent == settings.home_dir / "scratch"
    assert [c["cwd"] for c in record()] == [str(plain), scratch.worktree]


async def test_base_branch_setting_and_an_approved_plan_in_the_prompt(
    exec_settings: Settings,
    exec_store: Store,
    runner: TmuxRunner,
    tmp_path: Path,
    claimed: Any,
    record: Any,
) -> None:
    repo = make_repo(tmp_path / "based")
    git(repo, "checkout", "-q", "-b", "develop")
    (repo / "dev.txt").write_text("dev\n")
    git(repo, "add", "dev.txt")
    git(repo, "commit", "-q", "-m", "dev work")
    develop = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "main")
    settings = exec_settings.model_copy(update={"base_branch": "develop"})
    executor = Executor(settings, exec_store, runner, poll_interval_s=0.05)
    task = await claimed("Build on develop", repo=str(repo))
    plan = await exec_store.plans.add(task.id, "1. do it\n2. test it")
    await exec_store.plans.set_status(plan.id, "approved")
    run = await executor.execute(task)
    assert run.extra["base"] == develop
    assert git(repo, "merge-base", "develop", run.branch or "").strip() == develop
    assert "An approved plan" in record()[0]["prompt"] and "2. test it" in record()[0]["prompt"]
