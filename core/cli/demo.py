"""`nightshift demo`: see the whole loop work in about a minute, with a simulated Claude."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from core.cli.app import app, fail
from core.errors import NightshiftError


@app.command()
def demo(
    directory: Annotated[
        Path | None,
        typer.Option("--dir", metavar="DIR",
                     help="Where to play it, kept afterwards (default: a temp directory)."),
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the temp directory at the end.")] = False,
) -> None:
    """Play the whole loop in a throw-away directory with the simulated Claude CLI."""
    from core.demo.tour import main

    try:
        code = main(directory, keep=keep)
    except NightshiftError as exc:
        fail(exc.message, exc.exit_code)
    raise typer.Exit(code)
