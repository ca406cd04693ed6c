"""Reading the files of one scan into staging, on every core when there is a lot to read.

A cold scan of a heavy user's year is several hundred MB of JSON; decoding it is CPU work
that one Python process does on one core. So a big read is split by bytes (largest files
first, each to the least loaded reader) between this process and `processes - 1` worker
processes (`core.usage.scan_worker`), each writing its own staging file. This process
reads its share meanwhile, then attaches the workers' files. A worker that fails costs
only time: its files are read here instead.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from core.childenv import child_env
from core.log import event
from core.usage import staging
from core.usage.prices import PriceTable
from core.usage.staging import read_here
from core.usage.tree import FileRead, ProgressHook

MAX_PROCESSES = 4


def reader_processes() -> int:
    """Processes to read with: the cores this process may run on, at most MAX_PROCESSES."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_PROCESSES))


def split(work: list[FileRead], parts: int) -> list[list[FileRead]]:
    """Shares of about equal bytes: largest files first, each to the share with the least."""
    shares: list[list[FileRead]] = [[] for _ in range(parts)]
    loads = [0] * parts
    for item in sorted(work, key=lambda item: item.to_read, reverse=True):
        lightest = loads.index(min(loads))
        shares[lightest].append(item)
        loads[lightest] += item.to_read
    return [sorted(share, key=lambda item: item.slot) for share in shares]


class _Worker:
    def __init__(self, number: int, items: list[FileRead], folder: Path, prices: PriceTable,
                 price_file: Path | None, fast: bool) -> None:
        self.items = items
        self.db = folder / f"worker-{number}.db"
        self.schema = f"usage_w{number}"
        self.errors = folder / f"worker-{number}.err"
        job = {"db": str(self.db), "prices": str(price_file) if price_file else None,
               "fingerprint": prices.fingerprint, "fast": fast,
               "files": [[i.slot, i.path, i.dev, i.inode, i.size, i.mtime_ns, i.start, i.min_ts_ms]
                         for i in items]}
        # The job goes in a file: written to a pipe it would wait for the worker to start
        # reading (an interpreter's start) before this process could read its own share.
        self.job = folder / f"worker-{number}.json"
        self.job.write_text(json.dumps(job))
        # The allow-listed environment every child gets (no token, no database URL: the job
        # names everything it needs), plus the package this process runs from, so the worker
        # imports the same code.
        root = str(Path(__file__).resolve().parents[2])
        env = child_env(claude=False)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        self.process: subprocess.Popen[bytes] | None = None
        with self.errors.open("wb") as errors:
            try:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "core.usage.scan_worker", str(self.job)],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors, env=env,
                    close_fds=True)
            except OSError as exc:
                event("usage reader process could not start", logging.WARNING, logger="usage", error=str(exc))

    def finish(self) -> bool:
        """Wait for the process; True when it finished its job (outcomes are in its file)."""
        if self.process is None:
            return False
        code = self.process.wait()
        if code != 0:
            detail = self.errors.read_text("utf-8", "replace")[-2000:] if self.errors.exists() else ""
            event("usage reader process failed; its files are read in the scanner", logging.WARNING,
                  logger="usage", exit_code=code, stderr=detail)
            return False
        return True

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextmanager
def staged_reads(conn: sqlite3.Connection, work: list[FileRead], prices: PriceTable, fast: bool, *,
                 processes: int = 1, scratch: Path | None = None, price_file: Path | None = None,
                 progress: ProgressHook | None = None) -> Iterator[list[str]]:
    """Read `work` into staging; yields the schemas whose staging tables hold the rows.

    Each item's outcome (offset, timestamps, counts, error) is set on it. Workers' files stay
    attached until the `with` block ends.
    """
    staging.create(conn, "temp")
    total = sum(item.to_read for item in work)
    shares = [work]
    folder: Path | None = None
    workers: list[_Worker] = []
    attached: list[str] = []
    if processes > 1 and total >= staging.PARALLEL_MIN_BYTES and scratch is not None and len(work) > 1:
        shares = split(work, processes)
        folder = Path(tempfile.mkdtemp(prefix=".usage-scan-", dir=scratch))
        workers = [_Worker(n, share, folder, prices, price_file, fast)
                   for n, share in enumerate(shares[1:], 1) if share]
    done = 0
    scale = total / max(1, sum(item.to_read for item in shares[0]))

    def advance(read: int) -> None:
        nonlocal done
        done += read
        if progress is not None:
            progress(min(total, int(done * scale)), total)

    try:
        read_here(conn, shares[0], prices, fast, advance if progress is not None else None)
        for worker in workers:
            if worker.finish():
                conn.execute("ATTACH DATABASE ? AS " + worker.schema, (str(worker.db),))
                attached.append(worker.schema)
                found = {row[0]: row for row in staging.outcomes(conn, worker.schema)}
                for item in worker.items:
                    if item.slot in found:
                        item.take(found[item.slot])
                left = [item for item in worker.items if item.slot not in found]
            else:
                left = worker.items
            if left:
                read_here(conn, left, prices, fast)
        yield ["temp", *attached]
    finally:
        for worker in workers:
            worker.stop()
        for schema in attached:
            with suppress(sqlite3.Error):
                conn.execute(f"DETACH DATABASE {schema}")
        with suppress(sqlite3.Error):
            conn.execute(f"DELETE FROM temp.{staging.ROWS_TABLE}")
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
