"""What a simulated run does: the scenario chosen for it, and the behaviours themselves.

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

A directive, once seen, is kept with the session, so a `--resume` behaves as the first
invocation was told to. The account's limit is kept where every session of that account
sees it (`fake-claude/limit.json`), as the real limit is the account's, not the session's.
"""

from __future__ import annotations

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
from typing import Any

from core.agent.prompts import COMPLETION_MARKER
from core.demo.fake_files import config_dir, load_json, save_json, state_dir
from core.demo.fake_stream import (
    DEFAULT_MODEL,
    USAGE_PER_MESSAGE,
    Stream,
    command_output,
    cost_usd,
    expected_usage,
    split_tools,
)

DIRECTIVE = re.compile(r"\[fake:\s*([^\]]*)\]")
STATUS_FILE = "fake-status.txt"
WORK_FILE = "FAKE_WORK.md"


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


def options(prompt: str, remembered: dict[str, str]) -> dict[str, str]:
    """The directives of this invocation, later sources winning: those the session remembers,
    the scenario table's, the prompt's own, then FAKE_CLAUDE_SCENARIO."""
    return {**remembered, **directives("[fake: " + scenario_for(prompt) + "]"),
            **directives(prompt),
            **directives("[fake: " + os.environ.get("FAKE_CLAUDE_SCENARIO", "") + "]")}


MODEL_WINDOWS = {"seven_day_opus": "opus", "seven_day_sonnet": "sonnet"}
"""Windows that limit one model family only: a run on another model is served."""


def _binds(window: str, model: str) -> bool:
    family = MODEL_WINDOWS.get(window)
    return family is None or family in model


def limit_until(opts: dict[str, str], session: dict[str, Any], model: str = DEFAULT_MODEL
                ) -> tuple[float, str] | None:
    """When the account stays limited (a global state every session sees) for `model`, or None."""
    path = state_dir() / "limit.json"
    now = time.time()
    current = load_json(path)
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
        save_json(path, {"until": until, "window": window})
        return until, window
    return None


def limited(out: Stream, until: float, window: str) -> int:
    """Refused: a rejected `rate_limit_event`, the limit text naming the reset to the minute
    in the CLI's words, an error result with no usage (exit 1)."""
    reset = datetime.fromtimestamp(math.ceil(until / 60) * 60, UTC)
    hour = reset.strftime("%I").lstrip("0") or "12"
    minute = "" if reset.minute == 0 else f":{reset.minute:02d}"
    which = {"seven_day": "weekly limit", "seven_day_opus": "Opus limit",
             "seven_day_sonnet": "Sonnet limit"}.get(window, "session limit")
    text = f"You’ve hit your {which} · resets {hour}{minute}{reset.strftime('%p').lower()} (UTC)"
    out.emit({"type": "rate_limit_event", "rate_limit_info": {
        "status": "rejected", "resetsAt": math.ceil(until), "rateLimitType": window,
        "overageStatus": "rejected"}, "uuid": str(uuid.uuid4()), "session_id": out.session_id})
    synthetic = {
        "id": str(uuid.uuid4()), "type": "message", "role": "assistant", "model": "<synthetic>",
        "content": [{"type": "text", "text": text}], "stop_reason": "stop_sequence",
        "stop_sequence": "", "usage": {k: 0 for k in USAGE_PER_MESSAGE} | {"service_tier": "standard"},
    }
    out.emit({"type": "assistant", "message": synthetic, "parent_tool_use_id": None,
              "session_id": out.session_id, "error": "rate_limit", "uuid": str(uuid.uuid4())})
    out.log({"type": "assistant", "message": synthetic, "isApiErrorMessage": True,
             "error": "rate_limit", "apiErrorStatus": 429})
    return out.result(subtype="success", is_error=True, text=text, terminal_reason="api_error",
                      num_turns=1, api_error_status=429, zero_usage=True)


