"""A plan drafted in plan mode and approved, then worked; the usage monitor reads the real CLI's
session logs and its rate-limit events (warnings too)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.execution.executor import Executor
from core.models import Outcome, RunKind, TaskState
from core.plans.planner import Planner
from core.service import Service
from core.usage.monitor import UsageMonitor
from tests.fakes import messages_api as m
from tests.fakes.messages_api import MessagesAPI
from tests.fakes.notifier import RecordingNotifier
from tests.realcli.conftest import git, told

PLAN = """1. Add `VALUE = 2` to value.py.
2. Check it imports.

```nightshift-plan
{"steps": ["add value.py"], "files": ["value.py"], "risks": [],
 "check": "python3 -c 'import value'", "size": "small"}
```"""


def stream_events(run: Any, home: Path) -> list[dict[str, Any]]:
    path = home / "runs" / str(run.id) / "stream.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_a_plan_is_drafted_in_plan_mode_approved_and_worked(
    executor: Executor, cli_service: Service, api: MessagesAPI, repo: Path, notes: RecordingNotifier,
) -> None:
    planner = Planner(cli_service.settings, cli_service.store, executor, notes)
    task = await cli_service.add("Add value.py", repo=str(repo), plan=True)
    claimed = await cli_service.store.tasks.claim_next(source=TaskState.QUEUED, target=TaskState.PLANNING,
                                                       deps_done=False, reason="planning")
    assert claimed is not None and claimed.id == task.id
    worktree = cli_service.settings.home_dir / "worktrees" / f"{task.id}-add-value-py"
    api.push(m.tool_use("Read", {"file_path": str(worktree / "README.md")}),
             m.write(str(worktree / "value.py"), "VALUE = 2\n"),  # refused: plan mode changes nothing
             m.text(PLAN))
    plan = await planner.plan(claimed)

    assert plan is not None and plan.size == "small"
    assert plan.suggested_check == "python3 -c 'import value'"
    assert not (worktree / "value.py").exists()
    [plan_run] = await cli_service.store.runs.for_task(task.id)
    assert plan_run.kind is RunKind.PLAN
    init = stream_events(plan_run, cli_service.settings.home_dir)[0]
    assert init["permissionMode"] == "plan"
    results = [b for msg in api.model_turns()[-1].messages if isinstance(msg["content"], list)
               for b in msg["content"] if b.get("type") == "tool_result"]
    assert "hello" in json.dumps(results[0])  # it really read the worktree's README
    assert "plan mode" in json.dumps(results[1])
    assert [n.kind for n in told(notes)] == ["plan_ready"]
    assert told(notes)[0].buttons[0][0].data == f"ap:{task.id}:{plan.version}"

    await cli_service.approve(task.id, plan.version)
    work = await cli_service.store.tasks.claim_next(only_ids=[task.id])
    assert work is not None and work.check_cmd == "python3 -c 'import value'"
    api.push(m.write(str(worktree / "value.py"), "VALUE = 2\n"), m.text("Done.\nNIGHTSHIFT-TASK-COMPLETE"))
    run = await executor.execute(work)
    assert run.outcome is Outcome.SUCCESS, run.summary
    first_prompt = json.dumps(api.model_turns()[-2].messages)
    assert "An approved plan for this task" in first_prompt and "VALUE = 2" in first_prompt
    assert "value.py" in git(worktree, "show", "--name-only", "--format=", "HEAD")


async def test_the_usage_monitor_reads_the_real_logs_and_the_runs_rate_limit_events(
    executor: Executor, cli_service: Service, api: MessagesAPI, claimed: Any,
) -> None:
    reset = int(time.time()) + 3600
    warning = m.near_limit("Done.\nNIGHTSHIFT-TASK-COMPLETE", "five_hour", reset, utilization=0.9)
    api.push(m.write(str(cli_service.settings.home_dir / "scratch" / "1-count-tokens" / "a.txt"), "a\n",
                     usage=m.Usage(1000, 200, 300, 4000)),
             m.Reply(content=warning.content, usage=m.Usage(50, 70, 0, 5300), headers=warning.headers))
    run = await executor.execute(await claimed("Count tokens"))
    assert run.outcome is Outcome.SUCCESS
    assert run.tokens.total == 5500 + 5420

    monitor = UsageMonitor(cli_service.settings, cli_service.store)
    try:
        state = await monitor.refresh(datetime.now(UTC))
    finally:
        await monitor.close()
    # The real CLI's session log (with its new line types) counted once per response.
    assert state.tokens_used == 5500 + 5420
    assert state.window_start is not None
    # The rate-limit event of the run: utilization and the warning near the limit.
    assert state.utilization == 0.9 and dict(state.sources)["utilization"] == "stream"
    assert state.warning is not None and "90% used" in state.warning
    assert state.resets_at == datetime.fromtimestamp(reset, UTC)
    assert not state.limited
    assert (await cli_service.get(run.task_id)).state is TaskState.DONE
