"""An in-memory `ProcessRunner` for tests of the executor's loop logic (as httpx's MockTransport).

A handler sees each `ProcessSpec` and answers what the "process" printed and how it ended;
nothing is started. Anything that needs a real process (tmux, signals, the fake CLI's
files) is tested with `TmuxRunner` and `nightshift-fake-claude` instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core import safefs
from core.abc import ProcessExit, ProcessSpec
from core.store.db import ensure_private_dir


@dataclass
class MockResponse:
    lines: Sequence[Mapping[str, Any] | str] = ()
    exit_code: int | None = 0
    stderr: str = ""
    hang: bool = False
    """Keep "running" until killed (then it vanished: exit None)."""


@dataclass
class MockHandle:
    name: str
    response: MockResponse
    killed: bool = False

    @property
    def pid(self) -> int | None:
        return None

    async def poll(self) -> ProcessExit | None:
        if self.killed:
            return ProcessExit(None)
        if self.response.hang:
            return None
        return ProcessExit(self.response.exit_code)

    async def kill(self, grace_s: float = 3.0) -> None:
        self.killed = True


@dataclass
class MockRunner:
    handler: Callable[[ProcessSpec], MockResponse]
    calls: list[ProcessSpec] = field(default_factory=list)
    handles: dict[str, MockHandle] = field(default_factory=dict)

    async def run(self, spec: ProcessSpec) -> MockHandle:
        self.calls.append(spec)
        response = self.handler(spec)
        ensure_private_dir(spec.run_dir)
        with os.fdopen(safefs.open_append(spec.log_path), "a", encoding="utf-8") as fh:
            for line in response.lines:
                fh.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
        if response.stderr:
            safefs.write_atomic(spec.run_dir / "stderr.log", response.stderr.encode("utf-8"), fsync=False)
        handle = MockHandle(spec.name, response)
        self.handles[spec.name] = handle
        return handle

    async def attach(self, spec: ProcessSpec) -> MockHandle:
        return self.handles.get(spec.name) or MockHandle(spec.name, MockResponse(exit_code=None))
