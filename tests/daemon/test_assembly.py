"""The daemon as `nightshift run` assembles it: plans, prompt styles, notes, logs, learning."""

from __future__ import annotations

import json
from pathlib import Path

from core.assembly import build_daemon
from core.brain_logs import LogBook
from core.models import RunKind, Task, TaskState, iso
from core.service import Service
from core.settings import Settings, load_settings
from core.store.store import Store
from tests.fakes.notifier import RecordingNotifier

from .conftest import Record, make_repo


async def burst(service: Service) -> int:
    """`nightshift run --burst` over the service's store, telling what the service's notifier hears."""
    daemon = build_daemon(
        service.settings, service.store, notifier=service.notifier, burst=True, install_signal_handlers=False
    )
    return await daemon.run()


async def test_plan_approve_run_with_notes_and_logs(
    dstore: Store, record: Record, tmp_path: Path, monkeypatch: object, runner: object
) -> None:
    settings = load_settings(env_file=None, plan_by_default=True)
    notes = RecordingNotifier()
    service = Service(settings, dstore, notifier=notes)
    repo = make_repo(tmp_path / "shop")
    task = await service.add("add a changelog entry", repo=str(repo))
    quick = await service.add("[fake: turns=1]\nfix a typo", plan=False)

    assert await burst(service) == 0
    planned = await service.get(task.id)
    assert planned.state is TaskState.AWAITING_APPROVAL
    assert (await service.get(quick.id)).state is TaskState.DONE
    offer = [n for n in notes.sent if n.kind == "plan_ready"]
    assert len(offer) == 1 and offer[0].task_id == task.id and offer[0].data["version"] == 1
    modes = [c["argv"][c["argv"].index("--permission-mode") + 1] for c in record()]
    assert modes.count("plan") == 1

    await service.approve(task.id, version=1)
    assert await burst(service) == 0
    assert (await service.get(task.id)).state is TaskState.DONE
    work_call = record()[-1]
    plan = await service.latest_plan(task.id)
    assert "An approved plan for this task" in work_call["prompt"]
    assert plan.body.splitlines()[0] in work_call["prompt"]

    runs = await service.store.runs.for_task(task.id)
    assert [r.kind for r in runs] == [RunKind.PLAN, RunKind.WORK]
    work = runs[-1]
    assert work.prompt_variant in {"direct", "plan-test-verify"}

    brain = settings.brain_dir
    task_notes = list((brain / "tasks").glob(f"{task.id}-*.md"))
    assert len(task_notes) == 1
    assert f"[[run-{work.id}]]" in task_notes[0].read_text()
    assert list((brain / "runs").glob(f"*/run-{work.id}.md"))
    lines = [
        json.loads(line) for f in (brain / "logs").glob("*.jsonl") for line in f.read_text().splitlines()
    ]
    events = {(e["event"], e["task"]) for e in lines}
    assert ("run_finished", task.id) in events and ("plan_added", task.id) in events


async def test_upkeep_keeps_going_when_a_step_fails(dstore: Store, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from core.improve.retro import IsoWeek, retro_path
    from core.upkeep import Upkeep

    settings = load_settings(env_file=None)
    notes = RecordingNotifier()
    upkeep = Upkeep(settings, dstore, notes)
    # The logs folder cannot be created (a file stands where it should be): that step fails...
    settings.brain_dir.mkdir(parents=True, exist_ok=True)
    (settings.brain_dir / "logs").write_text("not a folder")
    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # a Monday: last week's retro is due
    await upkeep.tick(now)  # logged, not raised: the timers go on
    await upkeep.retro(now)
    # ...and the weekly retrospective is written all the same.
    week = IsoWeek.of(now, settings.local_tz).previous()
    assert retro_path(settings, week).exists()
    assert [n.kind for n in notes.sent] == ["retro"]


async def limited_then_resumed(store: Store) -> tuple[Settings, Task]:
    """`run --burst` over a task whose first run meets a limit that resets a second later."""
    settings = load_settings(env_file=None)
    task = await Service(settings, store).add("[fake: limit reset_in=1]\nwrite the docs", plan=False)
    daemon = build_daemon(settings, store, burst=True, max_wait_s=30, install_signal_handlers=False)
    assert await daemon.run() == 0
    return settings, task


async def test_a_resumed_session_keeps_its_prompt_style(
    dstore: Store, record: Record, runner: object
) -> None:
    _, task = await limited_then_resumed(dstore)
    runs = await dstore.runs.for_task(task.id)
    assert [r.outcome.value for r in runs if r.outcome] == ["limit", "success"]
    assert runs[0].prompt_variant in {"direct", "plan-test-verify"}
    assert runs[1].prompt_variant == runs[0].prompt_variant
    assert record()[1]["prompt"].startswith("You were interrupted")


def _log_lines(brain: Path) -> list[dict[str, object]]:
    return [json.loads(raw) for path in sorted((brain / "logs").glob("*.jsonl"))
            for raw in path.read_text().splitlines()]


async def test_the_limit_pause_the_reset_and_the_open_window_are_lines_in_brain_logs(
    dstore: Store, record: Record, runner: object
) -> None:
    settings, task = await limited_then_resumed(dstore)
    (limited, resumed) = await dstore.runs.for_task(task.id)
    lines = [line for line in _log_lines(settings.brain_dir)
             if line["event"] in {"limit_pause", "window_reset", "window_proven"}]
    assert [line["event"] for line in lines] == ["limit_pause", "window_reset", "window_proven"]
    pause, reset, proven = (line["fields"] for line in lines)
    assert isinstance(pause, dict) and isinstance(reset, dict) and isinstance(proven, dict)
    assert lines[0]["task"] == task.id and pause["source"] == "run" and pause["lifted"] is False
    assert reset["trigger"] == "reset" and reset["resuming"] == [task.id]
    assert reset["until"] == pause["until"] and reset["resets_at"] == pause["resets_at"]
    assert lines[2]["task"] == task.id and proven["after_reset"] == pause["resets_at"]
    # In the order they happened: the pause when the limited run ended, the proof after the resume.
    assert limited.finished_at is not None and resumed.started_at is not None
    assert str(lines[0]["time"]) >= iso(limited.started_at)
    assert str(lines[1]["time"]) <= iso(resumed.started_at) <= str(lines[2]["time"])


async def test_the_owners_pause_and_resume_reach_brain_logs(dstore: Store) -> None:
    settings = load_settings(env_file=None)
    service = Service(settings, dstore)
    await service.pause_queue("holiday")
    await service.resume_queue()
    await LogBook(settings.brain_dir).export_events(dstore)
    lines = [(line["event"], line["fields"]) for line in _log_lines(settings.brain_dir)]
    assert lines == [("queue_paused", {"reason": "holiday"}), ("queue_resumed", {})]
