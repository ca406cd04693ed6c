"""The watched listing (core.usage.watch) is the walk's listing after any change, and the
daemon's scans through it (core.usage.index_worker) equal a cold scan.

The reference is `core.usage.walk.log_files` itself, run on the same real tree (inotify on
a temp folder): after every change the watch must list the same files with the same stat.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.usage import watch as watch_module
from core.usage.blocks import to_ms
from core.usage.config import UsageConfig
from core.usage.index_worker import IndexWorker
from core.usage.report import BlocksQuery, blocks_document, load_blocks
from core.usage.walk import log_files
from core.usage.watch import LogWatch
from tests.usage.logtree import assistant, at
from tests.usage.test_incremental import NOW, Files, cold, snapshot, step

pytestmark = pytest.mark.skipif(watch_module.INotify is None, reason="inotify is Linux only")


def seen(listing: Any) -> set[tuple[str, int, int, int, int]]:
    return {(path, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns) for path, info in listing}


class Tree:
    """A log tree with the changes a user's folders see besides appends: new folders,
    links to files and folders elsewhere, second names, unreadable folders, renames."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = Files(root)
        self.outside = root.parent / "outside"
        self.outside.mkdir(exist_ok=True)
        self.projects = root / "projects"
        self.projects.mkdir(parents=True, exist_ok=True)

    def apply(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        line = assistant(at(op[1] * 7), msg=f"x{op[1]}", req=f"x{op[1]}") + "\n"
        if kind == "new_folder":
            folder = self.projects / f"new{op[1]}" / "subagents"
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / "s.jsonl").open("a") as handle:
                handle.write(line)
        elif kind == "link_file":  # a session file that is a link to one elsewhere
            target = self.outside / f"t{op[1]}.jsonl"
            link = self.projects / "p" / f"linked{op[1]}.jsonl"
            link.parent.mkdir(exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(target)
            with target.open("a") as handle:  # written through the target's own name
                handle.write(line)
        elif kind == "link_folder":
            target = self.outside / f"d{op[1]}"
            target.mkdir(exist_ok=True)
            link = self.projects / f"linkdir{op[1]}"
            if not link.is_symlink():
                link.symlink_to(target, target_is_directory=True)
            with (target / "s.jsonl").open("a") as handle:
                handle.write(line)
        elif kind == "hard_link":  # a second name outside the tree, written through
            first = self.projects / "p" / "a.jsonl"
            other = self.outside / "second-name.jsonl"
            if first.exists() and not other.exists():
                os.link(first, other)
            if other.exists():
                with other.open("a") as handle:
                    handle.write(line)
        elif kind == "lock_folder":  # a folder becomes unreadable, or readable again
            folder = self.projects / "r"
            if folder.exists():
                folder.chmod(0o000 if folder.stat().st_mode & 0o700 else 0o700)
        elif kind == "rename_folder":
            source, dest = self.projects / "q", self.projects / "q-renamed"
            if source.exists() and not dest.exists():
                source.rename(dest)
            elif dest.exists() and not source.exists():
                dest.rename(source)
        else:
            self.files.apply(op)

    def unlock(self) -> None:
        folder = self.projects / "r"
        if folder.exists():
            folder.chmod(0o700)


structural = st.tuples(st.sampled_from(["new_folder", "link_file", "link_folder", "hard_link",
                                        "lock_folder", "rename_folder"]), st.integers(0, 2))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.one_of(step, structural), min_size=1, max_size=12))
def test_the_watched_listing_is_the_walk_after_any_change(steps: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tree = Tree(Path(tmp) / "claude")
        roots = [str(tree.projects)]
        watch = LogWatch()
        try:
            watch.listing(roots, frozenset())
            for op in steps:
                tree.apply(op)
                assert seen(watch.listing(roots, frozenset())) == seen(log_files(roots)), repr(steps)
        finally:
            watch.close()
            tree.unlock()


def test_appends_are_listed_without_walking_again(tmp_path: Path) -> None:
    tree = Tree(tmp_path / "claude")
    roots = [str(tree.projects)]
    for index in range(4):
        tree.apply(("append", index, [assistant(at(index), msg=f"m{index}", req=f"r{index}")]))
    watch = LogWatch()
    try:
        watch.listing(roots, frozenset())
        for minute in range(1, 6):
            line = assistant(at(minute * 10), msg=f"n{minute}", req=f"n{minute}")
            tree.apply(("append", minute % 4, [line]))
            tree.apply(("link_file", 0))  # a linked file is written through its target
            assert seen(watch.listing(roots, frozenset())) == seen(log_files(roots))
        assert watch.walks == 2  # the first, and the one that found the new link
    finally:
        watch.close()


def test_an_overflowed_event_queue_walks_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = Tree(tmp_path / "claude")
    roots = [str(tree.projects)]
    tree.apply(("append", 0, [assistant(at(0), msg="a", req="a")]))
    tree.apply(("append", 1, [assistant(at(1), msg="b", req="b")]))
    watch = LogWatch()
    try:
        watch.listing(roots, frozenset())
        limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
        first, second = tree.files.path(0), tree.files.path(1)
        with first.open("a") as one, second.open("a") as two:
            for _ in range(limit // 2 + 10):  # alternating: the kernel cannot merge them
                one.write(" ")
                one.flush()
                two.write(" ")
                two.flush()
        assert seen(watch.listing(roots, frozenset())) == seen(log_files(roots))
        assert watch.walks == 2
    finally:
        watch.close()


def test_a_listing_kept_by_events_alone_is_walked_again_after_a_while(tmp_path: Path) -> None:
    tree = Tree(tmp_path / "claude")
    roots = [str(tree.projects)]
    tree.apply(("append", 0, [assistant(at(0), msg="a", req="a")]))
    now = [0.0]
    watch = LogWatch(clock=lambda: now[0])
    watch.live()  # watched from the first listing
    try:
        watch.listing(roots, frozenset())
        now[0] = watch_module.FULL_WALK_S - 1
        watch.listing(roots, frozenset())
        assert watch.walks == 1
        now[0] = watch_module.FULL_WALK_S
        watch.listing(roots, frozenset())
        assert watch.walks == 2
        watch.listing([*roots, str(tmp_path)], frozenset())  # other folders: walked
        assert watch.walks == 3
    finally:
        watch.close()


def test_out_of_watches_every_listing_is_a_walk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = Tree(tmp_path / "claude")
    roots = [str(tree.projects)]
    tree.apply(("append", 0, [assistant(at(0), msg="a", req="a")]))
    real = watch_module.INotify

    class Exhausted(real):  # type: ignore[misc, valid-type]
        def add_watch(self, path: Any, mask: int) -> int:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(watch_module, "INotify", Exhausted)
    watch = LogWatch()
    for minute in range(3):
        tree.apply(("append", 0, [assistant(at(minute + 1), msg=f"m{minute}", req=f"m{minute}")]))
        assert seen(watch.listing(roots, frozenset())) == seen(log_files(roots))
    assert watch.walks == 3
    watch.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.one_of(step, structural), min_size=1, max_size=8))
