"""The typer app and the edge where errors become exit codes and one-line messages."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import typer

from core.console import make_console
from core.errors import NightshiftError, StoreError
from core.service import Service
from core.settings import Settings, load_settings
from core.store.files import corrupt, is_corruption

app = typer.Typer(
    name="nightshift",
    help="Queue Claude Code work; run it when the usage window resets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("nightshift")
        except PackageNotFoundError:  # run from a source tree that was never installed
            found = "unknown (not installed)"
        sys.stdout.write(f"nightshift {found}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Queue Claude Code work; run it when the usage window resets."""


console = make_console()
err_console = make_console(stderr=True)

T = TypeVar("T")

EXIT_OK = 0
EXIT_USER_ERROR = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USER_ERROR) -> NoReturn:
    err_console.print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return load_settings()
    except NightshiftError as exc:
        fail(exc.message, exc.exit_code)


def with_service(work: Callable[[Service], Awaitable[T]], **service_kwargs: Any) -> T:
    """Open the service, run `work`, close it; NightshiftError becomes a one-line exit."""
    config = settings()

    async def main() -> T:
        service = await Service.open(config, **service_kwargs)
        try:
            return await work(service)
        finally:
            await service.close()

    try:
        return asyncio.run(main())
    except NightshiftError as exc:
        fail(exc.message, exc.exit_code)


def run_app(entry: Callable[[], object]) -> None:
    """The CLI (`entry` runs typer's app) behind the last edge: a `NightshiftError` that
    escaped a command, or SQLite saying the database file is damaged (from any layer), is
    one line, not a traceback."""
    try:
        entry()
    except NightshiftError as exc:
        _exit(exc.message, exc.exit_code)
    except sqlite3.DatabaseError as exc:
        if not is_corruption(exc):
            raise
        try:
            error = corrupt(load_settings().db_path, exc)
        except NightshiftError:  # settings unreadable: say what SQLite said, still one line
            _exit(f"the database is damaged: {exc}", StoreError.exit_code)
        _exit(error.message, error.exit_code)


def _exit(message: str, code: int) -> NoReturn:
    err_console.print(f"error: {message}", markup=False, soft_wrap=True)
    raise SystemExit(code)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
