"""Links planted at every file nightshift writes in the vault: notes, charts, day logs, the
log lock, lessons.md, prompt styles. The file outside is never touched; a replaced file
becomes a regular file again, an appended one is refused with a message naming it."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.brain_logs import LogBook
from core.errors import UnsafeFile
from core.improve.learning import lessons_path, sync_lessons_file, write_lessons_file
from core.improve.styles import install_default_styles, load_styles
from core.metrics import compute_metrics
from core.metrics.charts import render_chart
from core.settings import Settings
from core.vault import VaultWriter
from tests.metrics.history import Fixture, at

NOW = at(2, 12)
SECRET = b"outside the vault: never to be written\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "bashrc"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    return path


def plain(path: Path) -> bool:
    info = os.lstat(path)
    return stat.S_ISREG(info.st_mode) and info.st_nlink == 1


async def test_every_note_and_chart_replaces_a_planted_link(
    history: Fixture, berlin_settings: Settings, outside: Path,
) -> None:
    writer = VaultWriter(berlin_settings, history.store, capacity_tokens=40_000)
    first = await writer.sync(NOW)
    written = [writer.root / name for name in first.written]
    assert any(p.suffix == ".png" for p in written) and any(p.suffix == ".md" for p in written)
    before = {p: p.read_bytes() for p in written}
    for path in written:
        path.unlink()
        path.symlink_to(outside)
    again = await writer.sync(NOW)
    assert sorted(again.written) == sorted(first.written)
    for path in written:
        assert plain(path), path
        assert path.read_bytes() == before[path]
    assert outside.read_bytes() == SECRET


async def test_a_fifo_or_hard_link_at_a_note_is_replaced_without_blocking(
    history: Fixture, berlin_settings: Settings, outside: Path,
) -> None:
    writer = VaultWriter(berlin_settings, history.store)
    notes = [writer.root / n for n in (await writer.sync(NOW)).written if n.endswith(".md")]
    fifo, hard = notes[0], notes[1]
    fifo.unlink()
    os.mkfifo(fifo)  # reading it the old way would wait for a writer forever
    hard.unlink()
    os.link(outside, hard)
    await writer.sync(NOW)
    assert plain(fifo) and plain(hard)
    assert outside.read_bytes() == SECRET


@pytest.mark.parametrize("planted", ["day", "lock"])
def test_a_link_at_a_day_log_or_its_lock_is_refused_by_name(
    settings: Settings, outside: Path, planted: str,
) -> None:
    book = LogBook(settings.brain_dir, clock=lambda: datetime(2026, 10, 1, 12, tzinfo=UTC))
    book.dir.mkdir(parents=True)
    target = book.dir / (".lock" if planted == "lock" else "2026-10-01.jsonl")
    target.symlink_to(outside)
    with pytest.raises(UnsafeFile, match=rf"{target.name} is a symbolic link"):
        book.write("limit_hit", kind="session")
    assert outside.read_bytes() == SECRET


def test_a_hard_link_at_a_day_log_is_refused(settings: Settings, outside: Path) -> None:
    book = LogBook(settings.brain_dir, clock=lambda: datetime(2026, 10, 1, 12, tzinfo=UTC))
    book.dir.mkdir(parents=True)
    os.link(outside, book.dir / "2026-10-01.jsonl")
    with pytest.raises(UnsafeFile, match="hard link"):
        book.write("limit_hit", kind="session")
    assert outside.read_bytes() == SECRET


async def test_lessons_md_a_link_is_not_read_and_is_replaced(
    history: Fixture, settings: Settings, outside: Path,
) -> None:
    path = lessons_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(outside)
    problems = await sync_lessons_file(history.store, settings, NOW)
    assert len(problems) == 1 and "symbolic link" in problems[0]
    await write_lessons_file(history.store, settings, NOW)
    assert plain(path) and path.read_text().startswith("---\nkind: lessons")
    assert outside.read_bytes() == SECRET


async def test_a_chart_written_to_a_link_replaces_the_link(
    history: Fixture, settings: Settings, outside: Path, tmp_path: Path,
) -> None:
    report = await compute_metrics(history.store, now=NOW, capacity_tokens=40_000)
    out = tmp_path / "chart.png"
    out.symlink_to(outside)
    render_chart("outcomes", report, out)
    assert plain(out) and out.read_bytes().startswith(b"\x89PNG")
    assert outside.read_bytes() == SECRET


def test_prompt_styles_never_read_through_a_link(settings: Settings, outside: Path) -> None:
    prompts = settings.brain_dir / "prompts"
    installed = install_default_styles(prompts)
    assert installed and all(plain(p) for p in installed)
    outside.write_text("---\nname: stolen\n---\n$prompt and the outside file\n")
    (prompts / "stolen.md").symlink_to(outside)
    found = load_styles(prompts)
    assert "stolen" not in found.names
    assert ("stolen.md", "file is a symbolic link; nightshift never follows links here") in found.problems
