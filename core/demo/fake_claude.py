"""A stand-in for the `claude` executable: same flags, same stream-json, scripted behaviour.

Tests and `nightshift demo` point `NIGHTSHIFT_CLAUDE_BIN` at `nightshift-fake-claude`. It
accepts the real CLI's flags (including its variadic options that swallow a trailing
prompt), prints output in the shapes of `reference/samples/`, appends usage lines to
`$CLAUDE_CONFIG_DIR/projects/<project>/<session>.jsonl` as the real CLI does, and edits and
commits in its working directory to simulate work.

This module is the command: the flags, the checks the real CLI makes before it starts
(headless only, a prompt, a known or fresh session id), the session's own bookkeeping, and
then the run. What the run does is the scenario's (`core.demo.fake_scenarios`, where the
`[fake: ...]` directives are described); what it prints and logs is the stream's
(`core.demo.fake_stream`); where it keeps things, `core.demo.fake_files`.

`FAKE_CLAUDE_RECORD=<file>` appends one JSON line per invocation: argv, prompt, cwd, whether
stdin was /dev/null and whether CLAUDECODE was set, so tests can see exactly what arrived.

Standard library only (plus the completion marker), so it starts as fast as Python can.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import uuid
from typing import NoReturn

from core.demo.fake_files import config_dir, load_json, save_json, state_dir
from core.demo.fake_scenarios import limit_until, limited, options, work
from core.demo.fake_stream import DEFAULT_MODEL, MODELS, VERSION, Stream, now_iso

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


def _stdin_is_devnull() -> bool:
    try:
        st, null = os.fstat(0), os.stat(os.devnull)
    except OSError:
        return False
    return (st.st_rdev, st.st_ino) == (null.st_rdev, null.st_ino)


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
        "at": now_iso(),
    }
    line = json.dumps(entry, ensure_ascii=False) + "\n"
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8", "surrogateescape"))
    finally:
        os.close(fd)


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
    sessions = state_dir() / "sessions"
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
    state = load_json(state_path)
    opts = options(prompt, state.get("directives", {}))
    state["directives"] = {k: v for k, v in opts.items()}
    state["invocations"] = int(state.get("invocations") or 0) + 1
    state.setdefault("cwd", os.getcwd())
    model = MODELS.get(args.model or "", args.model or "") or DEFAULT_MODEL
    limit = limit_until(opts, state, model)
    if limit is None:
        # Only invocations that get to work count towards needs_iterations.
        state["worked"] = int(state.get("worked") or 0) + 1
    save_json(state_path, state)

    out = Stream(args, prompt, session_id, state, opts)
    out.init()
    if limit is not None:
        return limited(out, *limit)
    return work(out)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        raise SystemExit(main())
