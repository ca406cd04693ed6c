"""The Obsidian vault (`brain/`): task, run and daily notes with charts, written from the database."""

from __future__ import annotations

from core.vault.markdown import MARKER
from core.vault.writer import VaultReport, VaultWriter

__all__ = ["MARKER", "VaultReport", "VaultWriter"]
