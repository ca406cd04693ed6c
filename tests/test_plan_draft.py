"""Reading a plan run's answer: structured when the block is right, never lost when it is not."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from core.plans.draft import plan_prompt, read_plan

DEFAULT = 1_000_000


def block(data: object) -> str:
    return "```nightshift-plan\n" + json.dumps(data) + "\n```"


def test_well_formed_plan() -> None:
    text = "I will fix the fixture.\n\n1. Read it\n2. Fix it\n\n" + block(
        {
            "steps": ["Read it", "Fix it"],
            "files": ["tests/conftest.py"],
            "risks": ["flaky CI"],
            "check": "pytest -x tests/test_login.py",
            "size": "Small",
        }
    )
    plan = read_plan(text, DEFAULT)
    assert plan.steps == ("Read it", "Fix it")
    assert plan.files == ("tests/conftest.py",)
    assert plan.check == "pytest -x tests/test_login.py"
    assert plan.size == "small" and plan.estimate_tokens == 250_000
    assert plan.problems == ()
    assert plan.body.startswith("I will fix the fixture.")
    assert "Suggested check: pytest -x tests/test_login.py" in plan.body
    assert "nightshift-plan" not in plan.body


def test_last_block_wins_and_bad_fields_are_reported() -> None:
    text = block({"size": "large"}) + "\nrevised:\n" + block({"size": "huge", "steps": "do it", "check": 3})
    plan = read_plan(text, DEFAULT)
    assert plan.size is None and plan.estimate_tokens is None and plan.check is None
    assert set(plan.problems) == {
        "steps is not a list of strings",
        "check is not a string",
        "size 'huge' is not one of small, medium, large",
    }


def test_no_block_keeps_the_prose() -> None:
    plan = read_plan("Just some plan text.", DEFAULT)
    assert plan.body == "Just some plan text."
    assert plan.problems == ("no nightshift-plan block",)


def test_broken_json_keeps_the_prose() -> None:
    plan = read_plan("Steps here.\n```nightshift-plan\n{not json\n```", DEFAULT)
    assert plan.body == "Steps here."
    assert plan.problems[0].startswith("the plan block is not JSON")


@given(st.text(max_size=2000))
def test_any_text_reads_without_error(text: str) -> None:
    plan = read_plan(text, DEFAULT)
    assert plan.body
    assert len(plan.body) <= 20_000


def test_revision_prompt_carries_previous_plan_and_comment() -> None:
    prompt = plan_prompt("fix it", previous="1. old step", comment="use the new API")
    assert "fix it" in prompt and "1. old step" in prompt and "use the new API" in prompt
    assert "nightshift-plan" in prompt