def test_the_daemons_scans_through_the_watch_equal_a_cold_scan(steps: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tree = Tree(work / "claude")
        config = UsageConfig(home=work / "state", claude_config_dirs=(tree.root,), tz="UTC", prices_file=None)
        worker = IndexWorker(config)

        async def play() -> None:
            try:
                for op in steps:
                    tree.apply(op)
                    await worker.run(worker.scan)
                    expected = cold(tree.root, work)
                    assert await worker.run(lambda index: snapshot(index.conn)) == expected, repr(steps)
                    pieces = await worker.answer(BlocksQuery(), to_ms(NOW))
                    assert b"".join(pieces).decode() == expected[2] + "\n"
            finally:
                await worker.close()
                tree.unlock()

        asyncio.run(play())


def test_the_answer_is_the_document_for_each_option(tmp_path: Path) -> None:
    tree = Tree(tmp_path / "claude")
    tree.apply(("append", 0, [assistant(at(m), msg=f"m{m}", req=f"r{m}") for m in (0, 90, 400)]))
    config = UsageConfig(home=tmp_path / "state", claude_config_dirs=(tree.root,), tz="UTC", prices_file=None)
    worker = IndexWorker(config)

    async def play() -> None:
        try:
            now_ms = to_ms(at(420))
            for active in (False, True):
                for recent in (False, True):
                    query = BlocksQuery(active=active, recent=recent)
                    text = b"".join(await worker.answer(query, now_ms)).decode()
                    expected = await worker.run(lambda index, query=query: blocks_document(
                        load_blocks(index.conn, now_ms), query, UTC))
                    assert text == expected + "\n"
        finally:
            await worker.close()

    asyncio.run(play())


def test_a_scan_by_another_process_is_not_mistaken_for_nothing_new(tmp_path: Path) -> None:
    """Nothing written since the daemon's last scan, but another connection scanned other
    folders into the same database (which drops the daemon's files): the daemon scans again."""
    from core.usage.db import open_scan_db
    from core.usage.prices import load_prices
    from core.usage.scanner import UsageScanner

    tree = Tree(tmp_path / "claude")
    tree.apply(("append", 0, [assistant(at(m), msg=f"m{m}", req=f"r{m}") for m in (0, 30, 400)]))
    other = tmp_path / "other" / "projects"
    other.mkdir(parents=True)
    config = UsageConfig(home=tmp_path / "state", claude_config_dirs=(tree.root,), tz="UTC", prices_file=None)
    worker = IndexWorker(config)

    async def play() -> None:
        try:
            first = b"".join(await worker.answer(BlocksQuery(), to_ms(NOW)))
            await worker.answer(BlocksQuery(), to_ms(NOW))  # the second listing sets the watches
            assert await worker.answer(BlocksQuery(), to_ms(NOW)) and worker.watch.quiet
            conn = open_scan_db(config.db_path)
            try:
                UsageScanner(conn, [other], load_prices(None)).scan()  # another process's settings
                assert conn.execute("SELECT COUNT(*) FROM usage_files").fetchone()[0] == 0
            finally:
                conn.close()
            again = b"".join(await worker.answer(BlocksQuery(), to_ms(NOW)))
            assert again == first == cold(tree.root, tmp_path)[2].encode() + b"\n"
        finally:
            await worker.close()

    asyncio.run(play())


def _inotify_fds() -> int:
    links = [f"/proc/self/fd/{fd}" for fd in os.listdir("/proc/self/fd")]
    return sum(os.readlink(link) == "anon_inode:inotify" for link in links if os.path.exists(link))


def test_a_command_that_lists_once_sets_no_watches(tmp_path: Path) -> None:
    """Watches cost a command a third more than its walk and use up the user's inotify
    instances: only a second listing (a process that lives on) or a daemon's sets them."""
    tree = Tree(tmp_path / "claude")
    roots = [str(tree.projects)]
    tree.apply(("append", 0, [assistant(at(0), msg="a", req="a")]))
    before = _inotify_fds()
    once = LogWatch()
    once.listing(roots, frozenset())
    assert _inotify_fds() == before
    once.listing(roots, frozenset())  # listed again: it lives on
    assert _inotify_fds() == before + 1 and once.walks == 2
    once.listing(roots, frozenset())
    assert once.walks == 2 and once.quiet
    once.close()
    assert _inotify_fds() == before
