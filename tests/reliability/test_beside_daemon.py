"""The owner's CLI beside the real daemon: one database, whatever the commands do.

Each CLI process used to open and close a descriptor of its own on the database file (to
make it private) while it, or the daemon, had SQLite connections to it. Closing any
descriptor drops a process's POSIX locks on the file, so another process's close then
checkpointed and deleted the `-wal` the daemon still wrote to: two databases from then on,
tasks lost at shutdown, a broken index. See tests/reliability/beside.py for the scenario.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.settings import Settings

from .beside import cli_beside_daemon

ROUNDS = 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/fd")
@pytest.mark.timeout(400)
def test_every_cli_command_beside_the_daemon_keeps_one_sound_database(
    daemon_settings: Settings, isolated_env: Path,
) -> None:
    report = cli_beside_daemon(daemon_settings.home_dir, daemon_settings.brain_dir, isolated_env,
                               rounds=ROUNDS)
    shown = f"{report}"
    assert report.rounds == ROUNDS and report.commands >= 30 * ROUNDS, shown
    assert report.failed == [], shown
    assert report.db_links_seen > 0, "the watch saw the daemon's database descriptors"
    assert report.deleted == [], "a process held a database file after it was unlinked: " + shown
    assert report.lost == [], shown
    assert report.not_run == [], "the daemon did not see tasks the CLI queued: " + shown
    assert report.integrity == "ok", shown
    assert report.loose_modes == {}, "every database file is 0600: " + shown
    assert report.daemon_exit == 0, report.stderr_tail
