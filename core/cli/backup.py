"""`nightshift backup [--out FILE]` and `nightshift restore FILE` (see `core.backup`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.backup import backup_database, default_backup_path, inspect_restore_source, restore_database
from core.cli.app import app, console, fail, print_json, settings
from core.errors import NightshiftError
from core.models import utcnow
from core.settings import Settings

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]

PG_DUMP_ADVICE = (
    "the queue is in PostgreSQL (NIGHTSHIFT_DATABASE_URL), and `nightshift {command}` handles only"
    " the local SQLite file. Back up the shared database with PostgreSQL's own tools:"
    " pg_dump --format=custom --file=nightshift.dump \"$NIGHTSHIFT_DATABASE_URL\""
    " (restore with pg_restore --clean --dbname=… nightshift.dump, every daemon stopped)"
)


def _refuse_shared(config: Settings, command: str) -> None:
    """A copy of the local file is not a backup of a shared queue: say what is."""
    if config.shared_queue:
        fail(PG_DUMP_ADVICE.format(command=command))


@app.command()
def backup(
    out: Annotated[Path | None, typer.Option(
        "--out", help="Where to write the backup (default: NIGHTSHIFT_HOME/backups/…).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Back up the database (safe while the daemon runs); the file is private (0600)."""
    config = settings()
    _refuse_shared(config, "backup")
    target = out.expanduser() if out is not None else default_backup_path(config, utcnow())
    try:
        info = backup_database(config.db_path, target)
    except NightshiftError as exc:
        fail(exc.message, exc.exit_code)
    if as_json:
        print_json(info.as_json())
    else:
        console.print(f"backed up {info.tasks} tasks to {info.path} ({info.size_bytes:,} bytes)",
                      markup=False, soft_wrap=True)


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="A backup written by `nightshift backup`.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Replace the database without asking.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Replace the database with a backup (the daemon must be stopped); the old one is kept."""
    config = settings()
    _refuse_shared(config, "restore")
    try:
        info = inspect_restore_source(config, file.expanduser())
    except NightshiftError as exc:
        fail(exc.message, exc.exit_code)
    if not yes:
        typer.confirm(f"Replace {config.db_path} with {info.path} ({info.tasks} tasks)?", abort=True)
    try:
        result = restore_database(config, info.path, now=utcnow())
    except NightshiftError as exc:
        fail(exc.message, exc.exit_code)
    if as_json:
        print_json(result.as_json())
        return
    console.print(f"restored {result.restored.tasks} tasks from {result.restored.path}",
                  markup=False, soft_wrap=True)
    if result.previous is not None:
        console.print(f"the database it replaced is kept at {result.previous.path}",
                      markup=False, soft_wrap=True)
    if result.damaged is not None:
        console.print(f"the damaged database it replaced was moved, as it was, to {result.damaged}",
                      markup=False, soft_wrap=True)
