"""Command syntax from DESIGN.md, parsed from the raw message text.

Hand-written rather than argparse/shlex: the task text after the options must reach the
service verbatim (newlines, quotes, backslashes), and shlex would eat quotes and fail on
an apostrophe in "don't".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import InvalidInput

ADD_USAGE = "usage: /add [-p urgent|high|normal|low] [-r REPO] [--after ID] [--no-plan] TEXT"

_COMMAND = re.compile(r"\A\s*/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?")
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class AddRequest:
    text: str
    priority: str | None = None
    repo: str | None = None
    after: tuple[int, ...] = ()
    plan: bool | None = None


def command_args(message_text: str | None) -> str:
    """Everything after `/command` or `/command@bot`, leading whitespace removed."""
    text = message_text or ""
    match = _COMMAND.match(text)
    return (text[match.end():] if match else text).lstrip()


def _task_ids(value: str, usage: str) -> tuple[int, ...]:
    ids = []
    for part in value.split(","):
        part = part.strip().lstrip("#")
        if not part.isdecimal():
            raise InvalidInput(f"{value!r} is not a task id ({usage})")
        ids.append(int(part))
    return tuple(ids)


def parse_add(args: str) -> AddRequest:
    """`[-p P] [-r REPO] [--after ID]... [--no-plan] TEXT`; `--` ends the options."""
    priority: str | None = None
    repo: str | None = None
    after: list[int] = []
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
        if name not in ("-p", "--priority", "-r", "--repo", "--after", "-a"):
            raise InvalidInput(f"unknown option {name} ({ADD_USAGE})")
        if eq:
            value = inline
        else:
            value_match = _TOKEN.search(args, position)
            if value_match is None:
                raise InvalidInput(f"{name} needs a value ({ADD_USAGE})")
            value = value_match.group(0)
            position = value_match.end()
        if name in ("-p", "--priority"):
            priority = value
        elif name in ("-r", "--repo"):
            repo = value
        else:
            after.extend(_task_ids(value, ADD_USAGE))
    text = rest.strip()
    if not text:
        raise InvalidInput(f"say what the task should do ({ADD_USAGE})")
    return AddRequest(text, priority, repo, tuple(dict.fromkeys(after)), plan)


def parse_task_id(args: str, usage: str) -> tuple[int, str]:
    """The leading task id (`12` or `#12`) and the rest of the text, stripped."""
    match = _TOKEN.search(args)
    word = match.group(0).lstrip("#") if match else ""
    if match is None or not word.isdecimal():
        raise InvalidInput(usage)
    return int(word), args[match.end():].strip()


def parse_page(args: str) -> int:
    word = args.strip()
    return int(word) - 1 if word.isdecimal() and int(word) > 0 else 0