def work(out: Stream) -> int:
    """Served: look around, edit (or only read, in plan mode), answer; the directives bend it."""
    opts = out.opts
    invocation = int(out.state["worked"])
    needed = max(1, int(opts.get("needs_iterations") or 1))
    turns = max(1, int(opts.get("turns") or 2))
    plan_mode = out.args.permission_mode == "plan"
    disallowed = split_tools(out.args.disallowed)
    denied = "permission_denied" in opts or any(t.split("(")[0] == "Bash" for t in disallowed)
    limit_turns = out.args.max_turns
    if "max_turns" in opts:
        limit_turns = min(limit_turns or turns, max(1, turns - 1))
    denials: list[dict[str, Any]] = []

    out.assistant([{"type": "text", "text": "Let me look at the repository first."}])
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
            return out.result(
                subtype="error_max_turns", is_error=True, terminal_reason="max_turns",
                text=f"Reached the maximum number of turns ({limit_turns}).", num_turns=turn)
        tool_id = f"toolu_fake{invocation}{turn}"
        if turn == 1:
            command = "git status --short"
            out.assistant([{"type": "text", "text": "I'll check the working tree."},
                           {"type": "tool_use", "id": tool_id, "name": "Bash",
                            "input": {"command": command, "description": "Look around"}}])
            if denied:
                denials.append({"tool_name": "Bash", "tool_use_id": tool_id,
                                "tool_input": {"command": command}})
                out.tool_result(tool_id, "Claude requested permissions to use Bash, but you "
                                "haven't granted it yet.", is_error=True)
            else:
                out.tool_result(tool_id, command_output(["git", "status", "--short"]) or "(clean)")
        elif plan_mode:
            out.assistant([{"type": "tool_use", "id": tool_id, "name": "Read",
                            "input": {"file_path": str(Path(out.cwd) / WORK_FILE)}}])
            out.tool_result(tool_id, "(read)")
        else:
            out.assistant([{"type": "tool_use", "id": tool_id, "name": "Edit",
                            "input": {"file_path": str(Path(out.cwd) / WORK_FILE)}}])
            out.tool_result(tool_id, "The file has been updated.")
        budget = out.args.max_budget_usd
        if budget is not None and cost_usd(expected_usage(out.messages)) > budget:
            return out.result(
                subtype="error_max_budget_usd", is_error=True, terminal_reason="budget_exhausted",
                text=f"Reached the maximum budget (${budget:g}).", num_turns=turn)
    if "fail" in opts:
        return out.result(subtype="error_during_execution", is_error=True,
                          terminal_reason="api_error", num_turns=turns + 1,
                          text="API Error: 500 {\"type\":\"error\",\"error\":{\"type\":"
                               "\"api_error\",\"message\":\"Internal server error\"}}")
    if plan_mode:
        text = _plan_text(out.prompt)
    else:
        done = invocation >= needed and not denied
        _simulate_work(out.prompt, invocation, needed, done)
        if denied:
            text = "I could not run Bash: permission was denied, so the task is not finished."
        elif done:
            text = f"Finished after {invocation} iteration(s); all changes are committed.\n\n" \
                   f"{COMPLETION_MARKER}"
        else:
            text = f"Made progress ({invocation}/{needed}), but the task is not finished yet."
    out.assistant([{"type": "text", "text": text}], stop_reason="end_turn")
    return out.result(subtype="success", is_error=False, text=text, terminal_reason="completed",
                      num_turns=turns + 1, denials=denials)


def _simulate_work(prompt: str, invocation: int, needed: int, done: bool) -> None:
    """Edit files and commit, as a model with acceptEdits and git access would."""
    first = next((ln.strip() for ln in prompt.splitlines() if ln.strip()), "work")[:72]
    with open(WORK_FILE, "a", encoding="utf-8") as fh:
        fh.write(f"- iteration {invocation}: {first}\n")
    Path(STATUS_FILE).write_text("done\n" if done else f"incomplete {invocation}/{needed}\n",
                                 encoding="utf-8")
    if command_output(["git", "rev-parse", "--is-inside-work-tree"]) != "true":
        return
    env = dict(os.environ)
    if not command_output(["git", "config", "user.email"]):
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
