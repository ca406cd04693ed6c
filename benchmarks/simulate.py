"""The budget policy against greedy reset-aware starts, over ten seeds and every workload shape.

Runs `core.improve.sim.sweep` (the daemon's own budget code on a virtual clock) and prints,
per shape, the budgeted policy's figures as ratios against greedy reset-aware starts on the
same seeds and workloads (the reference, measured in this run), with the worst seed, and
whether each target holds on every seed: the owner blocked at most 1 % of their own demand,
completed tasks at least 95 % of greedy's, limit hits no more than greedy's. The midnight
cron is shown as the naive baseline.

Two more lines per shape say what the figures rest on. "New Claude user": the same sweep
with no history of the owner's own use in Claude's logs (the default plays two weeks on
disk, as Claude Code keeps thirty days). "Clairvoyant": the budget planner told every use
the owner will make in the open and the next window, still keeping the reserve they set:
what perfect knowledge of the owner would complete, the ceiling for learning.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from datetime import datetime

from core.improve.sim import SHAPES, SimConfig, seeds_for, sweep
from core.improve.sim.engine import POLICIES, World
from core.improve.sim.policies import ResetAwarePacking, View
from core.improve.sim.sweep import BUDGETED, GREEDY, blocked_share
from core.improve.sim.workload import Workload, make_workload
from core.scheduling.protect import WINDOW, Horizon, OwnerNeed


class Clairvoyant(ResetAwarePacking):
    """The budget policy told the owner's future: it keeps exactly what they will use in the
    open and the next window, or their reserve where that is more."""

    def __init__(self, config: SimConfig, workload: Workload) -> None:
        super().__init__(config.margin_s, default_tokens=config.default_task_tokens, name="clairvoyant")
        self.workload = workload

    def _owner_between(self, start: datetime, end: datetime) -> int:
        return sum(u.tokens for u in self.workload.owner if start <= u.at < end)

    def owner_need(self, view: View) -> OwnerNeed | None:
        return None  # what the owner will use is known below, not learned

    def picture(self, view: View) -> Horizon:
        reserve_only = super().picture(view)
        if not view.owners:
            return reserve_only
        end = reserve_only.window_end
        return dataclasses.replace(
            reserve_only,
            keep_tokens=max(self._owner_between(view.now, end), reserve_only.keep_tokens),
            next_keep_tokens=max(self._owner_between(end, end + WINDOW), reserve_only.next_keep_tokens))


def clairvoyant_vs_greedy(seeds: tuple[int, ...], days: int, shape: str) -> list[float]:
    out = []
    for seed in seeds:
        config = SimConfig(days=days, seed=seed, shape=shape)
        load = make_workload(days, seed, shape=shape)
        seer = World(load, config, Clairvoyant(config, load)).run()
        greedy = World(load, config, POLICIES[GREEDY](config)).run()
        assert blocked_share(seer) < 0.001, "a seer blocks nobody"
        out.append(seer.completed / max(1, greedy.completed))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--shapes", default=",".join(SHAPES))
    args = parser.parse_args()
    seeds = seeds_for(args.seeds)
    print(f"{args.days} simulated days, seeds {', '.join(map(str, seeds))}; "
          f"ratios are {BUDGETED} / {GREEDY} on the same workloads")
    print(f"{'shape':<8} {'completed x':>11} {'worst':>6} {'limits x':>8} {'blocked':>8} {'worst':>6} "
          f"{'greedy blocked':>14} {'util. x':>7} {'latency h':>9} {'cron done x':>11}  targets")
    for shape in args.shapes.split(","):
        started = time.perf_counter()
        result = sweep(seeds, days=args.days, shape=shape)
        elapsed = time.perf_counter() - started
        rows = result.rows
        done = sum(r.results[BUDGETED].completed for r in rows) / sum(r.results[GREEDY].completed
                                                                      for r in rows)
        limits = sum(r.results[BUDGETED].limit_hits for r in rows) / max(
            1, sum(r.results[GREEDY].limit_hits for r in rows))
        util = result.mean(BUDGETED, "utilization") / result.mean(GREEDY, "utilization")
        cron = sum(r.results["midnight-cron"].completed for r in rows) / sum(
            r.results[GREEDY].completed for r in rows)
        worst_done = min(r.completed_vs_greedy for r in rows)
        blocked = [blocked_share(r.results[BUDGETED]) for r in rows]
        greedy_blocked = max(blocked_share(r.results[GREEDY]) for r in rows)
        met = "".join("+" if ok else "-" for ok in result.targets().values())
        print(f"{shape:<8} {done:>11.3f} {worst_done:>6.3f} {limits:>8.2f} "
              f"{sum(blocked) / len(blocked):>8.2%} {max(blocked):>6.2%} {greedy_blocked:>14.2%} "
              f"{util:>7.3f} {result.mean(BUDGETED, 'start_latency_mean_h'):>9.1f} {cron:>11.3f}  "
              f"{met} ({elapsed:.1f}s)")
    print("targets: blocked<=1% | completed>=95% of greedy | limits<=greedy, each on every seed "
          "(+ met, - missed)")
    print()
    print("what the figures rest on: a new Claude user (no history of the owner's use on disk), and a "
          "clairvoyant planner (knows every owner use ahead, keeps the reserve)")
    print(f"{'shape':<8} {'new user: blocked worst':>23} {'completed x worst':>17}  "
          f"{'clairvoyant: completed x mean':>29} {'worst':>6}")
    for shape in args.shapes.split(","):
        bare = sweep(seeds, days=args.days, shape=shape, history_days=0)
        seer = clairvoyant_vs_greedy(seeds, args.days, shape)
        print(f"{shape:<8} {max(blocked_share(r.results[BUDGETED]) for r in bare.rows):>23.2%} "
              f"{min(r.completed_vs_greedy for r in bare.rows):>17.3f}  "
              f"{sum(seer) / len(seer):>29.3f} {min(seer):>6.3f}")
    print()
    print(f"two accounts against one, {BUDGETED}, same seeds and workloads (one account is the reference)")
    print(f"{'shape':<8} {'completed x':>11} {'worst':>6} {'latency h one':>13} {'two':>5} "
          f"{'blocked one':>11} {'two':>6}")
    for shape in args.shapes.split(","):
        one = sweep(seeds, days=args.days, shape=shape)
        two = sweep(seeds, days=args.days, shape=shape, accounts=2)
        pairs = list(zip(one.rows, two.rows, strict=True))
        gains = [b.results[BUDGETED].completed / max(1, a.results[BUDGETED].completed) for a, b in pairs]
        done = (sum(b.results[BUDGETED].completed for _, b in pairs)
                / max(1, sum(a.results[BUDGETED].completed for a, _ in pairs)))
        print(f"{shape:<8} {done:>11.3f} {min(gains):>6.3f} "
              f"{one.mean(BUDGETED, 'start_latency_mean_h'):>13.1f} "
              f"{two.mean(BUDGETED, 'start_latency_mean_h'):>5.1f} "
              f"{one.mean(BUDGETED, 'blocked_share'):>11.2%} {two.mean(BUDGETED, 'blocked_share'):>6.2%}")


if __name__ == "__main__":
    main()
