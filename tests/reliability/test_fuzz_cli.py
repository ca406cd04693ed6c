"""Every `nightshift` command with random arguments: no traceback, exit 0/1/2, a clear message,
and a refused command changes nothing (every table row and every file compared).

Two drivers over one grammar: the installed entry point as a subprocess (what a user and a
script meet; about a second per call, so fewer cases) and typer's runner in this process
(the same commands, many more cases).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from core.service import Service
from core.settings import load_settings

from .botkit import seed
from .cli_grammar import OTHER_COMMANDS, TASK_COMMANDS, command_line
from .snapshots import changed_tables, db_rows, files

NIGHTSHIFT = str(Path(sys.executable).parent / "nightshift")
REPORTS_NOT_REFUSALS = (("doctor",), ("service", "status"))
"""Commands whose exit 1 reports a finding (something is missing, not installed), not a refusal."""
SUBPROCESS = settings(max_examples=8, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
IN_PROCESS = settings(max_examples=150, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class World:
    """A seeded home, vault and working directory; what a refused command must leave alone."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = load_settings(env_file=None).db_path
        self.work = root / "work"
        self.work.mkdir()

    def snapshot(self) -> tuple[object, object]:
        return db_rows(self.db), files(self.root)

    def forget_env_file(self) -> None:
        # `init` writes .env into the working directory; the next command must not read it.
        (self.work / ".env").unlink(missing_ok=True)


@pytest.fixture
def world(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("NIGHTSHIFT_USAGE_API", "false")
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:9/bot")  # refused at once
    monkeypatch.setenv("COLUMNS", "200")

    async def prepare() -> None:
        service = await Service.open(load_settings(env_file=None))
        try:
            await seed(service)
        finally:
            await service.close()

    asyncio.run(prepare())
    made = World(isolated_env)
    monkeypatch.chdir(made.work)
    return made


def check(world: World, argv: list[str], code: int, out: str, err: str,
          before: tuple[object, object]) -> None:
    shown = f"nightshift {argv!r} -> {code}\nstdout: {out[-2000:]}\nstderr: {err[-2000:]}"
    assert code in (0, 1, 2), shown
    assert "Traceback" not in out + err, shown
    words = tuple(a for a in argv if a != "--")
    if code == 0 or any(words[:len(p)] == p for p in REPORTS_NOT_REFUSALS):
        return
    assert err.strip(), "a refusal says why, on stderr\n" + shown
    assert len(err.strip().splitlines()) <= 8, "a refusal is a short message\n" + shown
    db_before, files_before = before
    db_after, files_after = world.snapshot()
    assert changed_tables(db_before, db_after) == [], "refused, yet the database changed\n" + shown  # type: ignore[arg-type]
    assert files_after == files_before, "refused, yet files changed\n" + shown


def run_installed(world: World, argv: list[str]) -> None:
    before = world.snapshot()
    done = subprocess.run([NIGHTSHIFT, *argv], capture_output=True, timeout=90, env=dict(os.environ),
                          cwd=world.work, stdin=subprocess.DEVNULL)
    world.forget_env_file()
    check(world, argv, done.returncode, done.stdout.decode("utf-8", "replace"),
          done.stderr.decode("utf-8", "replace"), before)


@SUBPROCESS
@given(argv=command_line(TASK_COMMANDS))
def test_task_commands_as_a_user_runs_them(world: World, argv: list[str]) -> None:
    run_installed(world, argv)


@SUBPROCESS
@given(argv=command_line(OTHER_COMMANDS))
def test_other_commands_as_a_user_runs_them(world: World, argv: list[str]) -> None:
    run_installed(world, argv)


KNOWN_HOSTILE = [
    ["show", "100000000000000000000000000000"],
    ["add", "x", "--after", "99999999999999999999"],
    ["init", "--yes", "--no-check", "--user", "²", "--token", "123456789:" + "A" * 35],
    ["run", "--max-wait", "soon"],
    ["run", "--bogus"],
    ["frobnicate"],
    ["add"],
    ["add", "   "],
    ["restore", "missing.db", "--yes"],
    ["restore", "--yes", "nightshift.db"],
    ["backup", "--out", "."],
]


def test_known_hostile_command_lines_as_a_user_runs_them(world: World) -> None:
    """The first three were tracebacks once; run side by side, all refused, nothing changed."""
    before = world.snapshot()
    procs = [(argv, subprocess.Popen([NIGHTSHIFT, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=world.work, stdin=subprocess.DEVNULL))
             for argv in KNOWN_HOSTILE[:3]]
    for argv, proc in procs:
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 1, (argv, err)
        check(world, argv, proc.returncode, out.decode(), err.decode(), before)


@pytest.fixture
def typer_app() -> object:
    from core.cli import backup, budget, doctor, improve, run, setup, stats, tasks, usage  # noqa: F401
    from core.cli.app import app

    return app


@IN_PROCESS
@given(argv=command_line())
def test_every_command_in_process(world: World, typer_app: object, argv: list[str]) -> None:
    before = world.snapshot()
    result = CliRunner().invoke(typer_app, argv, catch_exceptions=True)  # type: ignore[arg-type]
    world.forget_env_file()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"nightshift {argv!r} raised {result.exception!r}") from result.exception
    check(world, argv, result.exit_code, result.stdout, result.stderr, before)


@pytest.mark.parametrize("argv", KNOWN_HOSTILE)
def test_known_hostile_command_lines_in_process(world: World, typer_app: object, argv: list[str]) -> None:
    before = world.snapshot()
    result = CliRunner().invoke(typer_app, argv, catch_exceptions=True)  # type: ignore[arg-type]
    assert isinstance(result.exception, SystemExit) and result.exit_code in (1, 2), result.output
    check(world, argv, result.exit_code, result.stdout, result.stderr, before)
