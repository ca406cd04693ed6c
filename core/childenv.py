"""The environment of every process nightshift starts: an allow-list, never ours whole.

The daemon's environment holds the bot token, the database URL and whatever else the owner
exported. Claude's Bash tool can read its own environment and its parent's (the launcher,
the tmux server), and the check command runs code Claude just wrote, so each child starts
from these names only:

- the basics a program needs: PATH, HOME, LANG, LC_*, TERM, TZ, USER, LOGNAME, SHELL, TMPDIR;
- for Claude and the check, the Claude/Anthropic ones the owner configured (ANTHROPIC_*,
  CLAUDE_*, Claude Code's unprefixed settings such as DISABLE_AUTOUPDATER, and FAKE_CLAUDE_*
  for the simulated CLI of the demo and tests);
- the names the owner lists in NIGHTSHIFT_PASS_ENV (a proxy, say).

CLAUDECODE is never passed (a nested CLI would think it runs inside Claude Code), nor is
anything named TELEGRAM_* or NIGHTSHIFT_*, even when listed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

BASE_NAMES = frozenset({"PATH", "HOME", "LANG", "TERM", "TZ", "USER", "LOGNAME", "SHELL", "TMPDIR"})
BASE_PREFIXES = ("LC_",)
CLAUDE_PREFIXES = ("ANTHROPIC_", "CLAUDE_", "FAKE_CLAUDE_")
CLAUDE_NAMES = frozenset({
    "DISABLE_AUTOUPDATER", "DISABLE_TELEMETRY", "DISABLE_ERROR_REPORTING", "DISABLE_BUG_COMMAND",
    "DISABLE_COST_WARNINGS", "DISABLE_NON_ESSENTIAL_MODEL_CALLS", "MAX_THINKING_TOKENS",
    "BASH_DEFAULT_TIMEOUT_MS", "BASH_MAX_TIMEOUT_MS", "MCP_TIMEOUT", "MCP_TOOL_TIMEOUT",
})
"""Claude Code's own settings that lack the CLAUDE_ prefix (an unattended run must keep, say,
DISABLE_AUTOUPDATER: it should not update itself in the middle of the night)."""
NEVER_NAMES = frozenset({"CLAUDECODE"})
NEVER_PREFIXES = ("TELEGRAM_", "NIGHTSHIFT_")
"""Never passed, whatever the settings say: the bot's token and nightshift's own settings
(the database URL among them) are nobody else's business."""

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def never_passed(name: str) -> bool:
    return name in NEVER_NAMES or name.startswith(NEVER_PREFIXES)


def check_pass_name(name: str) -> str:
    """A name for NIGHTSHIFT_PASS_ENV, or ValueError saying why it cannot be one."""
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not an environment variable name")
    if never_passed(name):
        raise ValueError(f"{name} is never passed to Claude or its tools")
    return name


def _allowed(name: str, *, claude: bool, extra: frozenset[str]) -> bool:
    if never_passed(name):
        return False
    if name in BASE_NAMES or name.startswith(BASE_PREFIXES) or name in extra:
        return True
    return claude and (name.startswith(CLAUDE_PREFIXES) or name in CLAUDE_NAMES)


def child_env(
    pass_env: Iterable[str] = (), *, claude: bool = True, source: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment for a child: the allow-listed names of `source` (ours by default).

    `claude=False` leaves out the Claude/Anthropic credentials too: for tmux, git and other
    tools that have no use for them."""
    env = os.environ if source is None else source
    extra = frozenset(pass_env)
    return {name: value for name, value in env.items() if _allowed(name, claude=claude, extra=extra)}
