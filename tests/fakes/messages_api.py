"""A local fake of the Anthropic Messages API on 127.0.0.1, for running the real Claude Code CLI.

The real CLI (`scripts/install-claude.sh`) talks to `ANTHROPIC_BASE_URL`; this server answers
`POST /v1/messages` (streaming SSE exactly as Anthropic sends it, or one JSON body) and
`POST /v1/messages/count_tokens`, from a queue of scripted replies a test pushes: text
answers, tool calls the CLI then really executes (Write, Edit, Bash), token usage, a
subscriber's usage limit as the real 429 with the `anthropic-ratelimit-unified-*` headers,
`allowed_warning` near the limit, 401, 404 for an unknown model, 529/500 overloaded, and
slow answers. Every request is recorded (headers, body) so tests assert on what the CLI sent.

Requests the test did not script (the CLI's own side calls, or a model turn past the end of
the script) get `fallback` (a short text answer by default) and are marked `scripted=False`,
so a test can assert that nothing unexpected reached the API.

Threaded (stdlib `ThreadingHTTPServer`): the CLI is a separate process, and tests drive it
from an event loop that must not block on the server.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_MODEL = "claude-sonnet-5-5"
UNIFIED = "anthropic-ratelimit-unified"
WINDOW_HEADER = {"five_hour": "5h", "seven_day": "7d", "seven_day_opus": "7d_opus",
                 "seven_day_sonnet": "7d_sonnet"}
"""The per-window infix of the unified rate-limit headers (`…-5h-status`, `…-7d-reset`)."""

_ids = itertools.count(1)


def _next_id(prefix: str) -> str:
    return f"{prefix}_fake{next(_ids):08d}"


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 120
    output_tokens: int = 40
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "output_tokens": self.output_tokens,
            "service_tier": "standard",
        }


@dataclass(frozen=True)
class Window:
    """One subscription window's state as the unified headers describe it."""

    kind: str  # five_hour | seven_day | seven_day_opus | seven_day_sonnet
    reset_epoch: int
    utilization: float = 0.2
    status: str = "allowed"  # allowed | allowed_warning | rejected


def unified_headers(status: str, claim: str | None, windows: tuple[Window, ...],
                    *, overage: str | None = None) -> dict[str, str]:
    """The `anthropic-ratelimit-unified-*` headers a subscriber's reply carries."""
    headers = {f"{UNIFIED}-status": status}
    if claim is not None:
        headers[f"{UNIFIED}-representative-claim"] = claim
    for window in windows:
        infix = WINDOW_HEADER[window.kind]
        headers[f"{UNIFIED}-{infix}-status"] = window.status
        headers[f"{UNIFIED}-{infix}-reset"] = str(window.reset_epoch)
        headers[f"{UNIFIED}-{infix}-utilization"] = f"{window.utilization:g}"
        if window.status != "allowed":
            # The highest warning threshold passed; the CLI warns only when this is present.
            headers[f"{UNIFIED}-{infix}-surpassed-threshold"] = f"{min(window.utilization, 1.0):g}"
    claimed = next((w for w in windows if w.kind == claim), windows[0] if windows else None)
    if claimed is not None:
        headers[f"{UNIFIED}-reset"] = str(claimed.reset_epoch)
    if overage is not None:
        headers[f"{UNIFIED}-overage-status"] = overage
    return headers


@dataclass(frozen=True)
class Reply:
    """One scripted answer. Build them with the functions below rather than by hand."""

    status: int = 200
    content: tuple[dict[str, Any], ...] = ()
    """Content blocks of a 200 answer (text / tool_use)."""
    stop_reason: str = "end_turn"
    usage: Usage = field(default_factory=Usage)
    error: tuple[str, str] | None = None
    """(error type, message) of a non-200 answer."""
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0
    """Wait this long before answering (a slow API)."""
    event_delay_s: float = 0.0
    """Wait this long between streamed events (a slow stream)."""
    model: str | None = None
    """The model the answer names; the request's by default."""
    later: Callable[[], Reply] | None = None
    """Build the actual reply when the request arrives (a reset measured from that moment)."""


def text(answer: str, *, usage: Usage | None = None, headers: dict[str, str] | None = None,
         delay_s: float = 0.0, event_delay_s: float = 0.0) -> Reply:
    return Reply(content=({"type": "text", "text": answer},), usage=usage or Usage(),
                 headers=tuple((headers or {}).items()), delay_s=delay_s, event_delay_s=event_delay_s)


def tool_use(name: str, tool_input: dict[str, Any], *, preamble: str | None = None,
             usage: Usage | None = None, headers: dict[str, str] | None = None) -> Reply:
    """The model calls a tool (Write, Edit, Bash, …); the CLI executes it and sends the result."""
    blocks: list[dict[str, Any]] = []
    if preamble:
        blocks.append({"type": "text", "text": preamble})
    blocks.append({"type": "tool_use", "id": _next_id("toolu"), "name": name, "input": tool_input})
    return Reply(content=tuple(blocks), stop_reason="tool_use", usage=usage or Usage(),
                 headers=tuple((headers or {}).items()))


