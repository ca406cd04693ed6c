"""The owner's prompt reaches Claude byte for byte inside every prompt style.

A style's clean-up (collapsing the blank lines empty sections leave) once ran over the
owner's text too: `A\\n\\n\\n\\nB` arrived as `A\\n\\nB`. Every way a prompt is wrapped is
checked here: each shipped style and each template in the repo's `brain/prompts/`, the work
prompt around it, the plan prompt, and the command line that carries it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from core.agent.argv import ClaudeCall, build_command
from core.agent.prompts import work_prompt
from core.improve.styles import PromptStyle, default_styles, parse_style, render_prompt
from core.models import Plan, Priority, Task, TaskState
from core.plans.draft import plan_prompt
from core.settings import Settings

REPO_PROMPTS = Path(__file__).resolve().parents[2] / "brain" / "prompts"
NOW = datetime(2026, 10, 5, 3, 0, tzinfo=UTC)


def all_styles() -> list[PromptStyle]:
    repo = [parse_style(p.name, p.read_text(encoding="utf-8")) for p in sorted(REPO_PROMPTS.glob("*.md"))]
    styles = [*default_styles(), *repo]
    assert len(styles) >= 4, "the shipped styles and the vault's copies are all checked"
    return styles


STYLES = all_styles()


def task(prompt: str, check: str | None) -> Task:
    return Task(id=4, title="a title", prompt=prompt, state=TaskState.READY, priority=Priority.NORMAL,
                repo="/code/shop", depends_on=(), created_at=NOW, updated_at=NOW, check_cmd=check)


def plan(body: str) -> Plan:
    return Plan(id=1, task_id=4, version=1, body=body, status="approved", created_at=NOW)


# Text full of what clean-ups touch: blank-line runs, edge whitespace, `$`, CRs, any unicode.
owner_text = st.lists(
    st.one_of(st.sampled_from(["\n", "\n\n\n", " ", "\t", "\r", "$", "$prompt", "---", "\u2028"]),
              st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8)),
    min_size=1, max_size=40,
).map("".join).filter(bool)


@settings(max_examples=300, deadline=None)
@given(prompt=owner_text, check=st.none() | st.just("make test"), with_plan=st.booleans(),
       lessons=st.lists(st.text(max_size=20), max_size=2), index=st.integers(0, len(STYLES) - 1))
def test_every_style_carries_the_owners_prompt_exactly(
    prompt: str, check: str | None, with_plan: bool, lessons: list[str], index: int,
) -> None:
    style = STYLES[index]
    approved = plan("1. step\n\n\n\n2. step") if with_plan else None
    rendered = render_prompt(style, task(prompt, check), approved, lessons)
    assert prompt in rendered
    assert prompt in work_prompt(rendered, "a plan" if with_plan else None)
    assert prompt in plan_prompt(prompt, previous="old", comment="shorter")


@settings(max_examples=100, deadline=None)
@given(prompt=owner_text)
def test_the_command_line_carries_the_prompt_exactly(prompt: str) -> None:
    command = build_command(Settings(), ClaudeCall(prompt, session_id="s"), executable="claude")
    assert command.stdin_text is None and command.argv[-2:] == ("--", prompt)


def test_blank_lines_inside_the_prompt_stay() -> None:
    for style in STYLES:
        rendered = render_prompt(style, task("A\n\n\n\nB", None), None, [])
        assert "A\n\n\n\nB" in rendered
        # ...while the empty sections around it still leave no run of blank lines behind.
        assert "\n\n\n" not in rendered.replace("A\n\n\n\nB", "A B")


def test_a_sixty_thousand_character_prompt_stays_whole() -> None:
    lines = [f"line {i}: {'ü' * (i % 7)}{chr(0x1F600 + i % 50)}" + "\n" * (1 + i % 4) for i in range(4000)]
    prompt = "".join(lines)[:60_000]
    assert len(prompt) == 60_000
    for style in STYLES:
        rendered = render_prompt(style, task(prompt, "make test"), plan("p"), ["a lesson"])
        assert prompt in rendered
        wrapped = work_prompt(rendered)
        command = build_command(Settings(), ClaudeCall(wrapped, session_id="s"), executable="claude")
        carried = command.stdin_text if command.stdin_text is not None else command.argv[-1]
        assert carried == wrapped
