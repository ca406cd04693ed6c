"""What one simulated run prints and logs: the stream-json events and the session transcript.

The events have the shapes of `reference/samples/` (init, assistant messages once per content
block, tool results, the result with usage and cost, a rejected `rate_limit_event`); with
`--output-format json` or `text` only the end is printed, as the real CLI does. Each event is
mirrored into `$CLAUDE_CONFIG_DIR/projects/<project>/<session>.jsonl`, because nightshift's
usage monitor reads those transcripts. Every assistant message has the same usage
(USAGE_PER_MESSAGE), so a test knows a run's totals from its message count. What a run says
is the scenario's (`core.demo.fake_scenarios`); this part only writes it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from core.demo.fake_files import project_dir

VERSION = "2.1.197"
DEFAULT_MODEL = "claude-sonnet-4-5-20250929"
MODELS = {
    "sonnet": DEFAULT_MODEL,
    "opus": "claude-opus-4-1-20250805",
    "haiku": "claude-haiku-4-5-20251001",
}
TOOLS = ("Task", "Bash", "Glob", "Grep", "Read", "Edit", "Write", "TodoWrite")

USAGE_PER_MESSAGE = {
    "input_tokens": 12,
    "cache_creation_input_tokens": 1500,
    "cache_read_input_tokens": 6000,
    "output_tokens": 180,
}
"""Usage of every assistant message the fake prints; a run of T tool turns prints T + 1."""

PRICE_PER_MTOK = {"input": 3.0, "output": 15.0, "cache_creation": 3.75, "cache_read": 0.30}
"""Sonnet list prices (USD per million tokens), for a plausible `total_cost_usd`."""


def expected_usage(messages: int) -> dict[str, int]:
    """The `usage` totals of a run that printed `messages` assistant messages."""
    return {k: v * messages for k, v in USAGE_PER_MESSAGE.items()}


def cost_usd(usage: dict[str, int]) -> float:
    dollars = (
        usage["input_tokens"] * PRICE_PER_MTOK["input"]
        + usage["output_tokens"] * PRICE_PER_MTOK["output"]
        + usage["cache_creation_input_tokens"] * PRICE_PER_MTOK["cache_creation"]
        + usage["cache_read_input_tokens"] * PRICE_PER_MTOK["cache_read"]
    ) / 1_000_000
    return round(dollars, 6)


def split_tools(values: list[str] | None) -> list[str]:
    """`--disallowedTools "Bash Edit" Write,Read` as the CLI reads it: one list of names."""
    out: list[str] = []
    for value in values or ():
        out += [t for t in re.split(r"[,\s]+", value) if t]
    return out


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def command_output(argv: list[str], env: dict[str, str] | None = None) -> str:
    """A command's output, or "" when it fails: outside a git repository the fake works on."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _git_branch() -> str:
    return command_output(["git", "rev-parse", "--abbrev-ref", "HEAD"]) or ""


