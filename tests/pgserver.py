"""A throwaway PostgreSQL server for the tests and benchmarks, from the machine's own binaries.

It lives in a private temp folder and listens only on a unix socket there (no TCP port), with
durability off (fsync, full-page writes): it holds nothing worth keeping. initdb and postgres
refuse to run as root, so as root they run as `nobody` through runuser; the folder is handed
to that user and root, the test process, still reaches the socket.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import asyncpg

NEEDED = ("initdb", "pg_ctl", "postgres")
SUPERUSER = "nightshift"
SERVER_OPTIONS = (
    "-c listen_addresses='' -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
    " -c max_connections=100 -c shared_buffers=32MB"
)
START_TIMEOUT_S = 60


class PostgresUnavailable(Exception):
    """Why no server can be started here: the reason a test that needs one is skipped with.

    Only a missing program or user is such a reason; a server that is there but fails to
    start raises RuntimeError, and the tests that need it fail.
    """


def find_bin_dir() -> Path | None:
    """The newest Debian-style /usr/lib/postgresql/N/bin, else a PATH holding all of NEEDED."""
    candidates = [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    candidates += [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in NEEDED):
            return folder
    return None


def _run_as() -> tuple[list[str], int | None]:
    """The command prefix that drops root for the server's programs, and the uid to give the folder."""
    if os.geteuid() != 0:
        return [], None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable("running as root and runuser is missing: PostgreSQL refuses root")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        raise PostgresUnavailable("running as root and no 'nobody' user to run PostgreSQL as") from None
    return [runuser, "-u", "nobody", "--"], nobody.pw_uid


@dataclass
class TempPostgres:
    root: Path
    bin_dir: Path
    prefix: list[str]

    @property
    def socket_dir(self) -> Path:
        return self.root

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}"

    @classmethod
    def start(cls) -> TempPostgres:
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise PostgresUnavailable(
                "no PostgreSQL server binaries (initdb, pg_ctl, postgres) in /usr/lib/postgresql/*/bin"
                " or on PATH; install them (Debian: apt-get install postgresql) to run these tests"
            )
        prefix, uid = _run_as()
        # A short path: a unix socket's path must fit in about 100 bytes.
        root = Path(tempfile.mkdtemp(prefix="nspg-", dir="/tmp"))
        server = cls(root, bin_dir, prefix)
        try:
            if uid is not None:
                os.chown(root, uid, -1)
            server._program(
                "initdb", "-D", str(root / "data"), "-U", SUPERUSER, "--auth=trust",
                "-E", "UTF8", "--no-sync", "--no-instructions",
            )
            server._program(
                "pg_ctl", "-D", str(root / "data"), "-l", str(root / "server.log"), "-w",
                "-t", str(START_TIMEOUT_S), "-o", f"{SERVER_OPTIONS} -k {root}", "start",
            )
        except BaseException:
            server.stop()
            raise
        return server

    def _program(self, name: str, *args: str) -> None:
        done = subprocess.run(
            [*self.prefix, str(self.bin_dir / name), *args],
            capture_output=True, text=True, timeout=START_TIMEOUT_S + 30, check=False,
        )
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{name} failed ({done.returncode}): {done.stderr.strip()} {tail}")

    def stop(self) -> None:
        if (self.root / "data" / "postmaster.pid").exists():
            subprocess.run(
                [*self.prefix, str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"),
                 "-m", "immediate", "-w", "stop"],
                capture_output=True, timeout=60, check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)


def _sql(server: TempPostgres, database: str, statement: str) -> None:
    """Run one statement on a private loop in a worker thread, so that sync fixtures can call
    it while the test's own event loop runs."""

    async def run() -> None:
        conn = await asyncpg.connect(server.url(database))
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result(timeout=60)


def create_database(server: TempPostgres, name: str) -> str:
    """A new empty database on `server`; returns its URL."""
    _sql(server, "postgres", f'CREATE DATABASE "{name}"')
    return server.url(name)


def create_schema(server: TempPostgres, database: str, name: str) -> str:
    """A new empty schema in `database`, and a URL whose connections work inside it.

    A schema costs a millisecond where a database costs most of a second; asyncpg passes the
    URL's unknown parameters (here search_path) to the server as settings.
    """
    _sql(server, database, f'CREATE SCHEMA "{name}"')
    return f"{server.url(database)}&search_path={name}"
