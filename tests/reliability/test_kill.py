"""The daemon SIGKILLed at random (seeded) points across 20 task runs, restarted each time.

Real `nightshift run` processes, tmux on a private socket, a git repository, the fake CLI.
No task may be lost, none started from scratch twice (the CLI's own invocation log is the
witness), and each must end as its script says: done, done after a second iteration, failed
after its retries, failed after its check never passed. A kill must not cost an attempt.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.service import Service
from core.settings import Settings
from tests.daemon.conftest import Record, make_repo

from .scenarios import kill_and_restart, mixed_tasks

SEED = 20_261_127


@pytest.mark.timeout(170)
async def test_sigkill_at_random_points_loses_nothing_and_repeats_nothing(
    daemon_settings: Settings, dservice: Service, record: Record, isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NIGHTSHIFT_MAX_PARALLEL", "2")
    repos = [make_repo(isolated_env / "repo-a"), make_repo(isolated_env / "repo-b")]
    plans = mixed_tasks(20, repos)
    # Other seeds and more kills explore other points (RELIABILITY_KILL_SEED, RELIABILITY_KILLS).
    seed = int(os.environ.get("RELIABILITY_KILL_SEED", SEED))
    kills = int(os.environ.get("RELIABILITY_KILLS", 8))
    report = await kill_and_restart(dservice, plans, isolated_env / "fake-record.jsonl", seed=seed,
                                    kills=kills)
    shown = f"{report}"
    # Every kill was used, or the queue was through before the last ones came.
    assert report.kills == kills or report.starts == report.kills, shown
    assert report.lost == [], shown
    assert report.duplicates == [], shown
    assert report.wrong == [], shown
    assert report.resumes > 0, "the scenario exercised --resume (iterations, retries)"
    assert report.leftover_sessions == 0, "no run is left behind in tmux"
