"""`nightshift` command line: thin wrappers over `core.service`."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def main() -> None:
    # `usage blocks --json` is polled by status lines and scripts: when no log changed it is
    # answered from the database by a path that imports next to nothing (it ends the process
    # itself; see core/usage/lean.py); otherwise it is still answered without loading typer,
    # pydantic-settings and the service (see core/usage/blocks_command.py).
    from core.usage.lean import answer

    seen = answer(sys.argv[1:])
    from core.usage.blocks_command import main as usage_blocks_fast

    handled = usage_blocks_fast(sys.argv[1:], hard_exit=True, handover=seen)
    if handled is not None:
        raise SystemExit(handled)
    if seen is not None and seen.conn is not None:
        seen.conn.close()  # not needed: typer's path opens its own

    # Each module registers its commands on `app` when imported.
    import typer

    from core.cli import (  # noqa: F401
        backup,
        budget,
        demo,
        doctor,
        improve,
        permissions,
        run,
        setup,
        stats,
        tasks,
        usage,
    )
    from core.cli.app import app, run_app
    from core.cli.help import polish

    run_app(lambda: polish(typer.main.get_command(app))(prog_name="nightshift"))


def __getattr__(name: str) -> Any:
    # `app` is imported on first use, so that the fast path in main() does not pay for it.
    if name == "app":
        from core.cli.app import app

        return app
    raise AttributeError(name)


__all__ = ["app", "main"]
