"""`nightshift` command line: thin wrappers over `core.service`."""

from __future__ import annotations

from core.cli.app import app


def main() -> None:
    # Each module registers its commands on `app` when imported.
    from core.cli import doctor, setup, tasks  # noqa: F401
    from core.cli import improve  # noqa: F401
    from core.cli import stats  # noqa: F401
    from core.cli import run as _run  # noqa: F401

    app()


__all__ = ["app", "main"]