def bash(command: str, description: str = "run a command", **kwargs: Any) -> Reply:
    return tool_use("Bash", {"command": command, "description": description}, **kwargs)


def write(path: str, content: str, **kwargs: Any) -> Reply:
    return tool_use("Write", {"file_path": path, "content": content}, **kwargs)


def edit(path: str, old: str, new: str, **kwargs: Any) -> Reply:
    return tool_use("Edit", {"file_path": path, "old_string": old, "new_string": new,
                             "replace_all": False}, **kwargs)


def usage_limit(kind: str, reset_epoch: int, *, other: tuple[Window, ...] = ()) -> Reply:
    """A subscriber's exhausted window: the 429 the CLI reads as a usage limit."""
    now = int(time.time())
    windows = (Window(kind, reset_epoch, 1.0, "rejected"), *other)
    headers = unified_headers("rejected", kind, windows, overage="rejected")
    headers["retry-after"] = str(max(0, reset_epoch - now))
    return Reply(status=429, error=("rate_limit_error", "This request would exceed your account's "
                                    "rate limit. Please try again later."),
                 headers=tuple(headers.items()))


def usage_limit_in(kind: str, reset_in_s: int) -> Reply:
    """A usage limit whose reset is `reset_in_s` after the refused request, however late it comes."""
    return Reply(later=lambda: usage_limit(kind, int(time.time()) + reset_in_s))


def near_limit(answer: str, kind: str, reset_epoch: int, utilization: float = 0.9) -> Reply:
    """A normal answer that warns: the window is almost used up."""
    headers = unified_headers("allowed_warning", kind,
                              (Window(kind, reset_epoch, utilization, "allowed_warning"),))
    return text(answer, headers=headers)


def allowed(answer: str, kind: str, reset_epoch: int, utilization: float = 0.3) -> Reply:
    headers = unified_headers("allowed", kind, (Window(kind, reset_epoch, utilization, "allowed"),))
    return text(answer, headers=headers)


def api_error(status: int, kind: str, message: str, headers: dict[str, str] | None = None,
              delay_s: float = 0.0) -> Reply:
    return Reply(status=status, error=(kind, message), headers=tuple((headers or {}).items()),
                 delay_s=delay_s)


def unauthorized() -> Reply:
    return api_error(401, "authentication_error", "invalid x-api-key")


def oauth_expired() -> Reply:
    return api_error(401, "authentication_error", "OAuth token has expired.")


def unknown_model(model: str) -> Reply:
    return api_error(404, "not_found_error", f"model: {model}")


def overloaded() -> Reply:
    return api_error(529, "overloaded_error", "Overloaded")


def server_error() -> Reply:
    return api_error(500, "api_error", "Internal server error")


@dataclass
class Request:
    """One request as the server saw it, and what it answered."""

    method: str
    path: str
    headers: dict[str, str]
    """Lower-case names."""
    body: Any
    at: float
    status: int = 0
    scripted: bool = True
    reply_headers: dict[str, str] = field(default_factory=dict)
    """The headers it was answered with (the rate-limit headers the CLI read)."""

    @property
    def session_id(self) -> str | None:
        return self.headers.get("x-claude-code-session-id")

    @property
    def messages(self) -> list[dict[str, Any]]:
        found = self.body.get("messages") if isinstance(self.body, dict) else None
        return found if isinstance(found, list) else []

    @property
    def is_model_turn(self) -> bool:
        """A call of the agent loop (it offers tools), not a side call such as a title."""
        return self.path.startswith("/v1/messages") and "count_tokens" not in self.path \
            and isinstance(self.body, dict) and bool(self.body.get("tools"))

    def text_of_messages(self) -> str:
        """Everything the conversation sent, flattened (for "was the earlier work resent?")."""
        return json.dumps(self.messages, ensure_ascii=False)


Matcher = Callable[[Request], bool]


