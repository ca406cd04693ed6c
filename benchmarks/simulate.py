"""Start policies on 14 simulated days: reset-aware with budget packing vs a midnight cron.

Runs `core.improve.sim.simulate` (nightshift's real scheduling code on a virtual clock)
and prints, for reset-aware with budget packing divided by the naive midnight cron on the
same seed and workload: window utilization (tokens used / what back-to-back 5-hour
windows could hold) and completed tasks. The plain reset-aware policy is shown beside
it, so the share of the gain that comes from packing is visible too. With `--seeds N`
the ratios are also summarised over seeds 1..N.
"""

from __future__ import annotations

import argparse
import statistics
import time

from core.improve.sim import SimResult, simulate

BASELINE = "midnight-cron"
CANDIDATES = ("reset-aware", "reset-aware+packing")


def ratios(results: dict[str, SimResult], name: str) -> tuple[float, float]:
    base, other = results[BASELINE], results[name]
    return other.utilization / base.utilization, other.completed / base.completed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=0, help="also summarise seeds 1..N")
    parser.add_argument("--parallel", type=int, default=1)
    args = parser.parse_args()

    started = time.perf_counter()
    results = simulate(args.days, args.seed, max_parallel=args.parallel)
    elapsed = time.perf_counter() - started
    print(f"{args.days} simulated days, seed {args.seed}, {args.parallel} run(s) at once "
          f"({elapsed:.2f}s of wall time for all three policies)")
    print(f"{'policy':<20} {'done':>7} {'utilization':>11} {'limits':>6} {'latency mean':>12}")
    for name, r in results.items():
        latency = "-" if r.start_latency_mean_h is None else f"{r.start_latency_mean_h:.1f}h"
        print(f"{name:<20} {f'{r.completed}/{r.submitted}':>7} {r.utilization * 100:>10.1f}% "
              f"{r.limit_hits:>6} {latency:>12}")
    for name in CANDIDATES:
        util, done = ratios(results, name)
        print(f"{name} / {BASELINE}: window utilization x{util:.2f}, completed tasks x{done:.2f}")

    if args.seeds:
        util_ratios, done_ratios = [], []
        for seed in range(1, args.seeds + 1):
            util, done = ratios(simulate(args.days, seed, max_parallel=args.parallel),
                                "reset-aware+packing")
            util_ratios.append(util)
            done_ratios.append(done)
        print(f"over seeds 1..{args.seeds}: reset-aware+packing / {BASELINE}: utilization "
              f"median x{statistics.median(util_ratios):.2f} (min x{min(util_ratios):.2f}), "
              f"completed median x{statistics.median(done_ratios):.2f} "
              f"(min x{min(done_ratios):.2f})")


if __name__ == "__main__":
    main()
