"""SQLite persistence: the single source of truth."""
