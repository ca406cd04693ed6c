"""Every benchmark still runs: a small run of each, through its own command line.

The figures are not checked (these machines are noisy); that each script starts, measures
its reference in the same run and prints the ratio is. Two had stopped running unnoticed
after a wiring change. Left out: `usage_scan.py` (it installs the native ccusage 20 from npm
and builds a year of logs; its parts are tested in tests/usage) and `reliability.py` (its
scenarios are the tests in tests/reliability).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pgserver import find_bin_dir
from tests.realcli.conftest import CLI_CACHE, require_real_claude

ROOT = Path(__file__).resolve().parents[2]

SMALL_RUNS = {
    "simulate.py": (["--days", "2", "--seeds", "2", "--shapes", "light"], "targets:"),
    "queue_throughput.py": (["--tasks", "200"], "claims/s:"),
    "bot_latency.py": (["--commands", "10"], "ratio to reference"),
    "reset_latency.py": (["--cycles", "1"], "ratio CLI-start latency / direct start"),
    "real_cli_startup.py": (["--runs", "1", "--cycles", "1"], "ratio real/fake"),
    "claims_postgres.py": (["--tasks", "60", "--processes", "2"], "claims/s"),
}


def test_every_benchmark_is_covered_or_left_out_on_purpose() -> None:
    scripts = {p.name for p in (ROOT / "benchmarks").glob("*.py")}
    helpers = {"usage_tree.py"}  # imported by usage_scan.py, not a benchmark of its own
    assert scripts - helpers == set(SMALL_RUNS) | {"usage_scan.py", "reliability.py"}


def _needs(script: str) -> None:
    """The real CLI and PostgreSQL's programs are skipped for as their tests skip them."""
    if script == "real_cli_startup.py":
        require_real_claude()
    if script == "claims_postgres.py" and find_bin_dir() is None:
        pytest.skip("PostgreSQL's server programs (initdb, pg_ctl) are not installed")


@pytest.mark.parametrize("script", sorted(SMALL_RUNS))
def test_a_small_run_of_the_benchmark_measures_against_its_reference(script: str, tmp_path: Path) -> None:
    _needs(script)
    args, ratio_line = SMALL_RUNS[script]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIGHTSHIFT_", "TELEGRAM_"))}
    env["XDG_CACHE_HOME"] = str(CLI_CACHE)  # where the pinned CLI is, under the real HOME
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert ratio_line in done.stdout, done.stdout[-2000:]
