"""Plans: Claude drafts one read-only, the owner approves, revises or rejects it."""
