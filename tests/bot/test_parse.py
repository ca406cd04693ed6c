"""/add syntax from DESIGN.md, task ids, and callback data."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.buttons import (
    MAX_DATA_BYTES,
    TWO_NUMBERS,
    Act,
    Callback,
    plan_buttons,
    queue_buttons,
    task_buttons,
)
from bot.parse import AddRequest, command_args, parse_add, parse_page, parse_task_id
from core.errors import InvalidInput

BODY = st.text(min_size=1, max_size=200).filter(
    lambda t: t.strip() != "" and not t.lstrip().startswith("-")
)


def test_options_then_verbatim_text() -> None:
    args = command_args("/add -p high -r shop --after 3 --after #4,5 --no-plan fix the\n'login' test")
    assert parse_add(args) == AddRequest(
        text="fix the\n'login' test", priority="high", repo="shop", after=(3, 4, 5), plan=False
    )


def test_long_options_with_equals_and_the_double_dash() -> None:
    assert parse_add("--priority=low --repo=api -- -v flag handling") == AddRequest(
        "-v flag handling", "low", "api"
    )


def test_command_with_bot_name_and_no_options() -> None:
    assert command_args("/add@nightshift_bot   do it") == "do it"
    assert parse_add(command_args("/add do it")) == AddRequest("do it")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("", "say what the task should do"),
        ("-p high", "say what the task should do"),
        ("-p", "-p needs a value"),
        ("--after x fix", "'x' is not a task id"),
        ("-x fix", "unknown option -x"),
        ("--no-plan=yes fix", "--no-plan takes no value"),
    ],
)
def test_bad_add_syntax_says_what_is_wrong(args: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_add(args)


@given(BODY, st.sampled_from(["urgent", "high", "normal", "low"]))
def test_the_task_text_reaches_the_service_verbatim(body: str, priority: str) -> None:
    request = parse_add(command_args(f"/add -p {priority} {body}"))
    assert request.text == body.strip()
    assert request.priority == priority


def test_task_ids() -> None:
    assert parse_task_id("12 because", "usage") == (12, "because")
    assert parse_task_id("#7", "usage") == (7, "")
    with pytest.raises(InvalidInput, match="usage: /task ID"):
        parse_task_id("abc", "usage: /task ID")
    assert parse_page("2") == 1
    assert parse_page("0") == 0
    assert parse_page("x") == 0


@given(st.sampled_from(list(Act)), st.integers(0, 2**63 - 1), st.integers(1, 2**63 - 1))
def test_callback_data_round_trips_within_64_bytes(act: Act, number: int, version: int) -> None:
    press = Callback(act, number, version if act in TWO_NUMBERS else None)
    data = press.encode()
    assert len(data.encode()) <= MAX_DATA_BYTES
    assert Callback.decode(data) == press


@pytest.mark.parametrize(
    "data",
    [None, "", "zz:1", "ap:1", "ap:x:1", "cn:1:2", "q:-1", "ap:1:2:3",
     "ap: 3:1", "ap:+3:1", "ap:\u0663:1", "ap:3:\u0661", "cn:\uff13", "cn:3 ", "cn:1_000", "cn:",
     "cn:0x1", "mg:3", "ds:1", "cn:" + "9" * 70],
)
def test_unknown_or_loose_callback_data_is_refused(data: str | None) -> None:
    with pytest.raises(InvalidInput, match="not one nightshift knows"):
        Callback.decode(data)


_GRAMMAR = re.compile(
    "(?:" + "|".join(sorted(a.value for a in TWO_NUMBERS)) + "):[0-9]+:[0-9]+"
    "|(?:" + "|".join(sorted(a.value for a in set(Act) - TWO_NUMBERS)) + "):[0-9]+"
)
DATA = st.one_of(
    st.text(max_size=24),
    st.builds(lambda act, rest: f"{act.value}:{rest}", st.sampled_from(list(Act)), st.text(max_size=16)),
    st.builds(lambda act, a, b: f"{act.value}:{a}:{b}", st.sampled_from(list(Act)),
              st.text(alphabet="0123456789 +-_\u0660\u0663\u06f3\uff13x", max_size=5),
              st.text(alphabet="0123456789 +-_\u0660\u0663\u06f3\uff13x", max_size=5)),
)


@given(DATA)
def test_callback_data_is_accepted_exactly_when_it_is_act_and_ascii_digits(data: str) -> None:
    """The parser agrees with the grammar `act(:[0-9]+){1,2}`: nothing looser gets through."""
    try:
        press = Callback.decode(data)
    except InvalidInput:
        assert _GRAMMAR.fullmatch(data) is None or len(data.encode()) > MAX_DATA_BYTES
        return
    assert _GRAMMAR.fullmatch(data) is not None
    fields = data.split(":")
    assert press.act.value == fields[0] and press.number == int(fields[1])
    assert press.version == (int(fields[2]) if len(fields) == 3 else None)


def test_keyboards_carry_the_plan_version() -> None:
    assert [b.data for b in plan_buttons(12, 3)[0]] == ["ap:12:3", "rv:12:3", "rj:12:3"]
    assert [b.data for b in task_buttons(5)[0]] == ["cn:5", "rt:5", "lg:5"]
    assert task_buttons(5, plan_version=2)[1][0].data == "pl:5"
    rows = queue_buttons([(1, "a" * 80), (2, "b")], page=1, pages=3)
    assert rows[0][0].text.endswith("…") and len(rows[0][0].text) == 40
    assert [b.data for b in rows[-1]] == ["q:0", "q:2"]
