"""Follow a growing log file by byte offset, yielding complete lines only.

Hand-written because it is a dozen lines and must never read a whole file: a run's log can
grow large, and a restart resumes from the saved offset.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from core import safefs
from core.errors import UnsafeFile
from core.log import event

CHUNK_BYTES = 1 << 16

class LogTail:
    def __init__(self, path: Path, offset: int = 0) -> None:
        self.path = path
        self.offset = offset
        """Bytes consumed, up to the end of the last complete line returned."""
        self._partial = b""

    def read_lines(self, max_bytes: int = 1 << 22) -> list[bytes]:
        """Complete lines appended since the last call (an unfinished last line waits)."""
        try:
            # Never through a link: the run's folder is writable by the run itself.
            handle = os.fdopen(safefs.open_regular(self.path), "rb")
        except FileNotFoundError:
            return []
        except UnsafeFile as exc:
            event("run log not read", logging.WARNING, logger="agent", error=exc.message)
            return []
        lines: list[bytes] = []
        with handle:
            handle.seek(self.offset + len(self._partial))
            read = 0
            while read < max_bytes:
                chunk = handle.read(CHUNK_BYTES)
                if not chunk:
                    break
                read += len(chunk)
                data = self._partial + chunk
                *complete, self._partial = data.split(b"\n")
                for line in complete:
                    self.offset += len(line) + 1
                    lines.append(line)
        return lines

    def rest(self) -> bytes:
        """The unfinished last line: call once the writer is gone (a crash can cut a line)."""
        self.read_lines()
        rest, self._partial = self._partial, b""
        self.offset += len(rest)
        return rest
