"""Live parsing of `claude -p --output-format stream-json --verbose` output, line by line.

The parser keeps only running totals (never the whole stream): session, model, turns and
tokens so far, the last assistant text, rate-limit events and the result. Formats drift
between CLI releases, so unknown event types and fields are ignored and a line that is not
JSON is counted, not fatal (reference section 3).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, TypeGuard

from core.models import Tokens
from core.redact import redact_text
from core.usage.limits import LimitHit, parse_limit_message
from core.usage.rate_limit_event import RateLimitInfo, limit_from_result, parse_rate_limit_event


def _number(value: Any) -> TypeGuard[int | float]:
    """A count or an amount the CLI could mean: finite and not negative (JSON allows Infinity)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) \
        and value >= 0


def _int(value: Any) -> int:
    return int(value) if _number(value) else 0


def tokens_from_usage(usage: Any) -> Tokens:
    if not isinstance(usage, Mapping):
        return Tokens()
    return Tokens(
        input=_int(usage.get("input_tokens")),
        output=_int(usage.get("output_tokens")),
        cache_creation=_int(usage.get("cache_creation_input_tokens")),
        cache_read=_int(usage.get("cache_read_input_tokens")),
    )


@dataclass(frozen=True, slots=True)
class Denial:
    """One tool call the CLI refused to run (an entry of the result's `permission_denials`)."""

    tool: str
    detail: str
    """What was refused, for people: the Bash command, the file path, the URL."""

    @classmethod
    def parse(cls, item: Any) -> Denial:
        if isinstance(item, str):
            return cls(item, "")
        if not isinstance(item, Mapping):
            return cls("?", "")
        tool = str(item.get("tool_name") or item.get("tool") or "?")
        data = item.get("tool_input")
        detail = ""
        if isinstance(data, Mapping):
            for key in ("command", "file_path", "notebook_path", "url", "pattern", "path"):
                value = data.get(key)
                if isinstance(value, str) and value.strip():
                    detail = value.strip()
                    break
        # A command can carry a token the model typed into it: the owner sees the rest of it.
        return cls(tool, redact_text(detail[:DENIAL_DETAIL_CHARS]))

    @property
    def text(self) -> str:
        return f"{self.tool}: {self.detail}" if self.detail else self.tool

    def as_json(self) -> dict[str, str]:
        return {"tool": self.tool, "detail": self.detail}


DENIAL_DETAIL_CHARS = 500


@dataclass(frozen=True, slots=True)
class ApiRetry:
    """The CLI is retrying a failed API call itself (`system`/`api_retry`): progress, not a hang."""

    attempt: int
    max_retries: int
    delay_ms: int
    status: int | None
    error: str
    """The CLI's error class: overloaded, server_error, rate_limit, authentication_failed, …"""

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> ApiRetry:
        status = obj.get("error_status")
        return cls(
            attempt=_int(obj.get("attempt")),
            max_retries=_int(obj.get("max_retries")),
            delay_ms=_int(obj.get("retry_delay_ms")),
            status=int(status) if _number(status) else None,
            error=str(obj.get("error") or ""),
        )

    @property
    def text(self) -> str:
        what = self.error.replace("_", " ") or "error"
        code = f" {self.status}" if self.status is not None else ""
        return (f"API{code} {what}: the CLI retries (attempt {self.attempt} of {self.max_retries}, "
                f"next in {self.delay_ms / 1000:.0f} s)")

    def as_json(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "max_retries": self.max_retries, "delay_ms": self.delay_ms,
                "status": self.status, "error": self.error}


