"""`nightshift --help` for people: everyday commands first, metavars that say what to type.

Typer shows a parameter's Python type (`<list[int]>`, `{prompt}`); here each one gets a word
the owner types instead (`ID`, `PROMPT`, `CMD`). Applied once to the built command tree, so
the command modules stay plain typer.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePath
from typing import Any, get_args, get_origin

EVERYDAY = (
    "add", "list", "show", "run", "usage", "plan", "approve", "revise", "reject", "cancel",
    "retry", "edit", "inbox", "stats", "chart", "init", "doctor", "service", "demo",
)
"""The commands an owner uses every week, in the order `--help` lists them; the rest follow."""

NAMES = {
    "after": "ID", "task_id": "ID", "lesson_id": "ID", "tag": "TAG", "repo": "REPO", "check": "CMD",
    "title": "TEXT", "prompt": "PROMPT", "comment": "COMMENT", "reason": "REASON", "out": "FILE",
    "since": "DATE", "until": "DATE", "env_file": "FILE", "workdir": "DIR", "token": "TOKEN",
    "user": "ID", "work_hours": "HOURS", "max_wait": "SECONDS", "token_limit": "N|max",
}
TYPES = {int: "N", float: "NUM", str: "TEXT", datetime: "DATE"}


def _metavar(param: Any) -> str | None:
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    desc = getattr(param, "type_descriptor", None)
    choices = getattr(desc, "choices", None)
    if choices:
        return "|".join(str(getattr(c, "value", c)) for c in choices)
    name = str(param.name or "")
    if name in NAMES:
        return NAMES[name]
    annotation = getattr(desc, "annotation", None)
    inner = get_args(annotation)
    kind = inner[0] if get_origin(annotation) is list and inner else annotation
    if isinstance(kind, type) and issubclass(kind, PurePath):
        return "PATH"
    return TYPES.get(kind, name.upper()) if isinstance(kind, type) else name.upper() or None


def polish(command: Any) -> Any:
    """Readable metavars on every parameter; everyday commands first in every group."""
    for param in getattr(command, "params", ()):
        if getattr(param, "metavar", None) is None:
            found = _metavar(param)
            if found is not None:
                param.metavar = found
    commands = getattr(command, "commands", None)
    if isinstance(commands, dict):
        ordered = sorted(commands, key=lambda n: (EVERYDAY.index(n) if n in EVERYDAY else len(EVERYDAY)))
        reordered = {name: commands[name] for name in ordered}
        commands.clear()
        commands.update(reordered)
        for sub in commands.values():
            polish(sub)
    return command
