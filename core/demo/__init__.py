"""`nightshift demo` and the simulated Claude it runs against, kept together.

- `tour`: the whole loop in a throw-away directory (`nightshift demo`);
- `fake_claude`: the stand-in `claude` executable (`nightshift-fake-claude`), which the
  tests and the benchmarks also point `NIGHTSHIFT_CLAUDE_BIN` at.

Nothing is imported here: the fake CLI starts once per simulated run and must start fast.
"""
