"""What Claude may do unattended, and what the owner allowed after a refusal.

A headless run cannot ask. Under `acceptEdits` alone the real CLI refuses every Bash command
that changes something (`git commit`, the tests), ends `success` anyway and buries the
refusal in `permission_denials` (reference section 7). So each work run gets:

- Claude Code's own Bash sandbox when it can run here (bubblewrap + socat on Linux, built in
  on macOS): `sandbox.enabled` + `autoAllowBashIfSandboxed` through `--settings`, so Bash runs
  without asking, confined to the worktree (writes elsewhere fail, the network is refused);
- in any case an allow-list: git's add/commit/status/diff/log/show, the task's check command,
  and the rules the owner allowed for this task or its repository after a refusal.

A refused call is shown to the owner with a rule that would allow it; `allow` records the
rule for the task (or the repo) and the task retries in the same session.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from core.agent.stream import Denial
from core.errors import InvalidInput
from core.models import Task
from core.settings import Settings
from core.store.store import Store

BASE_RULES = (
    "Bash(git add:*)",
    "Bash(git commit:*)",
    "Bash(git status:*)",
    "Bash(git diff:*)",
    "Bash(git log:*)",
    "Bash(git show:*)",
)
"""Enough git for Claude to commit its work on the task branch (never push: no remote rule)."""

SANDBOX_SETTINGS = {"sandbox": {"enabled": True, "autoAllowBashIfSandboxed": True}}
SANDBOX_NOTE = (
    "Bash commands run in a sandbox confined to this working directory. Its dotfiles are masked "
    "while a command runs, so `git add -A` and `git add .` fail there: add files by path "
    "(`git add src/x.py`)."
)
SUBCOMMAND_TOOLS = frozenset({
    "git", "npm", "pnpm", "yarn", "bun", "npx", "cargo", "go", "make", "uv", "poetry", "pip", "pip3",
    "docker", "kubectl", "dotnet", "mvn", "gradle", "bundle", "rake", "mix", "deno", "just", "tox",
    "nox", "hatch", "pdm",
})
"""Programs whose first argument says what they do (`git commit`, `npm test`): a rule names both."""
SKIPPED_PROGRAMS = frozenset({"cd", "true", ":"})
MAX_RULE_CHARS = 300
_RULE = re.compile(r"^[A-Z][A-Za-z0-9_]*(\((?P<spec>[^()\n]+)\))?$")
_OPERATORS = frozenset({"&&", "||", ";", "|", "&", ";;", "|&"})
_PYTHON = re.compile(r"^python[0-9.]*$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")

Scope = Literal["task", "repo"]


def _words(part: list[str]) -> list[str]:
    words = list(part)
    while words and _ASSIGNMENT.match(words[0]):
        words.pop(0)  # FOO=1 pytest: the program is pytest
    return words


def _parts(command: str) -> list[list[str]]:
    """The simple commands of a shell line, split at `&&`, `||`, `;` and pipes."""
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:  # an unbalanced quote: the words are still a fair guess
        tokens = command.split()
    parts: list[list[str]] = [[]]
    for token in tokens:
        if token in _OPERATORS or set(token) <= set("&|;"):
            parts.append([])
        else:
            parts[-1].append(token)
    return [p for p in parts if p]


def suggest_rules(command: str) -> list[str]:
    """Prefix rules that would let each part of `command` run: `pytest -q && git commit -m x`
    gives `Bash(pytest:*)` and `Bash(git commit:*)`."""
    rules: list[str] = []
    for part in _parts(command):
        words = _words(part)
        if not words or words[0] in SKIPPED_PROGRAMS:
            continue
        program = words[0]
        prefix = program
        if program in SUBCOMMAND_TOOLS and len(words) > 1 and not words[1].startswith("-"):
            prefix = f"{program} {words[1]}"
        elif _PYTHON.match(program) and len(words) > 2 and words[1] == "-m":
            prefix = f"{program} -m {words[2]}"  # python -m pytest: not every python command
        if "(" in prefix or ")" in prefix or not prefix.isprintable() or prefix != " ".join(prefix.split()):
            continue  # not something a rule can name
        if prefix not in " ".join(command.split()):
            continue  # the shell unescapes it (`0\0` runs `00`): a rule would not match the text
        rule = f"Bash({prefix}:*)"
        try:
            if normalize_rule(rule) != rule:
                continue
        except InvalidInput:
            continue  # `*` would allow every command: only offer what the owner may accept
        rules.append(rule)
    return list(dict.fromkeys(rules))


def rules_for_denial(denial: Denial) -> list[str]:
    """The rules the owner is offered for one refused call."""
    if denial.tool == "Bash":
        return suggest_rules(denial.detail) if denial.detail else []
    if denial.tool in ("Write", "Edit", "MultiEdit", "NotebookEdit") and denial.detail:
        return [f"{denial.tool}({denial.detail})"]
    return [denial.tool] if _RULE.match(denial.tool) else []


def normalize_rule(text: str) -> str:
    """The owner's words as a permission rule: a tool rule as the CLI takes it
    (`Bash(npm test:*)`, `WebFetch(domain:docs.rs)`, `WebSearch`), or a plain command, which
    allows commands starting with it (`pytest -q` → `Bash(pytest -q:*)`). Allowing every
    Bash command is refused: that is `NIGHTSHIFT_ALLOWED_TOOLS`, not a per-task answer."""
    rule = " ".join((text or "").split())
    if not rule:
        raise InvalidInput("say what to allow: a command such as `pytest -q`, or a rule such as "
                           "`Bash(npm test:*)`")
    if len(rule) > MAX_RULE_CHARS:
        raise InvalidInput(f"that rule is longer than {MAX_RULE_CHARS} characters")
    match = _RULE.match(rule)
    if match is None:
        if any(c in rule for c in "()"):
            raise InvalidInput(f"{rule!r} is neither a command nor a rule like Bash(npm test:*)")
        rule = f"Bash({rule.removesuffix(':*').strip()}:*)"
        match = _RULE.match(rule)
        if match is None:
            raise InvalidInput(f"{text!r} cannot be made into a rule")
    spec = (match.group("spec") if match else None) or ""
    tool = rule.split("(", 1)[0]
    if tool == "Bash" and spec.strip(" :*") == "":
        raise InvalidInput("allowing every Bash command is not a per-task answer; set "
                           "NIGHTSHIFT_ALLOWED_TOOLS if you really want that")
    return rule


# --- what the owner allowed ----------------------------------------------------------------

def _task_key(task_id: int) -> str:
    return f"allow.task.{task_id}"


def _repo_key(repo: str) -> str:
    return "allow.repo." + hashlib.sha256(repo.encode("utf-8", "surrogateescape")).hexdigest()[:32]


async def _rules(store: Store, key: str) -> list[str]:
    value = await store.kv.get(key)
    rules = value.get("rules") if isinstance(value, dict) else None
    return [str(r) for r in rules] if isinstance(rules, list) else []


async def allowed_rules(store: Store, task: Task) -> list[str]:
    """Rules the owner allowed for this task and for its repository."""
    rules = await _rules(store, _task_key(task.id))
    if task.repo:
        rules += await _rules(store, _repo_key(task.repo))
    return list(dict.fromkeys(rules))


async def add_rules(store: Store, task: Task, rules: Iterable[str], scope: Scope) -> list[str]:
    """Record rules for the task (or its repository); returns every rule now in that scope."""
    if scope == "repo" and not task.repo:
        raise InvalidInput(f"task {task.id} has no repository; allow it for the task instead")
    key = _repo_key(task.repo) if scope == "repo" and task.repo else _task_key(task.id)
    merged = list(dict.fromkeys([*await _rules(store, key), *rules]))
    value: dict[str, Any] = {"rules": merged}
    if scope == "repo":
        value["repo"] = task.repo
    await store.kv.set(key, value)
    return merged


# --- one run's set-up ----------------------------------------------------------------------

def sandbox_support(platform: str | None = None) -> tuple[bool, str]:
    """Can Claude Code sandbox Bash here? (True, what it uses) or (False, how to get it)."""
    platform = platform or sys.platform
    if platform == "darwin":
        return True, "macOS sandbox (built in)"
    if not platform.startswith("linux"):
        return False, f"Claude Code has no Bash sandbox on {platform}"
    missing = [tool for tool in ("bwrap", "socat") if shutil.which(tool) is None]
    if missing:
        return False, (f"{' and '.join(missing)} not found: install them (apt install bubblewrap socat"
                       " / dnf install bubblewrap socat)")
    return True, "bubblewrap + socat"


@dataclass(frozen=True, slots=True)
class RunSetup:
    """The permission flags of one run."""

    sandbox: bool
    allowed_tools: tuple[str, ...]
    settings_json: str | None
    system_note: str | None

    def as_json(self) -> dict[str, Any]:
        return {"sandbox": self.sandbox, "allowed_tools": list(self.allowed_tools)}


def run_setup(settings: Settings, check_cmd: str | None, owner_rules: Iterable[str],
              *, sandbox_ok: bool) -> RunSetup:
    """Sandbox when the setting and the machine allow it; the allow-list in every case."""
    use_sandbox = settings.bash_sandbox == "on" or (settings.bash_sandbox == "auto" and sandbox_ok)
    rules = [*BASE_RULES, *(suggest_rules(check_cmd) if check_cmd else ()), *owner_rules]
    return RunSetup(
        sandbox=use_sandbox,
        allowed_tools=tuple(dict.fromkeys(rules)),
        settings_json=json.dumps(SANDBOX_SETTINGS, separators=(",", ":")) if use_sandbox else None,
        system_note=SANDBOX_NOTE if use_sandbox else None,
    )
