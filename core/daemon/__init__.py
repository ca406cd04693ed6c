"""The daemon behind `nightshift run`: start the right work the moment a window resets.

One asyncio process per NIGHTSHIFT_HOME, made of parts with one job each:

- `daemon`: the lock, the fronts, signals, start and stop, burst exit; composes the rest;
- `timers`: every timed job, declared as data (the only user of APScheduler);
- `gate`: the limit pause, the reset, the probe after it ("window proven"); `pause`: the
  pause as the store keeps it (its record, the tasks it holds, which of them a reset releases);
- `dispatcher`: one round: the gates in order, then the claim order;
- `budget_guard`: what the budget lets start (the nightly cap, each window's owner share),
  the stop line for runs in flight, why ready tasks wait;
- `follower`: the runs in flight, adoption after a restart, what happens after a run;
- `routine`: the housekeeping jobs (inbox, backup, daily summary, digest, the learning loop's);
- `priming`, `summary` (the window summary), `usage` (the monitor as the daemon sees it),
  `wake` (the dispatcher's doorbell).

`core.assembly.build_daemon` builds it with all its collaborators.
"""

from core.daemon.daemon import Daemon
from core.daemon.gate import LimitGate
from core.daemon.pause import LIMIT_PAUSE_KEY
from core.daemon.priming import LAST_PRIMED_KEY
from core.daemon.seams import DaemonStats, FrontFactory
from core.daemon.wake import Doorbell, Round

__all__ = [
    "LAST_PRIMED_KEY",
    "LIMIT_PAUSE_KEY",
    "Daemon",
    "DaemonStats",
    "Doorbell",
    "FrontFactory",
    "LimitGate",
    "Round",
]
