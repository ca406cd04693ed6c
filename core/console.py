"""The one place nightshift's consoles are made: output that is not a terminal is never wrapped.

rich lays text out for an 80-column screen when its output is a pipe, a file or a test's
capture, and breaks long lines there: a path in `nightshift notes`, the crontab line that
`service install` prints, a `doctor` line. Whatever reads that output (a script, grep,
the owner's copy and paste) gets a line break inside a path. So when the output is not a
terminal, text is never wrapped and tables are laid out as wide as their content needs.
On a terminal rich keeps fitting the screen.
"""

from __future__ import annotations

from typing import Any

from rich.align import AlignMethod
from rich.console import Console, ConsoleDimensions
from rich.rule import Rule
from rich.style import Style
from rich.text import TextType

UNWRAPPED_WIDTH = 1 << 15
"""The layout width off a terminal: longer than any line nightshift prints (PATH_MAX is 4096)."""
RULE_WIDTH = 80
"""A horizontal rule off a terminal: as wide as an ordinary screen, not UNWRAPPED_WIDTH."""


class Output(Console):
    """A rich Console that asks whether it is a terminal on every print (tests and pipes
    swap `sys.stdout` after it is made), and when it is not, neither wraps nor crops."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("highlight", False)
        super().__init__(**kwargs)

    @property
    def size(self) -> ConsoleDimensions:
        dims = Console.size.fget(self)  # type: ignore[attr-defined]
        if self.is_terminal:
            return dims  # type: ignore[no-any-return]
        return ConsoleDimensions(UNWRAPPED_WIDTH, dims.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]

    @property
    def soft_wrap(self) -> bool:
        return self._soft_wrap or not self.is_terminal

    @soft_wrap.setter
    def soft_wrap(self, value: bool) -> None:
        self._soft_wrap = value

    def rule(
        self,
        title: TextType = "",
        *,
        characters: str = "─",
        style: str | Style = "rule.line",
        align: AlignMethod = "center",
    ) -> None:
        """A rule spans the screen; off a terminal, an ordinary screen's width."""
        rule = Rule(title=title, characters=characters, style=style, align=align)
        self.print(rule, width=None if self.is_terminal else RULE_WIDTH)


def make_console(*, stderr: bool = False) -> Output:
    """stdout's (or stderr's) console for every CLI command and the demo."""
    return Output(stderr=stderr)