@dataclass(frozen=True, slots=True)
class ResultInfo:
    """The `result` line: how the CLI says the run ended."""

    subtype: str
    is_error: bool
    api_error_status: int | None
    num_turns: int
    text: str
    session_id: str | None
    cost_usd: float
    tokens: Tokens
    permission_denials: tuple[str, ...]
    """The refused tools' names (see `denials` for what each call wanted)."""
    denials: tuple[Denial, ...]
    api_error: str | None
    """The CLI's name for an API failure (`usage_limit_reached`), when it gives one."""
    terminal_reason: str | None
    duration_ms: int | None
    raw: Mapping[str, Any]

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> ResultInfo:
        status = obj.get("api_error_status")
        try:
            api_status = int(status) if status is not None and not isinstance(status, bool) else None
        except (TypeError, ValueError, OverflowError):
            api_status = None
        raw_denials = obj.get("permission_denials")
        denials = [Denial.parse(item) for item in (raw_denials if isinstance(raw_denials, list) else ())
                   if isinstance(item, Mapping | str)]
        api_error = obj.get("api_error")
        cost = obj.get("total_cost_usd")
        text = obj.get("result")
        session = obj.get("session_id")
        reason = obj.get("terminal_reason")
        duration = obj.get("duration_ms")
        return cls(
            subtype=str(obj.get("subtype") or ""),
            is_error=obj.get("is_error") is True,
            api_error_status=api_status,
            num_turns=_int(obj.get("num_turns")),
            text=text if isinstance(text, str) else "",
            session_id=session if isinstance(session, str) and session else None,
            cost_usd=float(cost) if _number(cost) else 0.0,
            tokens=tokens_from_usage(obj.get("usage")),
            permission_denials=tuple(d.tool for d in denials),
            denials=tuple(denials),
            api_error=api_error if isinstance(api_error, str) and api_error else None,
            terminal_reason=reason if isinstance(reason, str) else None,
            duration_ms=_int(duration) if duration is not None else None,
            raw=obj,
        )


