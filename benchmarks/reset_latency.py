"""Reset-to-start latency: how long after reset + margin the limited task is running again.

Runs the real daemon (APScheduler reset job, persisted pause, executor, tmux on a private
socket) against the fake Claude CLI for N limit-and-reset cycles. Each cycle queues one task
whose first call is refused with a reset 1 s away; the daemon pauses the queue, and at the
reset plus the margin resumes the task with `--resume`. Latency per cycle:

- run start: the resumed run's `started_at - scheduled_for` (`scheduled_for` = reset + margin),
  what `nightshift show` prints;
- CLI start: when the fake CLI process itself recorded the call, minus reset + margin.

Reference, measured in the same run: the cost of starting a run directly (claim, executor,
tmux, launcher, CLI) with no scheduling in between. The ratio says how much of the latency
is the scheduler's. Tools before nightshift polled every 30 s to 10 minutes (a 30 s poll
waits 15 s on average).

    .venv/bin/python benchmarks/reset_latency.py [--cycles 20] [--margin 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_MEDIAN_S = 0.5


def _env(base: Path, margin_s: float) -> None:
    """A private world: state, Claude data, tmux socket, the fake CLI."""
    for key in list(os.environ):
        if key.startswith(("NIGHTSHIFT_", "TELEGRAM_", "CLAUDE_CONFIG_DIR", "CLAUDECODE")):
            del os.environ[key]
    os.environ.update({
        "NIGHTSHIFT_HOME": str(base / "state"),
        "NIGHTSHIFT_BRAIN": str(base / "brain"),
        "CLAUDE_CONFIG_DIR": str(base / "claude"),
        "NIGHTSHIFT_TMUX_SOCKET": f"ns-bench-{os.getpid()}",
        "NIGHTSHIFT_CLAUDE_BIN": str(Path(sys.executable).parent / "nightshift-fake-claude"),
        "NIGHTSHIFT_RESET_MARGIN_S": str(margin_s),
        "NIGHTSHIFT_PLAN_BY_DEFAULT": "false",
        "FAKE_CLAUDE_RECORD": str(base / "record.jsonl"),
    })
    os.chdir(base)


def _calls(base: Path) -> list[dict[str, object]]:
    path = base / "record.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _at(call: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(call["at"]).replace("Z", "+00:00"))


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


async def _wait_done(store: object, task_id: int, timeout_s: float = 60) -> None:
    from core.models import TaskState

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        task = await store.tasks.get(task_id)  # type: ignore[attr-defined]
        if task.state in (TaskState.DONE, TaskState.FAILED):
            if task.state is not TaskState.DONE:
                raise SystemExit(f"task {task_id} failed: {task.state_reason}")
            return
        await asyncio.sleep(0.02)
    raise SystemExit(f"task {task_id} did not finish in {timeout_s}s")


async def main(cycles: int, margin_s: float) -> int:
    from core.assembly import ExecutorTimings, build_daemon
    from core.execution.executor import Executor
    from core.execution.tmux import TmuxRunner
    from core.service import Service
    from core.settings import load_settings

    base = Path(tempfile.mkdtemp(prefix="ns-reset-bench-"))
    _env(base, margin_s)
    settings = load_settings(env_file=None)
    service = await Service.open(settings)
    runner = TmuxRunner(settings.tmux_socket)
    executor = Executor(settings, service.store, runner, poll_interval_s=0.02)
    try:
        # Reference: start runs directly, no daemon, no scheduling.
        direct: list[float] = []
        for i in range(5):
            task = await service.add(f"direct {i}")
            claimed = await service.store.tasks.claim_next(only_ids=[task.id])
            assert claimed is not None
            before = time.time()
            await executor.execute(claimed)
            direct.append(_at(_calls(base)[-1]).timestamp() - before)

        # The daemon as `nightshift run` builds it (no usage monitor), over the same store.
        daemon = build_daemon(settings, service.store, runner=runner, install_signal_handlers=False,
                              timings=ExecutorTimings(poll_interval_s=0.02))
        service = daemon.service
        job = asyncio.create_task(daemon.run())
        run_start: list[float] = []
        cli_start: list[float] = []
        for i in range(cycles):
            task = await service.add(f"cycle {i} [fake: limit reset_in=1]")
            await _wait_done(service.store, task.id)
            runs = await service.store.runs.for_task(task.id)
            limited, resumed = runs[0], runs[-1]
            assert limited.outcome is not None and limited.outcome.value == "limit", limited
            assert resumed.scheduled_for is not None and resumed.latency_s is not None
            run_start.append(resumed.latency_s)
            call = next(c for c in _calls(base) if c.get("resume") == resumed.session_id)
            cli_start.append((_at(call) - resumed.scheduled_for).total_seconds())
        daemon.request_stop("benchmark over")
        await job
    finally:
        await service.close()
        await runner.kill_server()

    floor = statistics.median(direct)
    med_run, med_cli = statistics.median(run_start), statistics.median(cli_start)
    print(f"reset-to-start latency over {cycles} limit-and-reset cycles (margin {margin_s:g} s)")
    print(f"  run start (started_at - reset - margin): median {med_run:.3f} s, "
          f"p95 {_p95(run_start):.3f} s, max {max(run_start):.3f} s")
    print(f"  CLI start (the fake CLI's own call record - reset - margin): median {med_cli:.3f} s, "
          f"p95 {_p95(cli_start):.3f} s, max {max(cli_start):.3f} s")
    print(f"  reference, direct start without scheduling (executor call to CLI start): "
          f"median {floor:.3f} s")
    print(f"  ratio CLI-start latency / direct start: {med_cli / floor:.2f}")
    print(f"  ratio CLI-start latency / a 30 s poller's mean wait (15 s): {med_cli / 15:.4f}")
    ok = med_run <= TARGET_MEDIAN_S
    print(f"  target: median run-start latency <= {TARGET_MEDIAN_S} s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--margin", type=float, default=1.0)
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.cycles, args.margin)))
