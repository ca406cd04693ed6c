"""The daemon's answers to `usage blocks --json` polls (core.usage.serve, core.usage.ask).

A real Unix socket in a short temp folder, the real command as a subprocess: the poll gets
what a cold scan prints at the same moment, to the byte; anything the daemon cannot answer
exactly is refused and the poll answers itself; nothing at the socket's path but a stale
socket of ours is ever replaced or talked to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.usage.ask import PROTOCOL, ask, encode_request, socket_path
from core.usage.blocks import from_ms, to_ms
from core.usage.blocks_command import blocks_output
from core.usage.config import UsageConfig
from core.usage.index_worker import IndexWorker
from core.usage.report import BlocksQuery
from core.usage.serve import BlocksServer, parse_request
from tests.support import NIGHTSHIFT
from tests.usage.logtree import assistant, at
from tests.usage.test_incremental import Files

FLAGS = [(), ("active",), ("recent",), ("active", "recent")]


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A socket's path must fit 107 bytes: pytest's own temp paths can be longer."""
    path = Path(tempfile.mkdtemp(prefix="ns-serve-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _config(work: Path, home: str = "state") -> UsageConfig:
    (work / home).mkdir(mode=0o700, exist_ok=True)
    return UsageConfig(home=work / home, claude_config_dirs=(work / "claude",), tz="UTC", prices_file=None)


def _request(config: UsageConfig, flags: tuple[str, ...], now_ms: int, *, tz: str | None = None,
             price_file: str | None = None, roots: list[str] | None = None) -> bytes:
    """A poll's request for `config`, with any of its settings given otherwise."""
    return encode_request(flags, now_ms, config.tz if tz is None else tz,
                          str(config.price_file) if price_file is None else price_file,
                          [str(path) for path in config.projects] if roots is None else roots)


def _cold(work: Path, flags: tuple[str, ...], now_ms: int) -> bytes:
    """What the command prints at `now_ms` from a database of its own (a cold scan)."""
    fresh = _config(work, f"cold-{len(os.listdir(work))}")
    query = BlocksQuery(active="active" in flags, recent="recent" in flags)
    return b"".join(blocks_output(fresh, query, from_ms(now_ms)))


def _tree(work: Path) -> Files:
    files = Files(work / "claude")
    (work / "claude" / "projects").mkdir(parents=True, exist_ok=True)
    files.apply(("append", 0, [assistant(at(m), msg=f"m{m}", req=f"r{m}") for m in (0, 40, 400)]))
    files.apply(("append", 2, [assistant(at(m), msg=f"s{m}", req=f"s{m}") for m in (10, 700)]))
    return files


@contextlib.asynccontextmanager
async def serving(work: Path) -> AsyncIterator[tuple[UsageConfig, BlocksServer]]:
    """The daemon's part: a scanner worker of `work/state` and its poll server, started."""
    config = _config(work)
    worker = IndexWorker(config)
    server = BlocksServer([worker])
    await server.start()
    try:
        yield config, server
    finally:
        await server.close()
        await worker.close()


async def _ask(config: UsageConfig, request: bytes) -> bytes | None:
    answer = await asyncio.to_thread(ask, str(config.db_path), request)
    return None if answer is None else bytes(answer)


async def test_a_poll_gets_what_a_cold_scan_prints_after_every_append(short_tmp: Path) -> None:
    files = _tree(short_tmp)
    async with serving(short_tmp) as (config, server):
        for minute in (720, 730, 1500):  # into the open block, then a new one
            files.apply(("append", 1, [assistant(at(minute), msg=f"n{minute}", req=f"n{minute}")]))
            now_ms = to_ms(at(minute + 5))
            for flags in FLAGS:
                answer = await _ask(config, _request(config, flags, now_ms))
                assert answer == _cold(short_tmp, flags, now_ms), flags
        assert server.answered == 12
        assert stat.S_IMODE(os.lstat(socket_path(str(config.db_path))).st_mode) == 0o600
    assert not os.path.exists(socket_path(str(config.db_path)))


async def test_the_command_asks_the_daemon_and_prints_its_answer(short_tmp: Path) -> None:
    _tree(short_tmp)
    async with serving(short_tmp) as (config, server):
        env = {"PATH": os.environ["PATH"], "HOME": str(short_tmp), "NIGHTSHIFT_HOME": str(config.home),
               "CLAUDE_CONFIG_DIR": str(short_tmp / "claude"), "NIGHTSHIFT_TZ": "UTC",
               "NIGHTSHIFT_USAGE_API": "false"}
        for flags in FLAGS:
            done = await asyncio.to_thread(
                subprocess.run, [NIGHTSHIFT, "usage", "blocks", "--json", *(f"--{f}" for f in flags)],
                env=env, capture_output=True, check=True)
            # The logs' blocks are long over: what is printed does not depend on the moment.
            assert done.stdout == _cold(short_tmp, flags, to_ms(datetime.now(UTC))), flags
        plain = _cold(short_tmp, (), to_ms(datetime.now(UTC)))
        assert server.answered == 4  # the same settings as the daemon's: it answered each
        env["NIGHTSHIFT_TZ"] = "Europe/Berlin"  # another zone: the command answers itself
        other = await asyncio.to_thread(subprocess.run, [NIGHTSHIFT, "usage", "blocks", "--json"],
                                        env=env, capture_output=True, check=True)
        assert server.answered == 4
        ids = [block["id"] for block in json.loads(plain)["blocks"]]
        assert [block["id"] for block in json.loads(other.stdout)["blocks"]] == ids


async def test_what_the_daemon_cannot_answer_exactly_is_refused(short_tmp: Path) -> None:
    _tree(short_tmp)
    now_ms = to_ms(at(800))
    async with serving(short_tmp) as (config, server):
        for other_settings in (_request(config, (), now_ms, tz="Europe/Berlin"),
                               _request(config, (), now_ms, price_file=str(short_tmp / "prices.json")),
                               _request(config, (), now_ms, roots=[str(short_tmp / "claude")]),
                               _request(config, (), now_ms, roots=[])):
            assert await _ask(config, other_settings) is None, other_settings
        assert await _ask(config, _request(config, ("json",), now_ms)) is None
        other = _request(config, (), now_ms).replace(PROTOCOL.encode(), b"nightshift-usage-blocks/0/1")
        assert await _ask(config, other) is None
        assert await _ask(config, b"x" * (1 << 17)) is None
        assert server.answered == 0
        assert await _ask(config, _request(config, (), now_ms)) == _cold(short_tmp, (), now_ms)


@given(st.binary(max_size=300))
def test_any_request_is_parsed_or_refused(data: bytes) -> None:
    config = UsageConfig(home=Path("/nonexistent/state"), claude_config_dirs=(Path("/nonexistent/claude"),),
                         tz="UTC", prices_file=None)
    parsed = parse_request(data, IndexWorker(config))
    assert isinstance(parsed, str) or (isinstance(parsed[0], BlocksQuery) and parsed[1] >= 0)


async def test_nothing_but_a_stale_socket_of_ours_is_replaced(short_tmp: Path) -> None:
    _tree(short_tmp)
    config = _config(short_tmp)
    path = socket_path(str(config.db_path))
    worker = IndexWorker(config)
    try:
        for make in ("file", "link", "folder"):
            target = short_tmp / f"target-{make}"
            target.write_text("keep")
            if make == "file":
                Path(path).write_text("keep")
            elif make == "link":
                os.symlink(target, path)
            else:
                os.mkdir(path)
            server = BlocksServer([worker])
            await server.start()
            assert await _ask(config, _request(config, (), 0)) is None
            await server.close()
            assert target.read_text() == "keep"
            assert os.path.lexists(path)  # left as it was
            if make == "file":
                assert Path(path).read_text() == "keep"
            (os.rmdir if make == "folder" else os.unlink)(path)
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(path)  # a daemon that died without closing
        stale.close()
        server = BlocksServer([worker])
        await server.start()
        try:
            assert await _ask(config, _request(config, (), 0)) is not None
        finally:
            await server.close()
    finally:
        await worker.close()


async def test_a_poll_does_not_follow_a_link_to_a_socket(short_tmp: Path) -> None:
    _tree(short_tmp)
    elsewhere = _config(short_tmp, "elsewhere")
    async with serving(short_tmp) as (config, server):
        os.symlink(socket_path(str(config.db_path)), socket_path(str(elsewhere.db_path)))
        assert await _ask(elsewhere, _request(config, (), 0)) is None
        assert server.answered == 0


async def test_new_lines_are_read_as_they_are_written_while_polls_are_served(short_tmp: Path) -> None:
    files = _tree(short_tmp)

    def stored_size(index: Any) -> int:
        query = "SELECT size FROM usage_files WHERE path = ?"
        row = index.conn.execute(query, (str(files.path(1)),)).fetchone()
        return -1 if row is None else int(row[0])

    async with serving(short_tmp) as (_, server):
        worker = server.workers[0]
        for minute in (800, 810):
            files.apply(("append", 1, [assistant(at(minute), msg=f"w{minute}", req=f"w{minute}")]))
            size = files.path(1).stat().st_size
            for _ in range(500):  # no poll, no usage job: the write alone wakes the reader
                if await worker.run(stored_size) == size:
                    break
                await asyncio.sleep(0.01)
            assert await worker.run(stored_size) == size
        assert server.answered == 0


async def test_a_new_price_table_is_used_by_the_next_answer(short_tmp: Path) -> None:
    """`nightshift prices update` writes the table while the daemon runs: its next answer
    prices with it, as the command itself would (no log file changed in between)."""
    _tree(short_tmp)
    prices = short_tmp / "prices.json"
    config = UsageConfig(home=short_tmp / "state", claude_config_dirs=(short_tmp / "claude",), tz="UTC",
                         prices_file=prices)
    worker = IndexWorker(config)
    now_ms = to_ms(at(800))
    try:
        before = b"".join(await worker.answer(BlocksQuery(), now_ms))
        prices.write_text(json.dumps({"claude-sonnet-4-5-20250929": {
            "input_cost_per_token": 1e-3, "output_cost_per_token": 2e-3,
            "cache_creation_input_token_cost": 3e-3, "cache_read_input_token_cost": 4e-4,
            "litellm_provider": "anthropic", "mode": "chat"}}))
        after = b"".join(await worker.answer(BlocksQuery(), now_ms))
        fresh = config._replace(home=short_tmp / "cold")
        assert after != before
        assert after == b"".join(blocks_output(fresh, BlocksQuery(), from_ms(now_ms)))
    finally:
        await worker.close()
