"""A local stand-in for the subscription usage endpoint (127.0.0.1, real HTTP)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class UsageServer:
    url: str
    replies: list[Reply]
    requests: list[dict[str, Any]]
    by_token: dict[str, Reply] = field(default_factory=dict)
    """The answer for one login (bearer token), whatever `replies` holds: several accounts."""

    def answer(self, *replies: Reply) -> None:
        self.replies[:] = list(replies)


@contextmanager
def usage_server() -> Iterator[UsageServer]:
    replies: list[Reply] = []
    requests: list[dict[str, Any]] = []
    by_token: dict[str, Reply] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}})
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            reply = by_token.get(token) or (
                replies.pop(0) if len(replies) > 1 else (replies[0] if replies else Reply(500)))
            data = json.dumps(reply.body).encode() if reply.body is not None else b""
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield UsageServer(f"http://127.0.0.1:{server.server_address[1]}", replies, requests, by_token)
    finally:
        server.shutdown()
        server.server_close()


def usage_body(five_hour: float = 41.0, resets: str = "2026-12-01T02:00:00Z",
               seven_day: float = 12.0) -> dict[str, Any]:
    return {
        "five_hour": {"utilization": five_hour, "resets_at": resets},
        "seven_day": {"utilization": seven_day, "resets_at": "2026-12-04T08:00:00Z"},
        "seven_day_opus": None,
        "seven_day_sonnet": {"utilization": 3, "resets_at": None},
    }
