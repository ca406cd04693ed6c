"""Hostile inbox files: links, FIFOs, hard links, sparse giants, YAML bombs, planted links at
the places nightshift writes to. Each is refused with a note saying why; nothing outside the
inbox is read or written; the event loop keeps running while it happens."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from core.errors import InvalidInput, UnsafeFile
from core.inbox import MAX_INBOX_FILE_BYTES, Inbox
from core.service import Service
from core.store.task_rows import NewTask
from tests.reliability.hostile import ALIAS_BOMB, KINDS, import_with_heartbeat, plant_hostile_files

SECRET = "root:x:0:0:the outside file's secret line\n"

def inbox_of(service: Service) -> Path:
    path = service.settings.brain_dir / "inbox"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "passwd"
    path.parent.mkdir()
    path.write_text(SECRET)
    return path


def note_of(inbox: Path, name: str) -> str:
    note = inbox / "rejected" / f"{name}.error.txt"
    assert note.is_file() and not note.is_symlink()
    return note.read_text()


async def assert_refused(service: Service, name: str, why: str) -> None:
    inbox = inbox_of(service)
    report = await service.import_inbox()
    assert report.imported == []
    assert [n for n, _ in report.rejected] == [name]
    assert why in report.rejected[0][1]
    assert why in note_of(inbox, name)
    assert not os.path.lexists(inbox / name), "the refused entry left the inbox"
    assert os.path.lexists(inbox / "rejected" / name), "...into rejected/, nothing lost"
    for task in await service.list():
        assert SECRET.strip() not in task.prompt


async def test_a_symlink_in_the_inbox_is_refused_never_read(service: Service, outside: Path) -> None:
    (inbox_of(service) / "p.md").symlink_to(outside)
    await assert_refused(service, "p.md", "symbolic link")
    assert outside.read_text() == SECRET
    assert (inbox_of(service) / "rejected" / "p.md").is_symlink()  # moved as a link, target untouched


async def test_a_dangling_symlink_and_a_link_to_a_folder_are_refused(
    service: Service, tmp_path: Path,
) -> None:
    inbox = inbox_of(service)
    (inbox / "gone.md").symlink_to(tmp_path / "nowhere")
    (inbox / "dir.md").symlink_to(tmp_path)
    report = await service.import_inbox()
    assert sorted(n for n, _ in report.rejected) == ["dir.md", "gone.md"]
    assert all("symbolic link" in why for _, why in report.rejected)


async def test_a_fifo_is_refused_without_waiting_for_a_writer(service: Service) -> None:
    os.mkfifo(inbox_of(service) / "pipe.md")
    await asyncio.wait_for(assert_refused(service, "pipe.md", "named pipe"), 60)


async def test_a_hard_link_to_an_outside_file_is_refused(service: Service, outside: Path) -> None:
    os.link(outside, inbox_of(service) / "hard.md")
    await assert_refused(service, "hard.md", "hard link")
    assert outside.read_text() == SECRET


def _read_bytes_so_far() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


async def test_a_sparse_3_gb_file_is_refused_before_reading(service: Service) -> None:
    path = inbox_of(service) / "huge.md"
    with path.open("wb") as fh:
        fh.truncate(3 * 1024**3)  # sparse: no disk space, but 3 GB to anyone who reads it
    before = _read_bytes_so_far()
    await assert_refused(service, "huge.md", f"is 3,221,225,472 bytes; the limit is {MAX_INBOX_FILE_BYTES:,}")
    read = _read_bytes_so_far() - before
    assert read < 16 * 1024 * 1024, f"{read:,} bytes were read to refuse it"


async def test_a_file_that_grows_past_the_limit_while_read_is_cut_at_limit_plus_one(
    service: Service, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """fstat said small, the file then grew: no more than limit + 1 bytes are read."""
    path = inbox_of(service) / "grows.md"
    path.write_bytes(b"x" * 10)
    real_fstat = os.fstat

    def fstat_before_growth(fd: int) -> os.stat_result:
        info = real_fstat(fd)
        if info.st_size == 10:
            path.write_bytes(b"y" * (MAX_INBOX_FILE_BYTES * 4))  # same inode, grows
        return info

    monkeypatch.setattr(os, "fstat", fstat_before_growth)
    await assert_refused(service, "grows.md", "grew past the limit")


async def test_a_311_byte_alias_bomb_is_refused_at_once(service: Service) -> None:
    assert len(ALIAS_BOMB.encode()) == 311
    (inbox_of(service) / "bomb.md").write_text(ALIAS_BOMB)
    await assert_refused(service, "bomb.md", "anchors (&name) are not allowed")
    assert await service.store.tasks.count() == 0


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("title: {a: 1}", "title: expected a single value, got a mapping"),
        ("check: [make, test]", "check: expected a single value, got a list"),
        ("repo: [a]", "repo: expected a single value, got a list"),
        ("priority: [high]", "priority: expected a single value, got a list"),
        ("tags: [{}]", "tags: expected plain values, got a mapping"),
        ("after: [[]]", "after: expected plain values, got a list"),
        ("tags: [[a, b]]", "nothing nested deeper"),
        ("tags: [{a: b}]", "nothing nested deeper"),
        ("after: true", "task ids must be numbers"),
        ("after: [1.5]", "task ids must be numbers"),
        ("title: " + "[" * 60 + "]" * 60, "nothing nested deeper"),
        ("title: x\ntags: *undefined", "aliases (*name) are not allowed"),
        ("title: " + "x" * 20_000, "front matter is 20,008 bytes; the limit is 16,384"),
    ],
)
async def test_non_scalar_or_oversized_front_matter_is_refused(
    service: Service, header: str, why: str,
) -> None:
    (inbox_of(service) / "odd.md").write_text(f"---\n{header}\n---\nbody\n")
    await assert_refused(service, "odd.md", why)


async def test_a_link_planted_at_the_rejection_note_is_replaced_not_followed(
    service: Service, outside: Path,
) -> None:
    inbox = inbox_of(service)
    (inbox / "rejected").mkdir()
    (inbox / "rejected" / "bad.md.error.txt").symlink_to(outside)
    (inbox / "bad.md").write_text("---\ncolour: blue\n---\nbody")
    await assert_refused(service, "bad.md", "unknown front matter key: colour")
    assert outside.read_text() == SECRET


async def test_a_link_planted_at_the_imported_name_is_left_alone(service: Service, outside: Path) -> None:
    inbox = inbox_of(service)
    (inbox / "imported").mkdir()
    (inbox / "imported" / "good.md").symlink_to(outside)
    (inbox / "good.md").write_text("do the thing")
    report = await service.import_inbox()
    assert report.imported == [("good.md", 1)]
    assert outside.read_text() == SECRET
    assert (inbox / "imported" / "good.1.md").read_text() == "do the thing"


@pytest.mark.parametrize("folder", ["rejected", "imported"])
async def test_a_linked_subfolder_stops_the_import_with_a_clear_error(
    service: Service, tmp_path: Path, folder: str,
) -> None:
    inbox = inbox_of(service)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (inbox / folder).symlink_to(elsewhere, target_is_directory=True)
    (inbox / "a.md").write_text("---\ncolour: x\n---\nbody" if folder == "rejected" else "fine")
    with pytest.raises(UnsafeFile, match=f"{folder} is a symbolic link, not a folder"):
        await service.import_inbox()
    assert list(elsewhere.iterdir()) == []
    assert (inbox / "a.md").exists(), "the file stays in the inbox for the next pass"


async def test_loading_is_bounded_in_time(service: Service) -> None:
    """A read that never ends (a stuck file system, say) costs the bound, not the daemon."""
    import threading

    release = threading.Event()

    class StuckInbox(Inbox):
        def load(self, name: str, *, plan_default: bool) -> NewTask:
            release.wait(30)
            return super().load(name, plan_default=plan_default)

    inbox = inbox_of(service)
    (inbox / "slow.md").write_text("body")
    try:
        with StuckInbox.open(inbox) as box:
            assert box is not None
            with pytest.raises(InvalidInput, match=r"took longer than 0\.2s"):
                await box.load_async("slow.md", plan_default=False, timeout_s=0.2)
    finally:
        release.set()


async def test_the_loop_keeps_answering_while_hostile_files_are_refused(
    service: Service, outside: Path,
) -> None:
    """A heartbeat every 10 ms and a queue listing asked for over and over, while every kind
    of hostile file (and heavy valid ones) is handled: every hostile file is refused, the
    listing is answered, and the heartbeat never misses 100 beats in a row (a second; the
    alias bomb once stalled the loop for 30 s)."""
    inbox = inbox_of(service)
    planted = plant_hostile_files(inbox, outside, copies=3)
    heavy_header = "---\ntags:\n" + "".join(f"  - tag{i}\n" for i in range(1400)) + "---\n"
    for i in range(3):
        (inbox / f"heavy{i}.md").write_text(heavy_header + "x" * 90_000)

    run = await import_with_heartbeat(service, interval_s=0.01)

    assert run.refused == planted == 3 * len(KINDS) and run.imported == 3
    assert run.queue_answers >= 1
    assert run.longest_stall_s < 0.01 * 100, f"the loop stalled for {run.longest_stall_s:.2f}s"
    assert outside.read_text() == SECRET
    assert sorted(p.name for p in inbox.iterdir()) == ["imported", "rejected"]
