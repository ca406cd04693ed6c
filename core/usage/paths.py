"""Where Claude Code keeps its logs, resolved exactly as Claude Code and ccusage do.

The work happens on strings with `os.path` only (the `usage blocks` lean path uses it and
cannot afford `pathlib`); names come out as `str(Path(...))` would write them, so the
scanner, which gets them as `Path`s, and the lean path agree on every file's name.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path


def path_text(text: str) -> str:
    """`str(PurePosixPath(text))`: repeated slashes and `.` parts dropped, no trailing slash."""
    if text.startswith("/"):
        root = "//" if text.startswith("//") and not text.startswith("///") else "/"
    else:
        root = ""
    parts = [part for part in text.split("/") if part and part != "."]
    return root + "/".join(parts) if root or parts else "."


def expand_user(text: str) -> str:
    """`str(Path(text).expanduser())`."""
    text = path_text(text)
    if not text.startswith("~"):
        return text
    first, _, rest = text.partition("/")
    home = os.path.expanduser(first)
    if home.startswith("~"):
        raise RuntimeError("Could not determine home directory.")  # as Path.expanduser says it
    return path_text(f"{home}/{rest}" if rest else home)


def default_config_names(env: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if env is None else env
    home = path_text(env["HOME"] if "HOME" in env else expand_user("~"))
    xdg = path_text(env.get("XDG_CONFIG_HOME") or f"{home}/.config")
    return [path_text(f"{xdg}/claude"), path_text(f"{home}/.claude")]


def project_roots(configured: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """The existing `projects/` directories to scan.

    `CLAUDE_CONFIG_DIR` entries may name a config directory (that contains `projects/`) or
    the `projects/` directory itself; without it, both default locations are used, each
    only if its `projects/` exists. Duplicates (the same directory twice) are dropped.
    """
    env = os.environ if env is None else env
    if configured:
        candidates = [expand_user(p) for p in configured]
    elif env.get("CLAUDE_CONFIG_DIR", "").strip():
        candidates = [expand_user(p.strip()) for p in env["CLAUDE_CONFIG_DIR"].split(",") if p.strip()]
    else:
        candidates = default_config_names(env)
    found: list[str] = []
    seen: set[str] = set()
    for candidate in candidates:
        for option in (path_text(f"{candidate}/projects"), candidate):
            if option.rpartition("/")[2] == "projects" and os.path.isdir(option):
                resolved = os.path.realpath(option)
                if resolved not in seen:
                    seen.add(resolved)
                    found.append(option)
                break
    return found


def default_config_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    from pathlib import Path

    return [Path(name) for name in default_config_names(env)]


def projects_dirs(
    configured: Sequence[Path] | None = None, env: Mapping[str, str] | None = None
) -> list[Path]:
    """`project_roots` as `Path`s."""
    from pathlib import Path

    return [Path(root) for root in project_roots([str(p) for p in configured] if configured else None, env)]
