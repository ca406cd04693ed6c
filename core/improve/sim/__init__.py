"""The scheduling simulator: the real policy on a virtual clock against a synthetic workload.

`simulate(days, seed)` compares three ways of starting work over the same days, tasks and
owner usage: a fixed midnight cron (the naive baseline), reset-aware starts, and
reset-aware starts with budget packing. Nothing sleeps: time jumps from event to event.
"""

from __future__ import annotations

from core.improve.sim.clock import VirtualClock
from core.improve.sim.engine import POLICIES, SimConfig, SimResult, simulate, simulate_policy
from core.improve.sim.workload import Workload, make_workload

__all__ = [
    "POLICIES",
    "SimConfig",
    "SimResult",
    "VirtualClock",
    "Workload",
    "make_workload",
    "simulate",
    "simulate_policy",
]
