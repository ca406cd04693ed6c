"""The database's file names, and their inodes, with nothing but `os`.

The `usage blocks` lean path (core.usage.lean) must skip these when it walks Claude's logs
(a link from there to the database must never be opened: see core.store.files), and it
cannot afford `pathlib`; core.store.files builds on the same names.
"""

from __future__ import annotations

import os

DB_SUFFIXES = ("", "-wal", "-shm", "-journal")
"""The main file and the files SQLite keeps beside it (all private, all one database)."""


def database_inodes(database: str) -> frozenset[tuple[int, int]]:
    """(device, inode) of the database and the files beside it, by `stat` (no descriptor):
    a reader of other files (Claude's logs) skips these even when a link leads to them."""
    keys = set()
    for suffix in DB_SUFFIXES:
        try:
            info = os.stat(database + suffix)
        except OSError:
            continue
        keys.add((info.st_dev, info.st_ino))
    return frozenset(keys)
