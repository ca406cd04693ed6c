"""Helpers every kind of test uses: real git repos, the fake CLI's invocation record."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
FAKE = str(BIN / "nightshift-fake-claude")
NIGHTSHIFT = str(BIN / "nightshift")

Record = Callable[[], list[dict[str, Any]]]
"""Every invocation of the fake CLI, in the order it arrived (argv, prompt, cwd, …)."""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_repo(path: Path) -> Path:
    """A git repository with one commit on `main`, its own identity, nothing global."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "dev@example.com")
    git(path, "config", "user.name", "Dev")
    (path / "README.md").write_text("hello\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "initial")
    return path


def read_record(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines()]
