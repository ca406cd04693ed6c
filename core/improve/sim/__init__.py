"""The scheduling simulator: the real policy on a virtual clock against a synthetic workload.

`simulate(days, seed)` compares three ways of starting work over the same days, tasks and
owner usage: a fixed midnight cron (the naive baseline), reset-aware starts, and
reset-aware starts with budget packing. Nothing sleeps: time jumps from event to event.
"""

from __future__ import annotations

from core.improve.sim.clock import VirtualClock
from core.improve.sim.config import SimConfig, SimResult
from core.improve.sim.engine import POLICIES, simulate, simulate_policy
from core.improve.sim.sweep import DEFAULT_SEEDS, Sweep, seeds_for, sweep
from core.improve.sim.workload import SHAPES, Workload, make_workload

__all__ = [
    "DEFAULT_SEEDS",
    "POLICIES",
    "SHAPES",
    "SimConfig",
    "SimResult",
    "Sweep",
    "VirtualClock",
    "Workload",
    "make_workload",
    "seeds_for",
    "simulate",
    "simulate_policy",
    "sweep",
]
