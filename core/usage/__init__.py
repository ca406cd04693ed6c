"""Usage monitor: Claude's logs, limit messages, windows and resets."""
