"""`nightshift` command line: thin wrappers over `core.service`."""

from __future__ import annotations

from core.cli.app import app


def main() -> None:
    # Each module registers its commands on `app` when imported.
    from core.cli import (  # noqa: F401
        doctor,
        improve,
        setup,
        stats,
        tasks,
    )
    from core.cli import run as _run  # noqa: F401

    app()


__all__ = ["app", "main"]
