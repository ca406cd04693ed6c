"""Stream-json lines in the shapes `claude -p --output-format stream-json` writes."""

from __future__ import annotations

import json
from typing import Any

SESSION = "6f1c2a9e-3b7d-4c1e-9a55-0d2b7e8f4a10"


def line(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"))


def init() -> str:
    return line({"type": "system", "subtype": "init", "session_id": SESSION, "tools": ["Bash"],
                 "model": "claude-sonnet-4-5", "permissionMode": "acceptEdits"})


def tool_use(command: str, tool_id: str = "toolu_1") -> str:
    return line({"type": "assistant", "session_id": SESSION, "message": {
        "id": "msg_" + tool_id, "role": "assistant", "content": [
            {"type": "tool_use", "id": tool_id, "name": "Bash", "input": {"command": command}}],
        "usage": {"input_tokens": 3, "output_tokens": 40}}})


def tool_result(text: str, *, is_error: bool = False, tool_id: str = "toolu_1",
                as_blocks: bool = False) -> str:
    content: Any = [{"type": "text", "text": text}] if as_blocks else text
    return line({"type": "user", "session_id": SESSION, "message": {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": tool_id, "content": content, "is_error": is_error}]}})


def text(message: str) -> str:
    return line({"type": "assistant", "session_id": SESSION, "message": {
        "id": "msg_t", "role": "assistant", "content": [{"type": "text", "text": message}]}})


def rate_limit(status: str) -> str:
    return line({"type": "rate_limit_event", "session_id": SESSION, "rate_limit_info": {
        "status": status, "resetsAt": 1796090400, "rateLimitType": "five_hour"}})


def result(subtype: str = "success", *, is_error: bool = False, denials: list[dict[str, Any]] | None = None,
           api_error_status: int | None = None, final: str = "Done.") -> str:
    event: dict[str, Any] = {
        "type": "result", "subtype": subtype, "is_error": is_error, "num_turns": 4, "result": final,
        "session_id": SESSION, "total_cost_usd": 0.18,
        "usage": {"input_tokens": 11, "output_tokens": 653, "cache_creation_input_tokens": 5123,
                  "cache_read_input_tokens": 29123},
        "permission_denials": denials or [],
    }
    if api_error_status is not None:
        event["api_error_status"] = api_error_status
    return line(event)
