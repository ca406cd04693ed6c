"""`stats` shows the learning loop: the estimate error always, the prompt styles on request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "nightshift"


def ns(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=60, env=dict(os.environ))


def test_stats_experiments_json_and_text() -> None:
    data = json.loads(ns("stats", "--experiments", "--json").stdout)
    names = {style["name"] for style in data["experiments"]}
    assert {"direct", "plan-test-verify"} <= names
    for style in data["experiments"]:
        interval = style["credible_interval"]
        assert 0.0 <= interval["low"] <= interval["high"] <= 1.0
    assert data["estimate_error"]["samples"] == 0
    plain = json.loads(ns("stats", "--json").stdout)
    assert "experiments" not in plain and "estimate_error" in plain
    text = ns("stats", "--experiments").stdout
    assert "prompt styles" in text and "estimate error" in text
    assert "prompt styles" not in ns("stats").stdout