class Stream:
    """One invocation's output: prints events in the chosen format and mirrors them into the
    session transcript."""

    def __init__(self, args: argparse.Namespace, prompt: str, session_id: str, state: dict[str, Any],
                 opts: dict[str, str]) -> None:
        self.args = args
        self.prompt = prompt
        self.session_id = session_id
        self.state = state
        self.opts = opts
        self.cwd = os.getcwd()
        self.model = MODELS.get(args.model or "", args.model or DEFAULT_MODEL)
        self.started = time.monotonic()
        self.events: list[dict[str, Any]] = []
        self.messages = 0
        self.delay = float(opts.get("delay") or 0.3) if "slow" in opts else 0.0
        self.transcript = project_dir(self.cwd) / f"{session_id}.jsonl"
        self.transcript.parent.mkdir(parents=True, exist_ok=True)
        self.parent: str | None = None

    def emit(self, event: dict[str, Any]) -> None:
        if self.delay:
            time.sleep(self.delay)
        self.events.append(event)
        if self.args.output_format == "stream-json":
            sys.stdout.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
            sys.stdout.flush()

    def log(self, entry: dict[str, Any]) -> None:
        uid = str(uuid.uuid4())
        base = {
            "parentUuid": self.parent,
            "isSidechain": False,
            "userType": "external",
            "cwd": self.cwd,
            "sessionId": self.session_id,
            "version": VERSION,
            "gitBranch": _git_branch(),
        }
        self.parent = uid
        line = {**base, **entry, "uuid": uid, "timestamp": now_iso()}
        with self.transcript.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")

    def init(self) -> None:
        disallowed = set(split_tools(self.args.disallowed))
        self.log({"type": "user", "message": {"role": "user", "content": self.prompt}})
        self.emit({
            "type": "system", "subtype": "init", "cwd": self.cwd, "session_id": self.session_id,
            "tools": [t for t in TOOLS if t not in disallowed], "mcp_servers": [],
            "model": self.model, "permissionMode": self.args.permission_mode or "default",
            "slash_commands": [], "apiKeySource": "none", "claude_code_version": VERSION,
            "output_style": "default", "uuid": str(uuid.uuid4()),
        })

    def assistant(self, blocks: list[dict[str, Any]], stop_reason: str | None = None) -> None:
        """One API response; the CLI prints (and logs) it once per content block."""
        self.messages += 1
        message_id = "msg_fake" + hashlib.sha256(
            f"{self.session_id}:{self.state.get('invocations')}:{self.messages}".encode()
        ).hexdigest()[:20]
        request_id = "req_fake" + message_id[8:]
        for block in blocks:
            message = {
                "id": message_id, "type": "message", "role": "assistant", "model": self.model,
                "content": [block], "stop_reason": stop_reason, "stop_sequence": None,
                "usage": {**USAGE_PER_MESSAGE, "service_tier": "standard"},
            }
            self.emit({"type": "assistant", "message": message, "parent_tool_use_id": None,
                       "session_id": self.session_id, "uuid": str(uuid.uuid4())})
            self.log({"type": "assistant", "message": message, "requestId": request_id})

    def tool_result(self, tool_id: str, content: str, is_error: bool = False) -> None:
        message = {"role": "user", "content": [
            {"tool_use_id": tool_id, "type": "tool_result", "content": content, "is_error": is_error}
        ]}
        self.emit({"type": "user", "message": message, "parent_tool_use_id": None,
                   "session_id": self.session_id, "uuid": str(uuid.uuid4())})
        self.log({"type": "user", "message": message})

    def result(self, *, subtype: str, is_error: bool, text: str, terminal_reason: str,
               num_turns: int, denials: list[dict[str, Any]] | None = None,
               api_error_status: int | None = None, zero_usage: bool = False) -> int:
        usage = {k: 0 for k in USAGE_PER_MESSAGE} if zero_usage else expected_usage(self.messages)
        cost = cost_usd(usage)
        event: dict[str, Any] = {
            "type": "result", "subtype": subtype, "is_error": is_error,
            "duration_ms": int((time.monotonic() - self.started) * 1000),
            "duration_api_ms": int((time.monotonic() - self.started) * 800),
            "num_turns": num_turns, "result": text, "stop_reason": "end_turn",
            "session_id": self.session_id, "total_cost_usd": cost,
            "usage": {**usage, "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
                      "service_tier": "standard"},
            "modelUsage": {} if zero_usage else {self.model: {
                "inputTokens": usage["input_tokens"], "outputTokens": usage["output_tokens"],
                "cacheReadInputTokens": usage["cache_read_input_tokens"],
                "cacheCreationInputTokens": usage["cache_creation_input_tokens"],
                "webSearchRequests": 0, "costUSD": cost, "contextWindow": 200000}},
            "permission_denials": denials or [], "terminal_reason": terminal_reason,
            "uuid": str(uuid.uuid4()),
        }
        if api_error_status is not None:
            event = {**event, "api_error_status": api_error_status}
        self.emit(event)
        self.finish_output()
        return 1 if is_error else 0

    def finish_output(self) -> None:
        fmt = self.args.output_format
        if fmt == "stream-json":
            return
        result = next((e for e in reversed(self.events) if e.get("type") == "result"), None)
        if fmt == "json":
            value: Any = self.events if self.args.verbose else result
            sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
        elif result is not None:
            sys.stdout.write(str(result.get("result", "")) + "\n")
        sys.stdout.flush()
