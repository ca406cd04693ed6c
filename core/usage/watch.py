"""The log files' listing kept current by inotify, so that the daemon's scans skip the walk.

A re-scan's floor is a stat of every log file (some 1,900 for a heavy user's year, half of
what a re-scan costs): that is how the walk finds what changed. A process that lives on can
be told instead. The kernel queues an event for a write to a watched file before the write
returns (inotify(7)), so draining the queue at the start of a scan names every file written
before it, and only those are stat'ed again.

Each listed file is watched itself, not only through its folder: a folder hears only of
writes through its own names, and a log file may be a link to a file elsewhere or get a
second name that another program writes through (the property test found that one). Each
folder is watched for what comes, goes or is renamed in it.

Wherever events cannot say it all, the listing is walked again, exactly as the scanner
walks (`core.usage.walk.log_files`): no inotify here, out of watches, the queue overflowed,
a folder or file came, went or was renamed, a watch was dropped, a file was replaced. And
every `FULL_WALK_S` the listing is walked anyway, for writers no watch sees (another
machine on a network file system).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence, Set
from typing import Any

from core.log import event
from core.usage.walk import log_files

try:  # Linux only; elsewhere every listing is a walk, as before
    from inotify_simple import INotify, flags
except (ImportError, OSError):  # pragma: no cover - not Linux
    INotify = None
    flags = None

FULL_WALK_S = 300.0
"""The longest a listing kept by events alone is trusted."""

Listing = list[tuple[str, os.stat_result]]


def _masks() -> tuple[int, int, int]:
    """(what a folder watch asks for, what a file watch asks for, what changes only data)."""
    if flags is None:  # pragma: no cover - not Linux
        return 0, 0, 0
    data = flags.MODIFY | flags.ATTRIB
    gone = flags.DELETE_SELF | flags.MOVE_SELF
    # A folder's ATTRIB: its own permissions (what it lists may change), and its files'.
    folder = flags.ATTRIB | flags.CREATE | flags.DELETE | flags.MOVED_FROM | flags.MOVED_TO | gone
    return int(folder), int(data | gone), int(data)


FOLDER_MASK, FILE_MASK, DATA_MASK = _masks()
OVERFLOW = int(flags.Q_OVERFLOW) if flags is not None else 0


class LogWatch:
    """One daemon's view of the log files: `listing()` is what `log_files` would list now.

    One inotify instance for the watch's life (its descriptor can be waited on: `fileno`);
    a walk sets the watches again and drops those of what left the tree, and events of
    watches no longer in use are skipped. Not thread-safe: one caller at a time (the
    daemon's index worker).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._notify: Any = None
        self._key: tuple[tuple[str, ...], Set[tuple[int, int]]] | None = None
        self._listing: dict[str, os.stat_result] = {}
        self._folders: dict[int, list[str]] = {}
        """Watch descriptor -> the folders it watches, as the walk named them (a folder
        reached by two names has one descriptor)."""
        self._files: dict[int, str] = {}
        """Watch descriptor -> the file it watches, by its first name the walk met."""
        self._walked_at = -FULL_WALK_S
        self._usable = INotify is not None
        self._watching = False
        """The last walk set the watches that the next listing may rely on."""
        self._lives = False
        self.walks = 0
        """Full walks so far (what the watch could not spare)."""
        self.written: set[str] | None = None
        """The files the last listing found written since the one before (None: it walked)."""

    def live(self) -> None:
        """Watch from the next walk on, the first one included (a daemon's watch: its
        descriptor is waited on for writes, which a walk without watches never reports)."""
        self._lives = True

    @property
    def quiet(self) -> bool:
        """The last listing was the one before it: nothing written, nothing walked."""
        return self.written is not None and not self.written

    def fileno(self) -> int | None:
        """The inotify descriptor, readable when something was written (None: no watch)."""
        if self._notify is None and self._usable and INotify is not None:
            try:
                self._notify = INotify()
            except OSError as exc:  # out of instances (fs.inotify.max_user_instances)
                self._give_up(exc)
        return None if self._notify is None else int(self._notify.fileno())

    def close(self) -> None:
        if self._notify is not None:
            self._notify.close()
            self._notify = None

    def listing(self, roots: Sequence[str], skip: Set[tuple[int, int]]) -> Listing:
        """Every log file below `roots` but `skip`, with its stat, as `log_files` gives them."""
        key = (tuple(roots), skip)
        if key != self._key or not self._watching or self._clock() - self._walked_at >= FULL_WALK_S:
            return self._walk(roots, skip)
        changed = self._drain()
        if changed is None:
            return self._walk(roots, skip)
        self.written = changed
        for path in changed:
            try:
                info = os.stat(path)
            except OSError:
                return self._walk(roots, skip)  # gone since: the walk says what is there
            old = self._listing[path]
            if (info.st_dev, info.st_ino) != (old.st_dev, old.st_ino):
                return self._walk(roots, skip)
            self._listing[path] = info
        return list(self._listing.items())

    def _walk(self, roots: Sequence[str], skip: Set[tuple[int, int]]) -> Listing:
        self.walks += 1
        self.written = None
        self._key = (tuple(roots), skip)
        self._walked_at = self._clock()
        # A process that lists only once (a command) sets no watches: the second listing
        # is the first that can use them, unless the owner said it lives on (`live`).
        watching = (self.walks > 1 or self._lives) and self.fileno() is not None
        if watching:
            self._notify.read(timeout=0)  # what happened so far, this walk sees
        before = self._folders.keys() | self._files.keys()
        self._folders, self._files = {}, {}
        found = list(log_files(roots, skip, self._watch if watching else None))
        self._watching = watching and self._notify is not None  # not if it gave up meanwhile
        if watching and self._notify is not None:
            for wd in before - self._folders.keys() - self._files.keys():
                with contextlib.suppress(OSError):  # already dropped by the kernel
                    self._notify.rm_watch(wd)  # left the tree
        self._listing = dict(found)
        return found

    def _watch(self, path: str, folder: bool) -> None:
        """The walk's hook: watch `path` (a folder before it is listed, a file before its stat)."""
        if self._notify is None:
            return
        try:
            wd = self._notify.add_watch(path, FOLDER_MASK if folder else FILE_MASK)
        except FileNotFoundError:
            return  # gone already: the walk does not list it either
        except OSError as exc:  # out of watches (fs.inotify.max_user_watches)
            self._give_up(exc)
            return
        if folder:
            self._folders.setdefault(wd, []).append(path)
        else:
            self._files.setdefault(wd, path)

    def _give_up(self, exc: OSError) -> None:
        """From now on every listing is a walk."""
        self._usable = False
        self.close()
        self._folders, self._files = {}, {}
        event("usage: log files cannot be watched; each scan walks them", logging.WARNING,
              logger="usage", error=str(exc))

    def _drain(self) -> set[str] | None:
        """The listed files written since the last drain; None where only a walk can tell."""
        changed: set[str] = set()
        for item in self._notify.read(timeout=0):
            if item.mask & OVERFLOW:
                return None
            path = self._files.get(item.wd)
            folders = self._folders.get(item.wd)
            if path is None and folders is None:
                continue  # a watch an earlier walk set, dropped since
            if item.mask & ~DATA_MASK:
                # Came, went, moved, a watch dropped; or a folder's attributes changed (it
                # may be readable now, or no longer): only a walk can tell.
                return None
            if path is not None:
                if path in self._listing:  # not one of `skip`, nor gone before its stat
                    changed.add(path)
                continue
            for folder in folders or ():
                path = os.path.join(folder, item.name)
                if path in self._listing:
                    changed.add(path)
            # A name not listed is not a log file, or one of `skip`, or a second name of a
            # listed file: that file has a watch of its own.
        return changed
