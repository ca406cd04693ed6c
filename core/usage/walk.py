"""Finding Claude's log files: every `**/*.jsonl` below the `projects/` dirs, with its stat.

This is most of what a re-scan with nothing new costs, and both the scanner and the
`usage blocks` lean path (core.usage.lean) walk with this one function, on plain strings
(the lean path cannot afford `pathlib`): the two must list the same files, in the same
order, under the same names.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence, Set


def log_files(roots: Sequence[str], skip: Set[tuple[int, int]] = frozenset(),
              watch: Callable[[str, bool], None] | None = None,
              ) -> Iterator[tuple[str, os.stat_result]]:
    """Every `**/*.jsonl` below `roots`, as ccusage's glob finds them: (path, stat).

    Names starting with a dot are skipped (the glob's `dot: false`); symbolic links are
    followed; a file reachable twice is listed once. Only a linked folder can close a loop,
    so only those (and the roots) are stat'ed for the loop guard: a re-scan's cost is the
    stat of each file, not of each folder too. Files whose (device, inode) is in `skip` are
    never listed: a link from Claude's folder to nightshift's own database must not be
    opened (closing that descriptor would drop this process's SQLite locks, see
    core.store.files).

    `watch(path, is_folder)` is told of each folder before it is listed (so that a watch
    set there misses no change after the listing) and of each log file before its stat,
    listed or not (a second name of a listed file, one of `skip`): core.usage.watch.
    """
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    stack: list[tuple[str, bool]] = [(root, True) for root in reversed(roots)]
    while stack:
        directory, guard = stack.pop()
        if guard:
            try:
                info = os.stat(directory)
            except OSError:
                continue
            key = (info.st_dev, info.st_ino)
            if key in seen_dirs:
                continue
            seen_dirs.add(key)
        if watch is not None:
            watch(directory, True)
        try:
            with os.scandir(directory) as listing:
                items = list(listing)  # order does not matter: dedup orders files itself
        except OSError:
            continue
        subdirs: list[tuple[str, bool]] = []
        for item in items:
            name = item.name
            if name[0] == ".":
                continue
            try:
                if name.endswith(".jsonl") and item.is_file():
                    if watch is not None:
                        watch(item.path, False)
                    file_info = item.stat()
                    file_key = (file_info.st_dev, file_info.st_ino)
                    if file_key not in seen_files and file_key not in skip:
                        seen_files.add(file_key)
                        yield item.path, file_info
                elif item.is_dir():
                    subdirs.append((item.path, item.is_symlink()))
            except OSError:
                continue
        stack.extend(subdirs)
