"""Live progress: what the message says, and when it may be sent (pure functions of `now`)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from core.agent.stream import StreamState
from core.models import Priority, Run, RunKind, Task, TaskState, Tokens
from core.progress import PROGRESS_KIND, QUIET_FACTOR, LiveProgress, ProgressFacts, progress_key
from core.settings import load_settings
from tests.fakes.notifier import RecordingNotifier

T0 = datetime(2025, 6, 1, 3, 0, tzinfo=UTC)


def task(check: str | None = "make test") -> Task:
    return Task(7, "fix login", "fix login", TaskState.RUNNING, Priority.NORMAL, None, (), T0, T0,
                check_cmd=check)


def run(kind: RunKind = RunKind.WORK) -> Run:
    return Run(41, 7, 2, kind, None, "s", Tokens(), 0.0, 0, "b", "/w", "ns-7-41", None, None, None,
               None, T0, None)


def test_the_message_names_everything_the_owner_watches() -> None:
    facts = ProgressFacts(7, "fix login", 41, 2, 125.0, turns=7, tokens=41_200, last_tool="Edit",
                          last_target="src/login.py", retries=2, last_retry_status=429,
                          check="make test", check_state="running")
    assert facts.render() == (
        "Task 7 ⚙️ running: fix login\n"
        "run 41, iteration 2 · 2m05s · 7 turns · 41k tokens\n"
        "last: Edit src/login.py\n"
        "CLI retries: 2, last 429\n"
        "check make test: running"
    )
    done = ProgressFacts(7, "fix login", 41, 2, 3725.0, turns=1, outcome="success")
    assert done.render().splitlines()[:2] == [
        "Task 7 ■ ended: success: fix login", "run 41, iteration 2 · 1h02m05s · 1 turn · 0 tokens"]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def stream_with(turns: int) -> StreamState:
    state = StreamState()
    for i in range(turns):
        state.feed(json.dumps({"type": "assistant", "message": {
            "id": f"m{i}", "usage": {"output_tokens": 10},
            "content": [{"type": "tool_use", "name": "Edit", "input": {"file_path": f"a{i}.py"}}]}}))
    return state


@given(st.lists(st.tuples(st.floats(0.05, 20.0), st.booleans()), min_size=1, max_size=60))
def test_updates_are_spaced_and_the_last_word_is_always_sent(steps: list[tuple[float, bool]]) -> None:
    """Whatever the cadence of stream events, an update goes out exactly when the spacing rule
    says: the first at once; then news after one interval, the clock alone after six."""
    settings = load_settings(env_file=None, progress_edit_s=5)
    clock, notes = Clock(), RecordingNotifier()
    view = LiveProgress(settings, notes, task(), run(), clock=clock)
    interval = timedelta(seconds=5)
    turns, shown_turns, last_sent = 0, -1, None
    for gap_s, news in steps:
        clock.now += timedelta(seconds=gap_s)
        turns += int(news)
        before = len(notes.sent)
        asyncio.run(view.update(stream_with(turns)))
        wait = interval if turns != shown_turns else interval * QUIET_FACTOR
        expected = last_sent is None or clock.now - last_sent >= wait
        assert (len(notes.sent) > before) == expected
        if expected:
            last_sent, shown_turns = clock.now, turns
            assert f"{turns} turn" in notes.sent[-1].text
    asyncio.run(view.finish("success"))
    last = notes.sent[-1]
    assert last.kind == PROGRESS_KIND and last.key == progress_key(41) and last.data == {"final": True}
    assert "ended: success" in last.text
    assert all(n.key == "run:41" for n in notes.sent)


def test_a_quiet_run_is_refreshed_rarely_and_plan_runs_or_the_setting_send_nothing() -> None:
    settings = load_settings(env_file=None, progress_edit_s=5)
    clock, notes = Clock(), RecordingNotifier()
    view = LiveProgress(settings, notes, task(), run(), clock=clock)
    state = stream_with(1)
    asyncio.run(view.update(state))
    for _ in range(5 * QUIET_FACTOR - 1):  # only the clock moves, one second at a time
        clock.now += timedelta(seconds=1)
        asyncio.run(view.update(state))
    assert len(notes.sent) == 1
    clock.now += timedelta(seconds=1)
    asyncio.run(view.update(state))
    assert len(notes.sent) == 2
    asyncio.run(view.check("running"))
    assert notes.sent[-1].text.endswith("check make test: running")

    for quiet in (LiveProgress(settings, notes, task(), run(RunKind.PLAN), clock=clock),
                  LiveProgress(load_settings(env_file=None, live_progress=False), notes, task(), run(),
                               clock=clock)):
        before = len(notes.sent)
        asyncio.run(quiet.update(state))
        asyncio.run(quiet.finish("success"))
        assert len(notes.sent) == before


def test_the_stream_parser_keeps_the_last_tool_and_the_cli_retries() -> None:
    state = StreamState()
    state.feed('{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"error_status":529}')
    state.feed('{"type":"system","subtype":"api_retry","attempt":2,"max_retries":10,"error_status":429}')
    state.feed('{"type":"assistant","message":{"id":"m1","content":[{"type":"tool_use","name":"Bash",'
               '"input":{"command":"pytest -x\\nsecond line"}}]}}')
    assert (state.retries, state.last_retry_status) == (2, 429)
    assert (state.last_tool, state.last_target) == ("Bash", "pytest -x")
