"""The Claude Code command line for one run, built as an argument vector (never a shell string).

Flag facts (reference section 3): stream-json needs `--verbose`; `--allowedTools`,
`--disallowedTools` and `--add-dir` are variadic in the CLI's option parser and swallow a
prompt that follows them, so the prompt always comes last, after `--`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.settings import PermissionMode, Settings

PROMPT_ARGV_MAX_BYTES = 100_000
"""Linux refuses one argument over 128 KiB (MAX_ARG_STRLEN); longer prompts go through stdin."""

@dataclass(frozen=True, slots=True)
class ClaudeCall:
    """What varies between runs; everything else comes from settings."""

    prompt: str
    session_id: str | None = None
    """Start a new session with this id (`--session-id`), so it is known before any output."""
    resume: str | None = None
    """Continue this session (`--resume`)."""
    permission_mode: PermissionMode | None = None
    max_budget_usd: float | None = None
    max_turns: int | None = None
    model: str | None = None
    add_dirs: tuple[Path, ...] = field(default=())
    allowed_tools: tuple[str, ...] = field(default=())
    """Permission rules for this run (each its own argument: rules contain spaces)."""
    settings_json: str | None = None
    """Passed as `--settings` (the Bash sandbox)."""
    system_note: str | None = None
    """Appended to the system prompt after the owner's own addition."""


@dataclass(frozen=True, slots=True)
class ClaudeCommand:
    argv: tuple[str, ...]
    stdin_text: str | None
    """The prompt, when it is too long for the argument vector; otherwise None (stdin is /dev/null)."""


def build_command(settings: Settings, call: ClaudeCall, *, executable: str | None = None) -> ClaudeCommand:
    if call.session_id and call.resume:
        raise ValueError("a run either starts a session or resumes one, not both")
    argv: list[str] = [executable or settings.claude_bin, "-p", "--output-format", "stream-json",
                       "--verbose"]
    if call.resume:
        argv += ["--resume", call.resume]
    elif call.session_id:
        argv += ["--session-id", call.session_id]
    model = call.model if call.model is not None else settings.model
    if model:
        argv += ["--model", model]
    argv += ["--permission-mode", call.permission_mode or settings.permission_mode]
    max_turns = call.max_turns if call.max_turns is not None else settings.max_turns
    if max_turns:
        argv += ["--max-turns", str(max_turns)]
    budget = call.max_budget_usd if call.max_budget_usd is not None else settings.max_budget_usd
    if budget:
        argv += ["--max-budget-usd", f"{budget:g}"]
    if call.settings_json:
        argv += ["--settings", call.settings_json]
    system = "\n\n".join(p for p in (settings.append_system_prompt, call.system_note) if p)
    if system:
        argv += ["--append-system-prompt", system]
    owner = settings.allowed_tools.strip()
    allowed = [*call.allowed_tools, *([owner] if owner else [])]
    if allowed:
        argv += ["--allowedTools", *allowed]
    if settings.disallowed_tools.strip():
        argv += ["--disallowedTools", settings.disallowed_tools.strip()]
    dirs = [*settings.add_dirs, *call.add_dirs]
    if dirs:
        argv += ["--add-dir", *(str(Path(d).expanduser()) for d in dirs)]
    if len(call.prompt.encode("utf-8", "surrogateescape")) > PROMPT_ARGV_MAX_BYTES:
        return ClaudeCommand(tuple(argv), call.prompt)
    argv += ["--", call.prompt]
    return ClaudeCommand(tuple(argv), None)
