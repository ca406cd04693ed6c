"""`usage blocks --json` asked of the running daemon, which has the answer at hand.

A status line polls this command every few seconds. On its own, a poll pays for a stat of
every log file, and after new lines for their reading and the imports that reading needs;
the daemon watches the log files (core.usage.watch) and keeps the scanner warm, so it reads
only what was written and answers in a few milliseconds. Its answer is what this process
would print at this moment, to the byte: the daemon scans before answering, renders for the
`now` asked, and refuses (the poll then carries on by itself) unless it reads the same log
folders with the same zone, price table and cache format.

This module is imported by the lean path (core.usage.lean), before anything else of
nightshift: it imports only `_socket`.

The exchange, on a Unix socket beside the database (mode 0600 in the 0700 state folder,
both ends checking the other is the same user): the request is NUL-separated UTF-8 fields
(`PROTOCOL`, the options, `now` in ms, the zone, the price file, then the `projects/`
folders), ended by closing the writing side; the answer is `ok` and a line end followed by
the output, or `no` and a reason.
"""

from __future__ import annotations

import os
import sys

from core.usage.stored import CACHE_FORMAT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

PROTOCOL = "nightshift-usage-blocks/1/" + CACHE_FORMAT
SOCKET_NAME = "usage.sock"
ANSWER_TIMEOUT_S = 10.0
"""As long as the lean path would wait for a busy database before carrying on alone."""
MAX_REQUEST_BYTES = 1 << 16
PATH_MAX_BYTES = 107
"""A Unix socket's path must fit `sun_path` (108 bytes with its NUL on Linux)."""


def socket_path(db_path: str) -> str:
    return os.path.join(os.path.dirname(db_path), SOCKET_NAME)


def encode_request(flags: Sequence[str], now_ms: int, tz: str, price_file: str,
                   roots: Sequence[str]) -> bytes:
    fields = [PROTOCOL, ",".join(sorted(flags)), str(now_ms), tz, price_file, *roots]
    return "\0".join(fields).encode("utf-8", "surrogateescape")


def peer_uid(sock: object) -> int | None:
    """The uid of the process at the other end (None where the system cannot say)."""
    import _socket

    option = getattr(_socket, "SO_PEERCRED", None)
    if option is None:  # pragma: no cover - not Linux: the socket's folder is 0700
        return None
    credentials: bytes = sock.getsockopt(_socket.SOL_SOCKET, option, 12)  # type: ignore[attr-defined]
    return int.from_bytes(credentials[4:8], sys.byteorder)


def ask(db_path: str, request: bytes) -> memoryview | None:
    """The daemon's output for `request`, or None: no daemon, not ours, refused, too slow."""
    path = socket_path(db_path)
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if info.st_mode & 0o170000 != 0o140000 or info.st_uid != os.getuid() \
            or len(os.fsencode(path)) > PATH_MAX_BYTES:
        return None  # not a socket (a link, a file), or not ours
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(ANSWER_TIMEOUT_S)
        sock.connect(path)
        uid = peer_uid(sock)
        if uid is not None and uid != os.getuid():
            return None
        sock.sendall(request)
        sock.shutdown(_socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(1 << 20):
            chunks.append(chunk)
    except OSError:  # refused (a daemon gone), timed out, reset
        return None
    finally:
        sock.close()
    answer = b"".join(chunks)
    if not answer.startswith(b"ok\n"):
        return None
    return memoryview(answer)[3:]
