"""The Claude Code versions nightshift was tested against, and how to read `claude --version`.

Formats drift between releases (reference section 3): an untested version still runs, but
`doctor` says so, because a new event shape or limit wording may be read wrongly.
"""

from __future__ import annotations

import re

TESTED_MIN = (2, 1, 332)
TESTED_MAX = (2, 1, 332)
"""The real CLI runs in the test suite (scripts/install-claude.sh pins TESTED_MAX); samples of
older releases (2.1.197) are covered by the parsers' fixtures only."""
SUPPORTED_MIN = (2, 0, 0)
"""Older releases lack flags nightshift passes (`--session-id`, `--permission-mode`, …)."""
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def parse_version(text: str) -> tuple[int, int, int] | None:
    """`2.1.332 (Claude Code)` → (2, 1, 332)."""
    match = _VERSION.search(text or "")
    if match is None:
        return None
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def _dotted(version: tuple[int, int, int]) -> str:
    return ".".join(map(str, version))


def judge_version(text: str) -> tuple[bool, str]:
    """(usable, a sentence): inside the tested range; newer or somewhat older (usable, formats
    may have drifted); older than 2.0 (not usable: flags nightshift passes are missing)."""
    version = parse_version(text)
    tested = (_dotted(TESTED_MIN) if TESTED_MIN == TESTED_MAX
              else f"{_dotted(TESTED_MIN)}–{_dotted(TESTED_MAX)}")
    if version is None:
        return False, f"cannot read a version from {text!r}"
    if version < SUPPORTED_MIN:
        return False, f"{_dotted(version)} is older than {_dotted(SUPPORTED_MIN)}: update Claude Code"
    if version < TESTED_MIN:
        return True, f"{_dotted(version)} (older than the tested {tested}: update when you can)"
    if version > TESTED_MAX:
        return True, f"{_dotted(version)} (newer than the tested {tested}: formats may have drifted)"
    return True, f"{_dotted(version)} (tested)"
