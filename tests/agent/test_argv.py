"""The CLI argument vector: every flag from settings, the prompt last and intact."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.agent.argv import PROMPT_ARGV_MAX_BYTES, ClaudeCall, build_command
from core.childenv import child_env
from core.demo import fake_claude
from core.errors import ConfigError
from core.settings import Settings, load_settings

NASTY = "it's \"done\" $(rm -rf /) `id` $HOME\n--resume x\n-p ; | & > < * ? ~ \\ ünïcødé 🎉 \t end"


def full_settings(**extra: object) -> Settings:
    return load_settings(
        env_file=None,
        claude_bin="claude",
        model="opus",
        permission_mode="acceptEdits",
        allowed_tools="Bash(git *) Edit",
        disallowed_tools="WebFetch",
        max_turns=30,
        max_budget_usd=2.5,
        append_system_prompt="Be brief.",
        add_dirs="/srv/shared,/srv/docs",
        **extra,
    )


def test_every_flag_from_settings_and_the_prompt_after_a_separator(settings: Settings) -> None:
    session = "5b3f0e0e-0000-4000-8000-000000000001"
    cmd = build_command(full_settings(), ClaudeCall("fix it", session_id=session))
    argv = list(cmd.argv)
    assert argv[:5] == ["claude", "-p", "--output-format", "stream-json", "--verbose"]
    pairs = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}
    assert pairs["--session-id"] == "5b3f0e0e-0000-4000-8000-000000000001"
    assert pairs["--model"] == "opus"
    assert pairs["--permission-mode"] == "acceptEdits"
    assert pairs["--max-turns"] == "30"
    assert pairs["--max-budget-usd"] == "2.5"
    assert pairs["--append-system-prompt"] == "Be brief."
    assert pairs["--allowedTools"] == "Bash(git *) Edit"
    assert pairs["--disallowedTools"] == "WebFetch"
    add_dir = argv.index("--add-dir")
    assert argv[add_dir + 1 : add_dir + 3] == ["/srv/shared", "/srv/docs"]
    assert argv[-2:] == ["--", "fix it"]
    assert "--resume" not in argv
    assert cmd.stdin_text is None


def test_resume_replaces_session_id_and_call_overrides_settings() -> None:
    cmd = build_command(full_settings(), ClaudeCall("go on", resume="abc", permission_mode="plan",
                                                    max_budget_usd=0.5, max_turns=1, model="haiku"))
    argv = list(cmd.argv)
    assert argv[argv.index("--resume") + 1] == "abc"
    assert "--session-id" not in argv
    assert argv[argv.index("--permission-mode") + 1] == "plan"
    assert argv[argv.index("--max-budget-usd") + 1] == "0.5"
    assert argv[argv.index("--max-turns") + 1] == "1"
    assert argv[argv.index("--model") + 1] == "haiku"


def test_defaults_pass_only_what_is_set(settings: Settings) -> None:
    argv = list(build_command(settings, ClaudeCall("x")).argv)
    assert argv == ["claude", "-p", "--output-format", "stream-json", "--verbose",
                    "--permission-mode", "acceptEdits", "--", "x"]


def test_both_new_and_resumed_session_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError):
        build_command(settings, ClaudeCall("x", session_id="a", resume="b"))


def test_a_prompt_too_long_for_argv_goes_to_stdin(settings: Settings) -> None:
    prompt = "é" * (PROMPT_ARGV_MAX_BYTES // 2 + 1)
    cmd = build_command(settings, ClaudeCall(prompt))
    assert cmd.stdin_text == prompt
    assert prompt not in cmd.argv and "--" not in cmd.argv


def test_child_env_is_an_allow_list() -> None:
    ours = {"CLAUDECODE": "1", "TELEGRAM_BOT_TOKEN": "123:abc", "PATH": "/bin", "HOME": "/h",
            "LC_ALL": "C.UTF-8", "ANTHROPIC_API_KEY": "sk-ant-x", "CLAUDE_CONFIG_DIR": "/c",
            "NIGHTSHIFT_DATABASE_URL": "postgresql://u:pw@h/db", "AWS_SECRET_ACCESS_KEY": "k",
            "HTTPS_PROXY": "http://proxy:3128", "SSH_AUTH_SOCK": "/tmp/agent"}
    assert child_env(source=ours) == {"PATH": "/bin", "HOME": "/h", "LC_ALL": "C.UTF-8",
                                      "ANTHROPIC_API_KEY": "sk-ant-x", "CLAUDE_CONFIG_DIR": "/c"}
    assert child_env(source=ours, claude=False) == {"PATH": "/bin", "HOME": "/h", "LC_ALL": "C.UTF-8"}
    # The owner's extra names pass; the bot token and nightshift's settings never do.
    extra = child_env(["HTTPS_PROXY", "TELEGRAM_BOT_TOKEN", "NIGHTSHIFT_DATABASE_URL", "CLAUDECODE"],
                      source=ours)
    assert extra["HTTPS_PROXY"] == "http://proxy:3128"
    assert not {"TELEGRAM_BOT_TOKEN", "NIGHTSHIFT_DATABASE_URL", "CLAUDECODE"} & set(extra)
    # Claude Code's own unprefixed settings reach Claude, not the other tools.
    unattended = {**ours, "DISABLE_AUTOUPDATER": "1"}
    assert child_env(source=unattended)["DISABLE_AUTOUPDATER"] == "1"
    assert "DISABLE_AUTOUPDATER" not in child_env(source=unattended, claude=False)


@pytest.mark.parametrize("value", ["TELEGRAM_BOT_TOKEN", "HTTPS_PROXY,NIGHTSHIFT_DATABASE_URL", "A B",
                                   "CLAUDECODE", "1X"])
def test_pass_env_refuses_names_that_must_never_pass(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIGHTSHIFT_PASS_ENV", value)
    with pytest.raises(ConfigError, match="NIGHTSHIFT_PASS_ENV"):
        load_settings(env_file=None)


def test_pass_env_is_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIGHTSHIFT_PASS_ENV", "HTTPS_PROXY, NO_PROXY,")
    assert load_settings(env_file=None).pass_env == ["HTTPS_PROXY", "NO_PROXY"]


@given(st.text(min_size=1).filter(lambda s: s.strip() and "\x00" not in s))
def test_the_fake_cli_parser_gets_any_prompt_back_exactly(prompt: str) -> None:
    """The real CLI's variadic options would eat a trailing prompt; `--` keeps it whole."""
    cmd = build_command(full_settings(), ClaudeCall(prompt, resume="s"))
    parsed = fake_claude._parser().parse_args(list(cmd.argv[1:]))
    assert parsed.prompt == prompt
    assert parsed.allowed == ["Bash(git *) Edit"]
    assert parsed.add_dir == ["/srv/shared", "/srv/docs"]


def test_without_the_separator_variadic_flags_swallow_the_prompt() -> None:
    """The fake reproduces the real CLI's trap, so a wrong argv order would fail the tests."""
    parsed = fake_claude._parser().parse_args(["-p", "--allowedTools", "Edit", "fix it"])
    assert parsed.prompt is None and parsed.allowed == ["Edit", "fix it"]


def test_nothing_shell_shaped_in_the_argv(settings: Settings) -> None:
    cmd = build_command(settings, ClaudeCall(NASTY))
    assert cmd.argv[-1] == NASTY  # one element, unquoted: no shell will ever parse it
    assert shlex.split(shlex.join(cmd.argv))[-1] == NASTY


def test_add_dirs_expand_the_home(settings: Settings, tmp_path: Path) -> None:
    cmd = build_command(settings, ClaudeCall("x", add_dirs=(Path("~/notes"),)))
    argv = list(cmd.argv)
    assert argv[argv.index("--add-dir") + 1] == str(Path("~/notes").expanduser())
