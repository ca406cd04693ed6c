"""Small Markdown/Obsidian helpers: front matter, the owner's marker line, safe text.

Generated notes must never contain a wikilink to a note that does not exist, so text that
comes from people or from Claude (prompts, plans, summaries) has its `[[` escaped, and
program output goes into code fences long enough to hold any backticks inside.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import yaml

MARKER = "%% nightshift: write your own notes below this line; regenerating keeps them %%"
"""Everything after this line belongs to the owner. It is an Obsidian comment (%%…%%), so
it is hidden in reading view."""

SLUG_MAX_CHARS = 40

_WIKILINK = re.compile(r"(!?)\[\[([^\[\]\n]+?)\]\]")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def slugify(title: str, *, max_chars: int = SLUG_MAX_CHARS) -> str:
    """`Fix the flaky login test!` -> `fix-the-flaky-login-test`: safe in any file system and
    in a wikilink; accents folded to ASCII; "task" when nothing is left."""
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", folded.lower())
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > max_chars:
            if not slug:
                slug = word[:max_chars]
            break
        slug = candidate
    return slug or "task"


class _FrontMatterDumper(yaml.SafeDumper):
    """Readable Unicode, except YAML's own line breaks (NEL, LS, PS): written raw in a plain
    scalar they fold into a space on reading, so such strings are double-quoted (escaped)."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if any(ch in value for ch in "\x85\u2028\u2029"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)


_FrontMatterDumper.add_representer(str, _str)


def front_matter(data: dict[str, Any]) -> str:
    """YAML front matter in the given key order (Dataview reads it as fields)."""
    body = yaml.dump(data, Dumper=_FrontMatterDumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=10_000)
    return f"---\n{body}---\n"


def parse_front_matter(text: str) -> dict[str, Any]:
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---\n", 4)
    if end < 0:
        return {}
    loaded = yaml.safe_load(text[4:end + 1])
    return loaded if isinstance(loaded, dict) else {}


def escape(text: str) -> str:
    """Make free text safe to embed: no live wikilinks or embeds, no Obsidian comments that
    would hide the rest of the note, and never our marker line."""
    text = re.sub(r"\[{2,}", lambda m: "\\[" * len(m.group()), text)
    return re.sub(r"%{2,}", lambda m: "\\%" * len(m.group()), text)


def block(text: str) -> str:
    """Free Markdown (a prompt, a plan) made safe to embed: escaped, and a code fence left
    open is closed, so it cannot swallow the rest of the note."""
    escaped = escape(text).rstrip()
    fence: str | None = None
    for line in escaped.splitlines():
        opener = _FENCE.match(line)
        if opener is None:
            continue
        mark = opener.group(1)
        if fence is None:
            fence = mark
        elif mark[0] == fence[0] and len(mark) >= len(fence) and not line.strip()[len(mark):]:
            fence = None
    return escaped if fence is None else f"{escaped}\n{fence}"


def one_line(text: str | None, *, limit: int = 200) -> str:
    if not text:
        return ""
    flat = " ".join(text.split())
    return escape(flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…")


def fenced(text: str, info: str = "text") -> str:
    """A code block that cannot be closed early by backticks inside `text`."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    return f"{fence}{info}\n{body}{fence}\n"


def code(text: str) -> str:
    """Inline code that survives backticks in `text`."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def tail(text: str, lines: int) -> str:
    parts = text.rstrip("\n").splitlines()
    return "\n".join(parts[-lines:])


def wikilinks(text: str) -> list[str]:
    """Targets of `[[...]]` and `![[...]]` outside code fences, without alias or heading."""
    targets: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        opener = _FENCE.match(line)
        if fence is not None:
            if opener and opener.group(1)[0] == fence[0] and len(opener.group(1)) >= len(fence):
                fence = None
            continue
        if opener:
            fence = opener.group(1)
            continue
        for match in _WIKILINK.finditer(line):
            if match.start() > 0 and line[match.start() - 1] == "\\":
                continue
            target = match.group(2).split("|", 1)[0].split("#", 1)[0].strip()
            if target:
                targets.append(target)
    return targets


def link(name: str) -> str:
    return f"[[{name}]]"


def split_owner_text(existing: str | None) -> str:
    """The owner's part of an existing note: what follows the marker line.

    A note whose marker was deleted is kept whole below a new marker: losing what the owner
    wrote is worse than showing an old copy of the generated part once.
    """
    if existing is None:
        return ""
    lines = existing.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.rstrip("\r\n").strip() == MARKER:
            return "".join(lines[index + 1:])
    return existing


def compose(generated: str, owner_text: str) -> str:
    """The note: generated part, the marker, then the owner's text exactly as it was."""
    head = generated if generated.endswith("\n") else generated + "\n"
    return f"{head}\n{MARKER}\n{owner_text}"