@dataclass
class StreamState:
    """Running totals of one run's stream; `feed` it each complete line as it arrives."""

    session_id: str | None = None
    model: str | None = None
    cwd: str | None = None
    permission_mode: str | None = None
    cli_version: str | None = None
    last_text: str = ""
    result: ResultInfo | None = None
    rate_limit: RateLimitInfo | None = None
    """The last rate-limit event (sent on normal runs too)."""
    rejected: RateLimitInfo | None = None
    """The first refusal, if any: its `resets_at` is exact, unlike the message text."""
    limit_texts: list[str] = field(default_factory=list)
    last_tool: str | None = None
    """The tool of the latest tool call, and what it was pointed at (a file, a command)."""
    last_target: str | None = None
    api_error: str | None = None
    """The error class of the CLI's synthetic reply to a failed call (`authentication_failed`,
    `model_not_found`, `server_error`, `rate_limit`, …), the last one seen."""
    api_error_text: str = ""
    retries: int = 0
    """The CLI's own API retries so far (`system`/`api_retry` lines)."""
    last_retry: ApiRetry | None = None
    last_retry_status: int | None = None
    lines: int = 0
    bad_lines: int = 0
    _usage_by_message: dict[str, Tokens] = field(default_factory=dict)
    _anonymous: Tokens = field(default_factory=Tokens)
    _anonymous_turns: int = 0

    @property
    def started(self) -> bool:
        """The CLI got far enough to own a session (its init line or any message arrived)."""
        return self.session_id is not None

    @property
    def turns(self) -> int:
        """Assistant messages so far (the result's `num_turns` is final)."""
        if self.result is not None and self.result.num_turns:
            return self.result.num_turns
        return len(self._usage_by_message) + self._anonymous_turns

    @property
    def tokens(self) -> Tokens:
        """Tokens so far; the result's totals once it has arrived.

        An assistant message is printed once per content block with the same usage, so
        usage is counted once per message id.
        """
        if self.result is not None:
            return self.result.tokens
        total = self._anonymous
        for tokens in self._usage_by_message.values():
            total = total + tokens
        return total

    @property
    def cost_usd(self) -> float:
        return self.result.cost_usd if self.result else 0.0

    @property
    def final_text(self) -> str:
        return self.result.text if self.result and self.result.text else self.last_text

    def feed(self, line: str | bytes) -> Mapping[str, Any] | None:
        """Take one line; return the decoded event (None for blank or broken lines)."""
        if isinstance(line, bytes):
            line = line.decode("utf-8", "replace")
        line = line.strip()
        if not line:
            return None
        self.lines += 1
        try:
            obj = json.loads(line)
        except ValueError:
            self.bad_lines += 1
            return None
        if not isinstance(obj, Mapping):
            self.bad_lines += 1
            return None
        self._apply(obj)
        return obj

    def _apply(self, obj: Mapping[str, Any]) -> None:
        kind = obj.get("type")
        session = obj.get("session_id")
        if isinstance(session, str) and session and kind in ("system", "result"):
            self.session_id = session
        if kind == "system" and obj.get("subtype") == "api_retry":
            self.retries += 1
            self.last_retry = ApiRetry.parse(obj)
            self.last_retry_status = self.last_retry.status
        elif kind == "system" and obj.get("subtype") == "init":
            self.model = _str_or(obj.get("model"), self.model)
            self.cwd = _str_or(obj.get("cwd"), self.cwd)
            self.permission_mode = _str_or(obj.get("permissionMode"), self.permission_mode)
            self.cli_version = _str_or(obj.get("claude_code_version"), self.cli_version)
        elif kind == "assistant":
            self._assistant(obj)
        elif kind == "rate_limit_event":
            info = parse_rate_limit_event(obj)
            if info is not None:
                self.rate_limit = info
                # A refusal that names no window and no reset is the server throttling
                # (a 429 without the subscription's headers), not a usage window.
                if info.rejected and self.rejected is None and (info.window or info.resets_at):
                    self.rejected = info
        elif kind == "result":
            self.result = ResultInfo.parse(obj)

    def _assistant(self, obj: Mapping[str, Any]) -> None:
        if self.session_id is None and isinstance(obj.get("session_id"), str):
            self.session_id = obj["session_id"]
        message = obj.get("message")
        if not isinstance(message, Mapping):
            return
        content = message.get("content")
        texts = [
            block.get("text", "")
            for block in (content if isinstance(content, list) else ())
            if isinstance(block, Mapping) and block.get("type") == "text"
        ]
        text = "\n".join(t for t in texts if isinstance(t, str) and t)
        error = obj.get("error")
        synthetic = message.get("model") == "<synthetic>" or error == "rate_limit"
        if synthetic:
            # The CLI's stand-in reply for a failed call: its text is the CLI's, not the model's.
            if isinstance(error, str) and error:
                self.api_error, self.api_error_text = error, text
            if text and (not isinstance(error, str) or error in ("", "rate_limit")):
                self.limit_texts.append(text)
            return
        if text:
            self.last_text = text
        for block in content if isinstance(content, list) else ():
            if isinstance(block, Mapping) and block.get("type") == "tool_use":
                self.last_tool = _str_or(block.get("name"), "tool")
                self.last_target = _tool_target(block.get("input"))
        tokens = tokens_from_usage(message.get("usage"))
        message_id = message.get("id")
        if isinstance(message_id, str) and message_id:
            self._usage_by_message[message_id] = tokens
        else:
            self._anonymous = self._anonymous + tokens
            self._anonymous_turns += 1

    def limit_hit(self, now: datetime, local_tz: tzinfo) -> LimitHit | None:
        """The usage limit that ended this run, if one did.

        A run whose result is a success went through, whatever events it saw. Otherwise the
        refusal event wins (its reset time is exact), then the result, then the limit text.
        """
        if self.result is not None and not self.result.is_error:
            return None
        if self.rejected is not None:
            hit = self.rejected.as_hit(now)
            if hit is not None:
                return hit
        if self.result is not None:
            hit = limit_from_result(self.result.raw, now, local_tz)
            if hit is not None:
                return hit
        for text in self.limit_texts:
            hit = parse_limit_message(text, now, local_tz)
            if hit is not None:
                return hit
        return None


_TARGET_KEYS = ("file_path", "notebook_path", "path", "pattern", "command", "url", "description")


def _tool_target(arguments: Any) -> str | None:
    """What a tool call was pointed at, for the live progress line (first line, 120 chars)."""
    if not isinstance(arguments, Mapping):
        return None
    for key in _TARGET_KEYS:
        value = arguments.get(key)
        if isinstance(value, str) and value.strip():
            line = value.strip().splitlines()[0]
            return line if len(line) <= 120 else line[:119] + "…"
    return None


def _str_or(value: Any, default: str | None) -> str | None:
    return value if isinstance(value, str) and value else default
