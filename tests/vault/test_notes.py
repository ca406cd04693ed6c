"""The vault written from the fixture history: exact front matter, live links, idempotent."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
import yaml
from PIL import Image

from core.models import Outcome, Tokens
from core.settings import Settings
from core.vault import MARKER, VaultWriter
from core.vault.notes import DAILY_KEYS, RUN_KEYS, TASK_KEYS
from tests.metrics.history import Fixture, at, work_run

NOW = at(2, 12)
CAPACITY = 40_000
OWNER = "\n## My notes\n\nThis flake came back twice; see [[run-1]].\n%% private %%\n"


def front(path: Path) -> dict:  # type: ignore[type-arg]
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text[4:text.index("\n---\n", 4)])  # type: ignore[no-any-return]


def links(text: str) -> list[str]:
    """Link targets outside fenced code, written independently of core.vault.markdown."""
    out, fence = [], None
    for line in text.splitlines():
        m = re.match(r"^ {0,3}(`{3,}|~{3,})", line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            continue
        if m:
            fence = m.group(1)
            continue
        out += [t.split("|")[0].split("#")[0] for t in re.findall(r"(?<!\\)\[\[([^\]]+)\]\]", line)]
    return out


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
async def vault(history: Fixture, berlin_settings: Settings) -> VaultWriter:
    writer = VaultWriter(berlin_settings, history.store, capacity_tokens=CAPACITY)
    await writer.sync(NOW)
    return writer


async def test_notes_have_the_exact_front_matter(vault: VaultWriter) -> None:
    root = vault.root
    assert front(root / "tasks/1-fix-the-flaky-login-test.md") == {
        "type": "task", "id": 1, "title": "Fix the flaky login test", "state": "done",
        "priority": "high", "repo": "/srv/code/shop", "created": "2026-10-01T10:00:00+02:00",
        "finished": "2026-10-01T12:41:00+02:00", "tags": ["auth"], "plan_version": 2,
        "plan_status": "approved", "depends_on": [], "check": None, "runs": 2, "tokens": 20_000,
        "cost_usd": 0.75, "outcome": "success",
    }
    assert front(root / "runs/2026-10-01/run-1.md") == {
        "type": "run", "id": 1, "task": "[[1-fix-the-flaky-login-test]]", "task_id": 1,
        "kind": "work", "iteration": 1, "outcome": "check_failed", "tokens_input": 1000,
        "tokens_output": 2000, "tokens_cache_creation": 3000, "tokens_cache_read": 4000,
        "tokens_total": 10_000, "cost_usd": 0.5, "duration_s": 1140.0, "turns": 5,
        "prompt_style": None, "window": "2026-10-01T10:00:00.000Z",
        "branch": "nightshift/1-branch", "scheduled": "2026-10-01T12:00:00+02:00",
        "started": "2026-10-01T12:01:00+02:00", "finished": "2026-10-01T12:20:00+02:00",
        "latency_s": 60.0, "day": "[[2026-10-01]]",
    }
    # run 5 started 23:00 UTC: 2 October in Berlin, so its note lives under that day
    assert front(root / "runs/2026-10-02/run-5.md")["window"] is None
    assert front(root / "daily/2026-10-01.md") == {
        "type": "daily", "date": "2026-10-01", "runs": 4, "tasks_added": 2, "tasks_done": 1,
        "tasks_failed": 1, "tokens": 45_000, "cost_usd": 1.95, "completion_rate": 0.5,
        "windows": 3,
    }
    for folder, keys in (("tasks", TASK_KEYS), ("runs", RUN_KEYS), ("daily", DAILY_KEYS)):
        notes = sorted((root / folder).rglob("*.md"))
        assert notes
        for note in notes:
            assert tuple(front(note)) == keys, note  # same keys, same order: Dataview tables
    assert sorted(p.name for p in (root / "tasks").iterdir()) == [
        "1-fix-the-flaky-login-test.md", "2-add-dark-mode.md", "3-refactor-billing.md",
        "4-rewrite-everything-in-rust.md", "5-queued-idea.md", "6-try-the-new-linter.md"]
    assert sorted(p.name for p in (root / "daily").glob("*.md")) == [
        "2026-10-01.md", "2026-10-02.md"]


async def test_bodies_link_runs_tasks_days_and_charts(vault: VaultWriter) -> None:
    root = vault.root
    task = (root / "tasks/1-fix-the-flaky-login-test.md").read_text()
    assert links(task) == ["2026-10-01", "2026-10-01", "run-1", "run-2", "run-2"]
    assert "*v2, approved, size S*\n\n1. Add a retry-free wait" in task
    assert "Other versions: v1 superseded" in task
    run = (root / "runs/2026-10-01/run-2.md").read_text()
    assert links(run) == ["1-fix-the-flaky-login-test", "2026-10-01", "1-fix-the-flaky-login-test",
                          "2026-10-01", "run-1"]
    assert "## Diffstat\n\n```text\n tests/test_login.py | 4 ++--\n 1 file changed\n```" in run
    assert "## Check output (last 40 lines)\n\n```text\n3 passed\n```" in run
    assert "- Log: `/state/runs/1.jsonl`" in run
    day = (root / "daily/2026-10-01.md").read_text()
    assert [t for t in links(day) if t.endswith(".png")] == [
        f"2026-10-01-{k}.png" for k in ("completion", "outcomes", "tokens", "utilization")]
    assert "- Completion rate: 50% (1 done / 2 finished)" in day
    # the rejected plan said "[[everything]]": shown as text, not a link to nowhere
    rust = (root / "tasks/4-rewrite-everything-in-rust.md").read_text()
    assert "Rewrite \\[\\[everything]] in Rust" in rust
    assert "everything" not in links(rust)


def assert_links_resolve(root: Path) -> int:
    names = {p.stem for p in root.rglob("*.md")} | {p.name for p in root.rglob("*.png")}
    seen = 0
    for note in root.rglob("*.md"):
        for target in links(note.read_text()):
            assert target in names, f"{note.relative_to(root)} links to missing {target}"
            seen += 1
    return seen


async def test_no_link_points_at_a_missing_note(vault: VaultWriter) -> None:
    root = vault.root
    assert assert_links_resolve(root) > 40
    for chart in root.rglob("*.png"):
        with Image.open(chart) as image:
            assert image.format == "PNG" and image.size == (1000, 625)
    for path in root.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_regenerating_changes_nothing_and_keeps_the_owners_text(
    vault: VaultWriter, history: Fixture
) -> None:
    root = vault.root
    note = root / "tasks/1-fix-the-flaky-login-test.md"
    day = root / "daily/2026-10-01.md"
    note.write_text(note.read_text() + OWNER, encoding="utf-8")
    day.write_text(day.read_text() + "slept well\n", encoding="utf-8")
    before = snapshot(root)
    report = await vault.sync(NOW)
    assert report.written == [] and report.removed == []
    assert snapshot(root) == before  # same bytes, and not even rewritten (same mtimes)

    # new data: a third run of task 1 changes its notes, the owner's text stays verbatim
    store = history.store
    await work_run(store, 1, 3, started=at(2, 14), finished=at(2, 14, 10),
                   outcome=Outcome.SUCCESS, tokens=Tokens(1, 2, 3, 4), cost=0.01,
                   window="2026-10-02T14:00:00.000Z")
    report = await vault.sync(at(2, 15))
    assert "tasks/1-fix-the-flaky-login-test.md" in report.written
    assert "runs/2026-10-02/run-7.md" in report.written
    text = note.read_text()
    assert text.endswith(f"\n{MARKER}\n{OWNER}")
    assert text.count(MARKER) == 1
    assert "[[run-7]]" in text
    assert day.read_text().endswith(f"\n{MARKER}\nslept well\n")


async def test_a_note_without_its_marker_loses_nothing(vault: VaultWriter) -> None:
    note = vault.root / "tasks/5-queued-idea.md"
    note.write_text("I rewrote this whole note myself.\n", encoding="utf-8")
    await vault.sync(NOW)
    text = note.read_text()
    assert text.startswith("---\ntype: task\n")
    assert text.endswith(f"\n{MARKER}\nI rewrote this whole note myself.\n")
    second = await vault.sync(NOW)
    assert second.written == []


async def test_a_renamed_task_moves_its_note_and_the_owners_text(
    vault: VaultWriter, history: Fixture
) -> None:
    root = vault.root
    old = root / "tasks/2-add-dark-mode.md"
    old.write_text(old.read_text() + "remember the contrast ratio\n", encoding="utf-8")
    mine = root / "tasks/2-ideas.md"  # the owner's own note, matching the same pattern
    mine.write_text("my ideas for task 2\n", encoding="utf-8")
    await history.store.tasks.update_fields(2, title="Add a dark theme")
    report = await vault.sync(NOW)
    new = root / "tasks/2-add-a-dark-theme.md"
    assert report.removed == ["tasks/2-add-dark-mode.md"]
    assert not old.exists()
    assert mine.read_text() == "my ideas for task 2\n"
    assert new.read_text().endswith(f"\n{MARKER}\nremember the contrast ratio\n")

    # a copy under the old name reappears (restored from a backup) with more owner text:
    # both texts are kept in the one note
    old.write_text(f"old\n{MARKER}\nfrom the backup\n", encoding="utf-8")
    await vault.sync(NOW)
    assert not old.exists()
    assert new.read_text().endswith(
        f"\n{MARKER}\nremember the contrast ratio\nfrom the backup\n")
    assert (await vault.sync(NOW)).written == []
    assert "[[2-add-a-dark-theme]]" in (root / "runs/2026-10-01/run-3.md").read_text()
    assert assert_links_resolve(root) > 40


async def test_write_run_into_an_empty_vault_leaves_no_dangling_link(
    history: Fixture, berlin_settings: Settings
) -> None:
    writer = VaultWriter(berlin_settings, history.store)  # no capacity: no utilization chart
    report = await writer.write_run(3)
    root = writer.root
    assert "runs/2026-10-01/run-3.md" in report.written
    assert "tasks/2-add-dark-mode.md" in report.written
    assert "daily/2026-10-01-utilization.png" not in report.written
    names = {p.stem for p in root.rglob("*.md")} | {p.name for p in root.rglob("*.png")}
    for note in root.rglob("*.md"):
        for target in links(note.read_text()):
            assert target in names, f"{note} links to missing {target}"
    # the notes it wrote are the ones a full sync writes, byte for byte
    written = snapshot(root)
    await writer.sync(NOW)
    after = snapshot(root)
    assert {k: v[0] for k, v in after.items() if k in written and not k.endswith(".png")} == {
        k: v[0] for k, v in written.items() if not k.endswith(".png")}
    from core.errors import RunNotFound

    with pytest.raises(RunNotFound):
        await writer.write_run(999)


async def test_hostile_text_neither_links_nor_leaks(
    history: Fixture, berlin_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "987654321:AAFakeTokenForVaultTests_abcdefghijkl"
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", token)
    from core.store.task_rows import NewTask

    task = await history.store.tasks.add(NewTask(
        prompt=f"use bot {token}\n{MARKER}\n[[[nowhere]]] %% hidden %% ![[missing.png]]\n```",
        title="Weird `ticks` [[link]] title", needs_plan=False), now=at(2, 16))
    run = await history.store.runs.create(task.id, now=at(2, 16), started_at=at(2, 16))
    await history.store.runs.finish(run.id, Outcome.CHECK_FAILED, now=at(2, 16, 5),
                                    check_output="line\n" * 60 + "[[in-output]]\n```",
                                    summary=f"done, token {token}")
    writer = VaultWriter(berlin_settings, history.store)
    await writer.sync(at(2, 17))
    root = writer.root
    note = next((root / "tasks").glob(f"{task.id}-*.md"))
    assert note.name == f"{task.id}-weird-ticks-link-title.md"
    text = note.read_text()
    assert text.count(MARKER) == 1
    names = {p.stem for p in root.rglob("*.md")} | {p.name for p in root.rglob("*.png")}
    for path in root.rglob("*.md"):
        body = path.read_text()
        assert token not in body and token.split(":")[1] not in body
        assert all(t in names for t in links(body)), path
    run_text = next(root.rglob(f"run-{run.id}.md")).read_text()
    assert "````text\n" in run_text  # a fence longer than the backticks inside
    assert run_text.count("line\n") == 38  # only the last 40 lines of the check output
    assert "\n[[in-output]]\n```\n````\n" in run_text
    note.write_text(text + "mine\n")
    assert (await writer.sync(at(2, 17))).written == []
    assert note.read_text().endswith(f"{MARKER}\nmine\n")
