"""Command syntax from DESIGN.md, parsed from the raw message text.

Hand-written rather than argparse/shlex: the task text after the options must reach the
service verbatim (newlines, quotes, backslashes), and shlex would eat quotes and fail on
an apostrophe in "don't".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import InvalidInput

ADD_USAGE = (
    "usage: /add [-p urgent|high|normal|low] [-r REPO] [--after ID] [--no-plan] [--check CMD]"
    " [--tag TAG] [--title T] [--at TIME] [--max-usd USD] TEXT"
)

_COMMAND = re.compile(r"\A\s*/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?")
_TOKEN = re.compile(r"\S+")
_QUOTED = re.compile(r"""(?P<q>["'\u201c\u2018])(?P<value>.*?)(?:["'\u201d\u2019])(?=\s|\Z)""", re.DOTALL)
"""A quoted option value (`--check 'make test'`); phones type curly quotes too."""

_VALUE_OPTIONS = {
    "-p": "priority", "--priority": "priority",
    "-r": "repo", "--repo": "repo",
    "-a": "after", "--after": "after",
    "-c": "check", "--check": "check",
    "-t": "tag", "--tag": "tag",
    "--title": "title",
    "--at": "at",
    "--max-usd": "max_usd",
}
"""Every option `nightshift add` has, spelled the same way (`--json` excepted: the phone reads)."""


@dataclass(frozen=True, slots=True)
class AddRequest:
    text: str
    priority: str | None = None
    repo: str | None = None
    after: tuple[int, ...] = ()
    plan: bool | None = None
    check: str | None = None
    tags: tuple[str, ...] = ()
    title: str | None = None
    at: str | None = None
    """The hold time as typed; the handler reads it in the owner's zone."""
    max_usd: float | None = None


def command_args(message_text: str | None) -> str:
    """Everything after `/command` or `/command@bot`, leading whitespace removed."""
    text = message_text or ""
    match = _COMMAND.match(text)
    return (text[match.end():] if match else text).lstrip()


def _task_ids(value: str, usage: str) -> tuple[int, ...]:
    ids = []
    for part in value.split(","):
        part = part.strip().lstrip("#")
        if not _is_number(part):
            raise InvalidInput(f"{value!r} is not a task id ({usage})")
        ids.append(int(part))
    return tuple(ids)


def _dollars(value: str) -> float:
    try:
        amount = float(value.removeprefix("$"))
    except ValueError:
        amount = float("nan")
    if not (value.removeprefix("$").replace(".", "", 1).isascii() and 0 < amount < float("inf")):
        raise InvalidInput(f"{value!r} is not an amount of dollars ({ADD_USAGE})")
    return amount


def _value(args: str, position: int, name: str) -> tuple[str, int]:
    """The option's value after `position`: one word, or a quoted phrase."""
    start = _TOKEN.search(args, position)
    if start is None:
        raise InvalidInput(f"{name} needs a value ({ADD_USAGE})")
    quoted = _QUOTED.match(args, start.start())
    if quoted is not None:
        return quoted["value"], quoted.end()
    return start.group(0), start.end()


def parse_add(args: str) -> AddRequest:
    """`[options] TEXT`; `--` ends the options. The text after them is kept verbatim."""
    found: dict[str, str] = {}
    after: list[int] = []
    tags: list[str] = []
    plan: bool | None = None
    position = 0
    while True:
        match = _TOKEN.search(args, position)
        if match is None:
            raise InvalidInput(f"say what the task should do ({ADD_USAGE})")
        word = match.group(0)
        if word == "--":
            rest = args[match.end():]
            break
        if not word.startswith("-") or word == "-":
            rest = args[match.start():]
            break
        name, eq, inline = word.partition("=")
        position = match.end()
        if name in ("--no-plan", "--plan"):
            if eq:
                raise InvalidInput(f"{name} takes no value ({ADD_USAGE})")
            plan = name == "--plan"
            continue
        key = _VALUE_OPTIONS.get(name)
        if key is None:
            raise InvalidInput(f"unknown option {name} ({ADD_USAGE})")
        if eq:
            quoted = _QUOTED.match(args, match.start() + len(name) + 1)
            value, position = (quoted["value"], quoted.end()) if quoted else (inline, position)
        else:
            value, position = _value(args, position, name)
        if key == "after":
            after.extend(_task_ids(value, ADD_USAGE))
        elif key == "tag":
            tags.extend(t for t in (part.strip() for part in value.split(",")) if t)
        else:
            found[key] = value
    text = rest.strip()
    if not text:
        raise InvalidInput(f"say what the task should do ({ADD_USAGE})")
    return AddRequest(
        text,
        priority=found.get("priority"),
        repo=found.get("repo"),
        after=tuple(dict.fromkeys(after)),
        plan=plan,
        check=found.get("check"),
        tags=tuple(dict.fromkeys(tags)),
        title=found.get("title"),
        at=found.get("at"),
        max_usd=_dollars(found["max_usd"]) if "max_usd" in found else None,
    )


def parse_task_id(args: str, usage: str) -> tuple[int, str]:
    """The leading task id (`12` or `#12`) and the rest of the text, stripped."""
    match = _TOKEN.search(args)
    word = match.group(0).lstrip("#") if match else ""
    if match is None or not _is_number(word):
        raise InvalidInput(usage)
    return int(word), args[match.end():].strip()


def parse_page(args: str) -> int:
    word = args.strip()
    return int(word) - 1 if _is_number(word) and int(word) > 0 else 0


def _is_number(word: str) -> bool:
    """ASCII digits only: `int()` would also take `٣`, `+3` and ` 3` (a number too large for
    an id is the store's to refuse, with its own message)."""
    return 0 < len(word) <= 4000 and word.isascii() and word.isdigit()
