"""Prompt styles: the shipped templates, loading and refusing bad ones, rendering."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.improve.styles import (
    DEFAULTS_DIR,
    default_styles,
    install_default_styles,
    load_styles,
    parse_style,
    render_prompt,
)
from core.models import Plan, Priority, Task, TaskState

REPO_PROMPTS = Path(__file__).resolve().parents[2] / "brain" / "prompts"
NOW = datetime(2026, 10, 5, 3, 0, tzinfo=UTC)


def task(check: str | None = "make test", prompt: str = "Fix the flaky login test.") -> Task:
    return Task(id=4, title="Fix the flaky login test", prompt=prompt, state=TaskState.READY,
                priority=Priority.NORMAL, repo="/code/shop", depends_on=(), created_at=NOW,
                updated_at=NOW, check_cmd=check, tags=("auth",))


PLAN = Plan(id=1, task_id=4, version=2, body="1. Find the race\n2. Fix it", status="approved",
            created_at=NOW)


def test_at_least_two_styles_ship_and_the_vault_copies_match() -> None:
    names = [s.name for s in default_styles()]
    assert {"direct", "plan-test-verify"} <= set(names)
    for shipped in DEFAULTS_DIR.glob("*.md"):
        assert (REPO_PROMPTS / shipped.name).read_text() == shipped.read_text()
    for style in default_styles():
        assert style.description, f"{style.name} needs a description in its front matter"


def test_render_carries_prompt_plan_lessons_and_check() -> None:
    by_name = {s.name: s for s in default_styles()}
    lessons = ["Run the tests before you finish.", "Do not use `rg`: it is not installed."]
    for style in by_name.values():
        text = render_prompt(style, task(), PLAN, lessons)
        assert "Fix the flaky login test." in text
        assert "Approved plan (v2)" in text and "1. Find the race" in text
        assert "- Run the tests before you finish." in text
        assert "`make test`" in text
        assert "$" not in text and "\n\n\n" not in text
    ptv = render_prompt(by_name["plan-test-verify"], task(), None, [])
    assert "Verify: run `make test` and make sure it passes." in ptv
    assert "Approved plan" not in ptv and "Lessons" not in ptv


def test_render_without_check_or_plan_leaves_no_empty_sections() -> None:
    text = render_prompt(next(s for s in default_styles() if s.name == "direct"),
                         task(check=None), None, [])
    assert text == "Fix the flaky login test.\n"


def test_a_dollar_in_the_task_is_kept_verbatim() -> None:
    style = next(s for s in default_styles() if s.name == "direct")
    text = render_prompt(style, task(prompt="Price is $5 and ${HOME} stays"), None, [])
    assert "Price is $5 and ${HOME} stays" in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("---\nname: x\n---\nDo $thing with $prompt\n", "unknown placeholder $thing"),
        ("---\nname: x\n---\nno task here\n", "must contain $prompt"),
        ("---\nname: x\n---\ncosts $ 5 $prompt\n", "stray '$'"),
        ("---\nname: Bad Name\n---\n$prompt\n", "lowercase"),
        ("---\nname: x\nenabled: maybe\n---\n$prompt\n", "enabled must be true or false"),
        ("---\nname: x\n---\n   \n", "body is empty"),
        ("---\nname: [x\n---\n$prompt\n", "not valid YAML"),
    ],
)
def test_bad_templates_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("$", r"\$").replace("(", r"\(")):
        parse_style("x.md", text)


def test_a_broken_file_is_skipped_and_reported(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text("---\ndescription: fine\n---\n$prompt\n")
    (tmp_path / "bad.md").write_text("$nope $prompt\n")
    (tmp_path / "other.md").write_text("---\nname: good\n---\n$prompt again\n")
    found = load_styles(tmp_path)
    assert found.names == ["good"]
    assert dict(found.problems).keys() == {"bad.md", "other.md"}
    assert "unknown placeholder $nope" in dict(found.problems)["bad.md"]


def test_with_no_usable_style_the_shipped_ones_are_used(tmp_path: Path) -> None:
    (tmp_path / "off.md").write_text("---\nenabled: false\n---\n$prompt\n")
    found = load_styles(tmp_path)
    assert {"direct", "plan-test-verify"} <= set(found.names)
    assert load_styles(tmp_path / "missing").names == [s.name for s in default_styles()]


def test_install_fills_an_empty_folder_privately_and_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "prompts"
    written = install_default_styles(target)
    assert {p.name for p in written} == {p.name for p in DEFAULTS_DIR.glob("*.md")}
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in written)
    assert target.stat().st_mode & 0o777 == 0o700
    (target / "direct.md").write_text("---\nname: direct\n---\nmine: $prompt\n")
    assert install_default_styles(target) == []
    assert "mine:" in (target / "direct.md").read_text()
