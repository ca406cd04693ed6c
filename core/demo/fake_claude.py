"""A stand-in for the `claude` executable: same flags, same stream-json, scripted behaviour.

Tests and `nightshift demo` point `NIGHTSHIFT_CLAUDE_BIN` at `nightshift-fake-claude`. It
accepts the real CLI's flags (including its variadic options that swallow a trailing
prompt), prints output in the shapes of `reference/samples/`, appends usage lines to
`$CLAUDE_CONFIG_DIR/projects/<project>/<session>.jsonl` as the real CLI does, and edits and
commits in its working directory to simulate work.

What it does is chosen without touching the meaning of the prompt: a directive line in the
prompt, `[fake: limit reset_in=5]`, the environment variable `FAKE_CLAUDE_SCENARIO`
(`limit reset_in=5`), and/or `$CLAUDE_CONFIG_DIR/fake-scenarios.json`, which maps a piece of
prompt text to directive words (`{"changelog entry": "limit reset_in=5"}`), so a demo's
prompts stay free of test directives. Directives:

- `limit reset_in=S [window=five_hour]`: the account is limited for S seconds from the first
  invocation of the session (a rejected `rate_limit_event`, the limit text, exit 1); every
  invocation of any session before then is refused too; afterwards work goes on normally.
  `window=seven_day_opus` (or `_sonnet`) limits only runs on that model family (`--model`;
  the default model is Sonnet): a run on another model is served meanwhile.
- `needs_iterations=N`: the task is finished on the N-th invocation of the session (counted
  across `--resume`); before that `fake-status.txt` says `incomplete k/N` and the final
  message lacks the completion marker; on the N-th it says `done` and has the marker.
- `hang`: print the start of a run, then never finish.
- `crash`: print part of a run and die mid-line (no result).
- `slow [delay=S]`: pause S seconds (default 0.3) before each line.
- `fail`: end with an error result (exit 1).
- `max_turns`: stop at the turn limit (also when `--max-turns` is below the turns needed).
- `permission_denied`: the Bash call is refused (as with `--disallowedTools Bash`).
- `turns=N`: tool turns before the final answer (default 2).

In plan mode (`--permission-mode plan`) it changes nothing and answers with a plan that has a
fenced `nightshift-plan` JSON block (steps, files, risks, check, size).

`FAKE_CLAUDE_RECORD=<file>` appends one JSON line per invocation: argv, prompt, cwd, whether
stdin was /dev/null and whether CLAUDECODE was set, so tests can see exactly what arrived.

Standard library only (plus the completion marker), so it starts as fast as Python can.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from core.agent.prompts import COMPLETION_MARKER

VERSION = "2.1.197"
DEFAULT_MODEL = "claude-sonnet-4-5-20250929"
MODELS = {
    "sonnet": DEFAULT_MODEL,
    "opus": "claude-opus-4-1-20250805",
    "haiku": "claude-haiku-4-5-20251001",
}
TOOLS = ("Task", "Bash", "Glob", "Grep", "Read", "Edit", "Write", "TodoWrite")

USAGE_PER_MESSAGE = {
    "input_tokens": 12,
    "cache_creation_input_tokens": 1500,
    "cache_read_input_tokens": 6000,
    "output_tokens": 180,
}
"""Usage of every assistant message the fake prints; a run of T tool turns prints T + 1."""

PRICE_PER_MTOK = {"input": 3.0, "output": 15.0, "cache_creation": 3.75, "cache_read": 0.30}
"""Sonnet list prices (USD per million tokens), for a plausible `total_cost_usd`."""

DIRECTIVE = re.compile(r"\[fake:\s*([^\]]*)\]")
STATUS_FILE = "fake-status.txt"
WORK_FILE = "FAKE_WORK.md"


def expected_usage(messages: int) -> dict[str, int]:
    """The `usage` totals of a run that printed `messages` assistant messages."""
    return {k: v * messages for k, v in USAGE_PER_MESSAGE.items()}


def cost_usd(usage: dict[str, int]) -> float:
    dollars = (
        usage["input_tokens"] * PRICE_PER_MTOK["input"]
        + usage["output_tokens"] * PRICE_PER_MTOK["output"]
        + usage["cache_creation_input_tokens"] * PRICE_PER_MTOK["cache_creation"]
        + usage["cache_read_input_tokens"] * PRICE_PER_MTOK["cache_read"]
    ) / 1_000_000
    return round(dollars, 6)


# --- arguments, as the real CLI's option parser takes them -----------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(1)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="claude", add_help=True)
    p.add_argument("-p", "--print", dest="print_mode", action="store_true")
    p.add_argument("--output-format", choices=("text", "json", "stream-json"), default="text")
    p.add_argument("--input-format", choices=("text", "stream-json"), default="text")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("-r", "--resume")
    p.add_argument("-c", "--continue", dest="continue_", action="store_true")
    p.add_argument("--session-id")
    p.add_argument("--fork-session", action="store_true")
    p.add_argument("--model")
    p.add_argument("--fallback-model")
    p.add_argument(
        "--permission-mode",
        choices=("default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto"),
    )
    # Variadic in the real CLI (commander `<tools...>`): they swallow a prompt that follows.
    p.add_argument("--allowedTools", "--allowed-tools", dest="allowed", nargs="+", action="extend")
    p.add_argument("--disallowedTools", "--disallowed-tools", dest="disallowed", nargs="+",
                   action="extend")
    p.add_argument("--add-dir", dest="add_dir", nargs="+", action="extend")
    p.add_argument("--mcp-config", nargs="+", action="extend")
    p.add_argument("--max-turns", type=int)
    p.add_argument("--max-budget-usd", type=float)
    p.add_argument("--append-system-prompt")
    p.add_argument("--settings")
    p.add_argument("--system-prompt")
    p.add_argument("--dangerously-skip-permissions", action="store_true")
    p.add_argument("-v", "--version", action="store_true")
    p.add_argument("prompt", nargs="?")
    return p


def _fail(message: str, code: int = 1) -> NoReturn:
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()
    raise SystemExit(code)


def _split_tools(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or ():
        out += [t for t in re.split(r"[,\s]+", value) if t]
    return out


def _stdin_is_devnull() -> bool:
    try:
        st, null = os.fstat(0), os.stat(os.devnull)
    except OSError:
        return False
    return (st.st_rdev, st.st_ino) == (null.st_rdev, null.st_ino)


def directives(text: str) -> dict[str, str]:
    """`[fake: limit reset_in=5]` lines (and FAKE_CLAUDE_SCENARIO's words) as one dict."""
    found: dict[str, str] = {}
    for body in DIRECTIVE.findall(text):
        for word in body.split():
            key, _, value = word.partition("=")
            found[key.strip().lower()] = value.strip()
    return found


def scenario_for(prompt: str) -> str:
    """Directive words from `fake-scenarios.json` for the first piece of text the prompt holds."""
    try:
        table = json.loads((config_dir() / "fake-scenarios.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    if not isinstance(table, dict):
        return ""
    lowered = prompt.lower()
    return next((str(words) for needle, words in table.items()
                 if isinstance(needle, str) and needle and needle.lower() in lowered), "")


# --- where it keeps things --------------------------------------------------------------------


def config_dir() -> Path:
    """The first entry of CLAUDE_CONFIG_DIR (nightshift allows a list; the CLI uses one)."""
    raw = os.environ.get("CLAUDE_CONFIG_DIR", "")
    first = next((p.strip() for p in raw.split(",") if p.strip()), "")
    return Path(first).expanduser() if first else Path.home() / ".claude"


MAX_SANITIZED = 200
"""Claude Code keeps a project folder's name within the file system's limit: past 200
characters it keeps the first 200 and adds a hash of the whole path."""


def _js_hash36(text: str) -> str:
    """JavaScript's `(h << 5) - h + charCodeAt(i) | 0` over UTF-16 code units, in base 36."""
    h = 0
    units = text.encode("utf-16-le")
    for i in range(0, len(units), 2):
        h = ((h << 5) - h + int.from_bytes(units[i:i + 2], "little")) & 0xFFFFFFFF
    h = abs(h - (1 << 32) if h >= 1 << 31 else h)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        h, r = divmod(h, 36)
        out = digits[r] + out
        if h == 0:
            return out


def project_dir(cwd: str) -> Path:
    """Claude Code names a project folder after the cwd, every character but letters and
    digits turned into `-`, bounded in length as it does for deep folders."""
    name = re.sub(r"[^A-Za-z0-9]", "-", cwd)
    if len(name) > MAX_SANITIZED:
        name = f"{name[:MAX_SANITIZED]}-{_js_hash36(cwd)}"
    return config_dir() / "projects" / name


def _state_dir() -> Path:
    path = config_dir() / "fake-claude"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _load(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _save(path: Path, value: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value), encoding="utf-8")
    tmp.replace(path)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _record(args: argparse.Namespace, argv: list[str], prompt: str | None) -> None:
    target = os.environ.get("FAKE_CLAUDE_RECORD")
    if not target:
        return
    entry = {
        "argv": argv,
        "prompt": prompt,
        "cwd": os.getcwd(),
        "pid": os.getpid(),
        "pgid": os.getpgid(0),
        "stdin_devnull": _stdin_is_devnull(),
        "claudecode": os.environ.get("CLAUDECODE"),
        "resume": args.resume,
        "session_id": args.session_id,
        "config_dir": str(config_dir()),
        "permission_mode": args.permission_mode,
        "at": _now_iso(),
    }
    line = json.dumps(entry, ensure_ascii=False) + "\n"
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8", "surrogateescape"))
    finally:
        os.close(fd)


# --- the run ------------------------------------------------------------------------------------


class Run:
    """One invocation: prints events in the chosen format and mirrors them into the session log."""

    def __init__(self, args: argparse.Namespace, prompt: str, session_id: str, state: dict[str, Any],
                 opts: dict[str, str]) -> None:
        self.args = args
        self.prompt = prompt
        self.session_id = session_id
        self.state = state
        self.opts = opts
        self.cwd = os.getcwd()
        self.model = MODELS.get(args.model or "", args.model or DEFAULT_MODEL)
        self.started = time.monotonic()
        self.events: list[dict[str, Any]] = []
        self.messages = 0
        self.delay = float(opts.get("delay") or 0.3) if "slow" in opts else 0.0
        self.transcript = project_dir(self.cwd) / f"{session_id}.jsonl"
        self.transcript.parent.mkdir(parents=True, exist_ok=True)
        self.parent: str | None = None

    # output

    def emit(self, event: dict[str, Any]) -> None:
        if self.delay:
            time.sleep(self.delay)
        self.events.append(event)
        if self.args.output_format == "stream-json":
            sys.stdout.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
            sys.stdout.flush()

    def log(self, entry: dict[str, Any]) -> None:
        uid = str(uuid.uuid4())
        base = {
            "parentUuid": self.parent,
            "isSidechain": False,
            "userType": "external",
            "cwd": self.cwd,
            "sessionId": self.session_id,
            "version": VERSION,
            "gitBranch": _git_branch(),
        }
        self.parent = uid
        line = {**base, **entry, "uuid": uid, "timestamp": _now_iso()}
        with self.transcript.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")

    def init(self) -> None:
        disallowed = set(_split_tools(self.args.disallowed))
        self.log({"type": "user", "message": {"role": "user", "content": self.prompt}})
        self.emit({
            "type": "system", "subtype": "init", "cwd": self.cwd, "session_id": self.session_id,
            "tools": [t for t in TOOLS if t not in disallowed], "mcp_servers": [],
            "model": self.model, "permissionMode": self.args.permission_mode or "default",
            "slash_commands": [], "apiKeySource": "none", "claude_code_version": VERSION,
            "output_style": "default", "uuid": str(uuid.uuid4()),
        })

    def assistant(self, blocks: list[dict[str, Any]], stop_reason: str | None = None) -> None:
        """One API response; the CLI prints (and logs) it once per content block."""
        self.messages += 1
        message_id = "msg_fake" + hashlib.sha256(
            f"{self.session_id}:{self.state.get('invocations')}:{self.messages}".encode()
        ).hexdigest()[:20]
        request_id = "req_fake" + message_id[8:]
        for block in blocks:
            message = {
                "id": message_id, "type": "message", "role": "assistant", "model": self.model,
                "content": [block], "stop_reason": stop_reason, "stop_sequence": None,
                "usage": {**USAGE_PER_MESSAGE, "service_tier": "standard"},
            }
            self.emit({"type": "assistant", "message": message, "parent_tool_use_id": None,
                       "session_id": self.session_id, "uuid": str(uuid.uuid4())})
            self.log({"type": "assistant", "message": message, "requestId": request_id})

    def tool_result(self, tool_id: str, content: str, is_error: bool = False) -> None:
        message = {"role": "user", "content": [
            {"tool_use_id": tool_id, "type": "tool_result", "content": content, "is_error": is_error}
        ]}
        self.emit({"type": "user", "message": message, "parent_tool_use_id": None,
                   "session_id": self.session_id, "uuid": str(uuid.uuid4())})
        self.log({"type": "user", "message": message})

    def result(self, *, subtype: str, is_error: bool, text: str, terminal_reason: str,
               num_turns: int, denials: list[dict[str, Any]] | None = None,
               api_error_status: int | None = None, zero_usage: bool = False) -> int:
        usage = {k: 0 for k in USAGE_PER_MESSAGE} if zero_usage else expected_usage(self.messages)
        cost = cost_usd(usage)
        event: dict[str, Any] = {
            "type": "result", "subtype": subtype, "is_error": is_error,
            "duration_ms": int((time.monotonic() - self.started) * 1000),
            "duration_api_ms": int((time.monotonic() - self.started) * 800),
            "num_turns": num_turns, "result": text, "stop_reason": "end_turn",
            "session_id": self.session_id, "total_cost_usd": cost,
            "usage": {**usage, "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
                      "service_tier": "standard"},
            "modelUsage": {} if zero_usage else {self.model: {
                "inputTokens": usage["input_tokens"], "outputTokens": usage["output_tokens"],
                "cacheReadInputTokens": usage["cache_read_input_tokens"],
                "cacheCreationInputTokens": usage["cache_creation_input_tokens"],
                "webSearchRequests": 0, "costUSD": cost, "contextWindow": 200000}},
            "permission_denials": denials or [], "terminal_reason": terminal_reason,
            "uuid": str(uuid.uuid4()),
        }
        if api_error_status is not None:
            event = {**event, "api_error_status": api_error_status}
        self.emit(event)
        self.finish_output()
        return 1 if is_error else 0

    def finish_output(self) -> None:
        fmt = self.args.output_format
        if fmt == "stream-json":
            return
        result = next((e for e in reversed(self.events) if e.get("type") == "result"), None)
        if fmt == "json":
            value: Any = self.events if self.args.verbose else result
            sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
        elif result is not None:
            sys.stdout.write(str(result.get("result", "")) + "\n")
        sys.stdout.flush()

    # scenarios

    def limited(self, until: float, window: str) -> int:
        reset = datetime.fromtimestamp(math.ceil(until / 60) * 60, UTC)
        hour = reset.strftime("%I").lstrip("0") or "12"
        minute = "" if reset.minute == 0 else f":{reset.minute:02d}"
        which = {"seven_day": "weekly limit", "seven_day_opus": "Opus limit",
                 "seven_day_sonnet": "Sonnet limit"}.get(window, "session limit")
        text = f"You’ve hit your {which} · resets {hour}{minute}{reset.strftime('%p').lower()} (UTC)"
        self.emit({"type": "rate_limit_event", "rate_limit_info": {
            "status": "rejected", "resetsAt": math.ceil(until), "rateLimitType": window,
            "overageStatus": "rejected"}, "uuid": str(uuid.uuid4()), "session_id": self.session_id})
        synthetic = {
            "id": str(uuid.uuid4()), "type": "message", "role": "assistant", "model": "<synthetic>",
            "content": [{"type": "text", "text": text}], "stop_reason": "stop_sequence",
            "stop_sequence": "", "usage": {k: 0 for k in USAGE_PER_MESSAGE} | {"service_tier": "standard"},
        }
        self.emit({"type": "assistant", "message": synthetic, "parent_tool_use_id": None,
                   "session_id": self.session_id, "error": "rate_limit", "uuid": str(uuid.uuid4())})
        self.log({"type": "assistant", "message": synthetic, "isApiErrorMessage": True,
                  "error": "rate_limit", "apiErrorStatus": 429})
        return self.result(subtype="success", is_error=True, text=text, terminal_reason="api_error",
                           num_turns=1, api_error_status=429, zero_usage=True)

    def work(self) -> int:
        opts = self.opts
        invocation = int(self.state["worked"])
        needed = max(1, int(opts.get("needs_iterations") or 1))
        turns = max(1, int(opts.get("turns") or 2))
        plan_mode = self.args.permission_mode == "plan"
        disallowed = _split_tools(self.args.disallowed)
        denied = "permission_denied" in opts or any(t.split("(")[0] == "Bash" for t in disallowed)
        limit_turns = self.args.max_turns
        if "max_turns" in opts:
            limit_turns = min(limit_turns or turns, max(1, turns - 1))
        denials: list[dict[str, Any]] = []

        self.assistant([{"type": "text", "text": "Let me look at the repository first."}])
        if "crash" in opts:
            sys.stdout.write('{"type":"assistant","message":{"id":"msg_cut')
            sys.stdout.flush()
            sys.stderr.write("TypeError: Cannot read properties of undefined (reading 'content')\n"
                             "    at fake (file:///fake/cli.js:1:1)\n")
            sys.stderr.flush()
            os._exit(1)
        if "hang" in opts:
            while True:
                time.sleep(3600)
        for turn in range(1, turns + 1):
            if limit_turns is not None and turn > limit_turns:
                return self.result(
                    subtype="error_max_turns", is_error=True, terminal_reason="max_turns",
                    text=f"Reached the maximum number of turns ({limit_turns}).", num_turns=turn)
            tool_id = f"toolu_fake{invocation}{turn}"
            if turn == 1:
                command = "git status --short"
                self.assistant([{"type": "text", "text": "I'll check the working tree."},
                                {"type": "tool_use", "id": tool_id, "name": "Bash",
                                 "input": {"command": command, "description": "Look around"}}])
                if denied:
                    denials.append({"tool_name": "Bash", "tool_use_id": tool_id,
                                    "tool_input": {"command": command}})
                    self.tool_result(tool_id, "Claude requested permissions to use Bash, but you "
                                     "haven't granted it yet.", is_error=True)
                else:
                    self.tool_result(tool_id, _run(["git", "status", "--short"]) or "(clean)")
            elif plan_mode:
                self.assistant([{"type": "tool_use", "id": tool_id, "name": "Read",
                                 "input": {"file_path": str(Path(self.cwd) / WORK_FILE)}}])
                self.tool_result(tool_id, "(read)")
            else:
                self.assistant([{"type": "tool_use", "id": tool_id, "name": "Edit",
                                 "input": {"file_path": str(Path(self.cwd) / WORK_FILE)}}])
                self.tool_result(tool_id, "The file has been updated.")
            budget = self.args.max_budget_usd
            if budget is not None and cost_usd(expected_usage(self.messages)) > budget:
                return self.result(
                    subtype="error_max_budget_usd", is_error=True, terminal_reason="budget_exhausted",
                    text=f"Reached the maximum budget (${budget:g}).", num_turns=turn)
        if "fail" in opts:
            return self.result(subtype="error_during_execution", is_error=True,
                               terminal_reason="api_error", num_turns=turns + 1,
                               text="API Error: 500 {\"type\":\"error\",\"error\":{\"type\":"
                                    "\"api_error\",\"message\":\"Internal server error\"}}")
        if plan_mode:
            text = _plan_text(self.prompt)
        else:
            done = invocation >= needed and not denied
            _simulate_work(self.prompt, invocation, needed, done)
            if denied:
                text = "I could not run Bash: permission was denied, so the task is not finished."
            elif done:
                text = f"Finished after {invocation} iteration(s); all changes are committed.\n\n" \
                       f"{COMPLETION_MARKER}"
            else:
                text = f"Made progress ({invocation}/{needed}), but the task is not finished yet."
        self.assistant([{"type": "text", "text": text}], stop_reason="end_turn")
        return self.result(subtype="success", is_error=False, text=text, terminal_reason="completed",
                           num_turns=turns + 1, denials=denials)


def _run(argv: list[str], env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _git_branch() -> str:
    return _run(["git", "rev-parse", "--abbrev-ref", "HEAD"]) or ""


def _simulate_work(prompt: str, invocation: int, needed: int, done: bool) -> None:
    """Edit files and commit, as a model with acceptEdits and git access would."""
    first = next((ln.strip() for ln in prompt.splitlines() if ln.strip()), "work")[:72]
    with open(WORK_FILE, "a", encoding="utf-8") as fh:
        fh.write(f"- iteration {invocation}: {first}\n")
    Path(STATUS_FILE).write_text("done\n" if done else f"incomplete {invocation}/{needed}\n",
                                 encoding="utf-8")
    if _run(["git", "rev-parse", "--is-inside-work-tree"]) != "true":
        return
    env = dict(os.environ)
    if not _run(["git", "config", "user.email"]):
        env.update(GIT_AUTHOR_NAME="Fake Claude", GIT_AUTHOR_EMAIL="fake@claude.invalid",
                   GIT_COMMITTER_NAME="Fake Claude", GIT_COMMITTER_EMAIL="fake@claude.invalid")
    subprocess.run(["git", "add", WORK_FILE, STATUS_FILE], capture_output=True, env=env, check=False,
                   stdin=subprocess.DEVNULL)
    subprocess.run(["git", "commit", "-q", "-m", f"fake claude: iteration {invocation}: {first}"],
                   capture_output=True, env=env, check=False, stdin=subprocess.DEVNULL)


def _plan_text(prompt: str) -> str:
    first = next((ln.strip() for ln in prompt.splitlines() if ln.strip()), "the task")[:100]
    plan = {
        "steps": [f"Read the code involved in: {first}", "Make the change", "Run the check"],
        "files": [WORK_FILE],
        "risks": ["The fake model cannot see real code"],
        "check": f"grep -qx done {STATUS_FILE}",
        "size": "small",
    }
    return (
        f"Plan for: {first}\n\n1. Read the code.\n2. Make the change.\n3. Run the check.\n\n"
        "```nightshift-plan\n" + json.dumps(plan, indent=2) + "\n```\n"
    )


MODEL_WINDOWS = {"seven_day_opus": "opus", "seven_day_sonnet": "sonnet"}
"""Windows that limit one model family only: a run on another model is served."""


def _binds(window: str, model: str) -> bool:
    family = MODEL_WINDOWS.get(window)
    return family is None or family in model


def _limit_until(opts: dict[str, str], session: dict[str, Any], model: str = DEFAULT_MODEL
                 ) -> tuple[float, str] | None:
    """When the account stays limited (a global state every session sees) for `model`, or None."""
    path = _state_dir() / "limit.json"
    now = time.time()
    current = _load(path)
    until = float(current.get("until") or 0)
    window = str(current.get("window") or "five_hour")
    if until > now and _binds(window, model):
        return until, window
    if until > now:
        return None  # another model family's limit: this run is served
    if "limit" in opts and not session.get("limited") and _binds(opts.get("window") or "five_hour", model):
        session["limited"] = True
        until = now + float(opts.get("reset_in") or 5)
        window = opts.get("window") or "five_hour"
        _save(path, {"until": until, "window": window})
        return until, window
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.version:
        sys.stdout.write(f"{VERSION} (Claude Code)\n")
        return 0
    if not args.print_mode:
        _fail("Error: this fake only supports headless use (-p); run the real claude for a TUI.")
    if args.output_format == "stream-json" and not args.verbose:
        _fail("Error: When using --print, --output-format=stream-json requires --verbose")
    prompt = args.prompt
    if prompt is None and not os.isatty(0) and not _stdin_is_devnull():
        prompt = sys.stdin.read()
    _record(args, argv, prompt)
    if not prompt or not prompt.strip():
        _fail("Error: Input must be provided either through stdin or as a prompt argument when "
              "using --print")
    sessions = _state_dir() / "sessions"
    sessions.mkdir(exist_ok=True)
    if args.resume:
        session_id = args.resume
        state_path = sessions / f"{session_id}.json"
        if not state_path.exists():
            _fail(f"No conversation found with session ID: {session_id}")
    else:
        session_id = args.session_id or str(uuid.uuid4())
        try:
            uuid.UUID(session_id)
        except ValueError:
            _fail("Error: Invalid session ID. Must be a valid UUID.")
        state_path = sessions / f"{session_id}.json"
        if state_path.exists():
            _fail(f"Error: Session ID {session_id} is already in use.")
    state = _load(state_path)
    opts = {**state.get("directives", {}), **directives("[fake: " + scenario_for(prompt) + "]"),
            **directives(prompt),
            **directives("[fake: " + os.environ.get("FAKE_CLAUDE_SCENARIO", "") + "]")}
    state["directives"] = {k: v for k, v in opts.items()}
    state["invocations"] = int(state.get("invocations") or 0) + 1
    state.setdefault("cwd", os.getcwd())
    model = MODELS.get(args.model or "", args.model or "") or DEFAULT_MODEL
    limit = _limit_until(opts, state, model)
    if limit is None:
        # Only invocations that get to work count towards needs_iterations.
        state["worked"] = int(state.get("worked") or 0) + 1
    _save(state_path, state)

    run = Run(args, prompt, session_id, state, opts)
    run.init()
    if limit is not None:
        return run.limited(*limit)
    return run.work()


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        raise SystemExit(main())
