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
        Path | None, typer.Option("--dir", help="Where to play it (default: a new temp directory).")
    ] = None,
) -> None:
    """Play the whole loop in a throw-away directory with the simulated Claude CLI."""
    from core.demo.tour import main

    try:
        code = main(directory)
    except NightshiftError as exc:
        fail(exc.message, exc.exit_code)
    raise typer.Exit(code)
