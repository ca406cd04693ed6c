"""Build Claude Code log lines and trees for the usage tests (compact JSON, as Claude writes)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"
OPUS = "claude-opus-4-5-20251101"


def ts(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def assistant(
    at: datetime,
    *,
    msg: str | None = None,
    req: str | None = None,
    model: str | None = SONNET,
    tokens: tuple[int, int, int, int] = (10, 100, 1000, 5000),
    cost: float | None = None,
    sidechain: bool = False,
    session: str = "s-1",
    extra: dict[str, Any] | None = None,
) -> str:
    usage = {"input_tokens": tokens[0], "output_tokens": tokens[1],
             "cache_creation_input_tokens": tokens[2], "cache_read_input_tokens": tokens[3]}
    message: dict[str, Any] = {"type": "message", "role": "assistant",
                               "content": [{"type": "text", "text": "ok"}], "usage": usage}
    if msg is not None:
        message["id"] = msg
    if model is not None:
        message["model"] = model
    obj: dict[str, Any] = {"parentUuid": None, "isSidechain": sidechain, "userType": "external",
                           "cwd": "/home/dev/code", "sessionId": session, "version": "2.1.197",
                           "type": "assistant", "message": message, "timestamp": ts(at)}
    if req is not None:
        obj["requestId"] = req
    if cost is not None:
        obj["costUSD"] = cost
    if extra:
        obj.update(extra)
    return dumps(obj)


def user(at: datetime, text: str = "go on") -> str:
    return dumps({"parentUuid": None, "isSidechain": False, "type": "user", "sessionId": "s-1",
                  "message": {"role": "user", "content": text}, "timestamp": ts(at)})


def synthetic(at: datetime, text: str) -> str:
    return dumps({"isSidechain": False, "type": "assistant", "sessionId": "s-1", "version": "2.1.197",
                  "message": {"id": "5d0f7b0e-1c1a", "type": "message", "role": "assistant",
                              "model": "<synthetic>", "content": [{"type": "text", "text": text}],
                              "usage": {"input_tokens": 0, "output_tokens": 0,
                                        "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}},
                  "isApiErrorMessage": True, "error": "rate_limit", "timestamp": ts(at)})


@dataclass
class Tree:
    """A Claude config dir (`<root>/projects/...`) written file by file."""

    root: Path
    files: dict[str, list[str]] = field(default_factory=dict)

    def add(self, relative: str, *lines: str, newline_at_end: bool = True) -> Path:
        path = self.root / "projects" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "\n".join(lines) + ("\n" if newline_at_end and lines else "")
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
        self.files.setdefault(relative, []).extend(lines)
        return path


T0 = datetime(2026, 3, 2, 10, 17, 23, tzinfo=UTC)


def at(minutes: float = 0, base: datetime = T0) -> datetime:
    return base + timedelta(minutes=minutes)
