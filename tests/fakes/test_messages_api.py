"""The fake Messages API speaks the protocol the real CLI reads (checked here without the CLI)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes import messages_api as m
from tests.fakes.messages_api import MessagesAPI, messages_api

TOOLS = [{"name": "Bash", "input_schema": {"type": "object"}}]


@pytest.fixture
def api() -> Iterator[MessagesAPI]:
    with messages_api() as server:
        yield server


def post(api: MessagesAPI, *, stream: bool, path: str = "/v1/messages?beta=true") -> httpx.Response:
    body = {"model": "claude-sonnet-5-5", "max_tokens": 10, "stream": stream, "tools": TOOLS,
            "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(api.url + path, json=body, headers={"x-claude-code-session-id": "s-1"}, timeout=30)


def events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for chunk in response.text.strip().split("\n\n"):
        name, data = chunk.split("\n")
        out.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


def test_a_streamed_tool_call_arrives_as_anthropic_sends_it(api: MessagesAPI) -> None:
    api.push(m.bash("pytest -q", preamble="Running the tests.", usage=m.Usage(11, 22, 33, 44)))
    response = post(api, stream=True)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    got = events(response)
    assert [name for name, _ in got if name != "content_block_delta"] == [
        "message_start", "content_block_start", "ping", "content_block_stop", "content_block_start",
        "content_block_stop", "message_delta", "message_stop"]
    text = "".join(d["delta"]["text"] for n, d in got if n == "content_block_delta" and d["index"] == 0)
    tool_json = "".join(d["delta"]["partial_json"] for n, d in got
                        if n == "content_block_delta" and d["index"] == 1)
    assert text == "Running the tests."
    assert json.loads(tool_json) == {"command": "pytest -q", "description": "run a command"}
    start = got[0][1]["message"]
    assert start["usage"]["input_tokens"] == 11 and start["stop_reason"] is None
    delta = next(d for n, d in got if n == "message_delta")
    assert delta["delta"]["stop_reason"] == "tool_use" and delta["usage"]["output_tokens"] == 22
    [request] = api.requests
    assert request.session_id == "s-1" and request.is_model_turn and request.status == 200


def test_plain_json_count_tokens_and_unscripted_calls(api: MessagesAPI) -> None:
    api.push(m.text("Hello."))
    body = post(api, stream=False).json()
    assert body["content"] == [{"type": "text", "text": "Hello."}] and body["stop_reason"] == "end_turn"
    counted = httpx.post(api.url + "/v1/messages/count_tokens", json={"messages": []}, timeout=30)
    assert counted.json()["input_tokens"] >= 1
    assert post(api, stream=False).json()["content"][0]["text"] == "OK."  # the fallback
    assert [r.scripted for r in api.requests] == [True, False, False]


def test_a_subscription_limit_is_a_429_with_the_unified_headers(api: MessagesAPI) -> None:
    reset = int(time.time()) + 3600
    api.push(m.usage_limit("seven_day_opus", reset, other=(m.Window("five_hour", reset - 600, 0.5),)))
    response = post(api, stream=True)
    assert response.status_code == 429
    headers = response.headers
    assert headers["anthropic-ratelimit-unified-status"] == "rejected"
    assert headers["anthropic-ratelimit-unified-representative-claim"] == "seven_day_opus"
    assert headers["anthropic-ratelimit-unified-reset"] == str(reset)
    assert headers["anthropic-ratelimit-unified-7d_opus-status"] == "rejected"
    assert headers["anthropic-ratelimit-unified-5h-utilization"] == "0.5"
    assert headers["anthropic-ratelimit-unified-overage-status"] == "rejected"
    assert 3500 < int(headers["retry-after"]) <= 3600
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_sticky_errors_and_slow_answers(api: MessagesAPI) -> None:
    api.push(m.unauthorized(), times=None)
    assert [post(api, stream=True).status_code for _ in range(3)] == [401, 401, 401]
    assert api.pending == 1
    api.clear()
    api.push(m.text("late", delay_s=0.3), m.overloaded())
    started = time.monotonic()
    assert post(api, stream=True).status_code == 200
    assert time.monotonic() - started >= 0.3
    assert post(api, stream=True).headers["x-should-retry"] == "true"
    api.wait_for(lambda requests: len(requests) == 5, timeout_s=5)