class MessagesAPI:
    """The server. `push` replies in order; requests the script does not cover get `fallback`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: list[list[Any]] = []
        """[reply, times left (None: forever)] in order."""
        self.requests: list[Request] = []
        self.fallback: Reply = text("OK.")
        self.side_call: Matcher = lambda r: not r.is_model_turn
        """Requests that never consume the script (by default: calls that offer no tools)."""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._changed = threading.Condition(self._lock)

    # --- scripting -------------------------------------------------------------------------

    def push(self, *replies: Reply, times: int | None = 1) -> None:
        """Queue replies for the next model turns; `times=None` repeats the last one forever
        (a logged-out account answers 401 to every call, an unknown model 404)."""
        with self._lock:
            for i, reply in enumerate(replies):
                last = i == len(replies) - 1
                self._script.append([reply, times if last else 1])

    def clear(self) -> None:
        with self._lock:
            self._script.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    def model_turns(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.is_model_turn]

    def wait_for(self, predicate: Callable[[list[Request]], bool], timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not predicate(list(self.requests)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"the fake API did not see what was expected in {timeout_s}s")
                self._changed.wait(left)

    # --- life cycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> MessagesAPI:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                api._handle(self)

            def do_GET(self) -> None:
                api._handle(self)

            def do_HEAD(self) -> None:
                api._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="fake-messages-api")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- serving ---------------------------------------------------------------------------

    def _take(self, request: Request) -> Reply:
        with self._lock:
            if not self.side_call(request) and self._script:
                entry = self._script[0]
                if entry[1] is not None:
                    entry[1] -= 1
                    if entry[1] <= 0:
                        self._script.pop(0)
                reply: Reply = entry[0]
                return reply.later() if reply.later is not None else reply
            request.scripted = False
            return self.fallback

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        request = Request(handler.command, handler.path,
                          {k.lower(): v for k, v in handler.headers.items()}, body, time.time())
        path = handler.path.split("?", 1)[0]
        if path == "/v1/messages/count_tokens":
            reply: Reply | None = None
            request.scripted = False
        elif path == "/v1/messages" and handler.command == "POST":
            reply = self._take(request)
        else:
            reply = api_error(404, "not_found_error", f"{handler.command} {path}")
            request.scripted = False
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()
        try:
            self._answer(handler, request, path, reply)
        except (BrokenPipeError, ConnectionResetError):
            request.status = -1  # the CLI hung up (killed, or gave up waiting)
        with self._changed:
            self._changed.notify_all()

    def _answer(self, handler: BaseHTTPRequestHandler, request: Request, path: str,
                reply: Reply | None) -> None:
        """Answer; `request.status` is set as the answer starts (0 until then: still waiting)."""
        if reply is None:  # count_tokens
            tokens = max(1, len(json.dumps(request.body)) // 4)
            request.status = 200
            _send_json(handler, 200, {"input_tokens": tokens}, {})
            return
        if reply.delay_s:
            time.sleep(reply.delay_s)
        headers = {"request-id": _next_id("req"), **dict(reply.headers)}
        request.reply_headers = headers
        if reply.status != 200 or reply.error is not None:
            kind, message = reply.error or ("api_error", "error")
            body = {"type": "error", "error": {"type": kind, "message": message},
                    "request_id": headers["request-id"]}
            if reply.status in (529, 500):
                headers.setdefault("x-should-retry", "true")
            request.status = reply.status
            _send_json(handler, reply.status, body, headers)
            return
        body_in = request.body if isinstance(request.body, dict) else {}
        model = reply.model or str(body_in.get("model") or DEFAULT_MODEL)
        message = {
            "id": _next_id("msg"), "type": "message", "role": "assistant", "model": model,
            "content": [dict(b) for b in reply.content], "stop_reason": reply.stop_reason,
            "stop_sequence": None, "usage": reply.usage.as_json(),
        }
        request.status = 200
        if body_in.get("stream"):
            _stream(handler, message, headers, reply.event_delay_s)
        else:
            _send_json(handler, 200, message, headers)


def _send_json(handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str]) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    for key, value in headers.items():
        handler.send_header(key, value)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
    handler.wfile.flush()


def sse_events(message: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The event sequence of one streamed message, as the Messages API sends it."""
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None,
             "usage": {**usage, "output_tokens": min(1, usage["output_tokens"])}}
    yield "message_start", {"type": "message_start", "message": start}
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield "content_block_start", {"type": "content_block_start", "index": index,
                                          "content_block": {"type": "text", "text": ""}}
            if index == 0:
                yield "ping", {"type": "ping"}
            words = block["text"].split(" ")
            for i, word in enumerate(words):
                piece = word if i == len(words) - 1 else word + " "
                yield "content_block_delta", {"type": "content_block_delta", "index": index,
                                              "delta": {"type": "text_delta", "text": piece}}
        elif block["type"] == "tool_use":
            yield "content_block_start", {"type": "content_block_start", "index": index,
                                          "content_block": {"type": "tool_use", "id": block["id"],
                                                            "name": block["name"], "input": {}}}
            payload = json.dumps(block["input"])
            for i in range(0, len(payload), 40):
                yield "content_block_delta", {"type": "content_block_delta", "index": index,
                                              "delta": {"type": "input_json_delta",
                                                        "partial_json": payload[i:i + 40]}}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield "message_delta", {"type": "message_delta",
                            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                            "usage": {"output_tokens": usage["output_tokens"]}}
    yield "message_stop", {"type": "message_stop"}


def _stream(handler: BaseHTTPRequestHandler, message: dict[str, Any], headers: dict[str, str],
            event_delay_s: float) -> None:
    handler.send_response(200)
    for key, value in headers.items():
        handler.send_header(key, value)
    handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
    handler.send_header("Cache-Control", "no-cache")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    for name, data in sse_events(message):
        chunk = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
        handler.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        handler.wfile.flush()
        if event_delay_s:
            time.sleep(event_delay_s)
    handler.wfile.write(b"0\r\n\r\n")
    handler.wfile.flush()


@contextlib.contextmanager
def messages_api() -> Iterator[MessagesAPI]:
    api = MessagesAPI().start()
    try:
        yield api
    finally:
        api.stop()
