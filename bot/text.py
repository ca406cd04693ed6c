"""Telegram HTML: escaping, measuring and splitting messages without breaking markup.

Telegram counts a message's length after parsing its entities, in UTF-16 units, and
rejects one whose tags do not balance. `split_html` therefore measures only the visible
text and closes the open tags at each cut (reopening them in the next part). It is
hand-written because no maintained library splits Telegram's HTML subset; the
`telegramify`-style packages convert Markdown instead.
"""

from __future__ import annotations

import html
import re

from core.outbox_notifier import TELEGRAM_TEXT_LIMIT, utf16_len

CAPTION_LIMIT = 1024

_TOKEN = re.compile(r"<(/?)([a-zA-Z][\w-]*)[^>]*>|&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);|.", re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def esc(value: object) -> str:
    """Escape anything user-supplied (titles, prompts, plans, errors) for HTML parse mode."""
    return html.escape(str(value), quote=False)


def visible_text(markup: str) -> str:
    return html.unescape(_TAG.sub("", markup))


def visible_len(markup: str) -> int:
    return utf16_len(visible_text(markup))


def split_html(markup: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Cut Telegram HTML into parts of at most `limit` visible UTF-16 units.

    Cuts fall on line boundaries when a line fits, else inside the line; tags open at a
    cut are closed there and reopened in the next part. Parts with no visible text are
    dropped (Telegram refuses empty messages).
    """
    parts: list[str] = []
    tokens: list[str] = []
    visible = 0
    stack: list[tuple[str, str]] = []  # (tag name, opening tag as written)
    boundary: tuple[int, list[tuple[str, str]], int] | None = None  # after the last newline

    def flush(cut: int, open_tags: list[tuple[str, str]]) -> None:
        closing = "".join(f"</{name}>" for name, _ in reversed(open_tags))
        parts.append("".join(tokens[:cut]) + closing)

    for match in _TOKEN.finditer(markup):
        piece = match.group(0)
        if match.group(2):  # a tag: no visible width
            name = match.group(2).lower()
            if match.group(1):
                for i in range(len(stack) - 1, -1, -1):
                    if stack[i][0] == name:
                        del stack[i:]
                        break
            else:
                stack.append((name, piece))
            tokens.append(piece)
            continue
        width = utf16_len(html.unescape(piece))
        while visible + width > limit and visible > 0:
            if boundary is not None:
                cut, open_tags, seen = boundary
                flush(cut - 1, open_tags)  # the newline itself ends the part: not sent
                tokens = [tag for _, tag in open_tags] + tokens[cut:]
                visible -= seen
            else:
                flush(len(tokens), stack)
                tokens = [tag for _, tag in stack]
                visible = 0
            boundary = None
        tokens.append(piece)
        visible += width
        if piece == "\n":
            boundary = (len(tokens), list(stack), visible)
    if tokens:
        parts.append("".join(tokens))
    return [p for p in parts if visible_text(p).strip()]


def truncate(text: str, limit: int) -> str:
    """Plain text cut to `limit` characters with an ellipsis (for previews, not messages)."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"
