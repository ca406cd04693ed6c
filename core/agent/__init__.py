"""The Claude Code CLI as nightshift drives it: arguments, prompts, the stream-json it prints.

`fake_claude` is a stand-in executable with the same flags and output, for tests and the demo.
"""
