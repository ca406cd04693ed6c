"""The daemon's answers to `usage blocks --json` polls (the asking side: core.usage.ask).

One Unix socket per scanner database, beside it in the state folder. Only the daemon's own
user is answered (the folder is 0700, the socket 0600, and each connection's peer is
checked). A request that is not exactly what this daemon can answer (other log folders,
zone, price file, cache format, options) gets `no`: the poll then scans by itself, as it
would without a daemon, so an answer from here is never one the command would not print.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import stat
from collections.abc import Sequence

from core.log import event
from core.usage.ask import MAX_REQUEST_BYTES, PATH_MAX_BYTES, PROTOCOL, peer_uid, socket_path
from core.usage.index_worker import IndexWorker
from core.usage.report import BlocksQuery

TIMEOUT_S = 5.0
"""How long a poll may take to send its request, or to take the answer."""
_OPTIONS = {"": (False, False), "active": (True, False), "recent": (False, True),
            "active,recent": (True, True)}


def parse_request(data: bytes, worker: IndexWorker) -> tuple[BlocksQuery, int] | str:
    """(The query, `now` in ms) if `worker` answers it exactly as the poll would; else why not."""
    fields = data.decode("utf-8", "surrogateescape").split("\0")
    if len(fields) < 5 or fields[0] != PROTOCOL:
        return "another protocol"
    _, options, now_text, tz, price_file, *roots = fields
    config = worker.config
    if options not in _OPTIONS or not now_text.isascii() or not now_text.isdigit() or len(now_text) > 15:
        return "a malformed request"
    if tz != config.tz or price_file != str(config.price_file):
        return "another zone or price file"
    if roots != [str(path) for path in config.projects]:
        return "other log folders"
    active, recent = _OPTIONS[options]
    return BlocksQuery(active=active, recent=recent), int(now_text)


class BlocksServer:
    """Answers on the socket of each worker's database while the daemon runs."""

    def __init__(self, workers: Sequence[IndexWorker]) -> None:
        self.workers = list(workers)
        self._servers: list[asyncio.AbstractServer] = []
        self._paths: list[str] = []
        self.answered = 0
        """Polls answered (not refused) since the start."""

    async def start(self) -> None:
        for worker in self.workers:
            path = socket_path(str(worker.config.db_path))
            sock = _bind(path)
            if sock is None:
                continue
            server = await asyncio.start_unix_server(functools.partial(self._answer, worker), sock=sock)
            self._servers.append(server)
            self._paths.append(path)
            worker.follow_writes()  # so that a poll finds what was written read already

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()
        for path in self._paths:
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    os.unlink(path)
        self._servers, self._paths = [], []

    async def _answer(self, worker: IndexWorker, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        try:
            sock = writer.get_extra_info("socket")
            uid = peer_uid(sock) if sock is not None else None
            if uid is not None and uid != os.getuid():
                return
            data = await asyncio.wait_for(reader.read(MAX_REQUEST_BYTES + 1), TIMEOUT_S)
            while len(data) <= MAX_REQUEST_BYTES and (more := await asyncio.wait_for(
                    reader.read(MAX_REQUEST_BYTES + 1 - len(data)), TIMEOUT_S)):
                data += more
            parsed = parse_request(data, worker) if len(data) <= MAX_REQUEST_BYTES else "too long"
            if isinstance(parsed, str):
                writer.write(b"no " + parsed.encode() + b"\n")
            else:
                try:
                    pieces = await worker.answer(*parsed)
                except Exception as exc:  # the poll's own path reports it to the owner
                    event("usage: could not answer a poll", logging.WARNING, logger="usage",
                          error=f"{type(exc).__name__}: {exc}")
                    writer.write(b"no error\n")
                else:
                    writer.write(b"ok\n")
                    writer.writelines(pieces)
                    self.answered += 1
            await asyncio.wait_for(writer.drain(), TIMEOUT_S)  # a poll that stopped reading
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the poll went away or stalled: it answers itself
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _bind(path: str) -> socket.socket | None:
    """A listening socket at `path`, mode 0600; a stale socket there (a daemon that died)
    is replaced, anything else (a link, a file) is left alone and nothing is served."""
    if len(os.fsencode(path)) > PATH_MAX_BYTES:
        event("usage: state folder path too long for a socket; polls scan by themselves",
              logging.INFO, logger="usage", path=path)
        return None
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        event("usage: cannot serve polls", logging.WARNING, logger="usage", path=path, error=str(exc))
        return None
    else:
        if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid():
            event("usage: not serving polls: something else is at the socket's path",
                  logging.WARNING, logger="usage", path=path)
            return None
        os.unlink(path)  # the daemon lock is ours: no other daemon listens there
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)  # in the 0700 state folder: nobody else can reach it before the chmod
        os.chmod(path, 0o600)
        sock.listen(64)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        event("usage: cannot serve polls", logging.WARNING, logger="usage", path=path, error=str(exc))
        return None
    return sock
