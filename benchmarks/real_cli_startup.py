"""The real Claude Code CLI's start-up per run, and what it adds to reset-to-start latency.

Both CLIs run offline: the real one (scripts/install-claude.sh) against the fake Messages API
(tests/fakes/messages_api.py), the project's fake CLI as the reference, measured in the same
run on the same machine. Three figures for each:

- bare start: process spawn to the CLI's first sign of work (the real CLI's first API
  request; the fake CLI's own call record), no tmux, no nightshift;
- run: `Executor.execute` of a one-turn task (claim, worktree, tmux, launcher, CLI, judging);
- reset-to-start: the daemon resumes a task a limit paused; from reset + margin to the
  resumed CLI's first sign of work (N limit-and-reset cycles, reset 2 s away, margin 1 s).

    .venv/bin/python benchmarks/real_cli_startup.py [--runs 10] [--cycles 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes import messages_api as m  # noqa: E402
from tests.realcli.conftest import OAUTH_TOKEN, REAL_CLAUDE  # noqa: E402

FAKE_CLI = str(Path(sys.executable).parent / "nightshift-fake-claude")


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def _world(base: Path, api_url: str, claude_bin: str) -> None:
    for key in list(os.environ):
        if key.startswith(("NIGHTSHIFT_", "TELEGRAM_", "CLAUDE", "ANTHROPIC_")):
            del os.environ[key]
    (base / "claude" / "projects").mkdir(parents=True, exist_ok=True)
    (base / "home").mkdir(exist_ok=True)
    os.environ.update({
        "HOME": str(base / "home"),
        "NIGHTSHIFT_HOME": str(base / "state"),
        "NIGHTSHIFT_BRAIN": str(base / "brain"),
        "CLAUDE_CONFIG_DIR": str(base / "claude"),
        "NIGHTSHIFT_TMUX_SOCKET": f"ns-bench-cli-{os.getpid()}-{base.name}",
        "NIGHTSHIFT_CLAUDE_BIN": claude_bin,
        "NIGHTSHIFT_RESET_MARGIN_S": "1",
        "NIGHTSHIFT_PLAN_BY_DEFAULT": "false",
        "NIGHTSHIFT_USAGE_API": "false",
        "FAKE_CLAUDE_RECORD": str(base / "record.jsonl"),
        "ANTHROPIC_BASE_URL": api_url,
        "CLAUDE_CODE_OAUTH_TOKEN": OAUTH_TOKEN,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    })
    os.chdir(base)


def _fake_calls(base: Path) -> list[float]:
    path = base / "record.jsonl"
    if not path.exists():
        return []
    return [datetime.fromisoformat(json.loads(ln)["at"].replace("Z", "+00:00")).timestamp()
            for ln in path.read_text().splitlines()]


def _first_sign(real: bool, api: m.MessagesAPI, base: Path, after: float) -> float:
    """When the CLI started working after `after` (epoch seconds): its first request or record."""
    moments = [r.at for r in api.requests] if real else _fake_calls(base)
    seen = [t for t in moments if t >= after]
    if not seen:
        raise SystemExit("the CLI left no sign of work")
    return min(seen)


def bare_start(real: bool, binary: str, api: m.MessagesAPI, base: Path, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        api.push(m.text("ok"))
        cwd = Path(tempfile.mkdtemp(dir=base))
        started = time.time()
        subprocess.run([binary, "-p", "--output-format", "stream-json", "--verbose", "--", "hi"], cwd=cwd,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=120, check=False)
        out.append(_first_sign(real, api, base, started) - started)
    return out


async def measure(real: bool, binary: str, runs: int, cycles: int) -> dict[str, list[float]]:
    from core.assembly import ExecutorTimings, build_daemon
    from core.execution.tmux import TmuxRunner
    from core.settings import load_settings
    from core.store.store import open_store

    api = m.MessagesAPI().start()
    base = Path(tempfile.mkdtemp(prefix="ns-cli-bench-"))
    _world(base, api.url, binary)
    figures: dict[str, list[float]] = {"bare start": bare_start(real, binary, api, base, runs)}
    settings = load_settings(env_file=None)
    runner = TmuxRunner(settings.tmux_socket)
    # The production wiring, as `nightshift run` builds it; the run figure drives its executor.
    daemon = build_daemon(settings, await open_store(settings), runner=runner,
                          install_signal_handlers=False, timings=ExecutorTimings(poll_interval_s=0.02))
    service, executor = daemon.service, daemon.follower.executor
    try:
        figures["run"] = []
        for i in range(runs):
            api.push(m.text("Done.\nNIGHTSHIFT-TASK-COMPLETE"))
            task = await service.add(f"direct {i}")
            claimed = await service.store.tasks.claim_next(only_ids=[task.id])
            assert claimed is not None
            before = time.monotonic()
            run = await executor.execute(claimed)
            assert run.outcome is not None and run.outcome.value == "success", run.summary
            figures["run"].append(time.monotonic() - before)

        job = asyncio.create_task(daemon.run())
        figures["reset-to-start"] = []
        for i in range(cycles):
            if real:
                api.push(m.usage_limit("five_hour", int(time.time()) + 2),
                         m.text("Done.\nNIGHTSHIFT-TASK-COMPLETE"))
                task = await service.add(f"cycle {i}")
            else:
                task = await service.add(f"cycle {i} [fake: limit reset_in=2]")
            await _until(lambda t=task.id: _state(service, t), "done")
            runs_ = await service.store.runs.for_task(task.id)
            resumed = runs_[-1]
            assert runs_[0].outcome is not None and runs_[0].outcome.value == "limit", runs_[0].summary
            assert resumed.scheduled_for is not None
            due = resumed.scheduled_for.timestamp()
            figures["reset-to-start"].append(_first_sign(real, api, base, due) - due)
        daemon.request_stop("benchmark over")
        await job
    finally:
        await service.close()
        await runner.kill_server()
        api.stop()
    return figures



async def _state(service: object, task_id: int) -> str:
    task = await service.store.tasks.get(task_id)  # type: ignore[attr-defined]
    return str(task.state.value)


async def _until(state: Callable[[], object], wanted: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = await state()  # type: ignore[misc]
        if now == wanted:
            return
        if now == "failed":
            raise SystemExit("a benchmark task failed")
        await asyncio.sleep(0.02)
    raise SystemExit(f"no {wanted} in {timeout_s}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--cycles", type=int, default=5)
    args = parser.parse_args()
    if not os.access(REAL_CLAUDE, os.X_OK):
        print(f"the real CLI is not installed at {REAL_CLAUDE}: run scripts/install-claude.sh")
        return 2
    version = subprocess.run([str(REAL_CLAUDE), "--version"], capture_output=True, text=True).stdout.strip()
    fake = asyncio.run(measure(False, FAKE_CLI, args.runs, args.cycles))
    real = asyncio.run(measure(True, str(REAL_CLAUDE), args.runs, args.cycles))
    print(f"real Claude Code {version} vs the fake CLI, offline, {datetime.now(UTC):%Y-%m-%d}")
    for name in ("bare start", "run", "reset-to-start"):
        r, f = statistics.median(real[name]), statistics.median(fake[name])
        print(f"  {name:<15} real median {r:.3f} s (p95 {_p95(real[name]):.3f})  "
              f"fake median {f:.3f} s (p95 {_p95(fake[name]):.3f})  ratio real/fake {r / f:.2f}  "
              f"(+{r - f:.3f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
