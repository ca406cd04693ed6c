"""What a run may do unasked, and the rules the owner allows after a refusal."""

from __future__ import annotations

import json
import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.agent.argv import ClaudeCall, build_command
from core.agent.stream import Denial
from core.errors import InvalidInput
from core.execution.permissions import (
    BASE_RULES,
    normalize_rule,
    rules_for_denial,
    run_setup,
    sandbox_support,
    suggest_rules,
)
from core.settings import Settings


@pytest.mark.parametrize(("command", "rules"), [
    ("pytest -q", ["Bash(pytest:*)"]),
    ("git add -A && git commit -m 'a b'", ["Bash(git add:*)", "Bash(git commit:*)"]),
    ("FOO=1 make test", ["Bash(make test:*)"]),
    ("cd sub && npm test -- --watch", ["Bash(npm test:*)"]),
    ("python3 -m pytest tests/ | tail -5", ["Bash(python3 -m pytest:*)", "Bash(tail:*)"]),
    ("./mark.sh; ./mark.sh", ["Bash(./mark.sh:*)"]),
    ("echo 'unbalanced", ["Bash(echo:*)"]),
    ("", []),
])
def test_rules_are_suggested_per_part_of_a_command(command: str, rules: list[str]) -> None:
    assert suggest_rules(command) == rules


def test_a_program_the_shell_unescapes_gets_no_rule_that_could_not_match_its_text() -> None:
    assert suggest_rules("0\\0 && pytest -q") == ["Bash(pytest:*)"]


def test_a_glob_for_a_program_is_never_offered_as_a_rule() -> None:
    assert suggest_rules("* && make") == ["Bash(make:*)"]


@given(st.text(max_size=200))
def test_suggested_rules_are_well_formed_prefixes_of_the_command(command: str) -> None:
    for rule in suggest_rules(command):
        assert rule.startswith("Bash(") and rule.endswith(":*)")
        prefix = rule[len("Bash("):-len(":*)")]
        assert prefix and "(" not in prefix and ")" not in prefix and "\n" not in prefix
        assert prefix.split()[0] in command
        assert normalize_rule(rule) == rule  # the owner may allow what is offered


@pytest.mark.parametrize(("text", "rule"), [
    ("pytest -q", "Bash(pytest -q:*)"),
    ("  npm   test ", "Bash(npm test:*)"),
    ("git commit:*", "Bash(git commit:*)"),
    ("Bash(npm test:*)", "Bash(npm test:*)"),
    ("WebFetch(domain:docs.rs)", "WebFetch(domain:docs.rs)"),
    ("WebSearch", "WebSearch"),
])
def test_the_owners_words_become_a_rule(text: str, rule: str) -> None:
    assert normalize_rule(text) == rule


@pytest.mark.parametrize("text", ["", "   ", "Bash", "Bash(*)", "Bash(:*)", "*", "rm (x", "x" * 400])
def test_allowing_everything_or_nonsense_is_refused_clearly(text: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_rule(text)


def test_rules_offered_for_each_kind_of_refusal() -> None:
    assert rules_for_denial(Denial("Bash", "pytest -q && git push")) == ["Bash(pytest:*)", "Bash(git push:*)"]
    assert rules_for_denial(Denial("Write", "/w/x.py")) == ["Write(/w/x.py)"]
    assert rules_for_denial(Denial("WebFetch", "https://x.org")) == ["WebFetch"]
    assert rules_for_denial(Denial("Bash", "")) == []


@pytest.mark.parametrize(("setting", "available", "sandboxed"), [
    ("auto", True, True), ("auto", False, False), ("on", False, True), ("off", True, False),
])
def test_the_sandbox_when_set_and_available_and_the_allow_list_always(
    settings: Settings, setting: str, available: bool, sandboxed: bool
) -> None:
    config = settings.model_copy(update={"bash_sandbox": setting})
    setup = run_setup(config, "make test", ["Bash(./mark.sh:*)"], sandbox_ok=available)
    assert setup.sandbox is sandboxed
    assert setup.allowed_tools == (*BASE_RULES, "Bash(make test:*)", "Bash(./mark.sh:*)")
    argv = build_command(config, ClaudeCall("do it", allowed_tools=setup.allowed_tools,
                                            settings_json=setup.settings_json,
                                            system_note=setup.system_note)).argv
    # Each rule is its own argument (rules contain spaces) and the prompt stays last, after --.
    start = argv.index("--allowedTools") + 1
    assert list(argv[start:start + len(setup.allowed_tools)]) == list(setup.allowed_tools)
    assert argv[-2:] == ("--", "do it")
    if sandboxed:
        settings_arg = json.loads(argv[argv.index("--settings") + 1])
        assert settings_arg == {"sandbox": {"enabled": True, "autoAllowBashIfSandboxed": True}}
        assert "git add -A" in argv[argv.index("--append-system-prompt") + 1]
    else:
        assert "--settings" not in argv and "--append-system-prompt" not in argv


def test_the_owners_own_allowed_tools_still_reach_the_cli(settings: Settings) -> None:
    config = settings.model_copy(update={"allowed_tools": "Bash(git *) Edit",
                                         "append_system_prompt": "Be brief."})
    call = ClaudeCall("x", allowed_tools=("Bash(git add:*)",), system_note="Note.")
    argv = build_command(config, call).argv
    assert shlex.join(argv).count("--allowedTools") == 1
    start = argv.index("--allowedTools")
    assert argv[start + 1:start + 3] == ("Bash(git add:*)", "Bash(git *) Edit")
    assert argv[argv.index("--append-system-prompt") + 1] == "Be brief.\n\nNote."


def test_sandbox_support_by_platform() -> None:
    assert sandbox_support("darwin")[0] is True
    ok, detail = sandbox_support("win32")
    assert not ok and "win32" in detail
