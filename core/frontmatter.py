"""YAML front matter (`---` lines around `key: value`), read as untrusted input.

Inbox files and prompt templates come from folders anyone with the owner's rights can write
to, so the YAML is read strictly: no anchors or aliases (a 311-byte alias bomb expands to
gigabytes), nothing nested deeper than a list of plain values, and a header of at most
`MAX_FRONT_MATTER_BYTES`. Within those bounds the safe loader's time and memory are linear
in the header's size, so parsing cannot stall the daemon.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import yaml

from core.errors import InvalidInput

MAX_FRONT_MATTER_BYTES = 16 * 1024
"""A handful of keys fits in far less; anything bigger is not front matter written by hand."""
MAX_DEPTH = 3
"""The document's mapping (1), a value that is a list (2), the list's plain values (3)."""

MAX_BRACKETS = 32
"""Brackets open at once, counted before YAML sees the header: PyYAML's scanner takes time
quadratic in the nesting of `[`/`{` before the composer can refuse it."""
NESTED = "values may be plain values or lists of them, nothing nested deeper"

SCALARS = (str, int, float, date)
"""What a plain YAML value loads as (bool is an int; date covers datetime)."""


class _Refused(yaml.YAMLError):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class StrictLoader(yaml.SafeLoader):
    """The safe loader, refusing anchors, aliases and deep nesting while composing: before
    anything is expanded, so the refusal costs no more than reading the header."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            raise _Refused("aliases (*name) are not allowed")
        if getattr(event, "anchor", None) is not None:
            raise _Refused("anchors (&name) are not allowed")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(NESTED)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _deepest_brackets(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}" and depth:
            depth -= 1
    return deepest


def load_header(header: str) -> dict[str, Any]:
    """The mapping in `header`, or InvalidInput saying what is wrong with it."""
    size = len(header.encode("utf-8", "surrogatepass"))
    if size > MAX_FRONT_MATTER_BYTES:
        raise InvalidInput(f"front matter is {size:,} bytes; the limit is {MAX_FRONT_MATTER_BYTES:,}")
    if _deepest_brackets(header) > MAX_BRACKETS:
        raise InvalidInput(f"front matter: {NESTED}")
    try:
        meta = yaml.load(header, Loader=StrictLoader) or {}  # noqa: S506 - StrictLoader is a SafeLoader
    except _Refused as exc:
        raise InvalidInput(f"front matter: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"front matter is not valid YAML: {exc}") from None
    except (RecursionError, ValueError, OverflowError) as exc:  # odd scalars (dates, huge ints)
        raise InvalidInput(f"front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise InvalidInput("front matter must be a mapping of key: value")
    return meta


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """YAML between leading `---` lines, then the body (verbatim); no front matter is fine."""
    if not text.startswith("---"):
        return {}, text
    lines = text.splitlines(keepends=True)
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            header = "".join(lines[1:index])
            body = "".join(lines[index + 1 :])
            return load_header(header), body
    raise InvalidInput("front matter starts with --- but never ends")


def _what(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def scalar(meta: dict[str, Any], key: str) -> str | None:
    """`meta[key]` as text when it is one plain value; None when absent or empty."""
    value = meta.get(key)
    if value is None:
        return None
    if not isinstance(value, SCALARS):
        raise InvalidInput(f"{key}: expected a single value, got {_what(value)}")
    return str(value)


def scalar_list(meta: dict[str, Any], key: str) -> list[Any]:
    """`meta[key]` as a list of plain values (one value is a list of one)."""
    value = meta.get(key)
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, SCALARS):
            raise InvalidInput(f"{key}: expected plain values, got {_what(item)}")
    return list(items)
