"""The Claude Code CLI as nightshift drives it: arguments, prompts, the stream-json it prints.

A stand-in executable with the same flags and output, for tests and the demo, lives with the
demo: `core.demo.fake_claude`.
"""
