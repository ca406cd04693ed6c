from __future__ import annotations

# The vault is written from the same fixture history the metrics are checked against.
from tests.metrics.conftest import berlin_settings, history

__all__ = ["berlin_settings", "history"]
