"""`nightshift demo` and the simulated Claude it runs against, kept together.

- `tour`: the whole loop in a throw-away directory (`nightshift demo`);
- `fake_claude`: the stand-in `claude` executable (`nightshift-fake-claude`), which the
  tests and the benchmarks also point `NIGHTSHIFT_CLAUDE_BIN` at: the command itself (flags,
  sessions); `fake_scenarios` (the `[fake: ...]` directives and what each run does),
  `fake_stream` (the stream-json it prints and the transcript it logs), `fake_files` (where
  it keeps things, named as Claude Code names them).

Nothing is imported here: the fake CLI starts once per simulated run and must start fast.
"""
